/**
 * Timing the agent and the coordinator must agree on. The coordinator's
 * startup grace must outlast the agents' reconnect back-off: after a
 * coordinator restart the holder may still be waiting out its back-off, and
 * electing before it says hello would take the VIP from a node that serves
 * (docs/design.md, Invariants, 3).
 */

/** Agent reconnect back-off: first retry, and the cap (±20 % jitter on top). */
export const AGENT_RECONNECT = { initialMs: 100, maxMs: 5000 } as const;

/** Default startup grace: the back-off cap plus its jitter and a margin. Ends early once every node said hello. */
export const DEFAULT_STARTUP_GRACE_MS = Math.round(AGENT_RECONNECT.maxMs * 1.2) + 1000;

/**
 * An agent leaves a coordinator that beat and then said nothing for the dead interval, but
 * never sooner than this (the agent's session client: a starved coordinator a few hundred ms
 * late is not left).
 */
export const COORDINATOR_SILENCE_MIN_MS = 1000;

/**
 * How often the coordinator beats on each session: four times within the silence an agent
 * tolerates, never more often than the agents report. A beat says only "the coordinator is
 * there"; at the tuned 20 ms heartbeat, beating every heartbeat cost as many messages as
 * every agent's reports together.
 */
export function beatIntervalMs(heartbeatMs: number, deadIntervalMs: number): number {
  return Math.max(heartbeatMs, Math.floor(Math.max(deadIntervalMs, COORDINATOR_SILENCE_MIN_MS) / 4));
}

/** The beats are spread over this many slices of the interval, each session in one: no burst of a message to every agent at once. */
export const BEAT_SLICES = 10;

/**
 * Below this many sessions the beats go out together, one wake-up per interval: a slice every
 * 25 ms at the seed timing cost an idle coordinator of two agents about 0.5 % of a core in
 * wake-ups, to spread a burst of a few messages.
 */
export const SLICED_FROM_SESSIONS = 100;
