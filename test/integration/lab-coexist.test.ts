/**
 * Two labs at once (prefixes kvD and kvE): both come up side by side, each serves on its own
 * bridge with the same addresses, and taking one down leaves the other whole.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as lab from "../../deploy/lab/api.js";
import { isAlive } from "../../deploy/lab/procfs.js";
import { getInNs, namespaces, run } from "./helpers/lab-client.js";

const D = "kvD";
const E = "kvE";

before(async () => {
  await Promise.all([lab.labDown(D), lab.labDown(E)]);
});

after(async () => {
  await Promise.all([lab.labDown(D), lab.labDown(E)]);
});

test("two labs come up at the same time with different prefixes", async () => {
  const [d, e] = await Promise.all([lab.labUp({ prefix: D, stack: "none" }), lab.labUp({ prefix: E, stack: "none" })]);
  assert.notDeepEqual(d.pids, e.pids);
  const all = await namespaces();
  for (const p of [D, E]) {
    for (const h of ["sw", "coord", "lb1", "lb2", "b1", "b2", "client"]) assert.ok(all.includes(`${p}-${h}`), `${p}-${h} missing`);
    assert.equal((await lab.labStatus(p)).up, true);
  }
});

test("each lab is its own network: the VIP added in one is neither seen nor served in the other", async () => {
  await run(["ip", "netns", "exec", `${D}-lb1`, "ip", "addr", "add", "198.18.0.100/24", "dev", "lan0"]);
  assert.deepEqual(await lab.vipHolders(D), ["lb1"]);
  assert.deepEqual(await lab.vipHolders(E), []);
  assert.equal((await getInNs(`${D}-client`, "http://198.18.0.100:10016/aaa")).status, 200);
  assert.ok((await getInNs(`${E}-client`, "http://198.18.0.100:10016/aaa", 300)).error);
  // Same addresses, separate bridges: each client reaches its own lb1.
  assert.equal((await getInNs(`${E}-client`, "http://198.18.0.11:10016/aaa")).status, 200);
});

test("down of one lab leaves the other's namespaces and processes running", async () => {
  const eBefore = await lab.labStatus(E);
  const dPids = (await lab.labStatus(D)).processes.map((p) => p.pid ?? -1);
  await lab.labDown(D);
  const all = await namespaces();
  assert.deepEqual(
    all.filter((n) => n.startsWith(`${D}-`)),
    [],
  );
  assert.ok(dPids.every((p) => !isAlive(p)));
  const eAfter = await lab.labStatus(E);
  assert.equal(eAfter.up, true);
  assert.deepEqual(eAfter.processes, eBefore.processes);
  assert.ok(eAfter.processes.every((p) => p.alive));
  assert.equal((await getInNs(`${E}-client`, "http://198.18.0.12:10016/aaa")).status, 200);
  await lab.labDown(E);
  assert.deepEqual(
    (await namespaces()).filter((n) => n.startsWith(`${E}-`)),
    [],
  );
});
