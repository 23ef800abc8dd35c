/**
 * The benchmark baseline: `up --stack keepalived` runs the seed's keepalived.conf and
 * nginx_check.sh in the lab (prefix kvF). Exactly one LB ends up with the VIP, the master by
 * priority (lb1), and it stays on one; stopping lb1's keepalived moves it to lb2, starting it
 * again preempts it back (the seed's preempt mode).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as lab from "../../deploy/lab/api.js";
import { hostPrograms } from "../../deploy/lab/paths.js";
import { eventually, run } from "./helpers/lab-client.js";

const P = "kvF";
const holders = async () => (await lab.vipHolders(P)).join("+");

before(async () => {
  await lab.labDown(P);
  const r = await lab.labUp({ prefix: P, stack: "keepalived" });
  assert.deepEqual(Object.keys(r.pids).sort(), ["b1-backend", "b2-backend", "lb1-keepalived", "lb1-nginx", "lb2-keepalived", "lb2-nginx"]);
});

after(async () => {
  await lab.labDown(P);
});

test("keepalived accepts the lab's config inside the LB namespace", async () => {
  for (const lb of ["lb1", "lb2"] as const) {
    const r = await run(["ip", "netns", "exec", `${P}-${lb}`, hostPrograms().keepalived, "-t", "-f", lab.labPaths(P).keepalivedConf(lb)]);
    assert.equal(r.exitCode, 0, r.stderr);
  }
});

test("exactly one LB holds the VIP after start, lb1 (priority 100), and only one while we watch", async () => {
  // advert_int 1: lb1 becomes master after ~3 adverts without a higher-priority master.
  assert.ok(await eventually(async () => (await holders()) === "lb1", 15_000, 100), `VIP on: ${await holders()}`);
  const sampler = lab.startVipSampler(P, { durationMs: 10_000 });
  await sampler.ready;
  const probe = await lab.startProber(P, { durationMs: 1500 }).done;
  const sum = await sampler.stop();
  assert.equal(sum.bothMs, 0);
  assert.deepEqual(
    sum.changes.map((c) => c.holders.join("+")),
    ["lb1"],
  );
  const p = lab.analyzeProbes(probe);
  assert.equal(p.failed, 0, JSON.stringify(p.errors));
  assert.ok(Object.keys(p.answeredBy).length === 2, JSON.stringify(p.answeredBy));
});

test("stop lb1 keepalived moves the VIP to lb2; start preempts it back to lb1", async () => {
  await lab.stopProcess(P, "lb1", "keepalived");
  assert.ok(await eventually(async () => (await holders()) === "lb2", 10_000, 50), `VIP on: ${await holders()}`);
  await lab.startProcess(P, "lb1", "keepalived");
  assert.ok(await eventually(async () => (await holders()) === "lb1", 15_000, 50), `VIP on: ${await holders()}`);
});
