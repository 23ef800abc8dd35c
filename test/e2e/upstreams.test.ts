/**
 * Upstreams end to end: active backend checks from both LBs, aggregated by the
 * coordinator, pushed as versioned upstream files into real nginx, in the lab
 * (the seed's topology, real backends, real nginx -t and graceful reloads).
 * A prober in the client namespace sends a request through the VIP every
 * 10 ms while each fault or admin action happens; a watcher reads both LBs'
 * rendered upstream files every 10 ms, so "down on every agent" is timed on
 * what nginx is given, not on what the coordinator believes.
 * Timing: the lab's tuned profile (checks every 100 ms, timeout 50 ms, rise 2,
 * fall 2; reload_min_interval 100 ms; slow_start 2 s in four steps).
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import {
  ADDRESSES,
  LB_HOSTS,
  analyzeProbes,
  heal,
  killProcess,
  labPaths,
  partition,
  startProber,
  startProcess,
  type LbHost,
  type ProbeRecord,
} from "../../deploy/lab/api.js";
import { labLogExcerpt, steady, waitFor, useLab } from "./helpers/drill.js";
import { appliedVersions, ensureBackend, livePid, reloadCoordinator, reloadedAt, setBackendHealth } from "./helpers/lab-process.js";
import {
  B1,
  B2,
  UPSTREAM,
  admin,
  allApplied,
  bothRendered,
  delays,
  isDown,
  isUp,
  rendered,
  renderedText,
  serverIn,
  setServer,
  upstreamStatus,
  versionWhen,
  watchRendered,
} from "./helpers/upstreams.js";

const P = "kvu";
const b1Ip = ADDRESSES.lan.b1!;
const b2Ip = ADDRESSES.lan.b2!;
/** What the checks need to see a server back: rise (2) probes 100 ms apart, plus a push and a reload. */
const RESTORE_BOUND_MS = 2000;
/** The seed's proxy_connect_timeout, which the lab's nginx.conf keeps. */
const CONNECT_TIMEOUT_MS = 3000;
/**
 * From the agent's "applied" log line (SIGHUP sent) until nginx's new workers
 * take the new connections: milliseconds on an idle host, but more than 100 ms
 * on a loaded 2-core CI host (one request still reached the drained server
 * 100 ms after the reload there). Requests sent later must see the new config.
 */
const RELOAD_SETTLE_MS = 300;

// The first push (version ≥ 1) is on both LBs before anything starts.
useLab(P, {
  afterUp: () => waitFor("version 1 rendered on both LBs", 10_000, () => (LB_HOSTS.every((h) => rendered(P, h).version >= 1) ? true : undefined), 50),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sentIn = (records: ProbeRecord[], from: number, to = Number.POSITIVE_INFINITY) => records.filter((r) => r.t >= from && r.t < to);

test("F9 backend killed: 0 failed requests, down on every agent within 2 s; started again, back after rise", async (t: TestContext) => {
  await steady(P);
  const watch = watchRendered(P);
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 30_000 });
  let killedAt = 0;
  let startedAt = 0;
  try {
    await prober.ready;
    await sleep(500);
    killedAt = Date.now();
    await killProcess(P, "b1", "backend");
    await bothRendered(P, "b1 down on both LBs", isDown(B1));
    const s = await upstreamStatus(P);
    const b1 = s?.servers.find((x) => x.address === B1);
    assert.equal(b1?.up, false, JSON.stringify(b1));
    assert.deepEqual(b1?.seenBy.map((x) => `${x.nodeId}:${x.up}`).sort(), ["lb1:false", "lb2:false"], "status shows every agent seeing it down");
    await sleep(500);
    await startProcess(P, "b1", "backend");
    startedAt = Date.now();
    await bothRendered(P, "b1 back on both LBs", isUp(B1), 5000);
    await sleep(500);
  } finally {
    watch.stop();
    await prober.stop();
    await ensureBackend(P, "b1");
  }
  const p = analyzeProbes(prober.records, 10);
  const down = delays(watch.changes, killedAt, isDown(B1));
  const back = delays(watch.changes, startedAt, isUp(B1));
  const afterBack = sentIn(prober.records, startedAt + Math.max(back.lb1, back.lb2) + 100);
  t.diagnostic(
    `F9: ${p.failed} of ${p.total} requests failed; b1 down in the rendered file after ${down.lb1} ms (lb1), ${down.lb2} ms (lb2); back ${back.lb1} / ${back.lb2} ms after the backend listened; answered by ${JSON.stringify(p.answeredBy)}`,
  );
  assert.equal(p.failed, 0, `nginx retried every request on b2: ${JSON.stringify(p.errors)}`);
  for (const h of LB_HOSTS) {
    assert.ok(down[h] <= 2000, `${h}: down after ${down[h]} ms`);
    assert.ok(back[h] <= RESTORE_BOUND_MS, `${h}: back after ${back[h]} ms`);
  }
  assert.ok(
    afterBack.some((r) => r.by === b1Ip),
    "b1 answers again once it is back",
  );
});

test("slow start: a server coming back ramps its weight in four pushed steps (2, 4, 6, 8 of an admin weight 8)", async (t: TestContext) => {
  await steady(P);
  await setServer(P, B1, "weight", 8);
  const watch = watchRendered(P);
  let downAt = 0;
  let startedAt = 0;
  try {
    await bothRendered(P, "b1 at weight 8", (r) => serverIn(r, B1)?.weight === 8);
    await killProcess(P, "b1", "backend");
    downAt = await bothRendered(P, "b1 down", isDown(B1));
    await startProcess(P, "b1", "backend");
    startedAt = Date.now();
    await bothRendered(P, "b1 back at full weight 8", (r) => serverIn(r, B1)?.down === false && serverIn(r, B1)?.weight === 8, 6000);
    await sleep(300);
  } finally {
    watch.stop();
    await ensureBackend(P, "b1");
    await setServer(P, B1, "up");
  }
  for (const h of LB_HOSTS) {
    const steps = watch.changes
      .filter((c) => c.host === h && c.t >= downAt && serverIn(c.r, B1)?.down === false)
      .map((c) => ({ t: c.t, weight: serverIn(c.r, B1)!.weight }));
    t.diagnostic(`slow start on ${h}: ${steps.map((s) => `weight ${s.weight} at +${s.t - startedAt} ms`).join(", ")}`);
    assert.deepEqual(
      steps.map((s) => s.weight),
      [2, 4, 6, 8],
      `${h}: one rendered file per step`,
    );
    for (let i = 1; i < steps.length; i++) {
      const gap = steps[i].t - steps[i - 1].t;
      assert.ok(gap >= 250 && gap <= 1000, `${h}: step ${i} came ${gap} ms after the previous one (slow_start 2 s / 4 steps = 500 ms)`);
    }
  }
  await bothRendered(P, "b1 back at weight 1 after the override is cleared", (r) => serverIn(r, B1)?.weight === 1 && serverIn(r, B1)?.down === false);
});

/**
 * F10's stalls: a request nginx sends to b1 before b1 is down in its file waits out
 * proxy_connect_timeout (3 s) and is retried on b2. With least_conn nginx avoids b1 while
 * one connect is pending, except on a tie (a request in progress on b2 too), so one stall is
 * usual and two happen; what keepvip bounds is the window they can start in (checks + push)
 * and that none follows once b1 is down — plain nginx stalls again every fail_timeout (30 s).
 */
test("F10 backend blackholed: connect-timeout stalls only before b1 is down, down on every agent within 2 s, no failures; healed, back after rise", async (t: TestContext) => {
  await steady(P);
  const watch = watchRendered(P);
  // A patient client (5 s) shows what nginx's 3 s proxy_connect_timeout costs a request sent
  // to b1; an impatient one (200 ms) would have failed every request slower than 200 ms.
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 5000, durationMs: 30_000 });
  let cutAt = 0;
  let cutDoneAt = 0;
  let healedAt = 0;
  try {
    await prober.ready;
    await sleep(500);
    cutAt = Date.now();
    await partition(P, "b1", "lan");
    cutDoneAt = Date.now();
    try {
      await bothRendered(P, "b1 down on both LBs", isDown(B1));
      // Long enough for a stalled connect (3 s) to time out and be retried on b2.
      await sleep(3500);
    } finally {
      await heal(P, "b1", "lan");
      healedAt = Date.now();
    }
    await bothRendered(P, "b1 back on both LBs", isUp(B1), 5000);
    await sleep(300);
  } finally {
    watch.stop();
    await prober.stop();
  }
  // A request whose exchange with b1 was under way when its switch port left the bridge (sent
  // while partition() ran) lost its answer: nginx waits proxy_read_timeout (60 s) for it, the
  // patient client gives up at 5 s, and nginx logs nothing at warn. That is the blackhole's own
  // cost, the same in front of any failover; it is counted apart, and only such a request.
  const inFlightAtCut = (r: ProbeRecord) => !r.ok && r.t >= cutAt - 20 && r.t <= cutDoneAt && r.ms >= 4500;
  const cutInFlight = prober.records.filter(inFlightAtCut);
  const records = prober.records.filter((r) => !inFlightAtCut(r));
  const p = analyzeProbes(records, 10);
  const down = delays(watch.changes, cutAt, isDown(B1));
  const back = delays(watch.changes, healedAt, isUp(B1));
  // Only lb1 (the VIP holder) carries client traffic: its reload decides (RELOAD_SETTLE_MS).
  const lb1Reload = reloadedAt(P, "lb1", versionWhen(watch.changes, "lb1", cutAt, isDown(B1)));
  const stalls = records.filter((r) => r.ms > 1000);
  const impatient = records.filter((r) => !r.ok || r.ms > 200);
  const afterDown = sentIn(records, lb1Reload + RELOAD_SETTLE_MS, healedAt);
  t.diagnostic(
    `F10: ${p.failed} of ${p.total} failed; stalls > 1 s: ${stalls.map((r) => `${Math.round(r.ms)} ms at +${r.t - cutAt} ms (${r.by ?? r.err})`).join(", ") || "none"}; slower than 200 ms (an impatient client's failures): ${impatient.length}; lost in flight at the cut (partition took ${cutDoneAt - cutAt} ms): ${cutInFlight.map((r) => `+${r.t - cutAt} ms`).join(", ") || "none"}; b1 down in the files after ${down.lb1} / ${down.lb2} ms, lb1's nginx reloaded at +${lb1Reload - cutAt} ms; after the heal back after ${back.lb1} / ${back.lb2} ms`,
  );
  // CI keeps no lab logs: a failure carries the failed requests and what nginx and the coordinator logged.
  const failedRecords = records.filter((r) => !r.ok).map((r) => `${r.err} after ${Math.round(r.ms)} ms, sent at +${r.t - cutAt} ms`);
  assert.equal(p.failed, 0, `${JSON.stringify(p.errors)}: ${failedRecords.join("; ")}\n${labLogExcerpt(P, cutAt - 1000, 60)}`);
  // The backend answers in about a millisecond: at most a couple of exchanges can straddle the cut.
  assert.ok(cutInFlight.length <= 2, `${cutInFlight.length} requests lost in flight at the cut: ${JSON.stringify(cutInFlight)}`);
  for (const r of stalls) {
    assert.ok(r.t < lb1Reload + RELOAD_SETTLE_MS, `a stall started ${r.t - lb1Reload} ms after lb1's nginx reloaded without b1`);
    assert.ok(r.ms < CONNECT_TIMEOUT_MS + 1000 && r.ok && r.by === b2Ip, `one connect timeout, then retried on b2: ${JSON.stringify(r)}`);
  }
  for (const h of LB_HOSTS) {
    assert.ok(down[h] <= 2000, `${h}: down after ${down[h]} ms`);
    assert.ok(back[h] <= RESTORE_BOUND_MS, `${h}: back after ${back[h]} ms`);
  }
  assert.ok(afterDown.length > 100, `the prober kept sending (${afterDown.length})`);
  assert.deepEqual(
    afterDown.filter((r) => !r.ok || r.ms > 200),
    [],
    "no failure or slow answer once b1 is down everywhere",
  );
});

test("admin drain: no new request reaches the drained server once applied, requests in flight on it complete", async (t: TestContext) => {
  await steady(P);
  const watch = watchRendered(P);
  const fast = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 30_000 });
  // Each of these takes 1.5 s at the backend: some are on b1 when the drain lands.
  const slow = startProber(P, { url: `http://198.18.0.100:10016/aaa?delay_ms=1500`, intervalMs: 50, timeoutMs: 5000, durationMs: 30_000 });
  let drainAt = 0;
  try {
    await Promise.all([fast.ready, slow.ready]);
    await sleep(300);
    drainAt = Date.now();
    const said = await setServer(P, B1, "drain");
    assert.match(said, /drain/);
    await bothRendered(P, "b1 drained (down) on both LBs", isDown(B1));
    const s = await upstreamStatus(P);
    assert.equal(s?.servers.find((x) => x.address === B1)?.override, "drain", "status shows the override");
    // Long enough for every slow request sent before the drain to finish.
    await sleep(2000);
  } finally {
    watch.stop();
    await Promise.all([fast.stop(), slow.stop()]);
    await setServer(P, B1, "up");
  }
  // Only lb1 carries client traffic: from its reload on, new requests meet the drained config.
  const applied = reloadedAt(P, "lb1", versionWhen(watch.changes, "lb1", drainAt, isDown(B1)));
  const f = analyzeProbes(fast.records, 10);
  const sl = analyzeProbes(slow.records, 50);
  const afterApplied = [...sentIn(fast.records, applied + RELOAD_SETTLE_MS), ...sentIn(slow.records, applied + RELOAD_SETTLE_MS)];
  // Sent to b1 before the reload and answered after it: in flight across the drain.
  const inFlightOnB1 = slow.records.filter((r) => r.t < applied && r.by === b1Ip && r.t + r.ms > applied + RELOAD_SETTLE_MS);
  t.diagnostic(
    `drain: lb1's nginx reloaded ${applied - drainAt} ms after the command; fast prober ${f.failed} of ${f.total} failed, slow prober ${sl.failed} of ${sl.total} failed; ${inFlightOnB1.length} slow requests were on b1 across the drain and completed; after it answers came from ${JSON.stringify(analyzeProbes(afterApplied).answeredBy)}`,
  );
  assert.equal(f.failed, 0, JSON.stringify(f.errors));
  assert.equal(sl.failed, 0, `in-flight requests complete: ${JSON.stringify(sl.errors)}`);
  assert.ok(inFlightOnB1.length >= 1, "at least one request was in flight on b1 when the drain was applied");
  assert.ok(afterApplied.length > 50, `the probers kept sending (${afterApplied.length})`);
  assert.deepEqual([...new Set(afterApplied.map((r) => r.by))], [b2Ip], "only b2 answers after the drain");
  await bothRendered(P, "b1 back after the override is cleared", isUp(B1));
});

/**
 * 50 pushes from a flapping backend: every down and every up of b1 is a new version, a render,
 * nginx -t and a graceful reload on both LBs. (Not 50 admin changes: the admin API allows a
 * burst of 10 changes per caller, then one every 2 s.) Each flip waits until both files show
 * the previous one, and fall/rise (2 checks 100 ms apart) keep flips over reload_min_interval
 * (100 ms) apart, so none is merged into the next.
 */
test("50 pushes in a row (b1's health flapping 25 times) while the prober runs: no request lost, every agent ends on the last version", async (t: TestContext) => {
  await steady(P);
  const before = await waitFor("upstream status", 5000, () => upstreamStatus(P));
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 60_000 });
  const started = Date.now();
  let last: NonNullable<Awaited<ReturnType<typeof upstreamStatus>>>;
  try {
    await prober.ready;
    await sleep(300);
    for (let i = 1; i <= 25; i++) {
      setBackendHealth(P, "b1", "sick");
      await bothRendered(P, `flap ${i}: b1 down on both LBs`, isDown(B1), 3000);
      setBackendHealth(P, "b1", "healthy");
      await bothRendered(P, `flap ${i}: b1 up on both LBs`, isUp(B1), 3000);
    }
    last = await waitFor(
      "every agent on the coordinator's last version",
      10_000,
      async () => {
        const s = await upstreamStatus(P);
        return s ? allApplied(s, s.version) : undefined;
      },
      100,
    );
    await sleep(300);
  } finally {
    if (livePid(P, "b1", "backend") !== undefined) setBackendHealth(P, "b1", "healthy");
    await prober.stop();
  }
  const p = analyzeProbes(prober.records, 10);
  const first = before.version + 1;
  const reloads = Object.fromEntries(LB_HOSTS.map((h) => [h, appliedVersions(P, h, first, last.version)]));
  t.diagnostic(
    `50 pushes: versions ${first}..${last.version} in ${Date.now() - started} ms; applied (nginx -t + reload) on lb1 ${reloads.lb1}, lb2 ${reloads.lb2} of them; ${p.failed} of ${p.total} requests failed, answered by ${JSON.stringify(p.answeredBy)}`,
  );
  assert.equal(last.version, before.version + 50, "each flip became its own version");
  for (const h of LB_HOSTS) {
    assert.equal(rendered(P, h).version, last.version, `${h} renders the last version`);
    // Newer pushes supersede a waiting one; spaced like this, (nearly) every one is applied.
    assert.ok(reloads[h] >= 40, `${h} really reloaded nginx for the pushes (${reloads[h]} of 50)`);
  }
  assert.equal(p.failed, 0, JSON.stringify(p.errors));
});

test("an invalid push (a server nginx cannot resolve) never reaches the running nginx: the agents report nginx -t's error, the file stays the last good one, no request fails", async (t: TestContext) => {
  await steady(P);
  const bogus = "keepvip-lab-no-such-host.invalid:10016";
  const host = bogus.split(":")[0];
  // Safety first: inside the LB namespaces this name fails at once and no query can leave
  // (no default route; the machine's resolver is not on the lab's networks).
  for (const h of LB_HOSTS) {
    assert.equal(spawnSync("ip", ["-n", `${P}-${h}`, "route", "show", "default"], { encoding: "utf8" }).stdout.trim(), "", `${h} has no default route`);
    const started = Date.now();
    const r = spawnSync("ip", ["netns", "exec", `${P}-${h}`, "getent", "hosts", host], { encoding: "utf8", timeout: 5000 });
    assert.notEqual(r.status, 0, `${host} must not resolve in ${h}`);
    assert.ok(Date.now() - started < 2000, `resolving ${host} failed fast (${Date.now() - started} ms)`);
  }
  const conf = labPaths(P).coordinatorConfig;
  const original = readFileSync(conf, "utf8");
  const good = Object.fromEntries(LB_HOSTS.map((h) => [h, renderedText(P, h)])) as Record<LbHost, string>;
  const goodVersion = rendered(P, "lb1").version;
  const cfg = parse(original) as { upstreams: Array<{ name: string; servers: Array<Record<string, unknown>> }> };
  cfg.upstreams.find((u) => u.name === UPSTREAM)!.servers.push({ address: bogus, max_fails: 3, fail_timeout: "30s" });
  /** With the bogus server in the coordinator's config: what the agents report, once both refused it. */
  const pushBogus = async () => {
    writeFileSync(conf, `# upstreams.test.ts: ${bogus} added on purpose\n${stringify(cfg, { lineWidth: 0 })}`);
    reloadCoordinator(P);
    try {
      const s = await waitFor(
        "both agents reporting nginx -t's error",
        15_000,
        async () => {
          const u = await upstreamStatus(P);
          return u && LB_HOSTS.every((h) => /host not found in upstream/.test(u.applied.find((a) => a.nodeId === h)?.error ?? "")) ? u : undefined;
        },
        200,
      );
      // What a person sees: `keepvip status` names each agent's applied version and nginx -t's error.
      const text = await admin(P, ["status"]);
      for (const h of LB_HOSTS) assert.match(text.out, new RegExp(`${h}=v${goodVersion} \\(error: nginx -t failed: .*host not found in upstream`), text.out);
      // The agents keep probing (the bogus server fails its checks, a new version follows): still
      // refused. A candidate is on disk only while its `nginx -t` runs (the last good file then
      // waits beside it as .keepvip-good), so the file is judged once no apply is under way.
      await sleep(1000);
      for (const h of LB_HOSTS) {
        const settled = await waitFor(
          `${h}: no apply under way`,
          5000,
          async () => {
            const applying = () => existsSync(`${labPaths(P).upstreamFile(h)}.keepvip-good`);
            if (applying()) return undefined;
            const text = renderedText(P, h);
            return applying() ? undefined : text;
          },
          20,
        );
        assert.equal(settled, good[h], `${h}: the last good file stays in place`);
      }
      return s;
    } finally {
      writeFileSync(conf, original);
      reloadCoordinator(P);
    }
  };
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 60_000 });
  let rejected: NonNullable<Awaited<ReturnType<typeof upstreamStatus>>>;
  let restored: NonNullable<Awaited<ReturnType<typeof upstreamStatus>>>;
  try {
    await prober.ready;
    rejected = await pushBogus();
    restored = await waitFor(
      "both agents on a good version again",
      15_000,
      async () => {
        const u = await upstreamStatus(P);
        return u && u.version > rejected.version ? allApplied(u, u.version) : undefined;
      },
      200,
    );
    await sleep(300);
  } finally {
    await prober.stop();
  }
  const p = analyzeProbes(prober.records, 10);
  const errors = rejected.applied.map((a) => `${a.nodeId} applied ${a.applied}, error "${a.error}"`).join("; ");
  t.diagnostic(
    `invalid push: coordinator at version ${rejected.version}; ${errors}; restored at version ${restored.version}; ${p.failed} of ${p.total} requests failed, answered by ${JSON.stringify(p.answeredBy)}`,
  );
  for (const a of rejected.applied) assert.equal(a.applied, goodVersion, `${a.nodeId} still reports the last good version`);
  assert.ok(rejected.version > goodVersion, "the coordinator did push the bad version");
  assert.equal(p.failed, 0, JSON.stringify(p.errors));
  assert.ok((p.answeredBy[b1Ip] ?? 0) > 0 && (p.answeredBy[b2Ip] ?? 0) > 0, "the running nginx kept both backends");
  for (const h of LB_HOSTS)
    assert.deepEqual(
      rendered(P, h).servers.map((s) => s.address),
      [B1, B2],
      `${h}: the restored config`,
    );
  await steady(P);
});
