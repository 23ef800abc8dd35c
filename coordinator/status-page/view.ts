/**
 * The status page's decisions, pure: the status `keepvip status --json` shows
 * (or a follower's "I do not lead") and the event history → what the page
 * shows (tones, labels, the upstream grid, the timeline of moves), and the
 * key that says whether anything worth a push changed. No I/O, no clock:
 * the caller passes the time. render.ts turns this into escaped HTML.
 */
import type { Event, GroupStatus, MemberStatus, StatusReply, UpstreamStatus } from "../../shared/gen/keepvip/v1/admin.js";

/** How a value looks: ok (green), warn (amber), bad (red), info (blue), muted (grey). */
export type Tone = "ok" | "warn" | "bad" | "info" | "muted";

/** A replica that does not lead has no status of its own: it says so and names the leader. */
export interface FollowerStatus {
  error: string;
  replica: string;
  role: "follower";
  leader: { name: string; address: string; term: number } | null;
}

/** A follower's note, worded like its answer to an admin call (the CLI shows the same). */
export function followerStatus(replica: string, leader: { name: string; address: string; term?: number } | undefined): FollowerStatus {
  return {
    error: leader
      ? `coordinator replica ${replica} follows: the leader is ${leader.name} at ${leader.address}`
      : `coordinator replica ${replica} follows and knows no leader yet (etcd unreachable or an election under way)`,
    replica,
    role: "follower",
    leader: leader ? { name: leader.name, address: leader.address, term: leader.term ?? 0 } : null,
  };
}

/** What the page is built from: the CLI's status, or a follower's note. */
export type PageStatus = { kind: "status"; status: StatusReply } | { kind: "follower"; follower: FollowerStatus };

export interface HeaderView {
  /** "single" coordinator, the "leader" of replicas, or a "follower". */
  role: "single" | "leader" | "follower";
  replica: string;
  term: number;
  version: string;
  uptime: string;
  insecure: boolean;
  /** One line about the whole cluster ("2 groups, all held"), and its tone. */
  summary: string;
  tone: Tone;
  /** A follower's sentence naming the leader. */
  notice?: string;
}

export interface MemberRow {
  node: string;
  holder: boolean;
  state: string;
  stateTone: Tone;
  base: number;
  effective: number;
  /** "+10", "−20" or "" when the tracks change nothing. */
  delta: string;
  nginx: string;
  nginxTone: Tone;
  eligible: boolean;
  /** Why it cannot hold ("" when eligible). */
  why: string;
  /** "120 ms ago", "never". */
  report: string;
  /** "draining 3 conns (4.1 s)" or "". */
  draining: string;
}

export interface GroupCard {
  name: string;
  vips: string[];
  /** "" when nobody holds the group. */
  holder: string;
  epoch: number;
  phase: string;
  tone: Tone;
  /** Why the holder is the holder, in words. */
  reason: string;
  /** "preempt", "preempt after 5 s", "nopreempt". */
  preempt: string;
  members: MemberRow[];
}

export interface Cell {
  text: string;
  tone: Tone;
  /** A longer explanation (hover title). */
  title: string;
}

export interface ServerRow {
  address: string;
  health: Cell;
  /** "5" or "0 (config 5)". */
  weight: string;
  override: string;
  /** One per LB column, in `UpstreamView.nodes` order. */
  seen: Cell[];
}

export interface UpstreamView {
  name: string;
  balance: string;
  version: number;
  /** The LB columns: every node that reported a probe or an applied version. */
  nodes: string[];
  servers: ServerRow[];
  /** One per LB column: the version it applied. */
  applied: Cell[];
}

export interface Figure {
  label: string;
  value: string;
  tone: Tone;
}

export interface TimelineEntry {
  atMs: number;
  kind: string;
  group: string;
  /** The node the VIP left, "none", or "" when the entry is no move. */
  from: string;
  /** The node the VIP went to (or that an action aimed at), or "". */
  to: string;
  /** "done", "failed", or "" for a note. */
  outcome: "done" | "failed" | "";
  /** The rule or reason that moved it, in words. */
  reason: string;
  figures: Figure[];
}

export interface EventRow {
  atMs: number;
  kind: string;
  where: string;
  message: string;
  tone: Tone;
}

export interface PageView {
  header: HeaderView;
  groups: GroupCard[];
  upstreams: UpstreamView[];
  timeline: TimelineEntry[];
  events: EventRow[];
}

/** How many timeline entries and events the page lists. */
export const TIMELINE_LIMIT = 50;
export const EVENTS_LIMIT = 30;

/** "42 ms", "1.5 s", "4 min 12 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) {
    const s = Math.round(ms / 100) / 10;
    return s >= 60 ? "1 min" : `${s} s`;
  }
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86_400)} d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)} h` : ""}`;
}

const STATE_TONE: Record<string, Tone> = {
  MASTER: "ok",
  BACKUP: "info",
  FAULT: "bad",
  MAINTENANCE: "warn",
  DISCONNECTED: "bad",
  "MASTER?": "warn",
};

const NGINX_TONE: Record<string, Tone> = { running: "ok", starting: "warn", down: "bad", stopped: "bad", unknown: "muted" };

export function memberRow(m: MemberStatus, holder: string): MemberRow {
  const d = m.effectivePriority - m.basePriority;
  return {
    node: m.nodeId,
    holder: m.nodeId === holder && holder !== "",
    state: m.state,
    stateTone: STATE_TONE[m.state] ?? "muted",
    base: m.basePriority,
    effective: m.effectivePriority,
    delta: d === 0 ? "" : d > 0 ? `+${d}` : `−${-d}`,
    nginx: m.nginx,
    nginxTone: NGINX_TONE[m.nginx] ?? "muted",
    eligible: m.eligible,
    why: m.eligible ? "" : m.ineligibleReason || "not eligible",
    report: m.reportAgeMs < 0 ? "never" : `${formatDuration(m.reportAgeMs)} ago`,
    draining:
      m.drainingConnections >= 0 ? `draining ${m.drainingConnections} conn${m.drainingConnections === 1 ? "" : "s"} (${formatDuration(m.drainingMs)})` : "",
  };
}

/** A group's tone: red when nobody holds it, amber while it moves or its holder is not heard from. */
export function groupTone(g: GroupStatus): Tone {
  if (g.holder === "") return "bad";
  const holder = g.members.find((m) => m.nodeId === g.holder);
  if (g.phase !== "steady" || holder?.state !== "MASTER") return "warn";
  if (holder.nginx !== "running") return "warn";
  return "ok";
}

export function groupCard(g: GroupStatus): GroupCard {
  return {
    name: g.name,
    vips: g.vips,
    holder: g.holder,
    epoch: g.epoch,
    phase: g.phase,
    tone: groupTone(g),
    reason: g.reason,
    preempt: !g.preempt ? "nopreempt" : g.preemptDelayMs > 0 ? `preempt after ${formatDuration(g.preemptDelayMs)}` : "preempt",
    members: g.members.map((m) => memberRow(m, g.holder)),
  };
}

export function upstreamView(u: UpstreamStatus): UpstreamView {
  const nodes = [...new Set([...u.servers.flatMap((s) => s.seenBy.map((h) => h.nodeId)), ...u.applied.map((a) => a.nodeId)])].sort();
  return {
    name: u.name,
    balance: u.balance,
    version: u.version,
    nodes,
    servers: u.servers.map((s) => ({
      address: s.address,
      health: s.up ? { text: "up", tone: "ok", title: "up (aggregated over the LBs)" } : { text: "DOWN", tone: "bad", title: "down (aggregated over the LBs)" },
      weight: s.weight === s.configWeight ? `${s.weight}` : `${s.weight} (config ${s.configWeight})`,
      override: s.override,
      seen: nodes.map((n): Cell => {
        const h = s.seenBy.find((x) => x.nodeId === n);
        if (!h) return { text: "–", tone: "muted", title: `${n} reports no probe of ${s.address}` };
        return { text: h.up ? "up" : "down", tone: h.up ? "ok" : "bad", title: h.detail ? `${n}: ${h.detail}` : `${n}: ${h.up ? "up" : "down"}` };
      }),
    })),
    applied: nodes.map((n): Cell => {
      const a = u.applied.find((x) => x.nodeId === n);
      if (!a) return { text: "–", tone: "muted", title: `${n} has not reported a version` };
      if (a.error) return { text: `v${a.applied} ✗`, tone: "bad", title: `${n} refused v${u.version}: ${a.error}` };
      if (a.applied < u.version) return { text: `v${a.applied}`, tone: "warn", title: `${n} applied v${a.applied}; v${u.version} is on its way` };
      return { text: `v${a.applied}`, tone: "ok", title: `${n} applied v${a.applied}` };
    }),
  };
}

/** "2 groups, all held", "1 of 2 groups held: VI_2 has no holder". */
function summary(groups: GroupStatus[]): { text: string; tone: Tone } {
  if (groups.length === 0) return { text: "no groups", tone: "muted" };
  const unheld = groups.filter((g) => g.holder === "").map((g) => g.name);
  const n = `${groups.length} group${groups.length === 1 ? "" : "s"}`;
  if (unheld.length > 0)
    return { text: `${groups.length - unheld.length} of ${n} held: ${unheld.join(", ")} ${unheld.length === 1 ? "has" : "have"} no holder`, tone: "bad" };
  const moving = groups.filter((g) => groupTone(g) !== "ok").map((g) => g.name);
  if (moving.length > 0) return { text: `${n}, all held; look at ${moving.join(", ")}`, tone: "warn" };
  return { text: groups.length === 1 ? "1 group, held" : `${n}, all held`, tone: "ok" };
}

export function headerView(s: PageStatus): HeaderView {
  if (s.kind === "follower") {
    const f = s.follower;
    return {
      role: "follower",
      replica: f.replica,
      term: f.leader?.term ?? 0,
      version: "",
      uptime: "",
      insecure: false,
      summary: "no status on this replica",
      tone: "warn",
      notice: f.leader
        ? `This replica (${f.replica}) follows and keeps no status: the leader is ${f.leader.name} at ${f.leader.address}${f.leader.term ? ` (term ${f.leader.term})` : ""}. Open the leader's status page.`
        : `This replica (${f.replica}) follows and knows no leader yet (etcd unreachable or an election under way).`,
    };
  }
  const st = s.status;
  const sum = summary(st.groups);
  return {
    role: st.replica ? "leader" : "single",
    replica: st.replica,
    term: st.term,
    version: st.coordinatorVersion,
    uptime: formatDuration(st.uptimeMs),
    insecure: st.insecure,
    summary: sum.text,
    tone: sum.tone,
  };
}

/** Event kinds the timeline shows: what moved a VIP, what decided it, what an operator or a drill did. */
const TIMELINE_KINDS: ReadonlySet<string> = new Set(["move", "election", "admin", "drill", "verify", "fault"]);

const MOVED = /^(\S+) holds (\S+) \(epoch \d+\)(?:, moved from (\S+))?: ([\s\S]*)$/;
const NOT_ACQUIRED = /^(\S+) could not acquire (\S+): ([\s\S]*)$/;

/** A whole number of milliseconds from an event field, or undefined. */
function msField(fields: Record<string, string>, key: string): number | undefined {
  const v = fields[key];
  if (v === undefined || v === "" || !/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** The measured figures an event carries: a move's duration, time on none / on both, a drill's blackout and probes. */
export function figuresOf(fields: Record<string, string>): Figure[] {
  const out: Figure[] = [];
  const took = msField(fields, "duration_ms");
  if (took !== undefined) out.push({ label: "took", value: formatDuration(took), tone: "info" });
  const none = msField(fields, "on_none_ms");
  if (none !== undefined) out.push({ label: "on none", value: formatDuration(none), tone: none === 0 ? "ok" : none < 1000 ? "warn" : "bad" });
  const both = msField(fields, "on_both_ms");
  if (both !== undefined) out.push({ label: "on both", value: formatDuration(both), tone: both === 0 ? "ok" : both <= 1000 ? "info" : "warn" });
  const blackout = msField(fields, "blackout_ms");
  if (blackout !== undefined) out.push({ label: "blackout", value: formatDuration(blackout), tone: blackout === 0 ? "ok" : blackout < 1000 ? "warn" : "bad" });
  const failed = msField(fields, "failed_probes");
  const probes = msField(fields, "probes");
  if (failed !== undefined || probes !== undefined)
    out.push({
      label: "probes",
      value: probes !== undefined ? `${failed ?? 0} of ${probes} failed` : `${failed} failed`,
      tone: (failed ?? 0) === 0 ? "ok" : "bad",
    });
  if (fields.mode) out.push({ label: "mode", value: fields.mode, tone: "muted" });
  return out;
}

/** One event as a timeline entry, or undefined when it is not about moving a VIP. */
export function timelineEntry(e: Event): TimelineEntry | undefined {
  if (!TIMELINE_KINDS.has(e.kind)) return undefined;
  // A fault without a group is an upstream server's; the timeline is about VIPs.
  if (e.kind === "fault" && !e.group) return undefined;
  const f = e.fields ?? {};
  const entry: TimelineEntry = {
    atMs: e.atMs,
    kind: e.kind,
    group: e.group,
    from: f.from ?? f.from_node ?? "",
    to: f.to ?? f.to_node ?? "",
    outcome: "",
    reason: f.rule ? `${f.rule}: ${e.message}` : e.message,
    figures: figuresOf(f),
  };
  if (e.kind === "move") {
    const moved = MOVED.exec(e.message);
    const failed = NOT_ACQUIRED.exec(e.message);
    if (moved) {
      entry.to ||= moved[1];
      entry.from ||= moved[3] ?? "none";
      entry.reason = f.rule ? `${f.rule}: ${moved[4]}` : moved[4];
      entry.outcome = "done";
    } else if (failed) {
      entry.to ||= failed[1];
      entry.reason = failed[3];
      entry.outcome = "failed";
    } else {
      entry.to ||= e.nodeId;
      entry.outcome = msField(f, "duration_ms") !== undefined ? "done" : "";
    }
  } else if (e.kind === "drill") {
    // A drill's event names the holder it started from; its message tells the way there and back.
    entry.outcome = f.ok === "false" || f.error ? "failed" : f.ok === "true" || f.blackout_ms !== undefined ? "done" : "";
  }
  return entry;
}

/** The timeline, newest first, at most `limit` entries. */
export function timelineOf(events: readonly Event[], limit = TIMELINE_LIMIT): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (let i = events.length - 1; i >= 0 && out.length < limit; i--) {
    const t = timelineEntry(events[i]);
    if (t) out.push(t);
  }
  return out;
}

const EVENT_TONE: Record<string, Tone> = {
  move: "ok",
  election: "info",
  fault: "bad",
  conflict: "bad",
  verify: "warn",
  admin: "info",
  drill: "info",
  push: "muted",
  session: "muted",
  config: "muted",
  agent: "warn",
};

/** The most recent events of every kind, newest first. */
export function eventRows(events: readonly Event[], limit = EVENTS_LIMIT): EventRow[] {
  return events
    .slice(-limit)
    .reverse()
    .map((e) => {
      const dur = e.fields?.duration_ms ? ` (${e.fields.duration_ms} ms)` : "";
      return {
        atMs: e.atMs,
        kind: e.kind,
        where: [e.group, e.nodeId].filter(Boolean).join(" "),
        message: `${e.message}${dur}`,
        tone: EVENT_TONE[e.kind] ?? "muted",
      };
    });
}

export function pageView(status: PageStatus, events: readonly Event[]): PageView {
  return {
    header: headerView(status),
    groups: status.kind === "status" ? status.status.groups.map(groupCard) : [],
    upstreams: status.kind === "status" ? status.status.upstreams.map(upstreamView) : [],
    timeline: timelineOf(events),
    events: eventRows(events),
  };
}

/**
 * What decides whether the page needs a push: the status without the figures that
 * change with every report or tick (uptime, report ages, drain ages, the numbers in a
 * probe's detail such as its latency; whether a node ever reported stays), and the
 * newest event. Two equal keys: nothing worth showing changed.
 */
export function changeKey(status: PageStatus, events: readonly Event[]): string {
  const last = events.at(-1);
  const eventsKey = last ? `${events.length}:${last.atMs}:${last.kind}:${last.message}` : "0";
  if (status.kind === "follower") return JSON.stringify([status.follower, eventsKey]);
  const s = status.status;
  const stable = {
    ...s,
    uptimeMs: 0,
    groups: s.groups.map((g) => ({
      ...g,
      members: g.members.map((m) => ({ ...m, reportAgeMs: m.reportAgeMs < 0 ? -1 : 0, drainingMs: 0 })),
    })),
    upstreams: s.upstreams.map((u) => ({
      ...u,
      servers: u.servers.map((srv) => ({ ...srv, seenBy: srv.seenBy.map((h) => ({ ...h, detail: h.detail.replace(/\d+/g, "N") })) })),
    })),
  };
  return JSON.stringify([stable, eventsKey]);
}
