/**
 * The election: who should hold a unit now, and why. A pure function of
 * (unit config, node views, current holder, pins, now). It decides *who*;
 * planner.ts decides *how* to get there safely (verification, make-before-break,
 * epochs).
 */
import { compareCandidates, effectivePriority, eligibility, type Eligibility, type PriorityResult } from "./priority.js";
import { isProvenWitness, witnessCannotReach, type NodeView, type UnitSpec } from "./view.js";

export type Rule =
  /** Nobody holds it and an eligible member exists: the best one wins. */
  | "initial-election"
  /** The holder stays (eligible, nobody strictly better with preempt). */
  | "kept-holder"
  /** The holder stays because preempt is off (nopreempt), though a better node exists. */
  | "kept-holder-nopreempt"
  /** The holder stays because an operator's switchover pinned it there (preempt does not undo it). */
  | "kept-holder-pinned"
  /** A better node waits out preempt_delay. */
  | "preempt-pending"
  /** A strictly better node takes over (preempt). */
  | "preempted"
  /** The holder can no longer hold (FAULT, nginx down, maintenance, stopping). */
  | "holder-ineligible"
  /** The holder's session is lost: the candidate must verify the VIP on the LAN first. */
  | "holder-lost"
  /** Peers cannot reach the service through the VIP while the holder claims it (F11). */
  | "holder-unreachable"
  /** An operator asked for this node (switchover). */
  | "switchover"
  /** No member is eligible. */
  | "no-eligible";

export interface Candidate {
  node: string;
  address?: string;
  priority: PriorityResult;
  effective: number;
  eligibility: Eligibility;
}

export interface ElectInput {
  unit: UnitSpec;
  views: ReadonlyMap<string, NodeView>;
  /** Current holder (null: unheld). */
  holder: string | null;
  nowMs: number;
  /** Since when a better node has been waiting to preempt (carried between calls). */
  preemptSince?: { node: string; sinceMs: number };
  /** Operator switchover target (sticks until reached or cleared). */
  switchoverTo?: string;
  /** Node an operator's completed switchover pinned the unit to: kept while eligible, even against preempt. */
  pinned?: string;
  /** Consecutive failed probes through the VIP before a peer counts as "cannot reach". */
  reachFall: number;
  /**
   * Members that may not become the new holder now (the planner's cooldown
   * after a failed acquire or an unanswered verification, or a release window
   * still open), so the next best is tried instead of leaving the VIP unheld.
   * They still count as live peers (LAN signal, F11 votes); a skipped holder
   * keeps holding.
   */
  skip?: readonly string[];
}

export interface Election {
  /** Who should hold the unit (null: nobody can). */
  winner: string | null;
  rule: Rule;
  /** The decision in words (status, `keepvip why`, logs). */
  reason: string;
  /** Every member, best first (total order). */
  ranking: Candidate[];
  /** Updated preempt-delay bookkeeping to pass to the next call. */
  preemptSince?: { node: string; sinceMs: number };
  /** When the next evaluation is due even without new input (preempt_delay expiry). */
  wakeAtMs?: number;
}

/** Ranks members and returns who should hold the unit, with the rule that decided. */
export function elect(input: ElectInput): Election {
  const { unit, views, holder, nowMs } = input;
  // The LAN signal counts while a member that can reach the LAN speaks for it: one whose session
  // is live, or silent for a moment (its last report stands until the session closes). A
  // member cut off the LAN must not become eligible because the new holder missed a heartbeat
  // (it took the VIP back while partitioned, and the holder was told to release).
  const lanSignalValid = unit.members.some((m) => {
    const v = views.get(m.node);
    return (v?.session === "live" || v?.session === "silent") && v.lanOk === true;
  });
  const ranking: Candidate[] = unit.members
    .map((m) => {
      const view = views.get(m.node);
      const priority = effectivePriority(m, unit.tracks, view);
      return {
        node: m.node,
        address: m.address,
        priority,
        effective: priority.effective,
        eligibility: eligibility(m, unit, view, priority, { isHolder: m.node === holder, lanSignalValid }),
      };
    })
    .sort(compareCandidates);

  const skip = input.skip ?? [];
  const eligible = ranking.filter((c) => c.eligibility.eligible && (c.node === holder || !skip.includes(c.node)));
  const best = eligible[0];
  const current = holder === null ? undefined : ranking.find((c) => c.node === holder);
  const done = (winner: string | null, rule: Rule, reason: string, extra: Partial<Election> = {}): Election => ({ winner, rule, reason, ranking, ...extra });

  if (!best) {
    if (current && views.get(current.node)?.session !== "live" && current.eligibility.reason !== undefined) {
      return done(holder, "holder-lost", `holder ${holder} is lost (${current.eligibility.detail}) and no other member is eligible`);
    }
    // Eligible members that are only skipped for now are no reason to call it
    // "no-eligible": a stopping holder waits for them (the engine's handover).
    const waiting = ranking.filter((c) => c.eligibility.eligible && c.node !== holder).map((c) => c.node);
    if (current && waiting.length > 0)
      return done(
        null,
        "holder-ineligible",
        `holder ${current.node} cannot hold (${current.eligibility.detail}); ${waiting.join(", ")} may take over once their cooldown or release window has passed`,
      );
    return done(
      null,
      "no-eligible",
      `no member is eligible: ${ranking.map((c) => c.eligibility.detail).join("; ")}${waiting.length > 0 ? ` (${waiting.join(", ")} skipped for now)` : ""}`,
    );
  }

  const switchTarget = input.switchoverTo !== undefined && input.switchoverTo !== holder ? eligible.find((c) => c.node === input.switchoverTo) : undefined;

  // A lost holder may be alive and serving behind a control-path cut (F8):
  // even an operator's switchover must not skip the LAN verification, or the
  // VIP ends up on both. The switchover target, when eligible, is the verifier.
  const lost = current !== undefined && (current.eligibility.reason === "disconnected" || current.eligibility.reason === "session-silent");
  if (current && lost) {
    const verifier = switchTarget ?? best;
    return done(
      verifier.node,
      "holder-lost",
      `holder ${current.node} is lost (${current.eligibility.detail}); ${verifier.node} is the ${switchTarget ? "switchover target" : "best candidate"} and must verify the VIP is free first`,
    );
  }

  // Operator switchover: honoured while the target is eligible.
  if (switchTarget) return done(switchTarget.node, "switchover", `operator switchover to ${switchTarget.node}`);

  if (!current) {
    return done(
      best.node,
      "initial-election",
      `${best.node} has the highest effective priority (${best.effective}) among eligible members${tieNote(eligible)}`,
    );
  }

  if (!current.eligibility.eligible) {
    return done(
      best.node,
      "holder-ineligible",
      `holder ${current.node} cannot hold (${current.eligibility.detail}); ${best.node} is the best eligible member (${best.effective})`,
    );
  }

  // F11: the holder serves its session but peers cannot reach the VIP. Only a
  // proven witness can be the new holder: a node that cannot show its own LAN
  // works may be the one cut off.
  const unreachable = holderUnreachable(input, current.node);
  if (unreachable) {
    const target = eligible.find((c) => c.node !== current.node && isProvenWitness(views.get(c.node)?.reach[unit.groups[0]]));
    if (target) return done(target.node, "holder-unreachable", `${unreachable}; moving to ${target.node}`);
  }

  const challenger = eligible.find((c) => c.node !== current.node);
  const better = challenger !== undefined && compareCandidates(challenger, current) < 0 && challenger.effective > current.effective;
  if (!better) return done(current.node, "kept-holder", `holder ${current.node} is eligible and no member has a higher priority (${current.effective})`);
  if (input.pinned === current.node)
    return done(
      current.node,
      "kept-holder-pinned",
      `holder ${current.node} (${current.effective}) stays although ${challenger.node} has ${challenger.effective}: pinned by an operator switchover (switch over again to move it)`,
    );
  if (!unit.preempt)
    return done(
      current.node,
      "kept-holder-nopreempt",
      `nopreempt: holder ${current.node} (${current.effective}) stays although ${challenger.node} has ${challenger.effective}`,
    );

  const since = input.preemptSince?.node === challenger.node ? input.preemptSince.sinceMs : nowMs;
  const dueAt = since + unit.preemptDelayMs;
  if (nowMs < dueAt) {
    return done(
      current.node,
      "preempt-pending",
      `${challenger.node} (${challenger.effective}) will preempt ${current.node} (${current.effective}) after preempt_delay (${dueAt - nowMs} ms left)`,
      { preemptSince: { node: challenger.node, sinceMs: since }, wakeAtMs: dueAt },
    );
  }
  return done(challenger.node, "preempted", `${challenger.node} (${challenger.effective}) preempts ${current.node} (${current.effective})`);
}

function tieNote(eligible: Candidate[]): string {
  if (eligible.length < 2 || eligible[0].effective !== eligible[1].effective) return "";
  return `; tie with ${eligible[1].node} broken by ${eligible[0].address !== eligible[1].address ? "higher address" : "node id"}`;
}

/**
 * A majority of the other live members that prove their own LAN (the witness
 * rule, see isProvenWitness) report that the service does not answer through
 * the VIP. Returns the finding in words, or "".
 */
function holderUnreachable(input: ElectInput, holder: string): string {
  const group = input.unit.groups[0];
  const voters = input.unit.members
    .map((m) => input.views.get(m.node))
    .filter((v): v is NodeView => v !== undefined && v.node !== holder && v.session === "live" && isProvenWitness(v.reach[group]));
  if (voters.length === 0) return "";
  const failing = voters.filter((v) => witnessCannotReach(v.reach[group], input.reachFall));
  if (failing.length * 2 <= voters.length) return "";
  return `${failing.length} of ${voters.length} peers cannot reach the VIP of ${group} on ${holder} (${failing.map((v) => v.node).join(", ")})`;
}
