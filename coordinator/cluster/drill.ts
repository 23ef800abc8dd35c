/**
 * Failover drills (keepvip drill), the pure part: which member a drill moves the VIP
 * to, and what the members' probe reports add up to (the blackout, failed probes, and
 * how long the VIP was held by no member or by two). The orchestration (probes started
 * and stopped, the moves, the event) lives with the admin API.
 */
import type { Candidate } from "../election/elect.js";

/** One member's figures, as its agent reported them (agent wall clock for times). */
export interface MemberDrillReport {
  node: string;
  probes: number;
  failed: number;
  longestBlackoutMs: number;
  held: ReadonlyArray<{ fromMs: number; toMs: number }>;
  error: string;
  outcomes: Record<string, number>;
  /** Probes cut by the member's own bind or unbind, not counted. */
  crossed: number;
  startedMs: number;
  endedMs: number;
}

export interface DrillTotals {
  probes: number;
  failedProbes: number;
  /** The longest blackout any member saw. */
  blackoutMs: number;
  /** Within the window every member probed: time held by no member, by two or more. */
  onNoneMs: number;
  onBothMs: number;
  /** That window's length (0: no member reported). */
  windowMs: number;
}

/**
 * The member a drill moves the VIP to: `to` if given (a member, eligible, not the holder),
 * else the best-ranked eligible member that is not the holder. An error sentence when
 * there is none: a drill never leaves a group without a holder.
 */
export function drillTarget(
  group: string,
  ranking: readonly Candidate[],
  holder: string | undefined,
  to: string,
): { ok: true; node: string } | { ok: false; error: string } {
  if (holder === undefined) return { ok: false, error: `nobody holds ${group}: a drill starts from a held VIP` };
  if (to) {
    const c = ranking.find((x) => x.node === to);
    if (!c) return { ok: false, error: `node "${to}" is not a member of ${group} (members: ${ranking.map((x) => x.node).join(", ")})` };
    if (to === holder) return { ok: false, error: `${to} already holds ${group}: name another member with --to` };
    if (!c.eligibility.eligible) return { ok: false, error: `${to} is not eligible: ${c.eligibility.detail}` };
    return { ok: true, node: to };
  }
  const standby = ranking.find((c) => c.node !== holder && c.eligibility.eligible);
  if (standby) return { ok: true, node: standby.node };
  const why = ranking.filter((c) => c.node !== holder).map((c) => `${c.node}: ${c.eligibility.detail}`);
  return { ok: false, error: `${group} has no eligible standby (${why.join("; ") || "it has one member"}): a drill would leave clients without service` };
}

/** What the members' reports add up to. */
export function drillTotals(reports: readonly MemberDrillReport[]): DrillTotals {
  const probing = reports.filter((r) => r.probes > 0 && r.endedMs > r.startedMs);
  const totals = {
    probes: reports.reduce((n, r) => n + r.probes, 0),
    failedProbes: reports.reduce((n, r) => n + r.failed, 0),
    blackoutMs: reports.reduce((n, r) => Math.max(n, r.longestBlackoutMs), 0),
  };
  if (probing.length === 0) return { ...totals, onNoneMs: 0, onBothMs: 0, windowMs: 0 };
  const from = Math.max(...probing.map((r) => r.startedMs));
  const to = Math.min(...probing.map((r) => r.endedMs));
  if (to <= from) return { ...totals, onNoneMs: 0, onBothMs: 0, windowMs: 0 };
  // Sweep the held spans clipped to the window: +1 where one starts, -1 where it ends.
  const edges: Array<[number, number]> = [];
  for (const r of probing)
    for (const h of r.held) {
      const a = Math.max(from, h.fromMs);
      const b = Math.min(to, h.toMs);
      if (b > a) edges.push([a, 1], [b, -1]);
    }
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let onNone = 0;
  let onBoth = 0;
  let count = 0;
  let at = from;
  for (const [t, d] of edges) {
    if (count === 0) onNone += t - at;
    if (count >= 2) onBoth += t - at;
    count += d;
    at = t;
  }
  if (count === 0) onNone += to - at;
  return { ...totals, onNoneMs: Math.round(onNone), onBothMs: Math.round(onBoth), windowMs: to - from };
}
