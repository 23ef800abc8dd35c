/**
 * Which coordinator the agent tries next, and when (pure). With replicated
 * coordinators the agent knows every replica; only the leader welcomes it. A
 * follower's refusal names the leader, and the agent goes straight there; a
 * replica that is down or silent is skipped at once for the next in the list.
 * Only when a whole round of the list has failed without a welcome does the
 * agent back off (doubling, capped, jittered), so a dead cluster is not
 * hammered while a leader change costs a fraction of a second. One address is
 * the single-coordinator case: every try is a full round, so it backs off as
 * it always did.
 */
import { jitter, nextBackoffMs, type Backoff } from "../../shared/backoff.js";

/** Next back-off: doubling, capped, ±20 % jitter so a fleet does not reconnect in lockstep. */
export function nextBackoff(previousMs: number, b: Backoff, random: () => number = Math.random): number {
  return Math.round(jitter(nextBackoffMs(previousMs, b), 0.2, random));
}

/** Pause before trying the next replica within a round (or the leader a follower named). */
export const ROTATE_DELAY_MS = 50;

export interface Rotation {
  /** Index in the address list of the replica to try (or being tried). */
  index: number;
  /** Tries since the last welcome. */
  tries: number;
  /** Delay before this try. */
  delayMs: number;
  /** The last back-off between rounds (0: none since the last welcome). */
  backoffMs: number;
}

export const initialRotation = (): Rotation => ({ index: 0, tries: 0, delayMs: 0, backoffMs: 0 });

/** A welcome: the replica tried is the leader; the next loss starts a fresh round from it. */
export function welcomed(r: Rotation): Rotation {
  return { index: r.index, tries: 0, delayMs: 0, backoffMs: 0 };
}

/**
 * The session to `addresses[r.index]` is over (or was refused); `hint` is the
 * leader a follower named ("" when none). Returns the next try and its delay.
 */
export function nextTry(addresses: readonly string[], r: Rotation, hint: string, backoff: Backoff, random: () => number = Math.random): Rotation {
  const n = addresses.length;
  const tries = r.tries + 1;
  const hinted = hint === "" ? -1 : addresses.indexOf(hint);
  const index = hinted >= 0 && hinted !== r.index ? hinted : (r.index + 1) % n;
  // A full round of the list without a welcome: back off before going on.
  if (tries % n === 0) {
    const backoffMs = nextBackoffMs(r.backoffMs, backoff);
    return { index, tries, delayMs: nextBackoff(r.backoffMs, backoff, random), backoffMs };
  }
  return { index, tries, delayMs: Math.round(jitter(ROTATE_DELAY_MS, 0.2, random)), backoffMs: r.backoffMs };
}
