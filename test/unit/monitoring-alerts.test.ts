/**
 * The shape of deploy/monitoring/keepvip-alerts.yml, read as YAML (promtool checks
 * the PromQL and runs the cases: test/integration/prometheus-rules.test.ts): every
 * alert the runbook (docs/monitoring.md) describes is there, with a severity, a
 * summary and a description that name what is wrong, and a `for:` that outlasts a
 * failover at a 15 s scrape; and keepvip-alerts.test.yml has, for every alert, a
 * case where it fires and one where it must not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";

const RULES = "deploy/monitoring/keepvip-alerts.yml";
const CASES = "deploy/monitoring/keepvip-alerts.test.yml";
const RUNBOOK = "docs/monitoring.md";

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Cases {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] | null }> }>;
}

const rules = (): Rule[] => (parseYaml(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const alerts = () => rules().filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const cases = () => parseYaml(readFileSync(CASES, "utf8")) as Cases;

/** Prometheus durations as the rules write them (30s, 1m, 5m, 1h30m). */
function seconds(duration: string): number {
  let total = 0;
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  const rest = duration.replace(/(\d+)(ms|s|m|h|d|w|y)/g, (_all, n: string, unit: string) => {
    total += Number(n) * units[unit];
    return "";
  });
  assert.equal(rest, "", `${duration}: not a Prometheus duration`);
  return total;
}

test("the rules hold every alert the runbook describes, each once", () => {
  const names = alerts().map((a) => a.alert);
  assert.deepEqual(names.length, new Set(names).size, `an alert name repeats: ${names.join(", ")}`);
  for (const required of [
    "KeepvipVipUnheld",
    "KeepvipVipOnTwoNodes",
    "KeepvipNoEligibleStandby",
    "KeepvipNoLeader",
    "KeepvipEtcdQuorumLost",
    "KeepvipUpstreamServerDown",
    "KeepvipUpstreamVersionBehind",
    "KeepvipUpstreamApplyFailing",
    "KeepvipCertExpiresSoon",
    "KeepvipCertExpiryCritical",
    "KeepvipCoordinatorInsecure",
    "KeepvipAgentSessionLost",
  ])
    assert.ok(names.includes(required), `${required} is missing from ${RULES}`);
  const runbook = readFileSync(RUNBOOK, "utf8");
  for (const name of names) assert.match(runbook, new RegExp(`^### ${name}$`, "m"), `${RUNBOOK} has no section for ${name}`);
});

test("every alert has a severity, a summary and a description naming what is wrong, and a for: that outlasts a failover", () => {
  for (const a of alerts()) {
    assert.match(a.alert, /^Keepvip[A-Z][A-Za-z]+$/);
    assert.ok(["warning", "critical"].includes(a.labels?.severity ?? ""), `${a.alert}: severity ${a.labels?.severity}`);
    const { summary = "", description = "" } = a.annotations ?? {};
    assert.ok(summary.length > 10 && description.length > 40, `${a.alert}: summary and description are needed`);
    // The summary names the group, node, server, member or instance (or the job, for a cluster-wide alert).
    assert.match(summary, /\{\{ \$labels\.(group|node|server|upstream|member|instance|job) \}\}/, `${a.alert}: the summary names nothing`);
    // Two scrapes at least (15 s each): a move takes ~100-300 ms and shows at one scrape at most.
    assert.ok(a.for !== undefined && seconds(a.for) >= 30, `${a.alert}: for: ${a.for}`);
  }
});

test("the rules evaluate every 15 s, as the for: durations assume", () => {
  const groups = (parseYaml(readFileSync(RULES, "utf8")) as { groups: Array<{ name: string; interval?: string }> }).groups;
  for (const g of groups) assert.equal(g.interval, "15s", `group ${g.name}`);
});

test("keepvip-alerts.test.yml has, for every alert, a case where it fires and one where it must not", () => {
  const c = cases();
  assert.deepEqual(c.rule_files, ["keepvip-alerts.yml"]);
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const t of c.tests) for (const check of t.alert_rule_test ?? []) (check.exp_alerts && check.exp_alerts.length > 0 ? fires : silent).add(check.alertname);
  const names = alerts().map((a) => a.alert);
  for (const name of names) {
    assert.ok(fires.has(name), `no case where ${name} fires`);
    assert.ok(silent.has(name), `no case where ${name} must not fire`);
  }
  for (const name of [...fires, ...silent]) assert.ok(names.includes(name), `${CASES} tests ${name}, which ${RULES} does not have`);
});
