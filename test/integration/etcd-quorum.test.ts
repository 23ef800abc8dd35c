/**
 * A 3-member etcd on loopback loses its quorum (two members killed): writes
 * fail within the call deadline with an error that says so, the elected
 * coordinator stops commanding within its fence, and both resume once the
 * members are back. Figures go to the test log.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient, EtcdError } from "../../coordinator/ha/etcd-client.js";
import { LeaderElection } from "../../coordinator/ha/leader.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { waitFor } from "../support/wait.js";

const CALL_TIMEOUT_MS = 1000;

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start(3);
});
after(async () => {
  await etcd?.close();
});

async function timedPut(client: EtcdClient, value: string): Promise<{ ms: number; err?: Error }> {
  const started = performance.now();
  try {
    await client.put("/q/value", value);
    return { ms: performance.now() - started };
  } catch (err) {
    return { ms: performance.now() - started, err: err as Error };
  }
}

test("quorum lost: writes fail fast with a clear error and the leader stops commanding; both resume when the quorum is back", async (t) => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: CALL_TIMEOUT_MS });
  const electionClient = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 500 });
  const election = new LeaderElection({
    client: electionClient,
    key: "/q/leader",
    me: { name: "coord1", address: "coord1:7400" },
    ttlSeconds: 1,
    retryMs: 100,
  });
  try {
    election.start();
    await waitFor(() => election.canCommand(), { what: "coord1 to lead", timeoutMs: 5000, intervalMs: 5 });
    assert.equal((await timedPut(client, "before")).err, undefined);

    await etcd.stop(1, "SIGKILL");
    await etcd.stop(2, "SIGKILL");
    const lostAt = performance.now();

    // Every write fails, none later than the call deadline (plus scheduling slack).
    const attempts: Array<{ ms: number; err?: Error }> = [];
    while (performance.now() - lostAt < 3000) {
      attempts.push(await timedPut(client, "during"));
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const a of attempts) {
      assert.ok(a.err instanceof EtcdError, `a write succeeded without quorum after ${a.ms.toFixed(0)} ms`);
      assert.ok(a.ms < CALL_TIMEOUT_MS + 300, `a write took ${a.ms.toFixed(0)} ms to fail`);
    }
    // Once the surviving member knows it has no leader, it says so at once.
    const last = attempts[attempts.length - 1]!;
    assert.match(last.err!.message, /no leader/);
    assert.match(last.err!.message, /etcd put failed within 1000 ms/);
    assert.ok(last.ms < 300, `the last write took ${last.ms.toFixed(0)} ms to fail`);
    t.diagnostic(
      `without quorum: ${attempts.length} writes failed; first in ${attempts[0]!.ms.toFixed(0)} ms, last in ${last.ms.toFixed(0)} ms: ${last.err!.message}`,
    );

    await waitFor(() => !election.canCommand(), { what: "the leader to stop commanding", timeoutMs: 100, intervalMs: 5 });
    assert.notEqual(election.state.kind, "leader");

    etcd.restart(1);
    etcd.restart(2);
    const backAt = performance.now();
    await waitFor(async () => !(await timedPut(client, "after")).err, { what: "a write to succeed again", timeoutMs: 15_000, intervalMs: 50 });
    const writesBackMs = performance.now() - backAt;
    await waitFor(() => election.canCommand(), { what: "a leader to command again", timeoutMs: 15_000, intervalMs: 10 });
    t.diagnostic(
      `quorum back: writes resume ${writesBackMs.toFixed(0)} ms after the restart, leader commands after ${(performance.now() - backAt).toFixed(0)} ms`,
    );
    assert.equal((await client.get("/q/value")).kv?.value.toString(), "after");
  } finally {
    await election.stop();
    electionClient.close();
    client.close();
  }
});
