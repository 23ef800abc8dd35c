/**
 * Failover drills, the pure parts: what one agent's probes add up to (summarizeDrill),
 * what the members' reports add up to (drillTotals), and whom a drill moves the VIP to
 * (drillTarget).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DrillRunner, summarizeDrill, type DrillSample, type DrillSummary } from "../../agent/probe/drill.js";
import { drillTarget, drillTotals, type MemberDrillReport } from "../../coordinator/cluster/drill.js";
import type { Candidate } from "../../coordinator/election/elect.js";

/** Probes every 10 ms from t=0: "." answered, "x" failed; "H" in `held` = this node held the VIP then. */
function samples(pattern: string, held = ""): DrillSample[] {
  return [...pattern].map((c, i) => ({ startMs: i * 10, ok: c === ".", outcome: c === "." ? "ok" : "refused", held: held[i] === "H" }));
}

describe("summarizeDrill", () => {
  const cases: Array<[name: string, pattern: string, endMs: number, want: { failed: number; longest: number }]> = [
    ["nothing failed", "..........", 100, { failed: 0, longest: 0 }],
    ["one failed probe is one interval", "....x.....", 100, { failed: 1, longest: 10 }],
    ["the longest of two runs", "..xx...xxxx.", 120, { failed: 6, longest: 40 }],
    ["a run still failing at the end lasts until the end", "......xxx", 200, { failed: 3, longest: 140 }],
    ["every probe failed", "xxxx", 40, { failed: 4, longest: 40 }],
    ["no probes", "", 50, { failed: 0, longest: 0 }],
  ];
  for (const [name, pattern, endMs, want] of cases)
    test(name, () => {
      const s = summarizeDrill(samples(pattern), endMs);
      assert.equal(s.probes, pattern.length);
      assert.equal(s.failed, want.failed);
      assert.equal(s.longestBlackoutMs, want.longest);
    });

  test("probes that end out of order are put back in start order", () => {
    const ordered = samples("...xx...");
    const shuffled = [ordered[4], ordered[0], ordered[7], ordered[3], ordered[1], ordered[6], ordered[2], ordered[5]];
    assert.deepEqual(summarizeDrill(shuffled, 80), summarizeDrill(ordered, 80));
    assert.equal(summarizeDrill(shuffled, 80).longestBlackoutMs, 20);
  });

  test("a probe cut by this node's own bind or unbind is counted apart, never as a failure or a blackout", () => {
    const s = summarizeDrill(
      [
        { startMs: 0, ok: true, outcome: "ok", held: true },
        { startMs: 10, ok: false, outcome: "reset", held: true, crossed: true },
        { startMs: 20, ok: true, outcome: "ok", held: false },
        { startMs: 30, ok: false, outcome: "refused", held: false },
        { startMs: 40, ok: true, outcome: "ok", held: false },
      ],
      50,
    );
    assert.deepEqual(
      { failed: s.failed, crossed: s.crossed, longest: s.longestBlackoutMs, outcomes: s.outcomes },
      { failed: 1, crossed: 1, longest: 10, outcomes: { refused: 1 } },
    );
  });

  test("a probe that starts just after this node's own move is counted apart; one well after is judged", () => {
    const probes: DrillSample[] = [
      { startMs: 0, endMs: 1, ok: true, outcome: "ok", held: false },
      { startMs: 130, endMs: 630, ok: false, outcome: "timeout", held: false },
      { startMs: 140, endMs: 141, ok: true, outcome: "ok", held: false },
      { startMs: 400, endMs: 900, ok: false, outcome: "timeout", held: false },
      { startMs: 410, endMs: 411, ok: true, outcome: "ok", held: false },
    ];
    // This node's state changed at 50 ms: the probes of 130 and 140 ms started within 100 ms of it.
    const s = summarizeDrill(probes, 1000, [50]);
    assert.deepEqual({ failed: s.failed, crossed: s.crossed, longest: s.longestBlackoutMs }, { failed: 1, crossed: 2, longest: 10 });
    assert.equal(summarizeDrill(probes, 1000, []).failed, 2);
  });

  // This node's own move begins at 500 ms (recorded right before its `ip addr add` or `ip addr del`):
  // is each lone probe counted apart, or judged (failed)?
  const MOVE = 500;
  const judged: Array<[name: string, probe: Omit<DrillSample, "held">, apart: boolean]> = [
    ["a reset that ended before the move began counts", { startMs: 440, endMs: 470, ok: false, outcome: "reset" }, false],
    ["a reset that ended 1 ms before the move began counts", { startMs: 480, endMs: 499, ok: false, outcome: "reset" }, false],
    ["a reset ending as the move begins is apart", { startMs: 480, endMs: 500, ok: false, outcome: "reset" }, true],
    ["a reset running across the begin of the move is apart", { startMs: 490, endMs: 530, ok: false, outcome: "reset" }, true],
    ["a reset starting just after the begin of the move is apart", { startMs: 510, endMs: 512, ok: false, outcome: "reset" }, true],
    ["a reset starting a margin after the begin of the move is apart", { startMs: 600, endMs: 602, ok: false, outcome: "reset" }, true],
    ["a reset starting past the margin counts", { startMs: 601, endMs: 603, ok: false, outcome: "reset" }, false],
    ["a refusal before the move counts (nginx dead here)", { startMs: 480, endMs: 481, ok: false, outcome: "refused" }, false],
    ["a timeout that ended before the move counts", { startMs: 300, endMs: 400, ok: false, outcome: "timeout" }, false],
    ["a timeout running across the move is apart", { startMs: 450, endMs: 550, ok: false, outcome: "timeout" }, true],
    ["a refusal just after the begin of the move is apart", { startMs: 520, endMs: 521, ok: false, outcome: "refused" }, true],
    ["an answered probe just after the begin of the move is apart", { startMs: 520, endMs: 521, ok: true, outcome: "ok" }, true],
    ["a probe seen crossing a change of where the VIP is here is apart", { startMs: 100, endMs: 110, ok: false, outcome: "reset", crossed: true }, true],
  ];
  for (const [name, probe, apart] of judged)
    test(`own move: ${name}`, () => {
      const s = summarizeDrill([{ ...probe, held: false }], 1000, [MOVE]);
      assert.deepEqual({ crossed: s.crossed, failed: s.failed }, apart ? { crossed: 1, failed: 0 } : { crossed: 0, failed: probe.ok ? 0 : 1 });
      // Without the move only the probe seen crossing is apart.
      assert.equal(summarizeDrill([{ ...probe, held: false }], 1000, []).crossed, probe.crossed ? 1 : 0);
    });

  test("failures are counted by outcome", () => {
    const s = summarizeDrill(
      [
        { startMs: 0, ok: false, outcome: "timeout", held: false },
        { startMs: 10, ok: false, outcome: "refused", held: false },
        { startMs: 20, ok: false, outcome: "timeout", held: false },
        { startMs: 30, ok: true, outcome: "ok", held: false },
      ],
      40,
    );
    assert.deepEqual(s.outcomes, { timeout: 2, refused: 1 });
  });

  test("held spans open and close with the samples; one still open ends at the end", () => {
    assert.deepEqual(summarizeDrill(samples("..........", "HHH....HHH"), 100).held, [
      { fromMs: 0, toMs: 30 },
      { fromMs: 70, toMs: 100 },
    ]);
    assert.deepEqual(summarizeDrill(samples(".....", "....."), 50).held, []);
  });
});

function report(node: string, held: Array<[number, number]>, extra: Partial<MemberDrillReport> = {}): MemberDrillReport {
  return {
    node,
    probes: 100,
    failed: 0,
    longestBlackoutMs: 0,
    held: held.map(([fromMs, toMs]) => ({ fromMs, toMs })),
    error: "",
    outcomes: {},
    crossed: 0,
    startedMs: 0,
    endedMs: 1000,
    ...extra,
  };
}

describe("drillTotals", () => {
  test("make-before-break: on two for the overlap, never on none", () => {
    const t = drillTotals([report("lb1", [[0, 520]]), report("lb2", [[400, 1000]])]);
    assert.deepEqual({ none: t.onNoneMs, both: t.onBothMs, window: t.windowMs }, { none: 0, both: 120, window: 1000 });
  });

  test("break-before-make: on none for the gap", () => {
    const t = drillTotals([report("lb1", [[0, 300]]), report("lb2", [[380, 1000]])]);
    assert.deepEqual({ none: t.onNoneMs, both: t.onBothMs }, { none: 80, both: 0 });
  });

  test("there and back: both gaps add up", () => {
    const t = drillTotals([
      report("lb1", [
        [0, 300],
        [700, 1000],
      ]),
      report("lb2", [[310, 690]]),
    ]);
    assert.equal(t.onNoneMs, 20);
    assert.equal(t.onBothMs, 0);
  });

  test("only the window every member probed counts", () => {
    // lb2 started probing at 200 and stopped at 900: lb1's holding before and after is outside.
    const t = drillTotals([report("lb1", [[0, 1000]]), report("lb2", [], { startedMs: 200, endedMs: 900 })]);
    assert.deepEqual({ none: t.onNoneMs, both: t.onBothMs, window: t.windowMs }, { none: 0, both: 0, window: 700 });
  });

  test("a span ending where another starts is not on two", () => {
    const t = drillTotals([report("lb1", [[0, 500]]), report("lb2", [[500, 1000]])]);
    assert.deepEqual({ none: t.onNoneMs, both: t.onBothMs }, { none: 0, both: 0 });
  });

  test("probes, failures and the worst blackout are summed and maxed", () => {
    const t = drillTotals([
      report("lb1", [[0, 1000]], { probes: 90, failed: 3, longestBlackoutMs: 30 }),
      report("lb2", [], { probes: 95, failed: 8, longestBlackoutMs: 80 }),
    ]);
    assert.deepEqual({ p: t.probes, f: t.failedProbes, b: t.blackoutMs }, { p: 185, f: 11, b: 80 });
  });

  test("no member reported: no window, nothing on none", () => {
    assert.deepEqual(drillTotals([]), { probes: 0, failedProbes: 0, blackoutMs: 0, onNoneMs: 0, onBothMs: 0, windowMs: 0 });
  });
});

function candidate(node: string, eligible: boolean, detail = eligible ? "eligible" : "nginx is down"): Candidate {
  return { node, eligibility: { eligible, detail } } as unknown as Candidate;
}

describe("drillTarget", () => {
  const ranking = [candidate("lb1", true), candidate("lb3", false), candidate("lb2", true)];
  const cases: Array<[name: string, holder: string | undefined, to: string, want: string]> = [
    ["the best eligible standby when none is named", "lb1", "", "lb2"],
    ["the named member", "lb2", "lb1", "lb1"],
    ["refused: nobody holds", undefined, "", "nobody holds VI_1"],
    ["refused: the named node is no member", "lb1", "lb9", 'node "lb9" is not a member of VI_1'],
    ["refused: the named node holds it already", "lb1", "lb1", "lb1 already holds VI_1"],
    ["refused: the named node is not eligible", "lb1", "lb3", "lb3 is not eligible: nginx is down"],
  ];
  for (const [name, holder, to, want] of cases)
    test(name, () => {
      const r = drillTarget("VI_1", ranking, holder, to);
      if (r.ok) assert.equal(r.node, want);
      else assert.match(r.error, new RegExp(want));
    });

  test("refused: no eligible standby, with each member's reason", () => {
    const r = drillTarget("VI_1", [candidate("lb1", true), candidate("lb2", false, "lb2's agent is not connected")], "lb1", "");
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : "", /VI_1 has no eligible standby \(lb2: lb2's agent is not connected\)/);
  });
});

describe("DrillRunner", () => {
  test("probes until stopped, holds its first state from the start, and counts a probe its own move cut apart", async () => {
    let here: "held" | "draining" | "none" = "held";
    let calls = 0;
    const runner = new DrillRunner({
      // The third probe is cut: the VIP leaves this node while it runs.
      probe: async () => {
        calls++;
        if (calls === 3) here = "draining";
        await new Promise((r) => setTimeout(r, 1));
        return { ok: calls !== 3, outcome: calls === 3 ? "reset" : "ok", detail: "", latencyMs: 1 };
      },
      wallMs: () => Date.now(),
    });
    const spec = { drillId: "d1", group: "VI_1", host: "198.18.0.100", port: 10016, path: "/aaa", intervalMs: 10, timeoutMs: 100, maxMs: 5000 };
    const done = new Promise<{ s: DrillSummary; startedMs: number; endedMs: number }>((resolve) =>
      runner.start(
        spec,
        () => here,
        (s, startedMs, endedMs) => resolve({ s, startedMs, endedMs }),
      ),
    );
    assert.equal(runner.running("d1"), true);
    // Until well past the move and its margin on either side (bounded: a busy host runs timers late).
    for (let i = 0; i < 500 && calls < 25; i++) await new Promise((r) => setTimeout(r, 10));
    runner.stop("d1");
    assert.equal(runner.running("d1"), false);
    const { s, startedMs } = await done;
    assert.ok(s.probes >= 5, `${s.probes} probes`);
    assert.equal(s.failed, 0);
    // The cut probe, and those that started within the margin after the move, are counted apart; later ones are not.
    assert.ok(s.crossed >= 1 && s.crossed < s.probes, `${s.crossed} of ${s.probes} counted apart`);
    assert.equal(s.held[0].fromMs, startedMs, "held from the drill's start");
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, after, "no probe after the stop");
  });

  test("ownMove records this node's move when it begins: the reset it caused before `here` changed is counted apart; a drill of another group is not told", async () => {
    const calls = new Map<string, number>();
    const runner = new DrillRunner({
      probe: async (o) => {
        const n = (calls.get(o.host) ?? 0) + 1;
        calls.set(o.host, n);
        // VI_1's third probe: this node begins to bind VI_1 while it runs, and the bind's route change resets it.
        if (n === 3 && o.host === "198.18.0.100") runner.ownMove("VI_1");
        await new Promise((r) => setTimeout(r, 1));
        return { ok: n !== 3, outcome: n === 3 ? "reset" : "ok", detail: "", latencyMs: 1 };
      },
      wallMs: () => Date.now(),
    });
    const run = (drillId: string, group: string, host: string) =>
      new Promise<DrillSummary>((resolve) =>
        runner.start(
          { drillId, group, host, port: 10016, path: "", intervalMs: 10, timeoutMs: 100, maxMs: 5000 },
          () => "none",
          (s) => resolve(s),
        ),
      );
    const vi1 = run("d1", "VI_1", "198.18.0.100");
    const vi2 = run("d2", "VI_2", "198.18.0.200");
    for (let i = 0; i < 500 && Math.min(calls.get("198.18.0.100") ?? 0, calls.get("198.18.0.200") ?? 0) < 5; i++) await new Promise((r) => setTimeout(r, 10));
    runner.stop("d1");
    runner.stop("d2");
    const [s1, s2] = await Promise.all([vi1, vi2]);
    assert.equal(s1.failed, 0, JSON.stringify(s1));
    assert.ok(s1.crossed >= 1, JSON.stringify(s1));
    // VI_2's reset is nobody's move here: it counts.
    assert.deepEqual({ failed: s2.failed, outcomes: s2.outcomes, crossed: s2.crossed }, { failed: 1, outcomes: { reset: 1 }, crossed: 0 });
  });
});
