/**
 * One group on this host as a pure state machine:
 * `stepGroup(state, event, context) → { state, effects }`.
 *
 * - A command older than the newest epoch seen for the group is never obeyed
 *   (it is acked as stale); a newer one raises the newest epoch first, so the
 *   raise is remembered even when the command is refused for another reason.
 * - Acquire binds the VIPs and announces them (GARP); release unbinds them. A
 *   release with `afterMs` waits out the planned overlap (stragglers still
 *   reach this host while the new holder's GARP spreads) on a timer; a newer
 *   acquire, or a release to do at once, cancels it.
 * - A FAULT node refuses to acquire; the node releases what it holds locally
 *   (`local-release`) without waiting for the coordinator.
 *
 * The machine decides; the agent core (agent.ts) runs the effects through its
 * ports. The I/O effects (`bind`, `unbind`) come last in their list and their
 * outcome comes back as the next event (`bound`, `unbound`); the core steps
 * one group's events one at a time, so no other event arrives while a bind or
 * an unbind is in flight.
 */
import type { GarpPlan, NotifyState, VipSpec } from "./ports.js";

/** What this host holds for a group. */
export interface Holding {
  vips: VipSpec[];
  epoch: number;
}

/** The coordinator command an effect answers: what an ack and the logs need. */
export interface CommandRef {
  commandId: string;
  group: string;
  epoch: number;
  reason: string;
}

/** A release waiting out its planned overlap. */
export interface DelayedRelease {
  command: CommandRef;
  vips: VipSpec[];
  afterMs: number;
  drainMs: number;
  /** The group's members' LAN addresses: their probes are not flows a drain waits for. */
  members: string[];
}

export type GroupPhase =
  | { kind: "released" }
  /** Binding `vips` for `command`; `prior` is what stays held if the bind fails. */
  | { kind: "acquiring"; command: CommandRef; vips: VipSpec[]; takeover: boolean; prior: Holding | null }
  | { kind: "held"; holding: Holding }
  /** Unbinding `vips`, for a command or (`command` null) on this node's own decision (`why`). */
  | { kind: "releasing"; command: CommandRef | null; vips: VipSpec[]; why: string; prior: Holding | null };

export interface GroupState {
  group: string;
  /** The newest epoch seen for the group (persisted by the core: it survives restarts). */
  newest: number;
  phase: GroupPhase;
  /** A planned-overlap release armed on a timer, whatever the phase. */
  delayed: DelayedRelease | null;
}

/** The node-level facts a group's decisions read. */
export interface GroupContext {
  /** Why this node is FAULT, or null when it is not. */
  fault: string | null;
  /** The GARP schedule an acquire announces with. */
  garp: GarpPlan;
}

/**
 * `forwardMs`: a planned move from a holder that still serves: forward the flows this
 * host does not know to it for that long. `drainMs`: a planned release: keep serving
 * the flows established here (unannounced) until they end or that long has passed.
 */
export type CommandAction =
  | { kind: "acquire"; takeover: boolean; forwardMs: number }
  | { kind: "release"; afterMs: number; drainMs: number; members: string[] };

/** The command's VIPs bound to this host's interface, or why they cannot be. */
export type Bindings = { ok: true; vips: VipSpec[] } | { ok: false; error: string };

export type GroupEvent =
  /** VIPs of the group found on the interfaces at start: kept until the coordinator decides. */
  | { type: "found"; vips: VipSpec[] }
  | { type: "command"; command: CommandRef; action: CommandAction | null; bindings: Bindings }
  /** The timer of a delayed release went off. */
  | { type: "release-due"; release: DelayedRelease }
  /** Release now, on this node's own decision (FAULT, forced stop). */
  | { type: "local-release"; why: string }
  | { type: "bound"; error: string | null }
  | { type: "unbound"; error: string | null };

export type LogLevel = "info" | "warn" | "error";

export type GroupEffect =
  /** Remember a newer epoch (persisted). */
  | { type: "raise-epoch"; epoch: number }
  | { type: "ack"; command: CommandRef; ok: boolean; error: string }
  /** Add the VIPs and announce them on `garp` (forwarding first, `forwardMs`); the outcome comes back as `bound`. */
  | { type: "bind"; vips: VipSpec[]; takeover: boolean; garp: GarpPlan; forwardMs: number }
  /** Remove the VIPs from the LAN and stop announcing (draining their flows, `drainMs`); the outcome comes back as `unbound`. */
  | { type: "unbind"; vips: VipSpec[]; drainMs: number; members: string[] }
  /** Arm the delayed release's timer (replacing any armed one); it fires `release-due`. */
  | { type: "arm-release"; release: DelayedRelease }
  | { type: "cancel-release" }
  /** Holding changed: retarget the continuous reach probes. */
  | { type: "retarget-reach" }
  | { type: "notify"; state: NotifyState }
  /** After a takeover, check that the LAN follows (and announce again if not). */
  | { type: "confirm-takeover"; epoch: number }
  | { type: "report" }
  | { type: "log"; level: LogLevel; event: string; fields: Record<string, unknown>; message: string };

export interface GroupStep {
  state: GroupState;
  effects: GroupEffect[];
}

export function initialGroupState(group: string, newest = 0): GroupState {
  return { group, newest, phase: { kind: "released" }, delayed: null };
}

/** What the group holds as far as reports and acks are concerned: a bind or an unbind in flight counts as not done yet. */
export function holdingOf(state: GroupState): Holding | null {
  const p = state.phase;
  if (p.kind === "held") return p.holding;
  if (p.kind === "acquiring" || p.kind === "releasing") return p.prior;
  return null;
}

export function stepGroup(state: GroupState, event: GroupEvent, ctx: GroupContext): GroupStep {
  switch (event.type) {
    case "found":
      return onFound(state, event.vips);
    case "command":
      return onCommand(state, event, ctx);
    case "release-due":
      return onReleaseDue(state, event.release);
    case "local-release":
      return onLocalRelease(state, event.why);
    case "bound":
      return onBound(state, event.error);
    case "unbound":
      return onUnbound(state, event.error, ctx);
  }
}

function onFound(state: GroupState, vips: VipSpec[]): GroupStep {
  if (vips.length === 0 || state.phase.kind !== "released") return { state, effects: [] };
  const addresses = vips.map((v) => v.address);
  return {
    state: { ...state, phase: { kind: "held", holding: { vips, epoch: state.newest } } },
    effects: [
      log(
        "warn",
        "vip.reconciled",
        { group: state.group, vips: addresses },
        `found ${addresses.join(", ")} of ${state.group} already on this host: keeping it until the coordinator decides`,
      ),
    ],
  };
}

function onCommand(state: GroupState, event: Extract<GroupEvent, { type: "command" }>, ctx: GroupContext): GroupStep {
  const c = event.command;
  if (c.epoch < state.newest) {
    const stale = `stale epoch ${c.epoch} for ${c.group} (newest seen ${state.newest})`;
    return {
      state,
      effects: [
        log("warn", "command.stale", { group: c.group, epoch: c.epoch, newest: state.newest, commandId: c.commandId }, `ignoring command: ${stale}`),
        { type: "ack", command: c, ok: false, error: stale },
      ],
    };
  }
  const effects: GroupEffect[] = [];
  if (c.epoch > state.newest) {
    state = { ...state, newest: c.epoch };
    effects.push({ type: "raise-epoch", epoch: c.epoch });
  }
  const refuse = (error: string): GroupStep => ({ state, effects: [...effects, { type: "ack", command: c, ok: false, error }] });
  if (!event.action) return refuse("command without an action");
  // The core steps a group's events one at a time, so this is a bug there; refusing keeps the I/O in flight answerable.
  if (state.phase.kind === "acquiring" || state.phase.kind === "releasing")
    return refuse(`${c.group} is busy: ${state.phase.kind === "acquiring" ? "a bind" : "an unbind"} is in flight`);
  if (!event.bindings.ok) return refuse(event.bindings.error);
  const vips = event.bindings.vips;

  if (event.action.kind === "acquire") {
    if (state.delayed) {
      effects.push({ type: "cancel-release" });
      state = { ...state, delayed: null };
    }
    if (ctx.fault !== null) return refuse(`node is FAULT: ${ctx.fault}`);
    return {
      state: { ...state, phase: { kind: "acquiring", command: c, vips, takeover: event.action.takeover, prior: holdingOf(state) } },
      effects: [...effects, { type: "bind", vips, takeover: event.action.takeover, garp: ctx.garp, forwardMs: event.action.forwardMs }],
    };
  }

  if (event.action.afterMs > 0) {
    // Planned overlap: the group is not blocked meanwhile, and a newer acquire cancels it.
    const release: DelayedRelease = { command: c, vips, afterMs: event.action.afterMs, drainMs: event.action.drainMs, members: event.action.members };
    return { state: { ...state, delayed: release }, effects: [...effects, { type: "arm-release", release }] };
  }
  // A release to do now supersedes one waiting out its overlap.
  if (state.delayed) {
    effects.push({ type: "cancel-release" });
    state = { ...state, delayed: null };
  }
  return startRelease(state, c, vips, event.action.drainMs, event.action.members, effects);
}

function onReleaseDue(state: GroupState, release: DelayedRelease): GroupStep {
  // Only the armed one: a timer that went off just as a newer command cancelled it does nothing.
  if (!state.delayed || state.delayed.command.commandId !== release.command.commandId) return { state, effects: [] };
  return startRelease({ ...state, delayed: null }, release.command, release.vips, release.drainMs, release.members, []);
}

function startRelease(state: GroupState, command: CommandRef, vips: VipSpec[], drainMs: number, members: string[], effects: GroupEffect[]): GroupStep {
  return {
    state: { ...state, phase: { kind: "releasing", command, vips, why: command.reason, prior: holdingOf(state) } },
    effects: [...effects, { type: "unbind", vips, drainMs, members }],
  };
}

function onLocalRelease(state: GroupState, why: string): GroupStep {
  if (state.phase.kind !== "held") return { state, effects: [] };
  const holding = state.phase.holding;
  return {
    state: { ...state, phase: { kind: "releasing", command: null, vips: holding.vips, why, prior: holding } },
    effects: [{ type: "unbind", vips: holding.vips, drainMs: 0, members: [] }],
  };
}

function onBound(state: GroupState, error: string | null): GroupStep {
  const p = state.phase;
  if (p.kind !== "acquiring") return { state, effects: [] };
  const c = p.command;
  const fields = commandFields(c, p.vips);
  if (error !== null) {
    return {
      state: { ...state, phase: restore(p.prior) },
      effects: [log("error", "vip.acquire.failed", { ...fields, error }, "acquire failed"), { type: "ack", command: c, ok: false, error }],
    };
  }
  const effects: GroupEffect[] = [
    { type: "retarget-reach" },
    log("info", "vip.acquire", { ...fields, takeover: p.takeover, reason: c.reason }, `acquired ${c.group}`),
    { type: "ack", command: c, ok: true, error: "" },
    { type: "notify", state: "MASTER" },
  ];
  if (p.takeover) effects.push({ type: "confirm-takeover", epoch: c.epoch });
  effects.push({ type: "report" });
  return { state: { ...state, phase: { kind: "held", holding: { vips: p.vips, epoch: c.epoch } } }, effects };
}

function onUnbound(state: GroupState, error: string | null, ctx: GroupContext): GroupStep {
  const p = state.phase;
  if (p.kind !== "releasing") return { state, effects: [] };
  const c = p.command;
  if (c === null) {
    // This node's own release (FAULT, forced stop): no command to answer; the caller reports once for all groups.
    if (error !== null)
      return {
        state: { ...state, phase: restore(p.prior) },
        effects: [log("error", "vip.release.failed", { group: state.group, error }, "local release failed")],
      };
    return {
      state: { ...state, phase: { kind: "released" } },
      effects: [log("warn", "vip.release.local", { group: state.group, why: p.why }, `released ${state.group}: ${p.why}`)],
    };
  }
  const fields = commandFields(c, p.vips);
  if (error !== null) {
    return {
      state: { ...state, phase: restore(p.prior) },
      effects: [log("error", "vip.release.failed", { ...fields, error }, "release failed"), { type: "ack", command: c, ok: false, error }],
    };
  }
  return {
    state: { ...state, phase: { kind: "released" } },
    effects: [
      { type: "retarget-reach" },
      log("info", "vip.release", { ...fields, reason: c.reason }, `released ${c.group}`),
      { type: "ack", command: c, ok: true, error: "" },
      { type: "notify", state: ctx.fault !== null ? "FAULT" : "BACKUP" },
      { type: "report" },
    ],
  };
}

function restore(prior: Holding | null): GroupPhase {
  return prior ? { kind: "held", holding: prior } : { kind: "released" };
}

function commandFields(c: CommandRef, vips: VipSpec[]): Record<string, unknown> {
  return { group: c.group, epoch: c.epoch, commandId: c.commandId, vips: vips.map((v) => v.address) };
}

function log(level: LogLevel, event: string, fields: Record<string, unknown>, message: string): GroupEffect {
  return { type: "log", level, event, fields, message };
}
