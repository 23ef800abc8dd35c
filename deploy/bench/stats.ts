/**
 * The benchmark's arithmetic: min/median/max over runs, and how a keepvip figure compares
 * with keepalived's. Pure; the tables (report.ts) print what these return.
 */

/** min/median/max over the runs that produced a number. */
export interface Summary {
  /** Runs that produced a number. */
  n: number;
  /** Runs that produced none (null: e.g. the VIP never ended up only on the new holder). */
  missing: number;
  min?: number;
  median?: number;
  max?: number;
}

/** Summarises one metric over runs; null is "did not happen in that run". */
export function summarize(values: readonly (number | null)[]): Summary {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  const missing = values.length - xs.length;
  if (xs.length === 0) return { n: 0, missing };
  const mid = Math.floor(xs.length / 2);
  // Even counts take the mean of the middle two, rounded: figures are whole ms or requests.
  const median = xs.length % 2 === 1 ? xs[mid] : Math.round((xs[mid - 1] + xs[mid]) / 2);
  return { n: xs.length, missing, min: xs[0], median, max: xs[xs.length - 1] };
}

/** "610 / 650 / 700" (min / median / max), "650" for one run or equal values, "never" when nothing happened. */
export function formatSummary(s: Summary, never = "never"): string {
  if (s.n === 0) return s.missing > 0 ? never : "-";
  const core = s.min === s.max ? `${s.min}` : `${s.min} / ${s.median} / ${s.max}`;
  return s.missing > 0 ? `${core} (${never} ${s.missing}/${s.n + s.missing})` : core;
}

/** Two significant digits, without exponent notation: 0.083, 0.51, 1.2, 12, 130. */
export function twoDigits(x: number): string {
  if (x === 0) return "0";
  const digits = Math.max(0, 1 - Math.floor(Math.log10(Math.abs(x))));
  return x.toFixed(digits);
}

/**
 * keepvip's median over keepalived's, as people read it. A ratio with a zero on either side
 * says nothing ("0×"), so those print both medians instead: "0 / 650 ms".
 */
export function formatRatio(keepvip: Summary, keepalived: Summary, unit = ""): string {
  const a = keepvip.median;
  const b = keepalived.median;
  if (a === undefined || b === undefined) return "-";
  const u = unit ? ` ${unit}` : "";
  if (a === 0 && b === 0) return `0 = 0${u}`;
  if (a === 0 || b === 0) return `${a} / ${b}${u}`;
  return `${twoDigits(a / b)}×`;
}

/** "42 s", "3 min 05 s": elapsed and estimated times in the progress lines. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}
