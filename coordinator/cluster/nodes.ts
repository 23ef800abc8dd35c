/**
 * The coordinator's table of nodes: one NodeView per configured node, the
 * session that currently speaks for it, and liveness (a session that sends
 * nothing for a dead interval turns silent). No I/O; time comes in as nowMs.
 */
import type { Draining, HeldVip, ProbeResult, Report, TrackResult, VipReach } from "../../shared/gen/keepvip/v1/agent.js";
import { nginxFromWire } from "../../shared/protocol.js";
import type { NodeView, ReachView } from "../election/view.js";

export interface SessionInfo {
  id: string;
  node: string;
  instanceId: string;
  openedMs: number;
  lastSeenMs: number;
  /** Remote address, for status and logs. */
  peer: string;
  /** Fingerprint of the agent's certificate ("" without TLS). */
  fingerprint: string;
}

export function blankView(node: string): NodeView {
  return { node, session: "never", nginx: "unknown", fault: false, faultReason: "", tracks: {}, maintenance: false, leaving: false, holds: [], reach: {} };
}

/** Folds an agent report into a node's view (session fields untouched). */
export function applyReport(view: NodeView, report: Report): NodeView {
  const reach: Record<string, ReachView> = {};
  for (const r of report.reach) reach[r.group] = { reachable: r.reachable, failures: r.consecutiveFailures, lanOk: r.lanOk, lanFresh: r.lanFresh };
  const lan = report.reach.map((r) => r.lanOk);
  return {
    ...view,
    nginx: nginxFromWire(report.nginx),
    fault: report.fault,
    faultReason: report.faultReason,
    tracks: Object.fromEntries(report.tracks.map((t) => [t.name, t.passing])),
    holds: [...new Set(report.held.map((h) => h.group))].sort(),
    reach,
    lanOk: lan.length > 0 ? lan.every(Boolean) : undefined,
  };
}

type Fields<T> = ReadonlyArray<keyof T>;
/**
 * The fields of each message a report carries that the coordinator reads, each compared by
 * sameReport; with UNREAD_REPORT_FIELDS, every field (the sameReport test checks that none
 * is missing, that each of these is compared and that the unread ones are not).
 */
export const REPORT_FIELDS = {
  track: ["name", "passing", "detail"] as Fields<TrackResult>,
  held: ["group", "address", "interface", "epoch"] as Fields<HeldVip>,
  probe: ["upstream", "server", "up", "detail"] as Fields<ProbeResult>,
  reach: ["group", "address", "reachable", "lanOk", "consecutiveFailures", "lanFresh"] as Fields<VipReach>,
  draining: ["group", "address", "connections", "elapsedMs", "timeoutMs"] as Fields<Draining>,
} as const;

/**
 * Fields the coordinator never reads: a probe's latency and the time a reach probe ran change
 * with every round, so a report that differs only in them repeats the last one (what is kept
 * of them is the last changed report's, and nothing shows it).
 */
export const UNREAD_REPORT_FIELDS = {
  probe: ["latencyMs"] as Fields<ProbeResult>,
  reach: ["observedMs"] as Fields<VipReach>,
} as const;

/** Lists compared item by item with `same` (an absent list is an empty one). */
function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined, same: (x: T, y: T) => boolean): boolean {
  if (a === b) return true;
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!same(x[i], y[i])) return false;
  return true;
}

// One comparison per message, each field by name: it runs for every report (a field looked up
// by a variable name is a slow property load). The sameReport test holds them to REPORT_FIELDS.
const sameTrack = (x: TrackResult, y: TrackResult) => x.name === y.name && x.passing === y.passing && x.detail === y.detail;
const sameHeld = (x: HeldVip, y: HeldVip) => x.group === y.group && x.address === y.address && x.interface === y.interface && x.epoch === y.epoch;
const sameProbe = (x: ProbeResult, y: ProbeResult) => x.upstream === y.upstream && x.server === y.server && x.up === y.up && x.detail === y.detail;
const sameReach = (x: VipReach, y: VipReach) =>
  x.group === y.group &&
  x.address === y.address &&
  x.reachable === y.reachable &&
  x.lanOk === y.lanOk &&
  x.consecutiveFailures === y.consecutiveFailures &&
  x.lanFresh === y.lanFresh;
const sameDraining = (x: Draining, y: Draining) =>
  x.group === y.group && x.address === y.address && x.connections === y.connections && x.elapsedMs === y.elapsedMs && x.timeoutMs === y.timeoutMs;

/**
 * Whether two reports as an agent sent them say the same, their sequence numbers and the
 * fields never read here aside (UNREAD_REPORT_FIELDS): a steady agent's heartbeat repeats its
 * last report, and such a report changes nothing here but the session's liveness. Field by
 * field, without allocating: it runs for every report.
 */
export function sameReport(a: Report, b: Report): boolean {
  if (a === b) return true;
  return (
    a.nginx === b.nginx &&
    a.nginxDetail === b.nginxDetail &&
    a.upstreamVersion === b.upstreamVersion &&
    a.upstreamError === b.upstreamError &&
    a.fault === b.fault &&
    a.faultReason === b.faultReason &&
    sameList(a.held, b.held, sameHeld) &&
    sameList(a.tracks, b.tracks, sameTrack) &&
    sameList(a.reach, b.reach, sameReach) &&
    sameList(a.probes, b.probes, sameProbe) &&
    sameList(a.draining, b.draining, sameDraining)
  );
}

export class NodeTable {
  readonly views = new Map<string, NodeView>();
  readonly sessions = new Map<string, SessionInfo>();
  /** Node → its last report (sanitized), when it came, and (raw) as its session sent it. */
  readonly lastReport = new Map<string, { atMs: number; report: Report; sessionId?: string; raw?: Report }>();
  /** Node → the id of the session speaking for it (one at most: a new one replaces the old). */
  private readonly sessionByNode = new Map<string, string>();

  constructor(
    nodes: Iterable<string>,
    private deadIntervalMs: number,
  ) {
    for (const n of nodes) this.views.set(n, blankView(n));
  }

  /** A config reload: new nodes get a blank view, removed ones are forgotten; returns the removed ones. */
  reconfigure(nodes: Iterable<string>, deadIntervalMs: number): string[] {
    this.deadIntervalMs = deadIntervalMs;
    const wanted = new Set(nodes);
    for (const n of wanted) if (!this.views.has(n)) this.views.set(n, blankView(n));
    const removed = [...this.views.keys()].filter((n) => !wanted.has(n));
    for (const n of removed) this.views.delete(n);
    return removed;
  }

  knows(node: string): boolean {
    return this.views.has(node);
  }

  /** The session currently speaking for a node. */
  sessionOf(node: string): SessionInfo | undefined {
    const id = this.sessionByNode.get(node);
    return id === undefined ? undefined : this.sessions.get(id);
  }

  /** Forgets a session without touching its node's view (it was replaced, or its node left the config). */
  forget(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.sessions.delete(sessionId);
    if (this.sessionByNode.get(s.node) === sessionId) this.sessionByNode.delete(s.node);
  }

  /**
   * Whether a new session may speak for `node`: a live session from another
   * agent process keeps its place (it is not kicked); the same process
   * reconnecting, or a silent/closed one, is replaced.
   */
  admits(node: string, instanceId: string, fingerprint = ""): { ok: true; replaces?: SessionInfo } | { ok: false; reason: string } {
    const current = this.sessionOf(node);
    if (!current) return { ok: true };
    const sameCert = current.fingerprint === fingerprint;
    if (sameCert && (current.instanceId === instanceId || this.views.get(node)?.session !== "live")) return { ok: true, replaces: current };
    if (!sameCert && this.views.get(node)?.session === "live") {
      return {
        ok: false,
        reason: `node ${node} is already connected from ${current.peer} with another certificate; refusing this one (the live session stays)`,
      };
    }
    if (!sameCert) return { ok: true, replaces: current };
    return {
      ok: false,
      reason: `node ${node} is already connected from ${current.peer} (session ${current.id}); refusing a second agent with the same node id`,
    };
  }

  open(info: SessionInfo): void {
    this.sessions.set(info.id, info);
    this.sessionByNode.set(info.node, info.id);
    this.update(info.node, { session: "live", leaving: false });
  }

  /** A session ended. Returns the node it spoke for, if it still did. */
  close(sessionId: string): string | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    this.forget(sessionId);
    this.update(s.node, { session: "closed" });
    return s.node;
  }

  seen(sessionId: string, nowMs: number): SessionInfo | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    s.lastSeenMs = nowMs;
    if (this.views.get(s.node)?.session !== "live") this.update(s.node, { session: "live" });
    return s;
  }

  /**
   * Folds a (sanitized) report into its node's view. `raw`, the report as the session sent it,
   * lets the next one be recognised as a repeat (repeated()).
   */
  report(sessionId: string, report: Report, nowMs: number, raw?: Report): string | undefined {
    const s = this.seen(sessionId, nowMs);
    if (!s) return undefined;
    this.views.set(s.node, applyReport(this.views.get(s.node)!, report));
    this.lastReport.set(s.node, { atMs: nowMs, report, sessionId, raw });
    return s.node;
  }

  /**
   * A live session's report that repeats its last one (sameReport): the session is seen and
   * the report's time moves, nothing else (the view stays the same object). False, and
   * nothing done, for any other report, or when the session is not live (seeing it again
   * changes its view).
   */
  repeated(sessionId: string, raw: Report, nowMs: number): boolean {
    const s = this.sessions.get(sessionId);
    if (!s || this.views.get(s.node)?.session !== "live") return false;
    const last = this.lastReport.get(s.node);
    if (!last || last.sessionId !== sessionId || last.raw === undefined || !sameReport(last.raw, raw)) return false;
    s.lastSeenMs = nowMs;
    last.atMs = nowMs;
    return true;
  }

  /** Marks sessions silent that sent nothing for a dead interval; returns their nodes. */
  sweep(nowMs: number): string[] {
    const turned: string[] = [];
    for (const s of this.sessions.values()) {
      // The time first: with thousands of sessions, nearly all of them heard from just now.
      if (nowMs - s.lastSeenMs > this.deadIntervalMs && this.views.get(s.node)?.session === "live") {
        this.update(s.node, { session: "silent" });
        turned.push(s.node);
      }
    }
    return turned;
  }

  update(node: string, patch: Partial<NodeView>): void {
    const v = this.views.get(node);
    if (v) this.views.set(node, { ...v, ...patch });
  }
}
