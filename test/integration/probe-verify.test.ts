import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { VipController } from "../../agent/vip/controller.js";
import type { VipBinding } from "../../agent/vip/plan.js";
import type { VerifyResult } from "../../agent/probe/verify.js";
import type { ReachState } from "../../agent/probe/reach.js";
import { ADDR, ARPING, IF, NS, NsWorker, createLab, destroyLab, nsRunner, tools } from "./helpers/netns-kvA.js";
import { waitFor } from "../support/wait.js";

const PORT = 10016;
const vipH1: VipBinding = { group: "VI_1", address: ADDR.vip, prefix: 24, family: 4, interface: IF.h1 };
let h1: VipController;
let h1Worker: NsWorker;
let h2Worker: NsWorker;

before(async () => {
  await createLab();
  h1 = new VipController({ runner: nsRunner(NS.h1), tools, pollMs: 0 });
  h1Worker = new NsWorker(NS.h1);
  h2Worker = new NsWorker(NS.h2);
});
after(async () => {
  await Promise.all([h1?.close(), h1Worker?.close(), h2Worker?.close()]);
  await destroyLab();
});

/** verifyVip run by the candidate, h2, inside its namespace. */
function verifyFromH2(): Promise<VerifyResult> {
  return h2Worker.call<VerifyResult>("verify", { arping: ARPING, req: { vip: ADDR.vip, interface: IF.h2, port: PORT, timeoutMs: 150 } });
}

test("nobody holding the VIP: free, well under arping's second", async () => {
  const r = await verifyFromH2();
  console.log(`# verify free: ${r.tookMs} ms (${r.detail})`);
  assert.equal(r.verdict, "free");
  assert.ok(r.tookMs < 500, `took ${r.tookMs} ms`);
});

test("h1 holding the VIP with a service listening on it: answering-serving", async () => {
  await h1.acquire([vipH1]);
  await h1Worker.call("listen", { host: "0.0.0.0", port: PORT });
  try {
    const r = await verifyFromH2();
    console.log(`# verify serving: ${r.tookMs} ms (${r.detail})`);
    assert.equal(r.verdict, "answering-serving");
    assert.ok(r.tookMs < 150, `took ${r.tookMs} ms`);
  } finally {
    await h1Worker.call("unlisten");
  }
});

test("h1 holding the VIP with nothing listening: answering-not-serving", async () => {
  const r = await verifyFromH2();
  console.log(`# verify not serving: ${r.tookMs} ms (${r.detail})`);
  assert.equal(r.verdict, "answering-not-serving");
  assert.match(r.detail, /refused/);
});

test("after h1 releases the VIP it is free again, even with h1's MAC still in h2's ARP cache", async () => {
  await h1.release([vipH1]);
  const r = await verifyFromH2();
  console.log(`# verify free after release: ${r.tookMs} ms`);
  assert.equal(r.verdict, "free");
});

test("the reach prober on h2 flips to unreachable when h1 releases the VIP and back when it re-acquires", async () => {
  await h1.acquire([vipH1]);
  await h1Worker.call("listen", { host: "0.0.0.0", port: PORT });
  try {
    await h2Worker.call("reach-start", {
      opts: {
        group: "VI_1",
        target: { host: ADDR.vip, port: PORT },
        intervalMs: 10,
        timeoutMs: 50,
        failThreshold: 3,
        lanReferences: [{ host: ADDR.h3, port: 9 }],
        lanIntervalMs: 100,
      },
    });
    const states = (): ReachState[] => h2Worker.events.filter((e) => e.event === "reach").map((e) => e.state as ReachState);
    await waitFor(() => states().at(-1)?.reachable === true, { what: "reachable", timeoutMs: 2000 });
    assert.equal(states().at(-1)?.lanOk, true, "h3 refusing port 9 still proves the LAN works");
    const released = Date.now();
    await h1.release([vipH1]);
    await waitFor(() => states().at(-1)?.reachable === false, { what: "unreachable", timeoutMs: 2000 });
    console.log(`# reach: unreachable ${Date.now() - released} ms after release`);
    await h1.acquire([vipH1]);
    await waitFor(() => states().at(-1)?.reachable === true, { what: "reachable again", timeoutMs: 2000 });
  } finally {
    await h2Worker.call("reach-stop");
    await h1Worker.call("unlisten");
    await h1.release([vipH1]);
  }
});
