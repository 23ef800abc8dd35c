/**
 * Where the VIP was over time, from the VIP watchers' change events: how long it was on both
 * LBs at once (docs/design.md, Invariants, 1), how long on none, how often it moved. Pure.
 */

/** One watcher line: at t, HOST has (or has not) the VIP. */
export interface VipEvent {
  t: number;
  host: string;
  has: boolean;
}

export interface Interval {
  from: number;
  to: number;
}

export interface VipSummary {
  /** Time covered: from when every host had reported to the last event (or `endT`). */
  from: number;
  to: number;
  /** Total and longest time on two or more hosts at once. */
  bothMs: number;
  longestBothMs: number;
  bothIntervals: Interval[];
  /** Total and longest time on no host. */
  noneMs: number;
  longestNoneMs: number;
  /** Holder sets over time, e.g. [{t, holders: ["lb1"]}, {t, holders: ["lb1","lb2"]}, …]. */
  changes: Array<{ t: number; holders: string[] }>;
}

export function summarizeVipEvents(events: readonly VipEvent[], hosts: readonly string[], endT?: number): VipSummary {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const state = new Map<string, boolean>();
  const changes: Array<{ t: number; holders: string[] }> = [];
  let from: number | undefined;
  for (const e of sorted) {
    state.set(e.host, e.has);
    if (hosts.every((h) => state.has(h))) {
      from ??= e.t;
      const holders = hosts.filter((h) => state.get(h));
      const last = changes[changes.length - 1];
      if (!last || last.holders.join(",") !== holders.join(",")) changes.push({ t: Math.max(e.t, from), holders });
    }
  }
  const to = Math.max(endT ?? 0, sorted[sorted.length - 1]?.t ?? 0);
  const both: Interval[] = [];
  const none: Interval[] = [];
  changes.forEach((c, i) => {
    const until = changes[i + 1]?.t ?? to;
    if (c.holders.length >= 2) both.push({ from: c.t, to: until });
    if (c.holders.length === 0) none.push({ from: c.t, to: until });
  });
  const total = (xs: Interval[]) => xs.reduce((s, x) => s + (x.to - x.from), 0);
  const longest = (xs: Interval[]) => xs.reduce((m, x) => Math.max(m, x.to - x.from), 0);
  return {
    from: from ?? to,
    to,
    bothMs: total(both),
    longestBothMs: longest(both),
    bothIntervals: both,
    noneMs: total(none),
    longestNoneMs: longest(none),
    changes,
  };
}
