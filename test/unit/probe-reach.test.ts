import { test } from "node:test";
import assert from "node:assert/strict";
import { ReachProber, type ReachState } from "../../agent/probe/reach.js";
import type { ProbeOutcome, ProbeResult, ServiceProbeOptions } from "../../agent/probe/service.js";
import { waitFor } from "../support/wait.js";

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
    const outcome = o.signal?.aborted ? "aborted" : outcomes.get(o.host) ?? "timeout";
    return { ok: outcome === "ok", outcome, detail: `${o.host} ${outcome}`, latencyMs: 1 };
  };
  return { outcomes, stats, probe };
}

test("the VIP turns unreachable after the threshold of failures and reachable at the first success", async () => {
  const net = fakeNet();
  net.outcomes.set("198.18.0.100", "ok");
  const changes: ReachState[] = [];
  const p = new ReachProber({ group: "VI_1", target: { host: "198.18.0.100", port: 10016 }, intervalMs: 2, failThreshold: 3, probe: net.probe, onChange: (s) => changes.push(s) });
  try {
    p.start();
    await waitFor(() => p.current().reachable === true, { what: "reachable", timeoutMs: 2000, intervalMs: 2 });
    net.outcomes.set("198.18.0.100", "timeout");
    await waitFor(() => p.current().reachable === false, { what: "unreachable", timeoutMs: 2000, intervalMs: 2 });
    assert.ok(p.current().consecutiveFailures >= 3);
    net.outcomes.set("198.18.0.100", "ok");
    await waitFor(() => p.current().reachable === true, { what: "reachable again", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(changes.map((c) => c.reachable), [true, false, true]);
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
    group: "VI_1", target: { host: "198.18.0.100", port: 1 }, intervalMs: 1, failThreshold: 3, onChange: (s) => changes.push(s),
    probe: async (o) => {
      const outcome = seq[Math.min(i++, seq.length - 1)];
      return net.probe({ ...o, host: outcome === "ok" ? "ok-host" : "x" }).then(() => ({ ok: outcome === "ok", outcome, detail: outcome, latencyMs: 1 }));
    },
  });
  net.outcomes.set("ok-host", "ok");
  try {
    p.start();
    await waitFor(() => i >= seq.length + 2, { what: "the whole sequence", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(changes.map((c) => c.reachable), [true]);
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
    group: "VI_1", target: { host: "198.18.0.100", port: 1 }, intervalMs: 5, probe: net.probe, onChange: () => undefined,
    lanReferences: [{ host: "198.18.0.21", port: 80 }, { host: "198.18.0.22", port: 80 }], lanIntervalMs: 5,
  });
  try {
    p.start();
    await waitFor(() => net.stats.calls > 10, { what: "a few LAN rounds", timeoutMs: 2000, intervalMs: 2 });
    assert.equal(p.current().lanOk, true);
    net.outcomes.set("198.18.0.21", "timeout");
    await waitFor(() => p.current().lanOk === false, { what: "lanOk false", timeoutMs: 2000, intervalMs: 2 });
    net.outcomes.set("198.18.0.22", "ok");
    await waitFor(() => p.current().lanOk === true, { what: "lanOk true", timeoutMs: 2000, intervalMs: 2 });
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
    group: "VI_1", target: { host: "198.18.0.100", port: 1 }, intervalMs: 100, probe: net.probe, onChange: () => undefined,
    timers: { now: () => 0, setTimeout: (fn, ms) => { delays.push(ms); return setTimeout(fn, 0); }, clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
  });
  try {
    p.start();
    await waitFor(() => delays.length >= 3, { what: "three sleeps", timeoutMs: 2000, intervalMs: 2 });
    assert.deepEqual(delays.slice(0, 3), [100, 100, 100]);
  } finally {
    p.stop();
  }
});
