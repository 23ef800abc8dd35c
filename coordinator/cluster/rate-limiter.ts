/**
 * A token bucket per key (an admin identity, an agent's node id). Time is a
 * parameter, so tests drive it without sleeping.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  /** `burst` requests at once, refilled at `perSecond`. */
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Takes a token; returns 0 when allowed, else the ms to wait. */
  take(key: string, nowMs: number): number {
    const b = this.buckets.get(key) ?? { tokens: this.burst, atMs: nowMs };
    b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) / 1000) * this.perSecond);
    b.atMs = nowMs;
    if (this.buckets.size >= this.maxKeys && !this.buckets.has(key)) this.buckets.clear();
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
  }
}

/** Agent events into the history: 20 at once, then 2 a second per node. */
export const AGENT_EVENTS = { burst: 20, perSecond: 2 };
