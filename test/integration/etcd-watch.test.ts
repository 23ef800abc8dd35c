/**
 * A watch on a real etcd (one member on loopback) sees every change in order,
 * and when etcd is killed and restarted it resumes from the revision after
 * the last one it delivered: nothing lost, nothing repeated.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../coordinator/ha/etcd-client.js";
import { EtcdWatch } from "../../coordinator/ha/etcd-watch.js";
import { Event_EventType } from "../../shared/gen/etcd/v3/kv.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { waitFor } from "../support/wait.js";

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start(1);
});
after(async () => {
  await etcd?.close();
});

test("a prefix watch sees puts and deletes in order and resumes after an etcd restart from the last revision", async (t) => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 1000 });
  const seen: Array<{ type: string; key: string; value: string; rev: bigint }> = [];
  const states: string[] = [];
  const start = await client.put("/w/other", "outside the prefix");
  const watch = new EtcdWatch(
    client,
    "/w/p/",
    {
      events: (evs) => {
        for (const e of evs)
          seen.push({
            type: e.type === Event_EventType.DELETE ? "delete" : "put",
            key: e.kv!.key.toString(),
            value: e.kv!.value.toString(),
            rev: e.kv!.modRevision,
          });
      },
      state: (up, detail) => states.push(`${up ? "up" : "down"}: ${detail}`),
    },
    { prefix: true, fromRevision: start + 1n, progressEveryMs: 200, retryMs: 100 },
  );
  try {
    watch.start();
    await client.put("/w/p/a", "1");
    await client.put("/w/p/b", "2");
    await client.put("/w/x", "not watched");
    await client.delete("/w/p/a");
    await waitFor(() => seen.length >= 3, { what: "three events", timeoutMs: 3000, intervalMs: 5 });
    assert.deepEqual(
      seen.map((e) => `${e.type} ${e.key}`),
      ["put /w/p/a", "put /w/p/b", "delete /w/p/a"],
    );
    const before = watch.nextRevision;
    await waitFor(() => watch.nextRevision > seen[2]!.rev, {
      what: "progress to advance the resume revision past the unwatched put",
      timeoutMs: 3000,
      intervalMs: 5,
    });

    await etcd.stop(0, "SIGKILL");
    const downAt = performance.now();
    await waitFor(() => states.some((s) => s.startsWith("down")), { what: "the watch to notice etcd is gone", timeoutMs: 5000, intervalMs: 5 });
    etcd.restart(0);
    await etcd.waitServing();
    // Written as soon as etcd serves, possibly before the watch is back: it must still see them.
    await client.put("/w/p/c", "3");
    await client.put("/w/p/b", "2b");
    await waitFor(() => seen.length >= 5, { what: "the events written after the restart", timeoutMs: 10_000, intervalMs: 5 });
    t.diagnostic(`watch back ${(performance.now() - downAt).toFixed(0)} ms after the kill (resume revision before the kill: ${before})`);
    assert.deepEqual(seen.map((e) => `${e.type} ${e.key} ${e.value}`).slice(3), ["put /w/p/c 3", "put /w/p/b 2b"]);
    const revs = seen.map((e) => e.rev);
    assert.deepEqual(
      revs,
      [...revs].sort((x, y) => (x < y ? -1 : 1)),
      "revisions increase",
    );
    assert.equal(new Set(revs).size, revs.length, "no event delivered twice");
    assert.ok(states.filter((s) => s.startsWith("up")).length >= 2, `reconnected: ${states.join(" / ")}`);
  } finally {
    watch.stop();
    client.close();
  }
});
