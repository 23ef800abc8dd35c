/** The floor benchmark's pure parts: CPU per variant over runs, and the table against the target. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentMessage } from "../../shared/gen/keepvip/v1/agent.js";
import { cpuPercent, floorReport, floorRows, renderFloor, type FloorSample } from "../../deploy/bench/floor-report.js";

function sample(variant: FloorSample["variant"], cpuMs: number, counts: Partial<FloorSample> = {}): FloorSample {
  return { variant, userUs: cpuMs * 800, systemUs: cpuMs * 200, elapsedMs: 20_000, wakeups: 200, probes: 0, reports: 0, beats: 0, ...counts };
}

test("CPU is user and system time over the window, as % of one core", () => {
  assert.equal(cpuPercent({ userUs: 150_000, systemUs: 50_000, elapsedMs: 20_000 }), 1);
  assert.equal(cpuPercent({ userUs: 0, systemUs: 0, elapsedMs: 20_000 }), 0);
});

test("a row is the mean of its runs with their range; events a second come from the last run", () => {
  const rows = floorRows([
    sample("wheel", 100),
    sample("probe", 200, { probes: 200 }),
    sample("wheel", 140),
    sample("probe", 260, { probes: 198, wakeups: 199 }),
  ]);
  assert.deepEqual(
    rows.map((r) => r.variant),
    ["wheel", "probe"],
    "the variants in their own order, none invented",
  );
  const [wheel, probe] = rows;
  assert.ok(Math.abs(wheel.cpu - 0.6) < 1e-9, `${wheel.cpu}`);
  assert.deepEqual(
    [wheel.min, wheel.max].map((x) => x.toFixed(3)),
    ["0.500", "0.700"],
  );
  assert.ok(Math.abs(probe.eventsPerSec - 9.9) < 1e-9);
});

test("the table shows what each variant adds over the one under it and how far it is from the target", () => {
  const rows = floorRows([sample("bare", 20), sample("wheel", 60), sample("probe", 160, { probes: 200 }), sample("session", 120, { reports: 100, beats: 80 })]);
  const text = renderFloor(rows, 0.5);
  const line = (what: RegExp) => text.split("\n").find((l) => what.test(l)) ?? "";
  assert.match(line(/TCP connect/), /│ 0\.80 +│ \+0\.50 +│ 10 +│ 1\.6× +│/);
  assert.match(line(/mTLS gRPC/), /│ 0\.60 +│ \+0\.30 +│ 9\.0 +│ 1\.2× +│/);
  assert.match(line(/nothing scheduled/), /│ 0\.10 +│ +│ +│ 0\.20× +│/);
});

test("the session's report is a valid message of the protocol", () => {
  const bytes = AgentMessage.encode({ body: { $case: "report", value: { ...floorReport(), seq: 7 } } }).finish();
  const back = AgentMessage.decode(bytes);
  assert.equal(back.body?.$case, "report");
  assert.ok(bytes.length > 100, `a backup's report is a few hundred bytes, got ${bytes.length}`);
});
