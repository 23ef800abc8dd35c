/**
 * The coordinator's state in a real etcd (one member on loopback): only the
 * leader's saves land, a follower's and a deposed leader's are refused, and
 * the next leader loads what the last one saved (epochs never go back). The
 * event history beside it: numbered on across leaders, bounded, guarded.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../coordinator/ha/etcd-client.js";
import { LeaderElection, NotLeaderError } from "../../coordinator/ha/leader.js";
import { createEtcdStore, eventKey, eventsPrefix, stateKey } from "../../coordinator/state/etcd-store.js";
import type { DomainEvent } from "../../coordinator/cluster/events.js";
import { emptyState } from "../../coordinator/state/store.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { waitFor } from "../support/wait.js";

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start(1);
});
after(async () => {
  await etcd?.close();
});

function replica(name: string, prefix: string) {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 500 });
  const election = new LeaderElection({ client, key: `${prefix}/leader`, me: { name, address: `${name}:7400` }, ttlSeconds: 1, retryMs: 50 });
  const store = createEtcdStore({ client, guard: election, prefix, endpoints: etcd.endpoints });
  return { name, client, election, store };
}

test("only the leader's saves land; the next leader loads them; the deposed leader's save is refused", async () => {
  const prefix = "/keepvip/t-store";
  const a = replica("coord1", prefix);
  const b = replica("coord2", prefix);
  try {
    assert.deepEqual(await a.store.load(), emptyState(), "a first start is empty");
    a.election.start();
    await waitFor(() => a.election.state.kind === "leader", { what: "coord1 leads", timeoutMs: 5000 });
    b.election.start();
    await waitFor(() => b.election.state.kind === "follower", { what: "coord2 follows", timeoutMs: 5000 });

    await a.store.save({ ...emptyState(), epochs: { VI_1: 5 }, holders: { VI_1: "lb1" } });
    await assert.rejects(b.store.save({ ...emptyState(), epochs: { VI_1: 1 } }), NotLeaderError, "a follower cannot save");
    assert.deepEqual((await b.store.load()).epochs, { VI_1: 5 }, "the follower reads the leader's state");

    // coord1 resigns: coord2 leads, loads epoch 5 and saves on top of it.
    await a.election.stop();
    await waitFor(() => b.election.state.kind === "leader", { what: "coord2 leads", timeoutMs: 5000 });
    const loaded = await b.store.load();
    assert.deepEqual([loaded.epochs, loaded.holders], [{ VI_1: 5 }, { VI_1: "lb1" }]);
    await b.store.save({ ...loaded, epochs: { VI_1: 6 } });
    await assert.rejects(a.store.save({ ...emptyState(), epochs: { VI_1: 5 } }), NotLeaderError, "the deposed leader cannot save");
    assert.deepEqual((await a.store.load()).epochs, { VI_1: 6 });
  } finally {
    await a.election.stop();
    await b.election.stop();
    a.client.close();
    b.client.close();
  }
});

test("corrupt state in etcd is refused by name, never read as a first start", async () => {
  const prefix = "/keepvip/t-corrupt";
  const r = replica("coord1", prefix);
  try {
    await r.client.put(stateKey(prefix), "{ half");
    await assert.rejects(r.store.load(), /coordinator state in etcd key \/keepvip\/t-corrupt\/state is corrupt/);
  } finally {
    r.client.close();
  }
});

test("the event history in etcd: the leader's events, numbered on across leaders, bounded; a deposed leader adds none", async () => {
  const prefix = "/keepvip/t-events";
  const a = replica("coord1", prefix);
  const b = replica("coord2", prefix);
  const errors: unknown[] = [];
  const event = (i: number): DomainEvent => ({ atMs: 1_700_000_000_000 + i, kind: "admin", message: `event ${i}` });
  try {
    a.election.start();
    await waitFor(() => a.election.state.kind === "leader", { what: "coord1 leads", timeoutMs: 5000 });
    b.election.start();
    await waitFor(() => b.election.state.kind === "follower", { what: "coord2 follows", timeoutMs: 5000 });

    const ha = a.store.history!(5, (err) => errors.push(err));
    assert.deepEqual(await ha.load(), [], "no history yet");
    for (let i = 1; i <= 12; i++) ha.append(event(i), () => []);
    await ha.flush();
    assert.equal(errors.length, 0, `no write failed: ${errors.join("; ")}`);
    const keys = (await a.client.getPrefix(eventsPrefix(prefix))).kvs.map((kv) => kv.key.toString("utf8"));
    // Bounded: past twice the capacity (10) the oldest go, down to the capacity (5) plus what came since.
    assert.ok(keys.length <= 10 && keys.length >= 5, `${keys.length} keys kept`);
    assert.equal(keys[keys.length - 1], eventKey(prefix, 12));
    assert.deepEqual(
      (await b.store.history!(5, (err) => errors.push(err)).load()).map((e) => e.message),
      ["event 8", "event 9", "event 10", "event 11", "event 12"],
      "the follower reads the newest five, oldest first",
    );

    // coord1 resigns; coord2 leads and numbers on from 13; coord1's late append is refused.
    await a.election.stop();
    await waitFor(() => b.election.state.kind === "leader", { what: "coord2 leads", timeoutMs: 5000 });
    const hb = b.store.history!(5, (err) => errors.push(err));
    assert.equal((await hb.load()).length, 5);
    hb.append(event(13), () => []);
    await hb.flush();
    ha.append(event(99), () => []);
    await ha.flush();
    assert.equal(errors.length, 1, "the deposed leader's append failed");
    assert.ok(errors[0] instanceof NotLeaderError);
    const after = await b.store.history!(5, () => undefined).load();
    assert.deepEqual(
      after.map((e) => e.message),
      ["event 9", "event 10", "event 11", "event 12", "event 13"],
    );
    assert.equal((await b.client.get(eventKey(prefix, 13))).kv?.value.toString("utf8").includes("event 13"), true);
  } finally {
    await a.election.stop();
    await b.election.stop();
    a.client.close();
    b.client.close();
  }
});
