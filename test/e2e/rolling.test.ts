/**
 * A rolling restart, as an operator upgrades keepvip (docs/operations.md, "Rolling upgrade"):
 * lb1's agent (the holder), then lb2's agent, then the coordinator, one at a
 * time, each stopped cleanly (SIGTERM, as systemctl restart does) and started
 * again, while one client prober sends a request through the VIP every 10 ms
 * for the whole sequence and the VIP's location is sampled every 10 ms.
 *
 * Expected: 0 failed requests overall. lb1's stop hands the VIP to lb2
 * (planned, make-before-break) and preempt brings it back when lb1 is up; the
 * backup's restart and the coordinator's restart move nothing (fail-static),
 * so the epoch grows by exactly two. Lab prefix kvr, tuned timing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { analyzeProbes, startProber, startProcess, startVipSampler, stopProcess } from "../../deploy/lab/api.js";
import { clusterStatus, onlyOn as onlyOnIn, steady, waitFor, useLab } from "./helpers/drill.js";

const P = "kvr";
const onlyOn = (host: string) => onlyOnIn(P, host);

useLab(P);

/** Waits (bounded) until the VIP is on `host` alone. */
const until = (host: string, timeoutMs = 15_000) => waitFor(`the VIP on ${host} alone`, timeoutMs, async () => ((await onlyOn(host)()) ? true : undefined), 20);

test("rolling restart of lb1's agent, lb2's agent and the coordinator: 0 failed requests, only the holder's restart moves the VIP (and back)", async (t) => {
  const start = await steady(P);
  const epochs: Record<string, number> = {};
  let firstStopAt = 0;
  let lastStartAt = 0;
  /** When each step began (for the failure report). */
  const marks: Array<[string, number]> = [];
  const mark = (what: string) => marks.push([what, Date.now()]);
  // Bounded by their own arguments too: far beyond the sequence (~1 minute).
  const sampler = startVipSampler(P, { intervalMs: 10, durationMs: 300_000 });
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 300_000 });
  let records: Awaited<ReturnType<typeof prober.stop>> = [];
  let vip: Awaited<ReturnType<typeof sampler.stop>>;
  try {
    await Promise.all([sampler.ready, prober.ready]);
    await new Promise((r) => setTimeout(r, 500));

    // 1. The holder's agent: a clean stop hands over; back up, preempt returns the VIP.
    firstStopAt = Date.now();
    mark("stop lb1 agent");
    await stopProcess(P, "lb1", "agent");
    await until("lb2");
    mark("start lb1 agent");
    await startProcess(P, "lb1", "agent");
    await until("lb1", 20_000);
    epochs.lb1 = (await steady(P)).epoch;

    // 2. The backup's agent: nothing it holds, nothing moves.
    mark("stop lb2 agent");
    await stopProcess(P, "lb2", "agent");
    mark("start lb2 agent");
    await startProcess(P, "lb2", "agent");
    epochs.lb2 = (await steady(P)).epoch;

    // 3. The coordinator: agents keep what they hold while it is away.
    mark("stop coordinator");
    await stopProcess(P, "coord", "coordinator");
    await new Promise((r) => setTimeout(r, 1000));
    mark("start coordinator");
    await startProcess(P, "coord", "coordinator");
    epochs.coordinator = (await steady(P)).epoch;
    lastStartAt = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    // Stop both even when a step failed, so nothing outlives the test.
    [records, vip] = await Promise.all([prober.stop(), sampler.stop()]);
  }
  const probes = analyzeProbes(records, 10);
  t.diagnostic(
    `rolling restart (${Math.round((lastStartAt - firstStopAt) / 1000)} s): ${probes.failed} of ${probes.total} requests failed (longest outage ${probes.longestFailureMs} ms); VIP on both ${vip.bothMs} ms (longest ${vip.longestBothMs} ms), on none ${vip.noneMs} ms; epochs ${start.epoch} → ${JSON.stringify(epochs)}; holders ${vip.changes.map((c) => c.holders.join("+") || "none").join(" → ")}`,
  );
  // The prober covered the whole sequence, without a blind spot.
  const sent = records.map((r) => r.t).sort((a, b) => a - b);
  const widestGapMs = Math.max(...sent.slice(1).map((t, i) => t - sent[i]));
  assert.ok(sent[0] < firstStopAt && sent.at(-1)! > lastStartAt, "requests before the first stop and after the last start");
  assert.ok(widestGapMs <= 500, `no gap in the requests longer than 500 ms (widest ${widestGapMs} ms)`);
  const during = (at: number) => [...marks].reverse().find(([, t]) => t <= at)?.[0] ?? "before the first step";
  // Two planned moves (lb1 hands over, then preempts back): nothing lost (the old holder drains).
  assert.ok(
    probes.failed === 0,
    `${JSON.stringify(probes.errors)}; failures: ${probes.failureRuns.map((f) => `${f.count} at +${f.startT - firstStopAt} ms (after "${during(f.startT)}")`).join(", ")}; steps: ${marks.map(([w, t]) => `${w} +${t - firstStopAt}`).join(", ")}; VIP: ${vip.changes.map((c) => `${c.holders.join("+") || "none"} +${c.t - firstStopAt}`).join(", ")}`,
  );
  assert.equal(vip.noneMs, 0, "the VIP was never unheld");
  // The dual-stack lab: two VIPs added, forwarded and drained per move (harmless: the new holder forwards).
  assert.ok(vip.longestBothMs <= 500, `planned overlaps stay short (${vip.longestBothMs} ms)`);
  // Make-before-break: the old holder leaves the LAN once the new one holds (it drains its
  // flows unannounced), so the overlap on the LAN is a few ms, too short for the 10 ms sampler
  // to see every time; what must never be seen is a moment without a holder.
  assert.deepEqual(
    vip.changes
      .map((c) => c.holders.join("+"))
      .filter((h) => h !== "lb1+lb2")
      .filter((h, i, all) => i === 0 || h !== all[i - 1]),
    ["lb1", "lb2", "lb1"],
    "make-before-break to lb2 and back, nothing else",
  );
  assert.equal(epochs.lb1, start.epoch + 2, "the handover and the preempt back: two epochs");
  assert.equal(epochs.lb2, epochs.lb1, "restarting the backup moved nothing");
  assert.equal(epochs.coordinator, epochs.lb1, "restarting the coordinator moved nothing");
  assert.equal((await clusterStatus(P))?.holder, "lb1");
});
