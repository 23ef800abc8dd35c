/**
 * The status page's view (view.ts) as HTML fragments, pure. Every string that
 * comes from the cluster (names, reasons, messages an agent sent) goes through
 * `esc`; nothing here writes a style or script attribute, so the page's
 * Content-Security-Policy can forbid inline ones. Times are <time> elements
 * with their epoch milliseconds; the page's script shows them in local time.
 */
import type { Cell, EventRow, Figure, GroupCard, HeaderView, MemberRow, PageView, TimelineEntry, Tone, UpstreamView } from "./view.js";

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for HTML content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const TONES: ReadonlySet<string> = new Set(["ok", "warn", "bad", "info", "muted"]);
/** A tone as a class name (only the known five ever reach the markup). */
const tone = (t: Tone): string => (TONES.has(t) ? t : "muted");

const badge = (text: string, t: Tone, title = ""): string => `<span class="badge ${tone(t)}"${title ? ` title="${esc(title)}"` : ""}>${esc(text)}</span>`;

/** A wall-clock time: UTC in the markup, local time once the script runs. */
export function timeTag(atMs: number): string {
  const d = new Date(atMs);
  const iso = Number.isNaN(d.getTime()) ? "" : d.toISOString();
  return `<time datetime="${esc(iso)}" data-ms="${esc(Math.trunc(atMs))}">${esc(iso.slice(11, 19))}</time>`;
}

export function renderHeader(h: HeaderView): string {
  const bits: string[] = [];
  if (h.role === "follower") bits.push(badge(`replica ${h.replica}: follower`, "warn"));
  else if (h.role === "leader") bits.push(badge(`replica ${h.replica} leads, term ${h.term}`, "info"));
  if (h.version) bits.push(`<span class="meta">keepvip ${esc(h.version)}</span>`);
  if (h.uptime) bits.push(`<span class="meta">up ${esc(h.uptime)}</span>`);
  const out = [`<p class="summary ${tone(h.tone)}">${esc(h.summary)}</p>`, `<p class="metas">${bits.join(" ")}</p>`];
  if (h.insecure) out.push(`<p class="notice bad">The coordinator runs without TLS (insecure): anyone who reaches it can act as an agent or an admin.</p>`);
  if (h.notice) out.push(`<p class="notice warn">${esc(h.notice)}</p>`);
  return out.join("\n");
}

function memberTr(m: MemberRow): string {
  const state = m.draining ? `${m.state}, ${m.draining}` : m.state;
  const prio = m.delta ? `${esc(m.effective)} <span class="sub">(base ${esc(m.base)}, ${esc(m.delta)})</span>` : esc(m.effective);
  return [
    `<tr${m.holder ? ` class="holder"` : ""}>`,
    `<th scope="row">${esc(m.node)}${m.holder ? ` <span class="star" title="holds the VIP">●</span>` : ""}</th>`,
    `<td>${badge(state, m.stateTone)}</td>`,
    `<td class="num prio">${prio}</td>`,
    `<td>${badge(m.nginx, m.nginxTone)}</td>`,
    `<td class="sub">${esc(m.report)}</td>`,
    "</tr>",
    m.why ? `<tr class="why"><td colspan="5">${esc(m.node)} cannot hold: ${esc(m.why)}</td></tr>` : "",
  ].join("");
}

export function renderGroup(g: GroupCard): string {
  return [
    `<article class="card ${tone(g.tone)}">`,
    `<header><h3>${esc(g.name)}</h3><span class="vips">${g.vips.map(esc).join(", ")}</span></header>`,
    `<p class="holderline">${g.holder ? `held by <strong>${esc(g.holder)}</strong>` : `<strong class="bad">no holder</strong>`}`,
    ` · epoch ${esc(g.epoch)} · ${badge(g.phase, g.phase === "steady" ? "ok" : "warn")} · ${esc(g.preempt)}</p>`,
    `<p class="reason">${esc(g.reason)}</p>`,
    `<div class="scroll"><table><thead><tr><th scope="col">node</th><th scope="col">state</th><th scope="col" class="num">priority</th><th scope="col">nginx</th><th scope="col">report</th></tr></thead>`,
    `<tbody>${g.members.map(memberTr).join("")}</tbody></table></div>`,
    "</article>",
  ].join("\n");
}

export function renderGroups(groups: GroupCard[]): string {
  if (groups.length === 0) return `<p class="empty">No groups to show.</p>`;
  return groups.map(renderGroup).join("\n");
}

/** A table cell with its column's name (a phone shows the name beside the value; see the page's CSS). */
const cell = (c: Cell, label: string): string => `<td data-label="${esc(label)}">${badge(c.text, c.tone, c.title)}</td>`;

export function renderUpstream(u: UpstreamView): string {
  const head = u.nodes.map((n) => `<th scope="col">${esc(n)}</th>`).join("");
  const rows = u.servers.map(
    (s) =>
      `<tr><th scope="row">${esc(s.address)}</th>${cell(s.health, "health")}<td class="num" data-label="weight">${esc(s.weight)}</td><td data-label="override">${s.override ? badge(s.override, "warn") : `<span class="sub">–</span>`}</td>${s.seen.map((c, i) => cell(c, u.nodes[i])).join("")}</tr>`,
  );
  const applied = `<tr class="applied"><th scope="row" colspan="4">applied (pushed v${esc(u.version)})</th>${u.applied.map((c, i) => cell(c, u.nodes[i])).join("")}</tr>`;
  return [
    `<section class="upstream"><h3>${esc(u.name)} <span class="sub">${esc(u.balance)} · version ${esc(u.version)}</span></h3>`,
    `<div class="scroll"><table><thead><tr><th scope="col">server</th><th scope="col">health</th><th scope="col" class="num">weight</th><th scope="col">override</th>${head}</tr></thead>`,
    `<tbody>${rows.join("")}${applied}</tbody></table></div></section>`,
  ].join("\n");
}

export function renderUpstreams(upstreams: UpstreamView[]): string {
  if (upstreams.length === 0) return `<p class="empty">No upstreams in the config.</p>`;
  return upstreams.map(renderUpstream).join("\n");
}

const figure = (f: Figure): string => `<span class="fig ${tone(f.tone)}"><span class="label">${esc(f.label)}</span> ${esc(f.value)}</span>`;

export function renderEntry(t: TimelineEntry): string {
  const move = t.to ? `<span class="move">${t.from ? `${esc(t.from)} → ` : "→ "}${esc(t.to)}</span>` : "";
  const outcome = t.outcome === "failed" ? badge("failed", "bad") : t.outcome === "done" ? badge("done", "ok") : "";
  return [
    `<li class="entry ${esc(t.kind === "move" ? "is-move" : "is-note")}">`,
    `<div class="when">${timeTag(t.atMs)}</div>`,
    `<div class="what"><p>${badge(t.kind, t.kind === "move" ? "ok" : t.kind === "fault" ? "bad" : "info")}${t.group ? ` <strong>${esc(t.group)}</strong>` : ""} ${move} ${outcome}</p>`,
    `<p class="reason">${esc(t.reason)}</p>`,
    t.figures.length > 0 ? `<p class="figs">${t.figures.map(figure).join(" ")}</p>` : "",
    "</div></li>",
  ].join("");
}

export function renderTimeline(timeline: TimelineEntry[]): string {
  if (timeline.length === 0) return `<p class="empty">No moves recorded yet.</p>`;
  return `<ol class="timeline">${timeline.map(renderEntry).join("\n")}</ol>`;
}

export function renderEvents(events: EventRow[]): string {
  if (events.length === 0) return `<p class="empty">No events yet.</p>`;
  const rows = events.map(
    (e) =>
      `<li>${timeTag(e.atMs)} ${badge(e.kind, e.tone)}${e.where ? ` <strong>${esc(e.where)}</strong>` : ""} <span class="msg">${esc(e.message)}</span></li>`,
  );
  return `<ul class="events">${rows.join("\n")}</ul>`;
}

/** The page's live sections, by element id. */
export interface Sections {
  header: string;
  groups: string;
  upstreams: string;
  timeline: string;
  events: string;
}

export function renderSections(v: PageView): Sections {
  return {
    header: renderHeader(v.header),
    groups: renderGroups(v.groups),
    upstreams: renderUpstreams(v.upstreams),
    timeline: renderTimeline(v.timeline),
    events: renderEvents(v.events),
  };
}
