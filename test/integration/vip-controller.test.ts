import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { VipController, type VipEvent } from "../../agent/vip/controller.js";
import type { VipBinding } from "../../agent/vip/plan.js";
import { ADDR, IF, IP, NS, createLab, destroyLab, hasAddress, macOf, neighbourMac, nsRunner, sh, tools } from "./helpers/netns-kvA.js";
import { waitFor } from "../support/wait.js";

const vip = (h: "h1" | "h2"): VipBinding => ({ group: "VI_1", address: ADDR.vip, prefix: 24, family: 4, interface: IF[h] });
const controllers: VipController[] = [];
function controller(h: "h1" | "h2", events: VipEvent[] = [], extra: { configured?: VipBinding[] } = {}): VipController {
  const c = new VipController({ runner: nsRunner(NS[h]), tools, onEvent: (e) => events.push(e), pollMs: 0, ...extra });
  controllers.push(c);
  return c;
}

before(createLab);
after(async () => {
  await Promise.all(controllers.map((c) => c.close()));
  await destroyLab();
});

test("acquire puts the VIP on its interface and a neighbour learns the holder's MAC from the GARP", async () => {
  const events: VipEvent[] = [];
  const h1 = controller("h1", events);
  const [r] = await h1.acquire([vip("h1")]);
  assert.equal(r.outcome, "added");
  assert.equal(await hasAddress("h1", `${ADDR.vip}/24`), true);
  assert.deepEqual(h1.held(), [vip("h1")]);
  assert.deepEqual(
    events.map((e) => e.kind),
    ["acquired"],
  );
  // kvA-h3 never talked to the VIP: only the gratuitous ARP can have put it in its table.
  const mac1 = await macOf("h1");
  await waitFor(async () => (await neighbourMac("h3", ADDR.vip)) === mac1, { what: "h3 to learn h1's MAC for the VIP", timeoutMs: 1000 });
  await waitFor(async () => (await neighbourMac("h2", ADDR.vip)) === mac1, { what: "h2 to learn h1's MAC for the VIP", timeoutMs: 1000 });
  await h1.release([vip("h1")]);
});

test("acquiring a held VIP again is a no-op that still reports the truth", async () => {
  const events: VipEvent[] = [];
  const h1 = controller("h1", events);
  await h1.acquire([vip("h1")]);
  const [again] = await h1.acquire([vip("h1")]);
  assert.equal(again.outcome, "already-present");
  assert.equal(again.present, true);
  assert.deepEqual(
    events.map((e) => e.kind),
    ["acquired"],
    "the second acquire fires nothing",
  );
  await h1.release([vip("h1")]);
});

test("a takeover by h2 moves the neighbour's entry to h2's MAC; releasing twice on h1 is a no-op", async () => {
  const e1: VipEvent[] = [];
  const h1 = controller("h1", e1);
  const h2 = controller("h2");
  await h1.acquire([vip("h1")]);
  const mac2 = await macOf("h2");
  // Make-before-break, as a planned move does: h2 acquires and announces, then h1 lets go.
  const [r2] = await h2.acquire([vip("h2")], { takeover: true });
  assert.equal(r2.outcome, "added");
  const [rel] = await h1.release([vip("h1")]);
  assert.equal(rel.outcome, "removed");
  const [relAgain] = await h1.release([vip("h1")]);
  assert.equal(relAgain.outcome, "already-absent");
  assert.deepEqual(e1.filter((e) => e.kind === "released").length, 1, "only the first release fires an event");
  assert.deepEqual(h1.held(), []);
  assert.equal(await hasAddress("h1", `${ADDR.vip}/24`), false);
  await waitFor(async () => (await neighbourMac("h3", ADDR.vip)) === mac2, { what: "h3 to move the VIP to h2's MAC", timeoutMs: 1500 });
  await h2.release([vip("h2")]);
  assert.equal(await hasAddress("h2", `${ADDR.vip}/24`), false);
});

test("scan finds a VIP that was on the interface before the agent started and leaves it there", async () => {
  await sh([IP, "-n", NS.h1, "addr", "add", `${ADDR.vip}/24`, "dev", IF.h1]);
  try {
    const h1 = controller("h1");
    const found = await h1.scan([vip("h1"), { ...vip("h1"), address: "198.18.0.101" }]);
    assert.deepEqual(found, [vip("h1")]);
    assert.deepEqual(h1.held(), [], "found is not held until the agent is told to hold it");
    assert.equal(await hasAddress("h1", `${ADDR.vip}/24`), true);
  } finally {
    await sh([IP, "-n", NS.h1, "addr", "del", `${ADDR.vip}/24`, "dev", IF.h1]);
  }
});

test("a held VIP deleted behind the controller's back is re-added and announced within a second", async () => {
  const events: VipEvent[] = [];
  const h1 = controller("h1", events);
  await h1.start();
  await h1.acquire([vip("h1")]);
  const deleted = Date.now();
  await sh([IP, "-n", NS.h1, "addr", "del", `${ADDR.vip}/24`, "dev", IF.h1]);
  const repaired = await waitFor(() => events.find((e) => e.kind === "drift-repaired"), { what: "a drift-repaired event", timeoutMs: 1000 });
  const took = repaired.atMs - deleted;
  console.log(`# drift repair: VIP back ${took} ms after ip addr del (${repaired.detail})`);
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(await hasAddress("h1", `${ADDR.vip}/24`), true);
  assert.deepEqual(h1.held(), [vip("h1")]);
  await h1.release([vip("h1")]);
  await h1.close();
});

test("a configured VIP appearing while not held is reported as unexpected, once", async () => {
  const events: VipEvent[] = [];
  const h2 = controller("h2", events, { configured: [vip("h2")] });
  await h2.start();
  await sh([IP, "-n", NS.h2, "addr", "add", `${ADDR.vip}/24`, "dev", IF.h2]);
  try {
    const e = await waitFor(() => events.find((x) => x.kind === "unexpected"), { what: "an unexpected event", timeoutMs: 1000 });
    assert.match(e.detail, /appeared on kvA-h2-l while this host does not hold group VI_1/);
    await h2.reconcile();
    assert.equal(events.filter((x) => x.kind === "unexpected").length, 1);
    assert.equal(await hasAddress("h2", `${ADDR.vip}/24`), true, "reported, not removed");
  } finally {
    await h2.close();
    await sh([IP, "-n", NS.h2, "addr", "del", `${ADDR.vip}/24`, "dev", IF.h2]);
  }
});

test("ownership is confirmed when no other host answers ARP for the VIP, and refused naming the other MAC when one does", async () => {
  const h1 = controller("h1");
  await h1.acquire([vip("h1")], { garp: false });
  const alone = await h1.confirmOwnership(vip("h1"));
  assert.deepEqual(alone.confirmed, true, alone.detail);
  await sh([IP, "-n", NS.h2, "addr", "add", `${ADDR.vip}/24`, "dev", IF.h2]);
  try {
    const both = await h1.confirmOwnership(vip("h1"));
    assert.equal(both.confirmed, false);
    assert.match(both.detail, new RegExp(`also answered by ${await macOf("h2")}`));
  } finally {
    await sh([IP, "-n", NS.h2, "addr", "del", `${ADDR.vip}/24`, "dev", IF.h2]);
    await h1.release([vip("h1")]);
  }
  const gone = await h1.confirmOwnership(vip("h1"));
  assert.equal(gone.confirmed, false);
  assert.match(gone.detail, /is not on kvA-h1-l/);
});

test("acquire fails clearly on an interface that does not exist, and holds nothing", async () => {
  const h1 = controller("h1");
  const [r] = await h1.acquire([{ ...vip("h1"), interface: "kvA-nope" }]);
  assert.equal(r.outcome, "failed");
  assert.match(r.detail, /kvA-nope/);
  assert.deepEqual(h1.held(), []);
});
