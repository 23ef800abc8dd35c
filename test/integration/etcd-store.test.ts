/**
 * The coordinator's state in a real etcd (one member on loopback): only the
 * leader's saves land, a follower's and a deposed leader's are refused, and
 * the next leader loads what the last one saved (epochs never go back).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../coordinator/ha/etcd-client.js";
import { LeaderElection, NotLeaderError } from "../../coordinator/ha/leader.js";
import { createEtcdStore, stateKey } from "../../coordinator/state/etcd-store.js";
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
