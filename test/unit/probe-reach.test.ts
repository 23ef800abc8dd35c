import { test } from "node:test";
import assert from "node:assert/strict";
import { lanProvenFresh, ReachProber, type ReachState } from "../../agent/probe/reach.js";
import type { ProbeOutcome, ProbeResult, ServiceProbeOptions } from "../../agent/probe/service.js";
import { waitFor } from "../support/wait.js";
import { lanFlipLine } from "../../agent/wiring.js";

/** A fake network: the outcome per host can be switched while probes run; counts concurrency. */
function fakeNet() {
  const outcomes = new Map<string, ProbeOutcome>();
  const stats = { inFlight: 0, maxInFlight: 0, calls: 0, vipCalls: 0 };
  const probe = async (o: ServiceProbeOptions): Promise<ProbeResult> => {
    stats.calls++;
    if (o.host === "198.18.0.100") {
      stats.vipCalls++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    }
    await new Promise((r) => setTimeout(r, 1));
    if (o.host === "198.18.0.100") stats.inFlight--;
    const outcome = o.signal?.aborted ? "aborted" : (outcomes.get(o.host) ?? "timeout");
    return { ok: outcome === "ok", outcome, detail: `${o.host} ${outcome}`, latencyMs: 1 };
  };
  return { outcomes, stats, probe };
}

test("the VIP turns unreachable after the threshold of failures and reachable at the first success", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  const changes: ReachState[] = [];
  const p = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 10016 },
    intervalMs: 2,
    failThreshold: 3,
    probe: net.probe,
    onChange: (s) => changes.push(s),
  });
  try {
    p.start();
    await waitFor(() => p.current().reachable === true, { what: "reachable", timeoutMs: 2000, intervalMs: 2 });
    net.outcomes.set("198.18.0.100", "timeout");
    await waitFor(() => p.current().reachable === false, { what: "unreachable", timeoutMs: 2000, intervalMs: 2 });
    assert.ok(p.current().consecutiveFailures >= 3);
    net.outcomes.set("198.18.0.100", "ok");
    await waitFor(() => p.current().reachable === true, { what: "reachable again", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(
      changes.map((c) => c.reachable),
      [true, false, true],
    );
    assert.equal(changes[1].consecutiveFailures, 3, "the flip happens exactly at the threshold");
    assert.equal(changes[1].lastOutcome, "timeout");
  } finally {
    p.stop();
  }
});

test("fewer failures than the threshold change nothing", async () => {
  const net = fakeNet();
  const seq: ProbeOutcome[] = ["ok", "timeout", "timeout", "ok", "timeout", "ok"];
  let i = 0;
  const changes: ReachState[] = [];
  const p = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 1 },
    intervalMs: 1,
    failThreshold: 3,
    onChange: (s) => changes.push(s),
    probe: async (o) => {
      const outcome = seq[Math.min(i++, seq.length - 1)];
      return net.probe({ ...o, host: outcome === "ok" ? "ok-host" : "x" }).then(() => ({ ok: outcome === "ok", outcome, detail: outcome, latencyMs: 1 }));
    },
  });
  net.outcomes.set("ok-host", "ok");
  try {
    p.start();
    await waitFor(() => i >= seq.length + 2, { what: "the whole sequence", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(
      changes.map((c) => c.reachable),
      [true],
    );
  } finally {
    p.stop();
  }
});

test("only one VIP probe is in flight at a time", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  const p = new ReachProber({ group: "VI_1", target: { host: "198.18.0.100", port: 1 }, intervalMs: 0, probe: net.probe, onChange: () => undefined });
  try {
    p.start();
    p.start();
    await waitFor(() => net.stats.vipCalls >= 20, { what: "20 probes", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(net.stats.maxInFlight, 1);
  } finally {
    p.stop();
  }
});

test("a node whose LAN references all fail says lanOk=false; a refusal still counts as an answer", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  net.outcomes.set("198.18.0.21", "refused");
  const p = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 1 },
    intervalMs: 5,
    probe: net.probe,
    onChange: () => undefined,
    lanReferences: [
      { host: "198.18.0.21", port: 80 },
      { host: "198.18.0.22", port: 80 },
    ],
    lanIntervalMs: 5,
  });
  try {
    p.start();
    await waitFor(() => net.stats.calls > 10, { what: "a few LAN rounds", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(p.current().lanOk, true);
    assert.equal(p.current().lanDetail, "");
    net.outcomes.set("198.18.0.21", "timeout");
    await waitFor(() => p.current().lanOk === false, { what: "lanOk false", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(p.current().lanDetail, "198.18.0.21 timeout; 198.18.0.22 timeout", "what each reference said");
    net.outcomes.set("198.18.0.22", "ok");
    await waitFor(() => p.current().lanOk === true, { what: "lanOk true", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(p.current().lanDetail, "");
  } finally {
    p.stop();
  }
});

test("stop ends the loops: no more probes and no more changes", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  let changes = 0;
  const p = new ReachProber({ group: "VI_1", target: { host: "198.18.0.100", port: 1 }, intervalMs: 1, probe: net.probe, onChange: () => changes++ });
  p.start();
  await waitFor(() => p.current().reachable === true, { what: "reachable", timeoutMs: 2000, intervalMs: 2 });
  p.stop();
  const calls = net.stats.calls;
  net.outcomes.set("198.18.0.100", "timeout");
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(net.stats.calls <= calls + 1, "at most the probe in flight finishes");
  assert.equal(changes, 1);
  assert.equal(p.current().reachable, true);
});

test("injected timers drive the cadence", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  const delays: number[] = [];
  const p = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 1 },
    intervalMs: 100,
    probe: net.probe,
    onChange: () => undefined,
    timers: {
      now: () => 0,
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return setTimeout(fn, 0);
      },
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    },
  });
  try {
    p.start();
    await waitFor(() => delays.length >= 3, { what: "three sleeps", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(delays.slice(0, 3), [100, 100, 100]);
  } finally {
    p.stop();
  }
});

test("the witness rule: the VIP's silence is backed only by a LAN answer from the middle of it (after the first failure was seen, before a probe that still failed)", () => {
  type V = { failingSinceMs: number | undefined; lastFailureBeganMs: number | undefined; failingBeganMs: number | undefined };
  const ok: V = { failingSinceMs: undefined, lastFailureBeganMs: undefined, failingBeganMs: undefined };
  // The run's first probe began 50 ms before its failure was seen.
  const failing = (since: number, lastBegan: number): V => ({ failingSinceMs: since, lastFailureBeganMs: lastBegan, failingBeganMs: since - 50 });
  const table: Array<[string, V, { lanOk: boolean; lanAnsweredAtMs: number | undefined; lanFailedAtMs?: number } | undefined, boolean]> = [
    [
      "failing since 500, a LAN round failed at 480 (this node cut off too), answered since: not proven",
      failing(500, 600),
      { lanOk: true, lanAnsweredAtMs: 550, lanFailedAtMs: 480 },
      false,
    ],
    ["failing since 500, the last LAN failure long before the run: proven", failing(500, 600), { lanOk: true, lanAnsweredAtMs: 550, lanFailedAtMs: 100 }, true],
    ["VIP answering, LAN answered: proven", ok, { lanOk: true, lanAnsweredAtMs: 100 }, true],
    ["VIP answering, LAN down: not proven", ok, { lanOk: false, lanAnsweredAtMs: 100 }, false],
    ["no LAN references: nothing proves the LAN", ok, undefined, false],
    ["no LAN round answered yet: not proven", ok, { lanOk: true, lanAnsweredAtMs: undefined }, false],
    ["failing since 500, LAN round began at 400 (in flight when the fault came): not proven", failing(500, 600), { lanOk: true, lanAnsweredAtMs: 400 }, false],
    ["failing since 500, LAN round began at 500, a probe begun at 600 still failed: proven", failing(500, 600), { lanOk: true, lanAnsweredAtMs: 500 }, true],
    ["failing since 500, LAN round began at 550, a probe begun at 550 still failed: proven", failing(500, 550), { lanOk: true, lanAnsweredAtMs: 550 }, true],
    [
      "failing since 500, LAN round began at 610, no probe begun since has failed (a heal?): not proven",
      failing(500, 600),
      { lanOk: true, lanAnsweredAtMs: 610 },
      false,
    ],
    ["failing since 500, a later LAN round found nothing: not proven", failing(500, 600), { lanOk: false, lanAnsweredAtMs: 510 }, false],
  ];
  for (const [name, v, lan, want] of table) assert.equal(lanProvenFresh(v, lan && { lanFailedAtMs: undefined, ...lan }), want, name);
});

test("a run of VIP failures kicks a LAN round at once (not at the LAN cadence), and that round's outcome is reported even when lanOk does not flip", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  net.outcomes.set("198.18.0.21", "ok");
  const lanChanges: ReachState[] = [];
  const lan = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 10016 },
    probeVip: false,
    lanReferences: [{ host: "198.18.0.21", port: 10016 }],
    lanIntervalMs: 60_000,
    probe: net.probe,
    onChange: (s) => lanChanges.push(s),
  });
  const vip = new ReachProber({
    group: "VI_1",
    target: { host: "198.18.0.100", port: 10016 },
    intervalMs: 2,
    failThreshold: 3,
    probe: net.probe,
    onFailing: () => lan.kick(),
    onChange: () => {},
  });
  try {
    lan.start();
    vip.start();
    await waitFor(() => lan.current().lanAnsweredAtMs !== undefined, { what: "first LAN round", timeoutMs: 2000, intervalMs: 2 });
    const firstRound = lan.current().lanAnsweredAtMs!;
    await waitFor(() => vip.current().reachable === true, { what: "VIP reachable", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(vip.current().failingSinceMs, undefined, "not failing yet");
    assert.equal(lanProvenFresh(vip.current(), lan.current()), true, "an answering VIP needs only an answered LAN");
    net.outcomes.set("198.18.0.100", "timeout");
    await waitFor(() => vip.current().reachable === false, { what: "VIP unreachable", timeoutMs: 2000, intervalMs: 2 });
    const since = vip.current().failingSinceMs!;
    assert.ok(since > firstRound, "the run began after the first LAN round");
    // The LAN cadence is a minute: only the kick can have started another round this soon.
    await waitFor(() => (lan.current().lanAnsweredAtMs ?? 0) >= since, { what: "kicked LAN round", timeoutMs: 2000, intervalMs: 2 });
    await waitFor(() => (vip.current().lastFailureBeganMs ?? 0) >= lan.current().lanAnsweredAtMs!, {
      what: "a probe begun after the kicked round fails too",
      timeoutMs: 2000,
      intervalMs: 2,
    });
    assert.equal(lanProvenFresh(vip.current(), lan.current()), true, "the kicked round proves the LAN for this run");
    assert.ok(lanChanges.length >= 1, "the kicked round was reported although lanOk stayed true");
    assert.equal(lanChanges.at(-1)!.lanOk, true);
    // The same run, the LAN now gone: the next kicked round says so.
    net.outcomes.set("198.18.0.21", "timeout");
    lan.kick();
    await waitFor(() => lan.current().lanOk === false, { what: "LAN down", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(lanProvenFresh(vip.current(), lan.current()), false);
    assert.equal(vip.current().failingSinceMs, since, "still the same run of failures");
    net.outcomes.set("198.18.0.100", "ok");
    await waitFor(() => vip.current().reachable === true, { what: "VIP back", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(vip.current().failingSinceMs, undefined, "a success ends the run");
  } finally {
    vip.stop();
    lan.stop();
  }
});

test("LAN references are probed with the timeout they are given (the witness rule: the VIP's own bar), the cadence's when none is", async () => {
  for (const [lanTimeoutMs, want] of [
    [50, 50],
    [undefined, 200],
  ] as const) {
    const seen: number[] = [];
    const probe = async (o: ServiceProbeOptions): Promise<ProbeResult> => {
      seen.push(o.timeoutMs);
      return { ok: true, outcome: "ok", detail: "ok", latencyMs: 1 };
    };
    const p = new ReachProber({
      group: "VI_1",
      target: { host: "198.18.0.100", port: 10016 },
      probeVip: false,
      lanReferences: [{ host: "198.18.0.21", port: 10016 }],
      lanIntervalMs: 200,
      lanTimeoutMs,
      probe,
      onChange: () => {},
    });
    try {
      p.start();
      await waitFor(() => seen.length > 0, { what: "a LAN round", timeoutMs: 2000, intervalMs: 2 });
      assert.equal(seen[0], want);
    } finally {
      p.stop();
    }
  }
});

test("the LAN signal's log line: a warning with what the references said when it is lost, a line when it is back, nothing without a flip", () => {
  const lost = { group: "VI_1", lanOk: false, lanDetail: "198.18.0.21:80: no connection within 50 ms after 50.3 ms" };
  const ok = { group: "VI_1", lanOk: true, lanDetail: "" };
  const table: Array<[string, boolean | undefined, typeof ok, string | undefined]> = [
    ["the first state, healthy: nothing to say", undefined, ok, undefined],
    [
      "the first state, lost",
      undefined,
      lost,
      "warn reach.lan_lost no LAN reference of VI_1 answered: 198.18.0.21:80: no connection within 50 ms after 50.3 ms",
    ],
    ["lost after healthy", true, lost, "warn reach.lan_lost no LAN reference of VI_1 answered: 198.18.0.21:80: no connection within 50 ms after 50.3 ms"],
    ["back after lost", false, ok, "info reach.lan_ok a LAN reference of VI_1 answers again"],
    ["still lost (a kicked round reports without a flip)", false, lost, undefined],
    ["still healthy", true, ok, undefined],
  ];
  for (const [name, logged, state, want] of table) {
    const line = lanFlipLine(logged, state);
    assert.equal(line && `${line.level} ${line.event} ${line.message}`, want, name);
  }
});
