/** The failover benchmark's pure parts: statistics, ratio wording, phase windows, table rows. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTables, renderTable, unsettledLines, type PhaseResult, type PhaseRow } from "../../deploy/bench/report.js";
import { formatDuration, formatRatio, formatSummary, summarize, twoDigits, type Summary } from "../../deploy/bench/stats.js";
import { phaseMetrics, probesIn, vipEventsIn, type PhaseMetrics } from "../../deploy/bench/window.js";
import type { ProbeRecord, VipEvent } from "../../deploy/lab/api.js";

const summaryCases: Array<[string, Array<number | null>, Summary]> = [
  ["one run is its own min, median and max", [650], { n: 1, missing: 0, min: 650, median: 650, max: 650 }],
  ["an odd count takes the middle value, whatever the input order", [700, 610, 650], { n: 3, missing: 0, min: 610, median: 650, max: 700 }],
  ["an even count takes the rounded mean of the middle two", [1, 2, 4, 10], { n: 4, missing: 0, min: 1, median: 3, max: 10 }],
  ["null (did not happen) is counted apart, not as 0", [null, 30, 10], { n: 2, missing: 1, min: 10, median: 20, max: 30 }],
  ["all null: no figures, only the count", [null, null], { n: 0, missing: 2 }],
  ["no runs at all", [], { n: 0, missing: 0 }],
];
for (const [name, values, expected] of summaryCases) {
  test(`summarize: ${name}`, () => assert.deepEqual(summarize(values), expected));
}

const formatCases: Array<[string, Array<number | null>, string]> = [
  ["min / median / max", [610, 650, 700], "610 / 650 / 700"],
  ["equal values print once", [0, 0, 0], "0"],
  ["a single run prints once", [42], "42"],
  ["runs where it never happened are named", [100, null, 300], "100 / 200 / 300 (never 1/3)"],
  ["nothing happened in any run", [null, null], "never"],
  ["no runs", [], "-"],
];
for (const [name, values, expected] of formatCases) {
  test(`formatSummary: ${name}`, () => assert.equal(formatSummary(summarize(values)), expected));
}

const digitCases: Array<[number, string]> = [
  [0, "0"],
  [0.08333, "0.083"],
  [0.512, "0.51"],
  [1.234, "1.2"],
  [12.4, "12"],
  [130.2, "130"],
];
for (const [x, expected] of digitCases) {
  test(`twoDigits(${x}) = ${expected}`, () => assert.equal(twoDigits(x), expected));
}

const ratioCases: Array<[string, Array<number | null>, Array<number | null>, string, string]> = [
  ["keepvip 0 against a keepalived outage prints both medians, not a ratio of 0", [0, 0, 0], [640, 650, 660], "ms", "0 / 650 ms"],
  ["keepalived 0 against a keepvip figure prints both too", [100, 120], [0, 0], "ms", "110 / 0 ms"],
  ["both 0", [0], [0], "", "0 = 0"],
  ["otherwise the ratio of the medians, two digits", [54, 54, 60], [650, 660, 700], "ms", "0.082×"],
  ["keepvip slower shows above 1", [700], [350], "ms", "2.0×"],
  ["a side without a median has no ratio", [null], [650], "ms", "-"],
];
for (const [name, kv, ka, unit, expected] of ratioCases) {
  test(`formatRatio: ${name}`, () => assert.equal(formatRatio(summarize(kv), summarize(ka), unit), expected));
}

const durationCases: Array<[number, string]> = [
  [0, "0 s"],
  [42_400, "42 s"],
  [59_600, "1 min 00 s"],
  [185_000, "3 min 05 s"],
];
for (const [ms, expected] of durationCases) {
  test(`formatDuration(${ms}) = ${expected}`, () => assert.equal(formatDuration(ms), expected));
}

/** Records every 10 ms from t0; `fail` says which send times fail. */
function records(t0: number, count: number, fail: (t: number) => boolean): ProbeRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const t = t0 + i * 10;
    return fail(t) ? { seq: i, t, ok: false, ms: 200, err: "timeout" } : { seq: i, t, ok: true, ms: 1, by: "198.18.0.21" };
  });
}

const W = { from: 1500, injectT: 2000, to: 4000 };

test("window: only requests sent inside it count", () => {
  const rs = records(1000, 400, () => false);
  const inside = probesIn(rs, W);
  assert.equal(inside[0].t, 1500);
  assert.equal(inside[inside.length - 1].t, 4000);
});

test("window: each host's state before the window is restated at its start, later events follow", () => {
  const events: VipEvent[] = [
    { t: 100, host: "lb1", has: true },
    { t: 100, host: "lb2", has: false },
    { t: 2300, host: "lb2", has: true },
    { t: 2400, host: "lb1", has: false },
    { t: 4500, host: "lb1", has: true },
  ];
  assert.deepEqual(vipEventsIn(events, ["lb1", "lb2"], W), [
    { t: 1500, host: "lb1", has: true },
    { t: 1500, host: "lb2", has: false },
    { t: 2300, host: "lb2", has: true },
    { t: 2400, host: "lb1", has: false },
  ]);
});

test("phase: a make-before-break move has no outage, 100 ms on both, moves when the old holder lets go", () => {
  const events: VipEvent[] = [
    { t: 100, host: "lb1", has: true },
    { t: 100, host: "lb2", has: false },
    { t: 2300, host: "lb2", has: true },
    { t: 2400, host: "lb1", has: false },
  ];
  const m = phaseMetrics(
    records(1000, 400, () => false),
    events,
    ["lb1", "lb2"],
    W,
    { newHolder: "lb2", reached: true, settledAt: 2600 },
  );
  assert.deepEqual(m, {
    outageMs: 0,
    failed: 0,
    errors: {},
    requests: 251,
    moveMs: 400,
    moved: true,
    bothMs: 100,
    longestBothMs: 100,
    noneMs: 0,
    endHolders: ["lb2"],
    reached: true,
    settledMs: 600,
  } satisfies PhaseMetrics);
});

test("phase: break-before-make: the outage is the longest failed run, the gap is time on none", () => {
  const events: VipEvent[] = [
    { t: 100, host: "lb1", has: true },
    { t: 100, host: "lb2", has: false },
    { t: 2010, host: "lb1", has: false },
    { t: 2660, host: "lb2", has: true },
  ];
  const m = phaseMetrics(
    records(1000, 400, (t) => t >= 2010 && t < 2660),
    events,
    ["lb1", "lb2"],
    W,
    { newHolder: "lb2", reached: true, settledAt: 2900 },
  );
  assert.equal(m.outageMs, 650);
  assert.equal(m.failed, 65);
  assert.equal(m.moveMs, 660);
  assert.equal(m.noneMs, 650);
});

test("phase: a VIP that never leaves the old holder has no move time (null), and a no-move phase reports moved = false", () => {
  const events: VipEvent[] = [
    { t: 100, host: "lb1", has: true },
    { t: 100, host: "lb2", has: false },
    { t: 3000, host: "lb2", has: true },
  ];
  const partitioned = phaseMetrics(
    records(1000, 400, () => false),
    events,
    ["lb1", "lb2"],
    W,
    { newHolder: "lb2", reached: false, settledAt: 4000 },
  );
  assert.equal(partitioned.moveMs, null, "on both is not only on the new holder");
  assert.equal(partitioned.bothMs, 1000);
  assert.equal(partitioned.reached, false);
  const still = phaseMetrics(
    records(1000, 400, () => false),
    events.slice(0, 2),
    ["lb1", "lb2"],
    W,
    { reached: true, settledAt: 2000 },
  );
  assert.deepEqual([still.moved, still.moveMs, still.endHolders], [false, null, ["lb1"]]);
});

test("phase: the VIP counts from the injection: a heal that starts on both counts only the overlap after it", () => {
  const events: VipEvent[] = [
    { t: 100, host: "lb1", has: true },
    { t: 100, host: "lb2", has: true },
    { t: 2100, host: "lb2", has: false },
  ];
  const healed = phaseMetrics(
    records(1000, 400, () => false),
    events,
    ["lb1", "lb2"],
    W,
    { newHolder: "lb1", reached: true, settledAt: 2200 },
  );
  assert.deepEqual([healed.bothMs, healed.moveMs, healed.moved, healed.endHolders], [100, 100, true, ["lb1"]]);
});

const ROWS: PhaseRow[] = [
  { id: "F1", label: "stop" },
  { id: "F2", label: "kill" },
  { id: "F7", label: "coordinator", keepalivedNa: "no coordinator" },
  { id: "F9", label: "not run" },
];

function result(stack: "keepvip" | "keepalived", phase: string, run: number, m: Partial<PhaseResult>): PhaseResult {
  return {
    phase,
    stack,
    profile: "seed",
    run,
    outageMs: 0,
    failed: 0,
    errors: {},
    requests: 300,
    moveMs: null,
    moved: false,
    bothMs: 0,
    longestBothMs: 0,
    noneMs: 0,
    endHolders: ["lb1"],
    reached: true,
    settledMs: 100,
    ...m,
  };
}

const RESULTS: PhaseResult[] = [
  result("keepvip", "F1", 1, { newHolder: "lb2", moveMs: 140, moved: true, bothMs: 120 }),
  result("keepvip", "F1", 2, { newHolder: "lb2", moveMs: 150, moved: true, bothMs: 110 }),
  result("keepalived", "F1", 1, { newHolder: "lb2", outageMs: 650, failed: 63, moveMs: 660, moved: true, noneMs: 650 }),
  result("keepalived", "F1", 2, { newHolder: "lb2", outageMs: 660, failed: 65, moveMs: 670, moved: true, noneMs: 655, reached: false }),
  result("keepvip", "F2", 1, {}),
  result("keepvip", "F2", 2, {}),
  result("keepalived", "F2", 1, { moved: true, bothMs: 1030 }),
  result("keepalived", "F2", 2, { moved: false }),
  result("keepvip", "F7", 1, {}),
  result("keepvip", "F1", 1, { profile: "tuned", outageMs: 999 }),
];

test("tables: one per metric group, a row per phase with results, keepvip and keepalived side by side", () => {
  const tables = buildTables(RESULTS, "seed", ROWS);
  assert.equal(tables.length, 5);
  const [outage, failed, move, both] = tables;
  assert.deepEqual(outage.head, ["fault", "keepvip", "keepalived", "keepvip / keepalived"]);
  assert.deepEqual(
    outage.rows.map((r) => r[0]),
    ["F1", "F2", "F7"],
    "F9 has no results; the tuned run is another table",
  );
  assert.deepEqual(outage.rows[0], ["F1", "0", "650 / 655 / 660 [1 unsettled]", "0 / 655 ms"]);
  assert.deepEqual(failed.rows[0], ["F1", "0", "63 / 64 / 65 [1 unsettled]", "0 / 64"]);
  assert.deepEqual(move.rows[0], ["F1", "140 / 145 / 150", "660 / 665 / 670 [1 unsettled]", "0.22×"]);
  assert.deepEqual(move.rows[1], ["F2", "no move", "moved 1/2", "-"], "phases that should not move say whether they did");
  assert.deepEqual(both.rows[0], ["F1", "110 / 115 / 120", "0 [1 unsettled]", "115 / 0 ms"]);
  assert.deepEqual(outage.rows[2], ["F7", "0", "n/a (no coordinator)", "-"]);
});

test("tables: a stack that did not run shows '-', and the rendered table carries its title and cells", () => {
  const [outage] = buildTables(
    RESULTS.filter((r) => r.stack === "keepvip"),
    "seed",
    ROWS,
  );
  assert.deepEqual(outage.rows[0], ["F1", "0", "-", "-"]);
  const text = renderTable(outage);
  assert.match(text, /^Client-observed outage/);
  assert.match(text, /│ F7\s+│ 0\s+│ n\/a \(no coordinator\)/);
});

test("unsettled runs are listed by stack, phase and run", () => {
  assert.deepEqual(unsettledLines(RESULTS), ["keepalived (seed) F1 run 2: end condition not reached in 100 ms; figures run to the deadline"]);
});

test("soak plans: a seed replays the same faults and hold times; --each gives every kind exactly n times", async () => {
  const { FAULT_KINDS, repeatPlan, soakPlan } = await import("../../deploy/bench/faults.js");
  const a = soakPlan(7, 50, FAULT_KINDS, { min: 2000, max: 6000 });
  assert.deepEqual(
    a.map((f) => [f.kind.id, f.holdMs]),
    soakPlan(7, 50, FAULT_KINDS, { min: 2000, max: 6000 }).map((f) => [f.kind.id, f.holdMs]),
  );
  assert.notDeepEqual(
    a.map((f) => f.kind.id),
    soakPlan(8, 50, FAULT_KINDS, { min: 2000, max: 6000 }).map((f) => f.kind.id),
  );
  assert.ok(a.every((f) => f.holdMs >= 2000 && f.holdMs <= 6000));
  assert.ok(new Set(a.map((f) => f.kind.on)).size === 3, "holder, standby and coordinator all drawn in 50");
  const r = repeatPlan(3, 4, FAULT_KINDS.slice(0, 3), { min: 2000, max: 2000 });
  assert.equal(r.length, 12);
  for (const k of FAULT_KINDS.slice(0, 3)) assert.equal(r.filter((f) => f.kind === k).length, 4);
});

test("fault targets: a standby fault that costs one request, moves the VIP or leaves it on both is judged a violation", async () => {
  const { KIND_OF, judge } = await import("../../deploy/bench/faults.js");
  const clean = {
    outageMs: 0,
    failed: 0,
    errors: {},
    requests: 200,
    moveMs: null,
    moved: false,
    bothMs: 0,
    longestBothMs: 0,
    noneMs: 0,
    endHolders: ["lb1"],
    reached: true,
    settledMs: 0,
  };
  const f17 = KIND_OF.get("standby-partition")!;
  assert.deepEqual(judge("F17", f17.fault, clean), []);
  assert.equal(judge("F17", f17.fault, { ...clean, failed: 1, errors: { timeout: 1 }, outageMs: 200 }).length, 1);
  assert.match(judge("F17", f17.fault, { ...clean, moved: true, moveMs: 300, endHolders: ["lb2"] }).join(), /moved/);
  assert.match(judge("F17", f17.fault, { ...clean, longestBothMs: 40, bothMs: 40 }).join(), /on both/);
  const f1 = KIND_OF.get("holder-agent-stop")!;
  assert.deepEqual(
    judge("F1", f1.fault, { ...clean, moved: true, moveMs: 80, endHolders: ["lb2"], failed: 1, errors: { ECONNRESET: 1 } }),
    [],
    "one reset at the ARP flip is tolerated",
  );
  assert.match(
    judge("F1", f1.fault, { ...clean, moved: true, moveMs: 80, endHolders: ["lb2"], failed: 1, errors: { timeout: 1 } }).join(),
    /planned move lost/,
  );
  assert.match(judge("F1", f1.fault, { ...clean }).join(), /never ended up on the new holder/);
});
