/**
 * How `keepvip` prints things for people: pure functions from admin replies to
 * text. `--json` bypasses these and prints the replies with stable field names.
 */
import Table from "cli-table3";
import type { DrillOutcome, DrillProgress, Event, StatusReply, WhyReply } from "../shared/gen/keepvip/v1/admin.js";

function table(head: string[]): Table.Table {
  // No colours: output goes to pipes and logs as often as to terminals.
  return new Table({ head, style: { head: [], border: [] } });
}

function age(ms: number): string {
  if (ms < 0) return "never";
  if (ms < 1000) return `${ms}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Replicated coordinators, one per line: name, address, role, term. */
export function formatReplicas(replicas: ReadonlyArray<{ name: string; address: string; role: string; term: number }>): string {
  const t = table(["coordinator", "address", "role", "term"]);
  for (const r of replicas) t.push([r.name || "?", r.address, r.role, r.term ? String(r.term) : "-"]);
  return t.toString();
}

export function formatStatus(s: StatusReply): string {
  const out: string[] = [];
  if (s.insecure) out.push("WARNING: the coordinator runs without TLS (insecure)");
  for (const g of s.groups) {
    out.push(
      `${g.name}  VIP ${g.vips.join(", ")}  holder ${g.holder || "(none)"}  epoch ${g.epoch}  ${g.phase}${g.preempt ? "" : "  nopreempt"}${g.preemptDelayMs ? `  preempt_delay ${g.preemptDelayMs}ms` : ""}`,
    );
    out.push(`  ${g.reason}`);
    const t = table(["node", "state", "priority", "nginx", "eligible", "last report"]);
    for (const m of g.members) {
      t.push([
        m.nodeId,
        m.drainingConnections >= 0
          ? `${m.state}, draining ${m.drainingConnections} conn${m.drainingConnections === 1 ? "" : "s"} (${age(m.drainingMs)})`
          : m.state,
        m.basePriority === m.effectivePriority ? `${m.effectivePriority}` : `${m.effectivePriority} (base ${m.basePriority})`,
        m.nginx,
        m.eligible ? "yes" : `no: ${m.ineligibleReason}`,
        age(m.reportAgeMs),
      ]);
    }
    out.push(t.toString());
  }
  for (const u of s.upstreams) {
    out.push(`upstream ${u.name} (${u.balance})  version ${u.version}`);
    const t = table(["server", "health", "weight", "override", "seen by"]);
    for (const srv of u.servers) {
      t.push([
        srv.address,
        srv.up ? "up" : "DOWN",
        srv.weight === srv.configWeight ? `${srv.weight}` : `${srv.weight} (config ${srv.configWeight})`,
        srv.override || "-",
        srv.seenBy.map((h) => `${h.nodeId}:${h.up ? "up" : "down"}`).join(" "),
      ]);
    }
    out.push(t.toString());
    if (u.applied.length > 0) out.push(`  applied: ${u.applied.map((a) => `${a.nodeId}=v${a.applied}${a.error ? ` (error: ${a.error})` : ""}`).join("  ")}`);
  }
  return out.join("\n");
}

export function formatWhy(w: WhyReply): string {
  const out = [
    `${w.group}: holder ${w.holder || "(none)"}, epoch ${w.epoch}`,
    `rule: ${w.rule}`,
    `${w.explanation}`,
    `preempt ${w.preempt ? "on" : "off (nopreempt)"}${w.preemptDelayMs ? `, preempt_delay ${w.preemptDelayMs}ms` : ""}`,
    "",
  ];
  for (const m of w.members) {
    out.push(`${m.nodeId}: ${m.eligible ? "eligible" : `not eligible (${m.ineligibleReason})`}, effective priority ${m.effectivePriority}`);
    for (const i of m.inputs) out.push(`  - ${i}`);
  }
  return out.join("\n");
}

export function formatEvent(e: Event): string {
  const at = new Date(e.atMs).toISOString().replace("T", " ").replace("Z", "");
  const where = [e.group, e.nodeId].filter(Boolean).join(" ");
  const dur = e.fields.duration_ms ? ` (${e.fields.duration_ms} ms)` : "";
  return `${at}  ${e.kind.padEnd(8)} ${where ? `${where}  ` : ""}${e.message}${dur}`;
}

/** A drill's progress line: the coordinator's clock, then the step. */
export function formatDrillStep(p: DrillProgress): string {
  return `${new Date(Number(p.atMs)).toISOString().slice(11, 23)}  ${p.step}`;
}

/** A drill's figures: the headline, then what each member's probes saw. */
export function formatDrill(o: DrillOutcome): string {
  const how =
    o.mode === "kill-nginx"
      ? `nginx killed on ${o.fromNode}, failed over to ${o.toNode || "nobody"}`
      : `switchover ${o.fromNode} → ${o.toNode} → ${o.backNode}`;
  const lines = [
    `drill of ${o.group}: ${how} (${(o.tookMs / 1000).toFixed(1)} s)`,
    `  failed probes  ${o.failedProbes} of ${o.probes}`,
    `  blackout       ${o.blackoutMs} ms (the longest run of failed probes any member saw)`,
    `  VIP on none    ${o.onNoneMs} ms`,
    `  VIP on both    ${o.onBothMs} ms`,
  ];
  const t = table(["member", "probes", "failed", "blackout", "failures", "not counted", "note"]);
  for (const a of o.agents) {
    const failures = Object.entries(a.outcomes)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    t.push([
      a.nodeId,
      String(a.probes),
      String(a.failed),
      `${a.longestBlackoutMs} ms`,
      failures || "-",
      a.crossed ? `${a.crossed} cut by its own move` : "-",
      a.error || "",
    ]);
  }
  return `${lines.join("\n")}\n${t.toString()}`;
}

/** "10m", "30s", "2h" ago, or an ISO time → epoch ms. */
export function parseSince(text: string, nowMs: number): number | string {
  const rel = /^(\d+)(s|m|h|d)$/.exec(text);
  if (rel) return nowMs - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as "s" | "m" | "h" | "d"];
  const t = Date.parse(text);
  if (Number.isNaN(t)) return `--since "${text}" must be a duration ago (30s, 10m, 2h, 1d) or a date/time (2026-11-25T14:00:00Z)`;
  return t;
}
