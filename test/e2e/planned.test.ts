/**
 * Planned moves lose nothing, keep-alive connections included (docs/design.md,
 * Lossless planned moves), end to end in the lab at the seed timing: a client keeps
 * 20 keep-alive connections busy with requests of 0–2 s and the fresh-connection
 * prober sends a request every 10 ms, while the VIP moves 12 times by every planned
 * path (agent stop and start, switchover there and back, maintenance on and off).
 * The new holder forwards the flows it does not know to the old one, which drains
 * them unannounced; nginx's keepalive_time (2 s in the lab) ends each busy connection
 * cleanly with "Connection: close", so every drain ends on its own.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { adminCli } from "../../deploy/lab/admin.js";
import { startProcess, stopProcess, vipHolders } from "../../deploy/lab/api.js";
import { labDown, labUp } from "../../deploy/lab/lab.js";
import { startPoolClient, startProber } from "../../deploy/lab/observers.js";
import { isReset, type PoolRecord } from "../../deploy/lab/pool-client.js";
import { analyzeProbes } from "../../deploy/lab/probe-analysis.js";
import { after, before } from "node:test";
import { clusterStatus, labLogExcerpt, steady, waitFor } from "./helpers/drill.js";

const P = "kvl";
// Two rounds of every planned path (the suite keeps under its time budget; bench runs more).
const MOVES = 12;

before(async () => {
  await labDown(P);
  await labUp({ prefix: P, stack: "keepvip", timing: "seed" });
  await steady(P, "lb1", 60_000);
});
after(async () => {
  await labDown(P);
});

/** The VIP only on `host`, the coordinator steady there, and (`drained`) no drain left anywhere. */
async function settled(host: string, drained = true): Promise<void> {
  await waitFor(
    `VI_1 settled on ${host}${drained ? " with every drain ended" : ""}`,
    30_000,
    async () => {
      const s = await clusterStatus(P);
      if (!s || s.holder !== host || s.phase !== "steady") return undefined;
      if (drained && s.members.some((m) => m.drainingConnections >= 0)) return undefined;
      const on = await vipHolders(P);
      return on.length === 1 && on[0] === host ? true : undefined;
    },
    250,
  );
}

async function admin(args: string[]): Promise<void> {
  const r = await adminCli(P, args);
  assert.equal(r.code, 0, `keepvip ${args.join(" ")}: ${r.err}`);
}

/** Every planned path, in turn: each step moves the VIP once and says where it lands. */
const PATHS: Array<{ name: string; to: string; run: () => Promise<unknown> }> = [
  { name: "stop lb1's agent", to: "lb2", run: () => stopProcess(P, "lb1", "agent") },
  { name: "start lb1's agent (preempt back)", to: "lb1", run: () => startProcess(P, "lb1", "agent") },
  { name: "switchover to lb2", to: "lb2", run: () => admin(["switchover", "VI_1", "--to", "lb2"]) },
  { name: "switchover back to lb1", to: "lb1", run: () => admin(["switchover", "VI_1", "--to", "lb1"]) },
  { name: "maintenance lb1 on", to: "lb2", run: () => admin(["maintenance", "lb1", "on"]) },
  { name: "maintenance lb1 off (preempt back)", to: "lb1", run: () => admin(["maintenance", "lb1", "off"]) },
];

test(`${MOVES} planned moves under 20 busy keep-alive connections and the fresh-connection prober: 0 failed requests, 0 resets`, async (t: TestContext) => {
  const since = Date.now();
  const pool = startPoolClient(P, { connections: 20, maxDelayMs: 2000, timeoutMs: 5000, durationMs: 600_000 });
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 1000, durationMs: 600_000 });
  const moves: string[] = [];
  const starts: Array<{ name: string; at: number }> = [];
  try {
    await Promise.all([pool.ready, prober.ready]);
    await new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < MOVES; i++) {
      const step = PATHS[i % PATHS.length];
      const t0 = Date.now();
      starts.push({ name: step.name, at: t0 });
      await step.run();
      // The next move does not wait for the old holder's drain: drains overlap moves too.
      await settled(step.to, false);
      moves.push(`${step.name}: ${Date.now() - t0} ms`);
    }
    await settled("lb1");
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await Promise.all([pool.stop(), prober.stop()]);
  }
  const fresh = analyzeProbes(prober.records, 10);
  const kept = pool.records;
  const failed = kept.filter((r) => !r.ok);
  const resets = failed.filter((r) => isReset(r.err));
  const reused = kept.filter((r) => r.reused).length;
  t.diagnostic(`moves (each until the VIP is only on its new holder, the coordinator steady): ${moves.join("; ")}`);
  t.diagnostic(
    `keep-alive client: ${failed.length} of ${kept.length} requests failed (${resets.length} resets), ${reused} over a reused connection; fresh prober: ${fresh.failed} of ${fresh.total} failed`,
  );
  const excerpt = () => labLogExcerpt(P, since);
  assert.equal(moves.length, MOVES);
  assert.ok(reused > kept.length / 2, `the client kept its connections alive (${reused} of ${kept.length} reused)`);
  // Each failure with the move it followed: which path, how long after its start, reused or new.
  const during = (r: PoolRecord) => {
    const m = starts.filter((x) => x.at <= r.t).at(-1);
    return m ? `${Math.round(r.t - m.at)} ms after "${m.name}" began` : "before the first move";
  };
  assert.deepEqual(
    failed.map((r) => `${r.err} after ${r.ms} ms`),
    [],
    `keep-alive requests failed: ${failed.map((r) => `${r.err} on ${r.reused ? "a reused" : "a new"} connection (worker ${r.worker}) sent ${during(r)}`).join("; ")}\n${excerpt()}`,
  );
  assert.equal(fresh.failed, 0, `fresh-connection requests failed: ${JSON.stringify(fresh.errors)}\n${excerpt()}`);
  assert.ok(fresh.total > 1000, `the prober ran (${fresh.total} requests)`);
});

test("moves back and forth faster than the drains end (each move while the other node still drains): 0 failed requests, 0 resets", async (t: TestContext) => {
  await settled("lb1");
  const since = Date.now();
  const pool = startPoolClient(P, { connections: 20, maxDelayMs: 2000, timeoutMs: 5000, durationMs: 300_000 });
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 1000, durationMs: 300_000 });
  let draining = 0;
  try {
    await Promise.all([pool.ready, prober.ready]);
    await new Promise((r) => setTimeout(r, 3000));
    for (let i = 0; i < 6; i++) {
      const to = i % 2 === 0 ? "lb2" : "lb1";
      await admin(["switchover", "VI_1", "--to", to]);
      // The next move comes as soon as the VIP is only on `to`: the other node is still draining.
      await waitFor(
        `the VIP only on ${to}`,
        15_000,
        async () => {
          const on = await vipHolders(P);
          return on.length === 1 && on[0] === to ? true : undefined;
        },
        50,
      );
      const s = await clusterStatus(P);
      if (s?.members.some((m) => m.drainingConnections > 0)) draining++;
    }
    await settled("lb1");
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    await Promise.all([pool.stop(), prober.stop()]);
  }
  const fresh = analyzeProbes(prober.records, 10);
  const failed = pool.records.filter((r) => !r.ok);
  t.diagnostic(
    `6 quick moves (${draining} of them with the other node still draining): keep-alive ${failed.length} of ${pool.records.length} failed (${failed.filter((r) => isReset(r.err)).length} resets); fresh ${fresh.failed} of ${fresh.total}`,
  );
  assert.ok(draining >= 3, `the moves overlapped drains (${draining} of 6)`);
  assert.deepEqual(
    failed.map((r) => `${r.err} after ${r.ms} ms`),
    [],
    `keep-alive requests failed:\n${labLogExcerpt(P, since)}`,
  );
  assert.equal(fresh.failed, 0, `fresh-connection requests failed: ${JSON.stringify(fresh.errors)}`);
});
