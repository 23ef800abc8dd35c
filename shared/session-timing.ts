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
