/**
 * deploy/monitoring/keepvip-dashboard.json is a dashboard Grafana loads as it is:
 * checked against a schema of what keepvip's dashboard must have (a Prometheus
 * `datasource` variable that every panel and query uses, the group and node
 * variables, unique panel ids, panels inside the 24 columns without overlapping,
 * core panel types only); and every metric a panel or an alert rule
 * (deploy/monitoring/keepvip-alerts.yml) queries is one keepvip exports. The
 * exported names come from the registries the programs build (CoordinatorMetrics,
 * ReplicaMetrics, AgentMetrics), so renaming a metric in the code breaks this test.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Registry } from "prom-client";
import { parse as parseYaml } from "yaml";
import * as z from "zod";
import { AgentMetrics } from "../../agent/metrics.js";
import type { Engine } from "../../coordinator/cluster/engine.js";
import { ReplicaMetrics } from "../../coordinator/ha/metrics.js";
import { CoordinatorMetrics } from "../../coordinator/metrics.js";

const DASHBOARD = "deploy/monitoring/keepvip-dashboard.json";
const ALERTS = "deploy/monitoring/keepvip-alerts.yml";
const COLUMNS = 24;
/** Panel types Grafana ships with: the dashboard needs no plugin. */
const CORE_PANELS = ["timeseries", "stat", "table", "state-timeline", "gauge", "bargauge", "barchart", "heatmap", "text", "status-history"] as const;

// ---------------------------------------------------------------- the schema

const datasourceRef = z.strictObject({ type: z.literal("prometheus"), uid: z.literal("${datasource}") });

const targetSchema = z.looseObject({
  datasource: datasourceRef,
  refId: z.string().regex(/^[A-Z]$/),
  expr: z.string().min(1),
  legendFormat: z.string(),
});

const gridPosSchema = z
  .strictObject({ x: z.int().min(0), y: z.int().min(0), w: z.int().min(1), h: z.int().min(1) })
  .refine((g) => g.x + g.w <= COLUMNS, { message: `the panel runs past column ${COLUMNS}` });

const panelSchema = z.looseObject({
  id: z.int().positive(),
  type: z.enum(CORE_PANELS),
  title: z.string().min(1),
  description: z.string().min(1),
  datasource: datasourceRef,
  gridPos: gridPosSchema,
  targets: z.array(targetSchema).min(1),
  fieldConfig: z.looseObject({ defaults: z.looseObject({}), overrides: z.array(z.unknown()) }),
  options: z.looseObject({}),
});

const queryVariable = (name: string) =>
  z.looseObject({
    name: z.literal(name),
    type: z.literal("query"),
    datasource: datasourceRef,
    query: z.looseObject({ query: z.string().startsWith("label_values(") }),
    multi: z.literal(true),
    includeAll: z.literal(true),
  });

const dashboardSchema = z.looseObject({
  title: z.string().min(1),
  uid: z.string().regex(/^[a-zA-Z0-9_-]{1,40}$/),
  tags: z.array(z.string()),
  schemaVersion: z.int().min(36).max(41),
  editable: z.boolean(),
  refresh: z.string(),
  time: z.strictObject({ from: z.string(), to: z.string() }),
  templating: z.strictObject({
    list: z.tuple([
      z.looseObject({ name: z.literal("datasource"), type: z.literal("datasource"), query: z.literal("prometheus") }),
      queryVariable("group"),
      queryVariable("node"),
    ]),
  }),
  panels: z.array(panelSchema).min(1),
});

type Dashboard = z.infer<typeof dashboardSchema>;
type GridPos = z.infer<typeof gridPosSchema>;

const dashboardJson = (): unknown => JSON.parse(readFileSync(DASHBOARD, "utf8"));

function loadDashboard(): Dashboard {
  const r = dashboardSchema.safeParse(dashboardJson());
  assert.ok(r.success, `${DASHBOARD} does not fit the schema:\n${r.success ? "" : z.prettifyError(r.error)}`);
  return r.data;
}

const overlaps = (a: GridPos, b: GridPos) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Problems of the layout: duplicate ids and overlapping panels, in words. */
function layoutProblems(panels: Array<{ id: number; title: string; gridPos: GridPos }>): string[] {
  const problems: string[] = [];
  const ids = new Map<number, string>();
  for (const p of panels) {
    const other = ids.get(p.id);
    if (other !== undefined) problems.push(`id ${p.id} is used by "${other}" and "${p.title}"`);
    ids.set(p.id, p.title);
  }
  for (let i = 0; i < panels.length; i++)
    for (let j = i + 1; j < panels.length; j++)
      if (overlaps(panels[i].gridPos, panels[j].gridPos)) problems.push(`"${panels[i].title}" and "${panels[j].title}" overlap`);
  return problems;
}

// ---------------------------------------------------------------- metric names in PromQL

const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "group",
  "limitk",
  "limit_ratio",
]);
const KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges and
 * the label lists after by/without/on/ignoring/group_left/group_right are removed
 * first; what is left that is no function, aggregation or keyword is a metric name.
 * Grafana's $variables only appear inside matchers and ranges.
 */
function metricNames(expr: string): string[] {
  let rest = expr
    .replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  rest = rest.replace(/\d+(\.\d+)?(e[+-]?\d+)?/gi, " ");
  const names = new Set<string>();
  for (const m of rest.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = rest.slice(m.index + word.length).trimStart();
    if (after.startsWith("(") || AGGREGATIONS.has(word) || KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** Every name keepvip exports, as the programs register them (series names: a histogram's _bucket, _sum, _count). */
function exportedNames(): Set<string> {
  const registries: Registry[] = [];
  const engine = { events: { subscribe: () => () => {} } } as unknown as Engine;
  const security = { insecure: false, certNotAfterMs: () => 0 };
  const coordinator = new CoordinatorMetrics(engine, { security });
  registries.push(coordinator.registry);
  coordinator.close();
  const replica = new ReplicaMetrics(
    { name: "coord1", current: () => undefined, termSeen: () => 0, leaderChanges: () => 0 },
    { status: async () => [] },
    { processMetrics: false, security },
  );
  registries.push(replica.registry());
  const agent = new AgentMetrics(
    {
      node: "lb1",
      core: { held: new Map(), groups: new Map(), report: () => assert.fail("not scraped") },
      nginx: { state: () => ({ state: "running", detail: "", pid: 1, failures: 0 }), onState: () => () => {} },
      applier: { onApplied: () => () => {} },
      connected: () => true,
    },
    { processMetrics: false },
  );
  registries.push(agent.registry);
  agent.close();
  const names = new Set<string>();
  for (const registry of registries)
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
      if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(`${name}${suffix}`);
    }
  return names;
}

interface Query {
  where: string;
  expr: string;
}

function dashboardQueries(d: Dashboard): Query[] {
  const out: Query[] = [];
  for (const p of d.panels) for (const t of p.targets) out.push({ where: `panel "${p.title}" (${t.refId})`, expr: t.expr });
  for (const v of d.templating.list.slice(1)) {
    const q = (v as { query: { query: string } }).query.query;
    out.push({ where: `variable ${v.name}`, expr: q.replace(/^label_values\((.*),\s*\w+\)$/, "$1") });
  }
  return out;
}

function alertQueries(): Query[] {
  const file = parseYaml(readFileSync(ALERTS, "utf8")) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: r.expr })));
}

function unknownMetrics(queries: Query[], known: Set<string>): string[] {
  return queries.flatMap((q) => metricNames(q.expr).flatMap((name) => (known.has(name) ? [] : [`${q.where}: ${name} is not a metric keepvip exports`])));
}

// ---------------------------------------------------------------- tests

test("the dashboard fits the schema: datasource variable on every panel and query, group and node variables, core panels only", () => {
  const d = loadDashboard();
  assert.ok(d.panels.length >= 12, `only ${d.panels.length} panels`);
});

test("panel ids are unique and panels do not overlap inside the 24 columns", () => {
  const d = loadDashboard();
  assert.deepEqual(layoutProblems(d.panels), []);
});

test("the checks catch a broken dashboard: a second datasource, a panel past column 24, a duplicate id, an overlap, a plugin panel", () => {
  const base = dashboardJson() as { panels: Array<Record<string, unknown>> };
  const broken = (change: (panels: Array<Record<string, unknown>>) => void) => {
    const copy = structuredClone(base);
    change(copy.panels);
    return copy;
  };
  const rejected = [
    broken((p) => (p[0].datasource = { type: "prometheus", uid: "prom-1" })),
    broken((p) => ((p[1].targets as Array<Record<string, unknown>>)[0].datasource = { type: "loki", uid: "${datasource}" })),
    broken((p) => (p[0].gridPos = { x: 20, y: 0, w: 6, h: 8 })),
    broken((p) => (p[0].type = "grafana-piechart-panel")),
    broken((p) => delete p[2].datasource),
  ];
  for (const d of rejected) assert.equal(dashboardSchema.safeParse(d).success, false);
  const panels = loadDashboard().panels;
  assert.match(layoutProblems([...panels, { ...panels[0], title: "copy" }]).join("\n"), /id 1 is used by .* and "copy"/);
  assert.match(layoutProblems([...panels, { id: 999, title: "extra", gridPos: { x: 4, y: 2, w: 4, h: 4 } }]).join("\n"), /and "extra" overlap/);
});

test("the dashboard has the panels an operator needs", () => {
  const exprs = loadDashboard()
    .panels.flatMap((p) => p.targets.map((t) => t.expr))
    .join("\n");
  for (const metric of [
    "keepvip_holder",
    "keepvip_moves_total",
    "keepvip_failover_duration_seconds_bucket",
    "keepvip_sessions_connected",
    "keepvip_member_state",
    "keepvip_member_priority",
    "keepvip_upstream_server_observed_up",
    "keepvip_upstream_version_published",
    "keepvip_upstream_version_applied",
    "keepvip_upstream_apply_failing",
    "keepvip_replica_leader",
    "keepvip_replica_term",
    "keepvip_etcd_member_up",
    "keepvip_tls_cert_expiry_timestamp_seconds",
  ])
    assert.ok(exprs.includes(metric), `no panel shows ${metric}`);
  assert.match(exprs, /histogram_quantile\(0\.5, [^\n]*keepvip_failover_duration_seconds_bucket/);
  assert.match(exprs, /histogram_quantile\(0\.99, [^\n]*keepvip_failover_duration_seconds_bucket/);
});

test("metricNames finds the metrics of an expression and nothing else", () => {
  assert.deepEqual(metricNames('sum by (group) (rate(keepvip_moves_total{reason="holder-lost", group=~"$group"}[$__rate_interval])) > bool 0'), [
    "keepvip_moves_total",
  ]);
  assert.deepEqual(
    metricNames("(keepvip_agent_vips_held > 0) * on (job, instance) group_left (node) keepvip_agent_info and on (job, group) count by (job, group) (up) > 1"),
    ["keepvip_agent_info", "keepvip_agent_vips_held", "up"],
  );
  assert.deepEqual(metricNames("keepvip_tls_cert_expiry_timestamp_seconds - time() < 14 * 86400"), ["keepvip_tls_cert_expiry_timestamp_seconds"]);
  assert.deepEqual(metricNames("histogram_quantile(0.99, sum by (le) (rate(keepvip_failover_duration_seconds_bucket[1h])))"), [
    "keepvip_failover_duration_seconds_bucket",
  ]);
});

test("every metric the dashboard and the alert rules query is one keepvip exports", () => {
  const known = exportedNames();
  // The registries are the programs' own: a sample of what they must hold.
  for (const name of [
    "keepvip_holder",
    "keepvip_replica_leader",
    "keepvip_agent_vips_held",
    "keepvip_failover_duration_seconds_bucket",
    "keepvip_coordinator_insecure",
  ])
    assert.ok(known.has(name), `${name} missing from the registries`);
  const dashboard = dashboardQueries(loadDashboard());
  const alerts = alertQueries();
  assert.ok(alerts.length >= 10, `only ${alerts.length} rules in ${ALERTS}`);
  assert.deepEqual(unknownMetrics([...dashboard, ...alerts], known), []);
  // A renamed metric is caught.
  const renamed = new Set([...known].filter((n) => n !== "keepvip_holder"));
  assert.match(unknownMetrics(alerts, renamed).join("\n"), /alert KeepvipVipUnheld: keepvip_holder is not a metric keepvip exports/);
});
