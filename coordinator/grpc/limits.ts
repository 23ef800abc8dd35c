/**
 * Rate limits at the API edge, per admin identity (the token bucket is
 * cluster/rate-limiter.ts, shared with the engine's per-node agent-event limit).
 */
export { RateLimiter } from "../cluster/rate-limiter.js";

/** Admin changes: 10 at once, then one every 2 s per identity. */
export const ADMIN_MUTATIONS = { burst: 10, perSecond: 0.5 };
/** Concurrent `keepvip events --follow` streams per identity. */
export const MAX_WATCHERS_PER_IDENTITY = 8;
