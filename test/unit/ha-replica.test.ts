/** A replica's role changes with a fake election and fake engines: one engine per term, stopped on losing the lead. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Engine } from "../../coordinator/cluster/engine.js";
import { Replica } from "../../coordinator/ha/replica.js";
import type { LeaderState } from "../../coordinator/ha/leader.js";
import { silentLogger } from "../../shared/log.js";

class FakeEngine {
  term = 0;
  fence: () => boolean = () => true;
  started = false;
  stopped = false;
  constructor(
    readonly made: number,
    private readonly onStart: () => Promise<void> = async () => undefined,
  ) {}
  async start() {
    await this.onStart();
    this.started = true;
  }
  async stop() {
    this.stopped = true;
  }
}

function rig(onStart?: () => Promise<void>) {
  const election = { state: { kind: "starting" } as LeaderState, canCommand: () => true, start: () => undefined, stop: async () => undefined };
  const engines: FakeEngine[] = [];
  const leading: boolean[] = [];
  const replica = new Replica({
    name: "coord2",
    election,
    log: silentLogger,
    makeEngine: () => {
      const e = new FakeEngine(engines.length + 1, onStart);
      engines.push(e);
      return e as unknown as Engine;
    },
    onLeading: (on) => leading.push(on),
  });
  const change = async (s: LeaderState) => {
    election.state = s;
    replica.onChange(s);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  return { replica, election, engines, leading, change };
}

test("replica: leading starts one engine with the term and the fence; following stops it and names the leader", async () => {
  const r = rig();
  await r.change({ kind: "follower", term: 7n, leader: { name: "coord1", address: "10.0.0.1:7400" } });
  assert.equal(r.replica.current(), undefined);
  assert.deepEqual(r.replica.leader(), { name: "coord1", address: "10.0.0.1:7400", term: 7 });
  await r.change({ kind: "leader", term: 9n });
  assert.equal(r.engines.length, 1);
  assert.equal(r.engines[0].term, 9);
  assert.ok(r.engines[0].started);
  assert.equal(r.replica.current(), r.engines[0] as unknown as Engine);
  assert.equal(r.replica.leader(), undefined, "a leader names no other");
  r.election.canCommand = () => false;
  assert.equal(r.engines[0].fence(), false, "the engine's fence is the election's");
  await r.change({ kind: "leader", term: 9n });
  assert.equal(r.engines.length, 1, "the same term keeps its engine");
  await r.change({ kind: "follower", term: 11n, leader: { name: "coord3", address: "10.0.0.3:7400" } });
  assert.ok(r.engines[0].stopped);
  assert.equal(r.replica.current(), undefined);
  assert.deepEqual(r.replica.leader()?.name, "coord3");
  assert.deepEqual(r.leading, [true, false]);
});

test("replica: a term lost while its engine was starting never serves; the engine is stopped", async () => {
  let release: () => void = () => undefined;
  const r = rig(() => new Promise<void>((resolve) => (release = resolve)));
  await r.change({ kind: "leader", term: 3n });
  // The lease is lost before the engine finished loading its state.
  r.election.state = { kind: "follower", term: 4n };
  r.replica.onChange(r.election.state);
  release();
  await new Promise((res) => setTimeout(res, 10));
  assert.equal(r.engines.length, 1);
  assert.ok(r.engines[0].stopped, "stopped without ever serving");
  assert.equal(r.replica.current(), undefined);
  assert.deepEqual(r.leading, [], "never announced as leading");
});
