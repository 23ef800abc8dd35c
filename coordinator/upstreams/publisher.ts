/**
 * Versioned upstream pushes: a new version only when the desired state really
 * changed, at most one publish per `minIntervalMs` (a flapping backend must not
 * reload nginx in a loop), and never a dropped change: changes arriving within
 * the interval are merged into the next publish, which carries the newest
 * state. Pure bookkeeping: the caller owns the timer and the sending.
 */
import type { Upstream, UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";

export interface PublisherState {
  /** The last published config (what every agent must converge to). */
  current: UpstreamConfig;
  lastPublishMs: number;
  /** A newer desired state waiting for the rate limit. */
  pending?: Upstream[];
}

export function initialPublisher(version = 0): PublisherState {
  return { current: { version, upstreams: [] }, lastPublishMs: Number.NEGATIVE_INFINITY };
}

const same = (a: Upstream[], b: Upstream[]) => JSON.stringify(a) === JSON.stringify(b);

export interface OfferResult {
  state: PublisherState;
  /** Publish this now (a new version). */
  publish?: UpstreamConfig;
  /** Offer again (with `flush`) at this time: a change waits for the rate limit. */
  retryAtMs?: number;
}

/** Offers a desired state; decides whether it becomes a new version now, later, or not at all. */
export function offer(state: PublisherState, desired: Upstream[], nowMs: number, minIntervalMs: number): OfferResult {
  if (same(desired, state.current.upstreams) && state.current.version > 0) return { state: { ...state, pending: undefined } };
  const dueMs = state.lastPublishMs + minIntervalMs;
  if (nowMs < dueMs) return { state: { ...state, pending: desired }, retryAtMs: dueMs };
  const publish: UpstreamConfig = { version: state.current.version + 1, upstreams: desired };
  return { state: { current: publish, lastPublishMs: nowMs, pending: undefined }, publish };
}

/** Publishes what waited for the rate limit, if anything. */
export function flush(state: PublisherState, nowMs: number, minIntervalMs: number): OfferResult {
  if (!state.pending) return { state };
  return offer(state, state.pending, nowMs, minIntervalMs);
}
