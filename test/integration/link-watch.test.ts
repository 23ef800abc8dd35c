import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LinkWatcher, type LinkState } from "../../agent/link/watch.js";
import { sharingIpMonitor } from "../../agent/link/ip-monitor.js";
import { IF, IP, NS, createLab, destroyLab, nsRunner, peer, sh } from "./helpers/netns-kvA.js";
import { waitFor } from "../support/wait.js";

const seen: Array<{ state: LinkState; atMs: number }> = [];
let watcher: LinkWatcher;

before(async () => {
  await createLab();
  watcher = new LinkWatcher({
    runner: nsRunner(NS.h1),
    ip: IP,
    interfaces: [IF.h1, "kvA-absent"],
    onChange: (state, atMs) => seen.push({ state, atMs }),
    resyncMs: 0,
  });
  await watcher.start();
});
after(async () => {
  await watcher?.close();
  await destroyLab();
});

/** Runs `change`, then waits for the watcher to report `up` for IF.h1; returns the latency. */
async function latencyOf(change: string[], up: boolean): Promise<number> {
  const from = seen.length;
  const began = Date.now();
  await sh(change);
  const hit = await waitFor(() => seen.slice(from).find((s) => s.state.interface === IF.h1 && s.state.up === up), {
    what: `${IF.h1} reported ${up ? "up" : "down"}`,
    timeoutMs: 1000,
    intervalMs: 1,
  });
  return hit.atMs - began;
}

test("the first read reports the LAN link up and a missing interface down", () => {
  assert.equal(watcher.current(IF.h1), true);
  assert.equal(watcher.current("kvA-absent"), false);
  assert.equal(watcher.current("lo"), undefined, "interfaces not asked for are not tracked");
});

test("ip link set down on the host's own interface is seen within tens of ms", async () => {
  const down = await latencyOf([IP, "-n", NS.h1, "link", "set", IF.h1, "down"], false);
  console.log(`# link watch: admin down seen after ${down} ms (including the ip command itself)`);
  assert.ok(down < 150, `took ${down} ms`);
  assert.equal(watcher.current(IF.h1), false);
  const up = await latencyOf([IP, "-n", NS.h1, "link", "set", IF.h1, "up"], true);
  console.log(`# link watch: back up seen after ${up} ms`);
  assert.equal(watcher.current(IF.h1), true);
});

test("the cable pulled at the switch end (carrier lost) is seen as down", async () => {
  const down = await latencyOf([IP, "-n", NS.sw, "link", "set", peer("h1"), "down"], false);
  console.log(`# link watch: carrier loss seen after ${down} ms`);
  assert.ok(down < 150, `took ${down} ms`);
  assert.match(seen.at(-1)!.state.detail, /NO-CARRIER|LOWERLAYERDOWN|DOWN/);
  await latencyOf([IP, "-n", NS.sw, "link", "set", peer("h1"), "up"], true);
});

test("a flip is reported once, not for every monitor line", async () => {
  const from = seen.length;
  await latencyOf([IP, "-n", NS.h1, "link", "set", IF.h1, "down"], false);
  await latencyOf([IP, "-n", NS.h1, "link", "set", IF.h1, "up"], true);
  await watcher.resync();
  assert.deepEqual(
    seen
      .slice(from)
      .filter((s) => s.state.interface === IF.h1)
      .map((s) => s.state.up),
    [false, true],
  );
});

test("through the shared ip monitor (link and address in one process) a link flip is seen as fast, and address changes reach the other watcher", async () => {
  const shared = sharingIpMonitor(nsRunner(NS.h1), IP);
  const flips: Array<{ state: LinkState; atMs: number }> = [];
  const w = new LinkWatcher({ runner: shared, ip: IP, interfaces: [IF.h1], onChange: (state, atMs) => flips.push({ state, atMs }), resyncMs: 0 });
  await w.start();
  const addressLines: string[] = [];
  const addresses = shared.start([IP, "monitor", "address"], { onStdoutLine: (l) => addressLines.push(l) });
  const extra = "198.18.77.77/32";
  try {
    const began = Date.now();
    await sh([IP, "-n", NS.h1, "link", "set", IF.h1, "down"]);
    const down = await waitFor(() => flips.find((f) => f.state.interface === IF.h1 && !f.state.up), {
      what: "down through the shared monitor",
      timeoutMs: 1000,
      intervalMs: 1,
    });
    console.log(`# shared ip monitor: admin down seen after ${down.atMs - began} ms`);
    assert.ok(down.atMs - began < 150, `took ${down.atMs - began} ms`);
    await sh([IP, "-n", NS.h1, "link", "set", IF.h1, "up"]);
    await waitFor(() => w.current(IF.h1) === true, { what: "up again", timeoutMs: 2000, intervalMs: 5 });
    await sh([IP, "-n", NS.h1, "addr", "add", extra, "dev", IF.h1]);
    await waitFor(() => addressLines.some((l) => l.includes("198.18.77.77")), { what: "the address line", timeoutMs: 2000, intervalMs: 5 });
    assert.ok(!addressLines.some((l) => l.startsWith("[")), `labels taken off: ${addressLines.join(" | ")}`);
    assert.ok(!addressLines.some((l) => / mtu \d+/.test(l)), "no link lines in the address watcher's view");
  } finally {
    addresses.kill();
    await w.close();
    await sh([IP, "-n", NS.h1, "addr", "del", extra, "dev", IF.h1]).catch(() => {});
  }
});
