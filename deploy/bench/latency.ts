/**
 * The upstream benchmark's arithmetic: what clients saw during a backend fault
 * (failures, latency percentiles, stalls, the last failure), and how keepvip's
 * figure compares with plain nginx's. Pure; bench/upstreams.ts prints them.
 */
import type { ProbeRecord } from "../lab/api.js";
import { twoDigits } from "./stats.js";

/** A request this slow stalled on a dead connect (a healthy answer takes ~1 ms on one bridge). */
export const STALL_MS = 1000;

export interface FaultFigures {
  /** Requests sent in the window. */
  requests: number;
  failed: number;
  /** Latency percentiles over every request of the window, failed ones at the time the client gave up (ms). */
  p50: number;
  p99: number;
  max: number;
  /** Requests slower than STALL_MS. */
  stalls: number;
  /** Send time of the last failed request, ms after the fault (undefined: none failed). */
  lastFailureMs?: number;
}

/** Nearest-rank percentile of ascending `sorted` (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Figures over the requests sent in [faultT, faultT + windowMs). */
export function faultFigures(records: readonly ProbeRecord[], faultT: number, windowMs: number): FaultFigures {
  const inWindow = records.filter((r) => r.t >= faultT && r.t < faultT + windowMs);
  const ms = inWindow.map((r) => r.ms).sort((a, b) => a - b);
  const failedT = inWindow.filter((r) => !r.ok).map((r) => r.t);
  return {
    requests: inWindow.length,
    failed: failedT.length,
    p50: round1(percentile(ms, 50)),
    p99: round1(percentile(ms, 99)),
    max: round1(ms.at(-1) ?? 0),
    stalls: inWindow.filter((r) => r.ms > STALL_MS).length,
    lastFailureMs: failedT.length > 0 ? Math.max(...failedT) - faultT : undefined,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * keepvip's figure over nginx's, as people read it. A zero on either side makes
 * a ratio meaningless, so those print both values ("0 vs 174").
 */
export function ratio(keepvip: number | undefined, nginx: number | undefined): string {
  if (keepvip === undefined || nginx === undefined) return "-";
  if (keepvip === 0 && nginx === 0) return "same (0)";
  if (keepvip === 0 || nginx === 0) return `${twoDigits(keepvip)} vs ${twoDigits(nginx)}`;
  return `${twoDigits(keepvip / nginx)}×`;
}
