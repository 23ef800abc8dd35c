/**
 * Per-node delivery of the upstream snapshot, in the shape of a snapshot
 * cache: there is one current, immutable, versioned config; each agent echoes
 * the version it applied in its reports (an ack), or keeps its old version and
 * names an error (a NACK). A node that is not on the current version gets it
 * again, with a bounded back-off that starts over once it acks: a push lost on
 * the way, or refused by an `nginx -t` that fails only for a moment, no longer
 * waits for the next reconnect. Pure: the manager keeps the map, owns the timer
 * and does the sending.
 */
import { backoffMs } from "../../shared/backoff.js";

/** What the coordinator knows about one connected node's upstream version. */
export interface NodeDelivery {
  /** The version the node last reported as applied (0: none). */
  acked: number;
  /** The version last sent to it (0: none yet on this session). */
  lastSent: number;
  /** When `lastSent` was last sent (ms). */
  lastSentAt: number;
  /** Sends of `lastSent` the node has not acked (drives the back-off; 0 once it acks). */
  unacked: number;
  /** The node's last report named an apply error: it refused a version (NACK). */
  nacked: boolean;
}

/** Resend back-off: `firstMs` after the first send, doubling, never above `maxMs`. */
export interface ResendPolicy {
  firstMs: number;
  maxMs: number;
}

/**
 * 200 ms covers a loaded agent's apply (render, `nginx -t`, reload) and its
 * report, so a healthy node acks before the first resend; 10 s bounds the
 * `nginx -t` runs a node that keeps refusing a version pays for.
 */
export const RESEND: ResendPolicy = { firstMs: 200, maxMs: 10_000 };

/** A node seen for the first time (a hello or a report): nothing sent yet. */
export function newDelivery(acked: number): NodeDelivery {
  return { acked, lastSent: 0, lastSentAt: Number.NEGATIVE_INFINITY, unacked: 0, nacked: false };
}

/** How long to wait for an ack after the `unacked`-th send of a version (1, 2, …). */
export function resendDelayMs(unacked: number, policy: ResendPolicy = RESEND): number {
  return backoffMs(unacked, { initialMs: policy.firstMs, maxMs: policy.maxMs });
}

/**
 * Folds a node's report: the version it applied and the error of its last
 * apply ("" if none). Acking the current version resets the back-off.
 */
export function acknowledged(d: NodeDelivery, appliedVersion: number, applyError: string, currentVersion: number): NodeDelivery {
  const onCurrent = appliedVersion === currentVersion;
  return { ...d, acked: appliedVersion, nacked: !onCurrent && applyError !== "", unacked: onCurrent ? 0 : d.unacked };
}

/** The bookkeeping after sending `version` to a node at `nowMs`. */
export function sent(d: NodeDelivery, version: number, nowMs: number): NodeDelivery {
  return { ...d, lastSent: version, lastSentAt: nowMs, unacked: d.lastSent === version ? d.unacked + 1 : 1 };
}

export type DeliveryReason = "up-to-date" | "new-version" | "resend-unacked" | "resend-nacked" | "waiting";

/** The decision for one node, with its reason. */
export interface NodeDecision {
  node: string;
  send: boolean;
  reason: DeliveryReason;
  /** When this node next needs a look (undefined: not until something changes). */
  wakeAtMs?: number;
}

export interface DeliveryPlan {
  /** Send the current version to these nodes now (sorted). */
  send: string[];
  /** Per node, why. */
  decisions: NodeDecision[];
  /** The earliest time a resend may come due (undefined: none pending). */
  wakeAtMs?: number;
}

/** One node: send now, later, or not at all. */
export function decide(node: string, d: NodeDelivery, currentVersion: number, nowMs: number, policy: ResendPolicy = RESEND): NodeDecision {
  // Version 0: nothing published yet (an empty config is never pushed).
  if (currentVersion === 0 || d.acked === currentVersion) return { node, send: false, reason: "up-to-date" };
  if (d.lastSent !== currentVersion) return { node, send: true, reason: "new-version", wakeAtMs: nowMs + resendDelayMs(1, policy) };
  const dueMs = d.lastSentAt + resendDelayMs(d.unacked, policy);
  if (nowMs < dueMs) return { node, send: false, reason: "waiting", wakeAtMs: dueMs };
  return { node, send: true, reason: d.nacked ? "resend-nacked" : "resend-unacked", wakeAtMs: nowMs + resendDelayMs(d.unacked + 1, policy) };
}

/**
 * Which nodes get the current version now, and when to look again. The wake
 * time already counts the sends it asks for (their next resend falls due then).
 */
export function planDelivery(nodes: ReadonlyMap<string, NodeDelivery>, currentVersion: number, nowMs: number, policy: ResendPolicy = RESEND): DeliveryPlan {
  const decisions = [...nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([node, d]) => decide(node, d, currentVersion, nowMs, policy));
  const wakes = decisions.flatMap((x) => (x.wakeAtMs === undefined ? [] : [x.wakeAtMs]));
  return { send: decisions.filter((x) => x.send).map((x) => x.node), decisions, wakeAtMs: wakes.length > 0 ? Math.min(...wakes) : undefined };
}
