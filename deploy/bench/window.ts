/**
 * One phase's figures from a prober and VIP sampler that ran across several phases: cut the
 * observations to the phase's window, then measure what a client saw and where the VIP was.
 * Pure.
 */
import { analyzeProbes, summarizeVipEvents, type ProbeRecord, type VipEvent } from "../lab/api.js";

/** When a phase ran (epoch ms). */
export interface PhaseWindow {
  /** Start of the requests counted (the injection minus the settle time: the service before the fault is in it). The VIP counts from injectT. */
  from: number;
  /** When the fault was injected (its first step started). */
  injectT: number;
  /** End of the window (end condition + the observation after it). */
  to: number;
}

/** What one run of one phase measured. */
export interface PhaseMetrics {
  /** Longest run of failed requests (ms): the client-observed outage. */
  outageMs: number;
  /** Failed requests in the window. */
  failed: number;
  /** Failed requests by error kind (ECONNRESET, timeout, …). */
  errors: Record<string, number>;
  /** Requests in the window. */
  requests: number;
  /** Injection → the VIP only on the phase's new holder (ms); null: never in the window (or no new holder). */
  moveMs: number | null;
  /** The VIP's holders changed at all after the injection. */
  moved: boolean;
  /** Time the VIP was on both LBs: total and longest stretch (ms). */
  bothMs: number;
  longestBothMs: number;
  /** Time the VIP was on no LB (ms). */
  noneMs: number;
  /** Holders at the end of the window. */
  endHolders: string[];
  /** The end condition held before its deadline (false: the figures run to the deadline). */
  reached: boolean;
  /** Injection → end condition (or deadline), ms. */
  settledMs: number;
}

/** The records sent inside the window. */
export function probesIn(records: readonly ProbeRecord[], w: PhaseWindow): ProbeRecord[] {
  return records.filter((r) => r.t >= w.from && r.t <= w.to);
}

/**
 * The sampler's change events restricted to [from, to]: each host's last state at or before
 * `from` is restated at `from` (the watchers print changes only), then the events inside.
 */
export function vipEventsIn(events: readonly VipEvent[], hosts: readonly string[], w: { from: number; to: number }): VipEvent[] {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const out: VipEvent[] = [];
  for (const host of hosts) {
    const before = sorted.filter((e) => e.host === host && e.t <= w.from).pop();
    if (before) out.push({ t: w.from, host, has: before.has });
  }
  for (const e of sorted) if (e.t > w.from && e.t <= w.to) out.push(e);
  return out;
}

/**
 * The phase's figures. `newHolder`: the LB the VIP should end up on alone (F1: lb2), or
 * undefined when it should not move (F2, F4, F7, F8).
 */
export function phaseMetrics(
  records: readonly ProbeRecord[],
  events: readonly VipEvent[],
  hosts: readonly string[],
  w: PhaseWindow,
  opts: { newHolder?: string; reached: boolean; settledAt: number; intervalMs?: number },
): PhaseMetrics {
  const probes = analyzeProbes(probesIn(records, w), opts.intervalMs ?? 10);
  // The VIP from the injection on: what the fault did. Before it, the state is the previous
  // phase's (F11's heal starts on both), which that phase already counted.
  const vip = summarizeVipEvents(vipEventsIn(events, hosts, { from: w.injectT, to: w.to }), hosts, w.to);
  const sole = opts.newHolder === undefined ? undefined : vip.changes.find((c) => c.holders.length === 1 && c.holders[0] === opts.newHolder);
  // Changes are collapsed (each differs from the one before); the first is the state at the injection.
  const moved = vip.changes.length > 1;
  return {
    outageMs: probes.longestFailureMs,
    failed: probes.failed,
    errors: probes.errors,
    requests: probes.total,
    moveMs: sole ? sole.t - w.injectT : null,
    moved,
    bothMs: vip.bothMs,
    longestBothMs: vip.longestBothMs,
    noneMs: vip.noneMs,
    endHolders: vip.changes[vip.changes.length - 1]?.holders ?? [],
    reached: opts.reached,
    settledMs: opts.settledAt - w.injectT,
  };
}
