/**
 * The one back-off: a delay that doubles from `initialMs` up to `maxMs`, with
 * jitter so a fleet (or two agents on one host) does not retry in lockstep.
 * Used by the agent's reconnect to the coordinator and by nginx restarts.
 */

/** A doubling back-off: the first delay and the ceiling of the doubling. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** The delay before retry number `attempt` (1 = the first): initialMs × 2^(attempt−1), capped at maxMs. */
export function backoffMs(attempt: number, b: Backoff): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(b.maxMs, b.initialMs * 2 ** exponent);
}

/** The delay after `previousMs` (0 or less: none yet): initialMs, then double the last, capped at maxMs. */
export function nextBackoffMs(previousMs: number, b: Backoff): number {
  return previousMs <= 0 ? b.initialMs : Math.min(b.maxMs, previousMs * 2);
}

/** `ms` scaled by a random factor in [1 − spread, 1 + spread); `random` returns [0, 1). */
export function jitter(ms: number, spread: number, random: () => number = Math.random): number {
  return ms * (1 - spread + 2 * spread * random());
}
