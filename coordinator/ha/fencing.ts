/**
 * Self-fencing by time (docs/design.md, Election): the leader commands only
 * while its etcd lease is certainly alive, judged on this process's monotonic
 * clock, never on etcd's answer alone (etcd may be slow or unreachable).
 *
 * The basis is the moment we SENT the last keep-alive (or grant) that etcd
 * acknowledged: etcd renewed the lease when it received that request, which
 * is no earlier, so the lease lives at least until basis + TTL. We stop at
 * basis + TTL − margin; the margin covers a command still in flight to an
 * agent when the lease ends, and clock-rate differences between hosts. A new
 * leader can only win after the lease has ended on etcd, so two leaders never
 * command at once. Pure; times in ms on one monotonic clock.
 */

export interface FenceTiming {
  /** Lease TTL as etcd granted it (etcd may raise what was asked). */
  ttlMs: number;
  /** Stop this long before the lease could end. */
  marginMs: number;
  /** How often a keep-alive is sent. */
  keepAliveEveryMs: number;
}

/** Defaults for a TTL: keep-alive 4 times per TTL, margin a fifth of it (200 ms for 1 s). */
export function defaultFenceTiming(ttlMs: number): FenceTiming {
  return { ttlMs, marginMs: Math.round(ttlMs / 5), keepAliveEveryMs: Math.round(ttlMs / 4) };
}

/**
 * Cross-field rules, both values in the message. One lost keep-alive must not
 * depose a healthy leader: two intervals fit before the fence closes.
 */
export function checkFenceTiming(t: FenceTiming): string | undefined {
  if (t.marginMs <= 0) return `fencing margin (${t.marginMs}ms) must be positive`;
  if (t.marginMs >= t.ttlMs) return `fencing margin (${t.marginMs}ms) must be less than the lease TTL (${t.ttlMs}ms)`;
  if (2 * t.keepAliveEveryMs > t.ttlMs - t.marginMs)
    return `keep-alive interval (${t.keepAliveEveryMs}ms) must fit twice in lease TTL − margin (${t.ttlMs}ms − ${t.marginMs}ms)`;
  return undefined;
}

/** The last moment the leader may command, or -Infinity with no acknowledged basis. */
export function commandDeadlineMs(basisMs: number | undefined, t: Pick<FenceTiming, "ttlMs" | "marginMs">): number {
  return basisMs === undefined ? -Infinity : basisMs + t.ttlMs - t.marginMs;
}

export function mayCommand(nowMs: number, basisMs: number | undefined, t: Pick<FenceTiming, "ttlMs" | "marginMs">): boolean {
  return nowMs < commandDeadlineMs(basisMs, t);
}

/**
 * A new acknowledgement moves the basis forward only: acks of older sends
 * (a reordered or replayed answer) never pull it back, and never push it past
 * a later send's.
 */
export function acknowledge(basisMs: number | undefined, sentAtMs: number): number {
  return basisMs === undefined ? sentAtMs : Math.max(basisMs, sentAtMs);
}
