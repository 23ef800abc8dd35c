/**
 * deploy/monitoring/keepvip-alerts.yml through Prometheus's own promtool (Debian's
 * `prometheus` package, installed by deploy/ensure-deps.sh): `check rules` parses
 * every expression and template, `test rules` runs keepvip-alerts.test.yml (for
 * every alert a case where it fires, with its labels and annotations, and one
 * where it must not). A deliberately broken rules file must be refused, so a
 * promtool that accepts anything fails this test too.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RULES = "deploy/monitoring/keepvip-alerts.yml";
const CASES = "deploy/monitoring/keepvip-alerts.test.yml";
let dir = "";

function promtool(...args: string[]) {
  const r = spawnSync("promtool", args, { encoding: "utf8", timeout: 60_000 });
  assert.ifError(r.error);
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

before(() => {
  const version = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  assert.ok(!version.error && version.status === 0, "promtool is needed: bash deploy/ensure-deps.sh (Debian package prometheus)");
  dir = mkdtempSync(join(tmpdir(), "keepvip-rules-"));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("promtool check rules accepts keepvip-alerts.yml", () => {
  const r = promtool("check", "rules", RULES);
  assert.equal(r.code, 0, `promtool check rules ${RULES}:\n${r.output}`);
  assert.match(r.output, /SUCCESS: \d+ rules found/);
});

test("promtool test rules passes every case of keepvip-alerts.test.yml", () => {
  const r = promtool("test", "rules", CASES);
  assert.equal(r.code, 0, `promtool test rules ${CASES}:\n${r.output}`);
  assert.match(r.output, /SUCCESS/);
});

test("promtool refuses a broken rules file, and a case whose alert does not fire", () => {
  const broken = join(dir, "broken.yml");
  writeFileSync(
    broken,
    [
      "groups:",
      "  - name: broken",
      "    rules:",
      "      - alert: KeepvipVipUnheld",
      "        expr: max by (group) (keepvip_holder) ==",
      "        for: 30s",
      "        annotations:",
      '          summary: "{{ $labels.group "',
    ].join("\n"),
  );
  const r = promtool("check", "rules", broken);
  assert.notEqual(r.code, 0, `promtool accepted a broken rules file:\n${r.output}`);
  assert.match(r.output, /broken\.yml/);

  // A held group must not fire KeepvipVipUnheld: a case expecting it to fails.
  const rules = join(dir, "rules.yml");
  writeFileSync(
    rules,
    "groups:\n  - name: keepvip\n    interval: 15s\n    rules:\n      - alert: KeepvipVipUnheld\n        expr: max by (job, group) (keepvip_holder) == 0\n        for: 30s\n",
  );
  const cases = join(dir, "cases.yml");
  writeFileSync(
    cases,
    [
      "rule_files: [rules.yml]",
      "evaluation_interval: 15s",
      "tests:",
      "  - interval: 15s",
      "    input_series:",
      `      - series: 'keepvip_holder{job="keepvip-coordinator",group="VI_1",node="lb1"}'`,
      '        values: "1x10"',
      "    alert_rule_test:",
      "      - eval_time: 1m",
      "        alertname: KeepvipVipUnheld",
      "        exp_alerts:",
      "          - exp_labels: { job: keepvip-coordinator, group: VI_1 }",
      "",
    ].join("\n"),
  );
  const t = promtool("test", "rules", cases);
  assert.notEqual(t.code, 0, `promtool passed a case that must fail:\n${t.output}`);
  assert.match(t.output, /KeepvipVipUnheld/);
});
