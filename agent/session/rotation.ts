/**
 * Which coordinator the agent tries next, and when (pure). With replicated
 * coordinators the agent knows every replica; only the leader welcomes it. A
 * follower's refusal names the leader, and the agent goes straight there; a
 * replica that is down or silent is skipped at once for the next in the list.
 * Only when a whole round of the list has failed without a welcome does the
 * agent back off (doubling, capped, jittered; the first rounds at most 250 ms,
 * while a new leader is being elected), so a dead cluster is not hammered
 * while a leader change costs a fraction of a second. One address is
 * the single-coordinator case: every try is a full round, so it backs off as
 * it always did.
 */
import { COORDINATOR_SILENCE_MIN_MS } from "../../shared/session-timing.js";
import { jitter, nextBackoffMs, type Backoff } from "../../shared/backoff.js";

/** Next back-off: doubling, capped, ±20 % jitter so a fleet does not reconnect in lockstep. */
export function nextBackoff(previousMs: number, b: Backoff, random: () => number = Math.random): number {
  return Math.round(jitter(nextBackoffMs(previousMs, b), 0.2, random));
}

/** Pause before trying the next replica within a round (or the leader a follower named). */
export const ROTATE_DELAY_MS = 50;

/** Replicas: the first rounds without a welcome back off at most this much (then doubling resumes). */
export const FAST_BACKOFF_CAP_MS = 250;
export const FAST_ROUNDS = 8;

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
  // A full round of the list without a welcome: back off before going on. Among replicas the
  // first rounds after losing the leader back off at most FAST_BACKOFF_CAP_MS: a new leader is
  // usually there within a lease, and the agents should be with it at once.
  if (tries % n === 0) {
    const fast = n > 1 && tries <= FAST_ROUNDS * n;
    const backoffMs = fast ? Math.min(nextBackoffMs(r.backoffMs, backoff), FAST_BACKOFF_CAP_MS) : nextBackoffMs(r.backoffMs, backoff);
    return { index, tries, delayMs: Math.round(jitter(backoffMs, 0.2, random)), backoffMs };
  }
  return { index, tries, delayMs: Math.round(jitter(ROTATE_DELAY_MS, 0.2, random)), backoffMs: r.backoffMs };
}

/**
 * A coordinator's beats are judged on at least this much silence: a starved coordinator
 * (or agent) that is a few hundred ms late is not left, with the session churn that costs.
 * The coordinator paces its beats by the same figure (shared/session-timing.ts).
 */
export const MIN_SILENCE_MS = COORDINATOR_SILENCE_MIN_MS;

/** How long a beating coordinator may stay silent before the agent leaves it: its dead_interval, at least MIN_SILENCE_MS. */
export function silenceLimitMs(deadIntervalMs: number): number {
  return Math.max(Number.isFinite(deadIntervalMs) ? deadIntervalMs : 0, MIN_SILENCE_MS);
}

/**
 * A replica that says nothing (neither welcome nor refusal) this long after the hello is
 * left for the next one: an address that blackholes packets (a host cut off) would
 * otherwise hold the agent for the TCP connect timeout, about 20 s.
 */
export const ANSWER_TIMEOUT_MS = 2000;
