/**
 * A flood, end to end in the lab: while a client sends a request
 * through the VIP every 10 ms, a hostile process inside lb2's namespace (on
 * the control network, where the coordinator listens) spends 10 s opening
 * hundreds of bogus TCP connections, TLS handshakes without a client certificate,
 * HTTP/2 connections (with lb2's own certificate: an intruder on lb2) full of streams that
 * never say hello, gRPC messages over the 1 MiB limit, hellos from unknown
 * nodes and admin calls with garbage fields. The client must not notice, the
 * VIP must not move, and `keepvip status` must keep answering within its
 * deadline during and after. Timing: the lab's tuned profile (heartbeats
 * 20 ms, dead after 100 ms), the one where a coordinator that stalls shows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { adminStatus } from "../../deploy/lab/admin.js";
import { hostNs, labPaths } from "../../deploy/lab/api.js";
import { isAlive } from "../../deploy/lab/procfs.js";
import { clusterStatus, drill, figures, steady, waitFor, useLab } from "./helpers/drill.js";
import { percentile, startFlood, startStatusSampler, type FloodFigures, type Handle } from "./helpers/flood-run.js";

const P = "kvf";
const FLOOD_MS = 10_000;
/** What `keepvip status` is given per call during the flood; a healthy coordinator answers in milliseconds. */
const STATUS_DEADLINE_MS = 1000;
const started: Array<Handle<unknown>> = [];

// Anything still running is ended by its pid before the lab goes.
useLab(P, {
  beforeDown: () => {
    for (const h of started) if (isAlive(h.pid)) h.kill();
  },
});

function errorLogLines(fromMs: number): string[] {
  const log = readFileSync(labPaths(P).logFile("coord", "coordinator"), "utf8");
  return log.split("\n").filter((l) => {
    if (!l.includes('"level":"error"') && !l.includes('"level":50')) return false;
    const time = /"time":"([^"]+)"/.exec(l)?.[1];
    return time === undefined || Date.parse(time) >= fromMs;
  });
}

test("a 10 s flood of bogus connections, oversized messages and garbage calls: 0 failed client requests, the VIP stays, status keeps answering", async (t) => {
  const before = await steady(P);
  let floodStart = 0;
  let flood: Handle<FloodFigures | undefined> | undefined;
  let sampler: ReturnType<typeof startStatusSampler> | undefined;
  const cliDuring: Array<number | undefined> = [];
  let outcome: { result: FloodFigures | undefined; exitCode: number; stderr: string } | undefined;

  // The prober and the VIP sampler run first (drill), then the flood starts.
  const r = await drill(
    P,
    async () => {
      // The sampler is a monitoring client with a long-lived channel: connected before the flood starts.
      sampler = startStatusSampler(P, hostNs(P, "coord"), FLOOD_MS + 4000, 100, STATUS_DEADLINE_MS);
      started.push(sampler);
      assert.ok(await sampler.ready, "the status sampler connected to the coordinator before the flood");
      floodStart = Date.now();
      flood = startFlood(P, "lb2", hostNs(P, "lb2"), FLOOD_MS);
      started.push(flood);
      // `keepvip status` (the CLI, a new process each time) in the middle of the flood, as an operator would.
      for (let i = 0; i < 3; i++) {
        await new Promise((res) => setTimeout(res, 2500));
        const t0 = Date.now();
        const s = await adminStatus(P, 5000);
        cliDuring.push(s?.groups[0]?.holder === "lb1" ? Date.now() - t0 : undefined);
      }
      outcome = await flood.done;
    },
    { afterMs: 1000 },
  );
  assert.ok(flood && sampler);
  const samples = (await sampler.done).result;

  const f = outcome?.result;
  assert.ok(f, `the flood reported no figures (exit ${outcome?.exitCode}): ${outcome?.stderr}`);
  assert.equal(outcome?.exitCode, 0, `the flood ended by itself: ${outcome?.stderr}`);
  assert.ok(!isAlive(flood.pid), `flood process ${flood.pid} still running`);
  const during = samples.filter((s) => s.t >= floodStart && s.t <= floodStart + FLOOD_MS);
  const latencies = during.map((s) => s.ms);
  t.diagnostic(figures("flood", r));
  t.diagnostic(
    `flood (${f.ms} ms, mutual TLS with lb2's certificate): TCP ${f.tcp.attempted} attempted, ${f.tcp.connected} connected, ${f.tcp.refused} refused, ${f.tcp.closedByServer} closed by the coordinator; TLS without a certificate ${f.tlsNoCert.attempted} (${f.tlsNoCert.refused} refused, ${f.tlsNoCert.completed} answered); HTTP/2 ${f.h2.connections} connections, ${f.h2.streams} streams (${f.h2.reset} reset, ${f.h2.answered} answered); oversized ${f.oversized.sent} ${JSON.stringify(f.oversized.codes)}; hellos from unknown nodes ${f.hellos.sent} ${JSON.stringify(f.hellos.codes)}; admin calls ${f.admin.sent} ${JSON.stringify(f.admin.codes)} (codes: gRPC status → count)`,
  );
  t.diagnostic(
    `status during the flood: ${during.length} calls, ${during.filter((s) => s.code !== 0).length} failed; latency p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${Math.max(...latencies)} ms (deadline ${STATUS_DEADLINE_MS} ms); keepvip status CLI during: ${cliDuring.map((ms) => (ms === undefined ? "no answer" : `${ms} ms`)).join(", ")}`,
  );

  // The client saw nothing, the VIP never moved, nothing was re-elected.
  assert.equal(r.probes.failed, 0, `failed requests: ${JSON.stringify(r.probes.errors)}`);
  assert.ok(r.probes.total > 500, `the prober ran (${r.probes.total} requests)`);
  assert.deepEqual(
    r.vip.changes.map((c) => c.holders.join(",")),
    ["lb1"],
    `the VIP moved: ${JSON.stringify(r.vip.changes)}`,
  );
  assert.equal(r.vip.bothMs, 0);
  // Status answered every time, within its deadline, during the flood and after it.
  assert.ok(during.length >= FLOOD_MS / 100 / 2, `the status sampler ran (${during.length} calls)`);
  assert.deepEqual(
    during.filter((s) => s.code !== 0),
    [],
    "every status call during the flood answered",
  );
  assert.ok(
    during.every((s) => s.holder === "lb1" && s.epoch === before.epoch),
    "status showed lb1 at the same epoch throughout",
  );
  assert.ok(
    cliDuring.every((ms) => ms !== undefined),
    `keepvip status answered during the flood: ${JSON.stringify(cliDuring)}`,
  );
  const afterwards = await waitFor("keepvip status after the flood", 10_000, () => adminStatus(P, 5000));
  assert.equal(afterwards.groups[0]?.holder, "lb1");
  const now = await clusterStatus(P);
  assert.equal(now?.epoch, before.epoch, "no new epoch");
  assert.ok(
    now?.members.every((m) => m.connected),
    "both agents still connected",
  );
  // The flood did reach the coordinator, and was refused as garbage.
  assert.ok(f.tcp.connected >= 200, `hundreds of connections (${f.tcp.connected})`);
  assert.ok((f.oversized.codes["8"] ?? 0) > 0, `oversized messages refused with RESOURCE_EXHAUSTED: ${JSON.stringify(f.oversized.codes)}`);
  // lb2's certificate claiming other nodes: refused by identity (PERMISSION_DENIED), never a session.
  assert.ok((f.hellos.codes["7"] ?? 0) > 0, `hellos for other nodes refused with PERMISSION_DENIED: ${JSON.stringify(f.hellos.codes)}`);
  assert.equal(f.hellos.codes["0"], undefined, `no hello got a session: ${JSON.stringify(f.hellos.codes)}`);
  assert.ok(f.tlsNoCert.attempted >= 20, `TLS handshakes without a certificate were tried (${f.tlsNoCert.attempted})`);
  assert.equal(f.tlsNoCert.completed, 0, "no connection without a client certificate got an answer");
  // An agent certificate may not call the admin API: every garbage admin call is refused before it does anything.
  assert.ok((f.admin.codes["7"] ?? 0) > 0 && f.admin.codes["0"] === undefined, `admin calls with an agent certificate: ${JSON.stringify(f.admin.codes)}`);
  assert.deepEqual(errorLogLines(floodStart), [], "the coordinator logged no errors");
});
