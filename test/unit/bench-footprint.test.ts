/** The footprint benchmark's pure parts: /proc parsing, process trees, CPU and RSS over a phase, the side-by-side table. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildFootprintTables,
  describeProcesses,
  parseAnonKb,
  parseRssKb,
  parseStat,
  processTree,
  roleUsage,
  type FootprintRow,
  type ProcStat,
  type RoleSample,
  type RoleUsage,
} from "../../deploy/bench/footprint-report.js";

// Fields 14..17 (utime stime cutime cstime) are 11 22 33 44 here.
const STAT_TAIL = "S 100 200 200 0 -1 4194560 1 0 0 0 11 22 33 44 20 0 11 0 1000 100000 2000";

const statCases: Array<[string, string, Partial<ProcStat> | undefined]> = [
  ["a plain name", `4242 (node) ${STAT_TAIL}`, { pid: 4242, comm: "node", state: "S", ppid: 100, ticks: 110 }],
  ["a name with spaces and parentheses is cut at the last ')'", `7 (a (b) c) ${STAT_TAIL}`, { pid: 7, comm: "a (b) c", ppid: 100, ticks: 110 }],
  ["a zombie keeps its state letter", `8 (sh) Z${STAT_TAIL.slice(1)}`, { pid: 8, state: "Z" }],
  ["an empty read (the process is gone) is no stat", "", undefined],
  ["a cut-off line is no stat", "9 (ip) S 1 2", undefined],
];
for (const [name, text, expected] of statCases) {
  test(`parseStat: ${name}`, () => {
    const s = parseStat(text);
    if (expected === undefined) assert.equal(s, undefined);
    else assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, s?.[k as keyof ProcStat]])), expected);
  });
}

const rssCases: Array<[string, string, number | undefined]> = [
  ["VmRSS in kB", "Name:\tnode\nVmHWM:\t  90000 kB\nVmRSS:\t   77504 kB\nRssAnon:\t 33000 kB\n", 77504],
  ["a kernel thread or zombie has no VmRSS", "Name:\tkworker\nState:\tI (idle)\n", undefined],
];
for (const [name, text, expected] of rssCases) test(`parseRssKb: ${name}`, () => assert.equal(parseRssKb(text), expected));
test("parseAnonKb: the anonymous part of the RSS, 0 where the kernel gives none", () => {
  assert.equal(parseAnonKb(rssCases[0][1]), 33000);
  assert.equal(parseAnonKb(rssCases[1][1]), 0);
});

const p = (pid: number, ppid: number, state = "S"): ProcStat => ({ pid, ppid, state, comm: `p${pid}`, ticks: 0 });
// 10 agent → 11 ip monitor, 12 ip monitor, 20 nginx master → 21 worker; 13 a zombie child; 30 someone else.
const TABLE = [p(1, 0), p(10, 1), p(11, 10), p(12, 10), p(13, 10, "Z"), p(20, 10), p(21, 20), p(30, 1)];
const treeCases: Array<[string, number, number[], number[]]> = [
  ["the agent with its helpers, without nginx's subtree", 10, [20], [10, 11, 12]],
  ["nginx: the master and its worker", 20, [], [20, 21]],
  ["without exclusions, everything below the root", 10, [], [10, 11, 12, 20, 21]],
  ["a root that is not running has no tree", 99, [], []],
  ["a zombie root has no tree", 13, [], []],
];
for (const [name, root, exclude, expected] of treeCases) {
  test(`processTree: ${name}`, () =>
    assert.deepEqual(
      [...processTree(TABLE, root, exclude)].sort((a, b) => a - b),
      expected,
    ));
}

const s = (t: number, ...pids: Array<[number, number, number]>): RoleSample => ({ t, pids: pids.map(([pid, ticks, rssKb]) => ({ pid, ticks, rssKb })) });
const usageCases: Array<[string, RoleSample[], Partial<RoleUsage> | undefined]> = [
  ["one core busy the whole time is 100 %", [s(0, [1, 0, 1024]), s(2000, [1, 200, 1024])], { cpuPct: 100, rssMb: 1, processes: 1 }],
  [
    "CPU adds up across the role's processes; RSS is the sum per sample, averaged",
    [s(0, [1, 10, 2048], [2, 5, 1024]), s(1000, [1, 11, 4096], [2, 6, 1024])],
    { cpuPct: 2, rssMb: 4, rssMaxMb: 5, processes: 2 },
  ],
  [
    "the anonymous part adds up like the RSS, averaged over the samples",
    [
      {
        t: 0,
        pids: [
          { pid: 1, ticks: 0, rssKb: 4096, anonKb: 1024 },
          { pid: 2, ticks: 0, rssKb: 1024, anonKb: 1024 },
        ],
      },
      {
        t: 1000,
        pids: [
          { pid: 1, ticks: 0, rssKb: 4096, anonKb: 3072 },
          { pid: 2, ticks: 0, rssKb: 1024, anonKb: 1024 },
        ],
      },
    ],
    { anonMb: 3, rssMb: 5 },
  ],
  [
    "a helper seen in one sample only adds no CPU of its own (its parent's cutime carries it)",
    [s(0, [1, 10, 1024]), s(1000, [1, 10, 1024], [7, 50, 1024]), s(2000, [1, 12, 1024])],
    { cpuPct: 1, processes: 2 },
  ],
  ["a single sample is too few", [s(0, [1, 0, 1024])], undefined],
  ["samples at the same instant span no time", [s(5, [1, 0, 1]), s(5, [1, 1, 1])], undefined],
];
for (const [name, samples, expected] of usageCases) {
  test(`roleUsage: ${name}`, () => {
    const u = roleUsage(samples, 100);
    if (expected === undefined) assert.equal(u, undefined);
    else assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, u?.[k as keyof RoleUsage]])), expected);
  });
}

test("describeProcesses: counts repeated names", () => {
  assert.equal(describeProcesses(["node", "ip", "ip"]), "node + ip ×2");
  assert.equal(describeProcesses(["keepalived", "keepalived"]), "keepalived ×2");
  assert.equal(describeProcesses([]), "-");
});

const usage = (rssMb: number, cpuPct: number): RoleUsage => ({ rssMb, cpuPct, rssMaxMb: rssMb, anonMb: 0, processes: 1, samples: 60 });
const row = (stack: FootprintRow["stack"], role: string, rssMb: number, cpuPct: number, phase: FootprintRow["phase"] = "idle"): FootprintRow => ({
  stack,
  role,
  what: stack === "keepvip" ? "node" : "keepalived ×2",
  phase,
  usage: usage(rssMb, cpuPct),
});

test("buildFootprintTables: per role side by side with ratios, the coordinator alone, totals last", () => {
  const [idle, ...rest] = buildFootprintTables(
    [
      row("keepalived", "lb1 HA daemon", 13, 0.2),
      row("keepvip", "coordinator", 70, 0.5),
      row("keepvip", "lb1 HA daemon", 65, 0.4),
      row("keepvip", "lb1 nginx", 11, 0),
      row("keepalived", "lb1 nginx", 11, 0),
    ],
    { idle: "Idle", load: "Load" },
  );
  assert.equal(rest.length, 0, "no load rows, no load table");
  assert.equal(idle.title, "Idle");
  assert.deepEqual(
    idle.rows.map((r) => [r[0], r[3], r[4], r[5], r[6], r[7], r[8]]),
    [
      ["lb1 HA daemon", "65", "13", "5.0×", "0.40", "0.20", "2.0×"],
      ["lb1 nginx", "11", "11", "1.0×", "0", "0", "-"],
      ["coordinator", "70", "-", "-", "0.50", "-", "-"],
      ["total", "146", "24", "6.1×", "0.90", "0.20", "4.5×"],
    ],
  );
});

test("buildFootprintTables: one table per phase, each from its own rows", () => {
  const tables = buildFootprintTables([row("keepvip", "lb2 HA daemon", 60, 0.3, "idle"), row("keepvip", "lb2 HA daemon", 62, 0.6, "load")], {
    idle: "Idle",
    load: "Load",
  });
  assert.deepEqual(
    tables.map((t) => [t.title, t.rows[0][3], t.rows[0][6]]),
    [
      ["Idle", "60", "0.30"],
      ["Load", "62", "0.60"],
    ],
  );
});
