import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { LinkWatcher, type LinkState } from "../../agent/link/watch.js";
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
