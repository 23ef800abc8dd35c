/**
 * How a unit gets from its current holder to the elected one safely: a pure
 * reducer `step(runtime, context, event) → { runtime, actions }`.
 *
 * - Planned moves (preempt, switchover, maintenance, agent stopping) are
 *   make-before-break: the new holder acquires and announces and acks; only
 *   then is the old one told to release, after a short overlap.
 * - A lost holder (session closed or silent) is never replaced blindly: the
 *   candidate first verifies the VIP on the LAN. Serving → the old holder is
 *   alive but cut off from us: keep it (fail-static), re-verify later.
 * - Every change of holder takes a new epoch; commands carry it.
 * - One move at a time per unit: an agent never gets two holders' worth of
 *   commands for one group at once.
 */
import { elect, type Election } from "./elect.js";
import { witnessCannotReach, type NodeView, type ReachView, type UnitSpec } from "./view.js";

export type Phase =
  | { kind: "steady" }
  /** Waiting for `to` to ack acquiring every group of the unit. */
  | {
      kind: "acquiring";
      to: string;
      from: string | null;
      epoch: number;
      sinceMs: number;
      planned: boolean;
      acked: string[];
      reason: string;
      /** `from` was told to release with the acquire (it cannot reach the LAN): not again when `to` acks. */
      fromReleased?: boolean;
      /**
       * When the acquire went out, if later than sinceMs (commandsSent), or when `to` reported
       * receiving it (commandDelivered): the ack timeout counts from then.
       */
      sentMs?: number;
    }
  /** Waiting for `candidate` to say whether the VIP still answers on the LAN. */
  | { kind: "verifying"; candidate: string; lost: string | null; sinceMs: number; sentMs?: number }
  /** The lost holder was verified serving: keep it, look again at `nextVerifyMs`. */
  | { kind: "cut-off"; holder: string; sinceMs: number; nextVerifyMs: number };

export interface UnitRuntime {
  holder: string | null;
  epoch: number;
  /** Last holder ever known (persisted): after a restart, someone may still hold the VIP. */
  lastHolder: string | null;
  phase: Phase;
  preemptSince?: { node: string; sinceMs: number };
  /** Operator switchover target, cleared when reached or impossible. */
  switchoverTo?: string;
  /** Where a completed switchover pinned the unit (persisted); dropped when the unit leaves that node. */
  pinned?: string;
  /** Nodes told to release, and until when we wait before telling them again. */
  releasing: Array<{ node: string; untilMs: number }>;
  /**
   * Nodes skipped as new holders until the time given: "failed" ones did not
   * acquire or did not answer a verification (the next best gets its chance);
   * an "anti-flap" one was just moved away from although its own report looked
   * fine (F11), and must not be preempted straight back. Anti-flap pauses only
   * hold while the current holder can hold: they stop flapping between two
   * healthy nodes, never keep a broken holder.
   */
  cooldown: Cooldown[];
  /** The last election, for status and `keepvip why`. */
  last?: Pick<Election, "rule" | "reason" | "winner">;
  /**
   * Peers' failed-probe counts (first group) when the holder last changed.
   * Failures counted before the move were about the old holder: only the
   * ones since count as F11 evidence against the new one, or a stale report
   * moves the VIP straight on again. An entry goes once the count resets.
   */
  reachBaseline?: Record<string, number>;
}

export interface Cooldown {
  node: string;
  untilMs: number;
  why: "failed" | "anti-flap";
}

export interface PlannerTiming {
  plannedOverlapMs: number;
  ackTimeoutMs: number;
  verifyTimeoutMs: number;
  /** How long to keep a verified-serving lost holder before verifying again. */
  reverifyMs: number;
  reachFall: number;
}

export interface StepContext {
  unit: UnitSpec;
  views: ReadonlyMap<string, NodeView>;
  nowMs: number;
  timing: PlannerTiming;
  /**
   * Nodes a command of this unit is still on its way to: not sent yet (its epoch still being
   * written), or sent and not yet in the count of commands received that the node's agent
   * reports. Absent: nothing is on its way (an agent that does not count has every command it
   * was sent).
   */
  onTheWay?: ReadonlySet<string>;
}

export type PlannerEvent =
  | { type: "tick" }
  | { type: "ack"; node: string; group: string; epoch: number; action: "acquire" | "release"; ok: boolean; error?: string }
  | { type: "verified"; node: string; verdict: "free" | "answering-serving" | "answering-not-serving"; detail?: string };

export type Action =
  /** `forward`: a planned move from a holder that still serves (its flows are forwarded to it while it drains). */
  | { type: "acquire"; node: string; epoch: number; takeover: boolean; forward: boolean; reason: string }
  /** `drain`: a planned move; the old holder keeps its established flows until they end. */
  | { type: "release"; node: string; epoch: number; afterMs: number; drain: boolean; reason: string }
  | { type: "verify"; node: string; reason: string }
  /** Something worth an event line and a log entry. */
  | { type: "note"; kind: "election" | "move" | "verify" | "fault" | "conflict"; node?: string; message: string; durationMs?: number };

export interface StepResult {
  runtime: UnitRuntime;
  actions: Action[];
  /** Call step again at this time even without new input. */
  wakeAtMs?: number;
}

export function initialRuntime(epoch = 0, lastHolder: string | null = null): UnitRuntime {
  return { holder: null, epoch, lastHolder, phase: { kind: "steady" }, releasing: [], cooldown: [] };
}

const holdsUnit = (view: NodeView | undefined, unit: UnitSpec) => view !== undefined && unit.groups.some((g) => view.holds.includes(g));
const isLive = (view: NodeView | undefined) => view?.session === "live";

/** Where a phase waiting for an answer counts its timeout from: when its command went out. */
function timedFrom(phase: { sinceMs: number; sentMs?: number }): number {
  return phase.sentMs ?? phase.sinceMs;
}

/**
 * The commands of the step that decided `decided` went out at `sentMs`, later than that step:
 * they waited for the unit's new epoch to be durable (write-ahead), or behind its earlier
 * commands. The answer they wait for cannot come before they are sent, so the phase's timeout
 * counts from then. In a startup storm of 2500 units the epoch writes queued for up to 1.8 s,
 * and an acquire's 2 s ack timeout ran out 0.3-1.5 s after it was sent: the coordinator released
 * live, acking holders and sent every such unit to its backup (475 of 2500 in one run).
 * The move's duration still counts from the decision. Unchanged when the unit has moved on.
 */
export function commandsSent(rt: UnitRuntime, decided: Phase, sentMs: number): UnitRuntime {
  const phase = rt.phase;
  if (phase !== decided || (phase.kind !== "acquiring" && phase.kind !== "verifying") || sentMs <= phase.sinceMs) return rt;
  return { ...rt, phase: { ...phase, sentMs } };
}

/**
 * `node` reported at `atMs` that it has received the acquire it was sent: when that is later
 * than the acquire went out, its ack timeout counts from then. The ack comes after the
 * delivery, and the time the command spent on its way (an agent or a coordinator too busy to
 * read) was no time the agent had it. Unchanged unless the unit is acquiring to `node`.
 */
export function commandDelivered(rt: UnitRuntime, node: string, atMs: number): UnitRuntime {
  const phase = rt.phase;
  if (phase.kind !== "acquiring" || phase.to !== node || atMs <= timedFrom(phase)) return rt;
  return { ...rt, phase: { ...phase, sentMs: atMs } };
}

/** One reducer step. Never mutates its input. */
export function step(prev: UnitRuntime, ctx: StepContext, event: PlannerEvent = { type: "tick" }): StepResult {
  const rt: UnitRuntime = {
    ...prev,
    releasing: prev.releasing.filter((r) => r.untilMs > ctx.nowMs),
    cooldown: prev.cooldown.filter((c) => c.untilMs > ctx.nowMs),
  };
  const actions: Action[] = [];
  const wakes: number[] = [];
  const { unit, views, nowMs, timing } = ctx;

  // 1. Events that finish a phase.
  if (event.type === "ack") handleAck(rt, ctx, event, actions);
  if (event.type === "verified" && rt.phase.kind === "verifying" && event.node === rt.phase.candidate) {
    const phase = rt.phase;
    if (event.verdict === "answering-serving") {
      rt.phase = { kind: "cut-off", holder: phase.lost ?? "unknown", sinceMs: nowMs, nextVerifyMs: nowMs + timing.reverifyMs };
      actions.push({
        type: "note",
        kind: "verify",
        node: event.node,
        message: `${event.node} sees the VIP of ${unit.name} still serving: ${phase.lost ?? "the old holder"} is alive but cut off from the coordinator; not promoting${event.detail ? ` (${event.detail})` : ""}`,
      });
    } else {
      actions.push({
        type: "note",
        kind: "verify",
        node: event.node,
        message: `${event.node} verified the VIP of ${unit.name} ${event.verdict === "free" ? "free" : "answering but not serving"}; taking over`,
      });
      startAcquire(rt, ctx, event.node, phase.lost, false, `takeover after verification (${event.verdict})`, actions);
    }
  }

  // 2. Phase timeouts. An acquire still on its way to a live node has not been given a chance:
  // the unit waits for its delivery (commandDelivered re-times the ack) or for the session's end.
  // A live session is one heard from: a dead agent goes silent and stops being waited for.
  const onTheWay = rt.phase.kind === "acquiring" && ctx.onTheWay?.has(rt.phase.to) === true && isLive(views.get(rt.phase.to));
  if (rt.phase.kind === "acquiring" && nowMs >= timedFrom(rt.phase) + timing.ackTimeoutMs && !onTheWay) {
    failAcquire(rt, ctx, `no ack from ${rt.phase.to} within ${timing.ackTimeoutMs} ms`, actions);
  }
  if (rt.phase.kind === "verifying" && nowMs >= timedFrom(rt.phase) + timing.verifyTimeoutMs + timing.ackTimeoutMs) {
    actions.push({ type: "note", kind: "verify", node: rt.phase.candidate, message: `no verification answer from ${rt.phase.candidate}; asking again` });
    // A verifier that does not answer must not hold the unit hostage: skip it for a while (docs/design.md, Invariants, 2).
    rt.cooldown.push({ node: rt.phase.candidate, untilMs: nowMs + timing.ackTimeoutMs, why: "failed" });
    rt.phase = { kind: "steady" };
  }

  // 3. Reality. A lost holder back in session while its successor verifies: it
  // is the truth, the verification is moot (docs/design.md, Invariants, 4).
  if (rt.phase.kind === "verifying" && rt.phase.lost !== null && isLive(views.get(rt.phase.lost))) {
    actions.push({
      type: "note",
      kind: "verify",
      node: rt.phase.lost,
      message: `${rt.phase.lost} is back in session; dropping the verification by ${rt.phase.candidate}`,
    });
    rt.phase = { kind: "steady" };
  }
  // A cut-off holder that comes back is simply the holder again (checked before
  // the next rule, so one that comes back without the VIP is replaced at once).
  if (rt.phase.kind === "cut-off" && rt.holder !== null && isLive(views.get(rt.holder))) {
    actions.push({ type: "note", kind: "election", node: rt.holder, message: `${rt.holder} is back in session, still holding ${unit.name}` });
    rt.phase = { kind: "steady" };
  }
  // The holder released on its own (FAULT: nginx cannot start, link down).
  if (rt.holder !== null && rt.phase.kind === "steady" && isLive(views.get(rt.holder)) && !holdsUnit(views.get(rt.holder), unit)) {
    actions.push({
      type: "note",
      kind: "fault",
      node: rt.holder,
      message: `${rt.holder} no longer holds ${unit.name}${views.get(rt.holder)?.fault ? ` (FAULT: ${views.get(rt.holder)?.faultReason})` : ""}`,
    });
    rt.holder = null;
  }
  // Adopt a holder reported by agents (coordinator restart: rebuild, move nothing;
  // or a straggler still serving after the holder let go: it is the holder now).
  // A node just told to release is no claimant: it is letting go.
  if (rt.holder === null && rt.phase.kind !== "acquiring") {
    const claimants = unit.members.filter(
      (m) => isLive(views.get(m.node)) && holdsUnit(views.get(m.node), unit) && !rt.releasing.some((r) => r.node === m.node),
    );
    if (claimants.length > 0) {
      const ranked = elect({ unit, views, holder: null, nowMs, reachFall: timing.reachFall }).ranking.filter((c) => claimants.some((m) => m.node === c.node));
      const adopted = rt.lastHolder !== null && claimants.some((m) => m.node === rt.lastHolder) ? rt.lastHolder : ranked[0].node;
      rt.holder = adopted;
      rt.lastHolder = adopted;
      rt.phase = { kind: "steady" };
      actions.push({
        type: "note",
        kind: "election",
        node: adopted,
        message: `${adopted} reports holding ${unit.name}: adopted as holder (epoch ${rt.epoch})`,
      });
    }
  }

  // 4. Decide, when no move is in flight.
  if (rt.phase.kind === "steady" || rt.phase.kind === "cut-off") decide(rt, ctx, actions, wakes);

  // 5. Stragglers: anyone holding the unit who should not (a healed partition, a revived agent).
  cleanConflicts(rt, ctx, actions);

  if (rt.phase.kind === "acquiring") wakes.push(timedFrom(rt.phase) + timing.ackTimeoutMs);
  if (rt.phase.kind === "verifying") wakes.push(timedFrom(rt.phase) + timing.verifyTimeoutMs + timing.ackTimeoutMs);
  if (rt.phase.kind === "cut-off") wakes.push(rt.phase.nextVerifyMs);
  for (const c of rt.cooldown) wakes.push(c.untilMs);
  for (const r of rt.releasing) wakes.push(r.untilMs);
  const future = wakes.filter((w) => w > nowMs);
  return { runtime: rt, actions, wakeAtMs: future.length > 0 ? Math.min(...future) : undefined };
}

function decide(rt: UnitRuntime, ctx: StepContext, actions: Action[], wakes: number[]): void {
  const { unit, nowMs, timing } = ctx;
  const views = freshReach(rt, ctx);
  // Cooling nodes failed an acquire or a verification just now: the next best gets its chance (docs/design.md, Invariants, 2).
  // A node told to release is not handed the VIP back inside its release window:
  // a delayed release (planned overlap) could land after the new acquire.
  // An anti-flap pause counts only while the holder can hold: moving back from
  // a holder that cannot (FAULT, LAN gone, lost) is never blocked by it.
  const electWith = (skip: string[]) =>
    elect({
      unit,
      views,
      holder: rt.holder,
      nowMs,
      preemptSince: rt.preemptSince,
      switchoverTo: rt.switchoverTo,
      pinned: rt.pinned,
      reachFall: timing.reachFall,
      skip,
    });
  const releasingNodes = rt.releasing.map((r) => r.node);
  let skip = [...rt.cooldown.map((c) => c.node), ...releasingNodes];
  let e = electWith(skip);
  if (rt.cooldown.some((c) => c.why === "anti-flap") && !holderCanHold(rt, e)) {
    skip = [...rt.cooldown.filter((c) => c.why !== "anti-flap").map((c) => c.node), ...releasingNodes];
    e = electWith(skip);
  }
  if (rt.last?.rule !== e.rule || rt.last?.winner !== e.winner)
    actions.push({ type: "note", kind: "election", node: e.winner ?? undefined, message: `${unit.name}: ${e.reason}` });
  rt.last = { rule: e.rule, reason: e.reason, winner: e.winner };
  rt.preemptSince = e.preemptSince;
  if (e.wakeAtMs !== undefined) wakes.push(e.wakeAtMs);
  if (rt.switchoverTo !== undefined && (rt.switchoverTo === rt.holder || !e.ranking.some((c) => c.node === rt.switchoverTo && c.eligibility.eligible)))
    rt.switchoverTo = undefined;
  // A pin lasts while the unit stays on its node. A move away (failover, maintenance,
  // a stop, another switchover) drops it when acked; a holder that let go on its own
  // drops it here. A hiccup that moved nothing (a few missed heartbeats, a cut-off
  // holder still serving) keeps it: otherwise the next tick would preempt back,
  // an unplanned move caused by a fault that was judged harmless.
  if (rt.pinned !== undefined && rt.holder !== rt.pinned) {
    actions.push({
      type: "note",
      kind: "election",
      node: rt.pinned,
      message: `${unit.name}: switchover pin on ${rt.pinned} dropped (${rt.pinned} no longer holds it${pinnedDetail(e, rt.pinned)})`,
    });
    rt.pinned = undefined;
  }

  const winner = e.winner;
  if (winner === null || winner === rt.holder) return;
  if (skip.includes(winner)) return;
  // A verified-serving holder is left alone until the next verification is due.
  const reverifyDue = rt.phase.kind !== "cut-off" || nowMs >= rt.phase.nextVerifyMs || peersCannotReach(ctx, views);

  switch (e.rule) {
    case "initial-election":
    case "switchover": {
      if (e.rule === "switchover" && rt.holder !== null) {
        startAcquire(rt, ctx, winner, rt.holder, true, e.reason, actions);
        return;
      }
      // Nobody is known to hold it, yet someone we cannot see may (coordinator
      // restart, holder gone before we knew it): verify first, as for a lost holder.
      const last = rt.lastHolder;
      if (last !== null && last !== winner && !isLive(views.get(last))) {
        if (reverifyDue) requestVerify(rt, ctx, winner, last, actions);
      } else startAcquire(rt, ctx, winner, null, false, e.reason, actions);
      return;
    }
    case "holder-lost": {
      if (reverifyDue) requestVerify(rt, ctx, winner, rt.holder, actions);
      return;
    }
    case "holder-ineligible": {
      const reason = e.ranking.find((c) => c.node === rt.holder)?.eligibility.reason;
      // A holder whose agent does not run a track its group lists still serves: the move
      // away is a config mismatch, not a failure, so it is make-before-break like maintenance.
      const planned = reason === "maintenance" || reason === "leaving" || reason === "track-missing";
      const from = rt.holder;
      startAcquire(rt, ctx, winner, from, planned, e.reason, actions);
      // A holder that cannot reach the LAN serves nobody: it lets go now, not once the new
      // holder has acked, so the VIP is never on both hosts when the LAN heals (a starved new
      // holder's late ack kept it on both for 400 ms).
      if (reason === "lan-unreachable" && from !== null && rt.phase.kind === "acquiring") {
        rt.phase.fromReleased = true;
        actions.push({
          type: "release",
          node: from,
          epoch: rt.epoch,
          afterMs: 0,
          drain: false,
          reason: `${from} cannot reach the LAN; ${winner} takes over ${unit.name}`,
        });
        rt.releasing.push({ node: from, untilMs: nowMs + timing.ackTimeoutMs });
      }
      return;
    }
    case "holder-unreachable":
      // Nothing in the old holder's own report says it is cut off, so it stays
      // eligible: without a pause, preempt would hand the VIP straight back to it.
      if (rt.holder !== null) rt.cooldown.push({ node: rt.holder, untilMs: nowMs + timing.ackTimeoutMs + timing.reverifyMs, why: "anti-flap" });
      startAcquire(rt, ctx, winner, rt.holder, false, e.reason, actions);
      return;
    case "preempted":
      startAcquire(rt, ctx, winner, rt.holder, true, e.reason, actions);
      return;
    default:
      return;
  }
}

/**
 * The views with F11 evidence older than the last change of holder taken out
 * (see UnitRuntime.reachBaseline); drops baselines whose count has reset.
 */
function freshReach(rt: UnitRuntime, ctx: StepContext): ReadonlyMap<string, NodeView> {
  if (!rt.reachBaseline) return ctx.views;
  const g = ctx.unit.groups[0];
  const views = new Map(ctx.views);
  const kept: Record<string, number> = {};
  for (const [node, base] of Object.entries(rt.reachBaseline)) {
    const view = ctx.views.get(node);
    const r = view?.reach[g];
    if (!view || !r || r.failures < base) continue;
    kept[node] = base;
    const fresh: ReachView = { ...r, failures: r.failures - base };
    views.set(node, { ...view, reach: { ...view.reach, [g]: fresh } });
  }
  rt.reachBaseline = Object.keys(kept).length > 0 ? kept : undefined;
  return views;
}

/** The holder is known, eligible and not lost by the election's own reading. */
function holderCanHold(rt: UnitRuntime, e: Election): boolean {
  if (rt.holder === null) return false;
  return e.ranking.find((c) => c.node === rt.holder)?.eligibility.eligible === true;
}

/** Proven witnesses' continuous probes say the VIP stopped answering: the cut-off holder may be dead now. */
function peersCannotReach(ctx: StepContext, views: ReadonlyMap<string, NodeView>): boolean {
  const g = ctx.unit.groups[0];
  return ctx.unit.members.some((m) => isLive(views.get(m.node)) && witnessCannotReach(views.get(m.node)?.reach[g], ctx.timing.reachFall));
}

function requestVerify(rt: UnitRuntime, ctx: StepContext, candidate: string, lost: string | null, actions: Action[]): void {
  rt.phase = { kind: "verifying", candidate, lost, sinceMs: ctx.nowMs };
  actions.push({
    type: "verify",
    node: candidate,
    reason: `${lost ?? "the last holder"} is lost; ${candidate} verifies the VIP of ${ctx.unit.name} on the LAN`,
  });
}

function startAcquire(rt: UnitRuntime, ctx: StepContext, to: string, from: string | null, planned: boolean, reason: string, actions: Action[]): void {
  rt.epoch += 1;
  rt.phase = { kind: "acquiring", to, from, epoch: rt.epoch, sinceMs: ctx.nowMs, planned, acked: [], reason };
  // Announce harder only when taking over from someone who may still be on the LAN.
  actions.push({ type: "acquire", node: to, epoch: rt.epoch, takeover: !planned && from !== null, forward: planned && from !== null, reason });
}

function pinnedDetail(e: ReturnType<typeof elect>, node: string): string {
  const c = e.ranking.find((x) => x.node === node);
  if (!c) return ": not a member";
  return c.eligibility.eligible ? "" : `: ${c.eligibility.detail}`;
}

function failAcquire(rt: UnitRuntime, ctx: StepContext, why: string, actions: Action[]): void {
  if (rt.phase.kind !== "acquiring") return;
  const { to, from } = rt.phase;
  actions.push({ type: "note", kind: "move", node: to, message: `${to} could not acquire ${ctx.unit.name}: ${why}` });
  rt.cooldown.push({ node: to, untilMs: ctx.nowMs + ctx.timing.ackTimeoutMs, why: "failed" });
  // The old holder keeps the unit (a planned move simply did not happen); a takeover leaves it unheld.
  rt.holder = from !== null && isLive(ctx.views.get(from)) && holdsUnit(ctx.views.get(from), ctx.unit) ? from : null;
  rt.phase = { kind: "steady" };
  // `to` may hold part of the unit: make sure it lets go (same epoch, still newest).
  actions.push({ type: "release", node: to, epoch: rt.epoch, afterMs: 0, drain: false, reason: `acquire failed: ${why}` });
  rt.releasing.push({ node: to, untilMs: ctx.nowMs + ctx.timing.ackTimeoutMs });
}

function handleAck(rt: UnitRuntime, ctx: StepContext, ack: Extract<PlannerEvent, { type: "ack" }>, actions: Action[]): void {
  if (ack.action === "release") {
    if (ack.ok) rt.releasing = rt.releasing.filter((r) => r.node !== ack.node);
    return;
  }
  const phase = rt.phase;
  if (phase.kind !== "acquiring" || ack.node !== phase.to || ack.epoch !== phase.epoch) return;
  if (!ack.ok) {
    failAcquire(rt, ctx, ack.error ?? "agent refused", actions);
    return;
  }
  const acked = phase.acked.includes(ack.group) ? phase.acked : [...phase.acked, ack.group];
  if (!ctx.unit.groups.every((g) => acked.includes(g))) {
    rt.phase = { ...phase, acked };
    return;
  }
  if (rt.holder !== phase.to) rt.reachBaseline = reachSnapshot(ctx);
  rt.holder = phase.to;
  rt.lastHolder = phase.to;
  rt.phase = { kind: "steady" };
  if (rt.switchoverTo === phase.to) {
    rt.switchoverTo = undefined;
    rt.pinned = phase.to;
  } else if (rt.pinned !== phase.to) {
    rt.pinned = undefined;
  }
  actions.push({
    type: "note",
    kind: "move",
    node: phase.to,
    durationMs: ctx.nowMs - phase.sinceMs,
    message: `${phase.to} holds ${ctx.unit.name} (epoch ${phase.epoch})${phase.from ? `, moved from ${phase.from}` : ""}: ${phase.reason}`,
  });
  if (phase.from !== null && phase.from !== phase.to && !phase.fromReleased) {
    const afterMs = phase.planned ? ctx.timing.plannedOverlapMs : 0;
    actions.push({ type: "release", node: phase.from, epoch: phase.epoch, afterMs, drain: phase.planned, reason: `${phase.to} took over ${ctx.unit.name}` });
    rt.releasing.push({ node: phase.from, untilMs: ctx.nowMs + afterMs + ctx.timing.ackTimeoutMs });
  }
}

/** Each peer's current failed-probe count through the VIP (first group), where non-zero. */
function reachSnapshot(ctx: StepContext): Record<string, number> | undefined {
  const g = ctx.unit.groups[0];
  const snap: Record<string, number> = {};
  for (const m of ctx.unit.members) {
    const failures = ctx.views.get(m.node)?.reach[g]?.failures ?? 0;
    if (failures > 0) snap[m.node] = failures;
  }
  return Object.keys(snap).length > 0 ? snap : undefined;
}

function cleanConflicts(rt: UnitRuntime, ctx: StepContext, actions: Action[]): void {
  for (const m of ctx.unit.members) {
    const view = ctx.views.get(m.node);
    if (!isLive(view) || !holdsUnit(view, ctx.unit) || m.node === rt.holder) continue;
    if (rt.phase.kind === "acquiring" && (rt.phase.to === m.node || rt.phase.from === m.node)) continue;
    if (rt.releasing.some((r) => r.node === m.node)) continue;
    // Nobody is known to hold it and nothing is moving: adoption handles this node.
    // During an acquire it is a second holder next to the one being made: it goes.
    if (rt.holder === null && rt.phase.kind !== "acquiring") continue;
    actions.push({
      type: "note",
      kind: "conflict",
      node: m.node,
      message: `${m.node} holds ${ctx.unit.name} but ${rt.holder ?? "nobody"} should: telling it to release`,
    });
    actions.push({
      type: "release",
      node: m.node,
      epoch: rt.epoch,
      afterMs: 0,
      drain: false,
      reason: `${rt.holder ?? "another node"} holds ${ctx.unit.name} (epoch ${rt.epoch})`,
    });
    rt.releasing.push({ node: m.node, untilMs: ctx.nowMs + ctx.timing.ackTimeoutMs });
  }
}

/**
 * The acks a reconnecting agent's hello stands for: an acquire's ack is lost when its session
 * breaks first (a reconnect storm in the middle of a move), but the agent says hello holding
 * the unit's VIPs under that acquire's epoch, which is what the ack would have said. Without
 * this the acquire times out and the unit moves on to another node while its holder is fine.
 */
export function acksInHello(
  rt: UnitRuntime,
  unit: Pick<UnitSpec, "groups">,
  node: string,
  held: ReadonlyArray<{ group: string; epoch: number }>,
): PlannerEvent[] {
  const phase = rt.phase;
  if (phase.kind !== "acquiring" || phase.to !== node) return [];
  const groups = new Set(held.filter((h) => h.epoch === phase.epoch && unit.groups.includes(h.group)).map((h) => h.group));
  return [...groups].map((group) => ({ type: "ack", node, group, epoch: phase.epoch, action: "acquire", ok: true }));
}
