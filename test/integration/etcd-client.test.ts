/**
 * The etcd client against real members on loopback: lease ids above 2^53
 * used as etcd gave them, a dead endpoint skipped, mutual TLS.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { initCa, issue } from "../../cli/certs.js";
import { EtcdClient, EtcdError, readEtcdTls } from "../../coordinator/ha/etcd-client.js";
import { LeaseKeeper } from "../../coordinator/ha/etcd-keepalive.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { freePort } from "./nginx-harness.js";

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start(1);
});
after(async () => {
  await etcd?.close();
});

test("a lease id above 2^53 from etcd is kept alive, attached and read back exactly", async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints });
  try {
    // etcd draws ids at random over 63 bits: nearly all are above 2^53; take one that is.
    let lease = await client.leaseGrant(1);
    for (let i = 0; i < 20 && lease.id <= 2n ** 53n; i++) lease = await client.leaseGrant(1);
    assert.ok(lease.id > 2n ** 53n, `lease id ${lease.id}`);
    await client.put("/c/leased", "v", lease.id);
    assert.equal((await client.get("/c/leased")).kv?.lease, lease.id);
    const acks: number[] = [];
    const keeper = new LeaseKeeper(client, lease.id, 200, { ack: (at) => acks.push(at), lost: (r) => assert.fail(`lease lost: ${r}`) });
    keeper.start();
    try {
      // Kept alive past two TTLs: every keep-alive named the right lease.
      await new Promise((r) => setTimeout(r, 2200));
      assert.ok(acks.length >= 5, `${acks.length} keep-alives acknowledged`);
      assert.notEqual(await client.leaseTimeToLive(lease.id), -1, "the lease is alive (etcd rounds a sub-second remainder down to 0)");
      assert.equal((await client.get("/c/leased")).kv?.value.toString(), "v");
    } finally {
      keeper.stop();
    }
    await client.leaseRevoke(lease.id);
    assert.equal((await client.get("/c/leased")).kv, undefined, "revoking deleted the key");
    assert.equal(await client.leaseTimeToLive(lease.id), -1);
    await client.leaseRevoke(lease.id); // already gone: not an error
  } finally {
    client.close();
  }
});

test("a dead endpoint first in the list: calls move on to the live member within the deadline", async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const client = new EtcdClient({ endpoints: [dead, ...etcd.endpoints], callTimeoutMs: 1000 });
  try {
    const started = performance.now();
    await client.put("/c/failover", "ok");
    const ms = performance.now() - started;
    t.diagnostic(`first call with a dead first endpoint: ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1000);
    assert.equal(client.endpoint, etcd.endpoint(0), "the live member is now the one in use");
    assert.equal((await client.get("/c/failover")).kv?.value.toString(), "ok");
    const only = new EtcdClient({ endpoints: [dead], callTimeoutMs: 300 });
    await assert.rejects(
      only.get("/c/failover"),
      (err: unknown) => err instanceof EtcdError && /etcd get failed within 300 ms: 127\.0\.0\.1:\d+: unreachable/.test(err.message),
    );
    only.close();
  } finally {
    client.close();
  }
});

test("mutual TLS: a client with the CA and a client certificate is served; one without a certificate is refused; no IP goes out as the server name", async () => {
  const dir = await mkdtemp(join(tmpdir(), "keepvip-etcd-pki-"));
  const runner = createCommandRunner();
  let secure: EtcdCluster | undefined;
  // Node warns (DEP0123) when a TLS server name is an IP address; members are dialled by IP here.
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? w.name);
  process.on("warning", onWarning);
  try {
    await initCa(runner, dir);
    await issue(runner, dir, { stem: "etcd", subject: "/CN=etcd", san: ["IP:127.0.0.1"], days: 1, usage: "both" });
    await issue(runner, dir, { stem: "coordinator", subject: "/CN=coordinator", san: ["DNS:coordinator"], days: 1, usage: "client" });
    secure = await EtcdCluster.start(1, { ca: join(dir, "ca.crt"), cert: join(dir, "etcd.crt"), key: join(dir, "etcd.key") });
    const tls = readEtcdTls({ ca: join(dir, "ca.crt"), cert: join(dir, "coordinator.crt"), key: join(dir, "coordinator.key") });
    const client = new EtcdClient({ endpoints: secure.endpoints.map((e) => `https://${e}`), tls });
    try {
      await client.put("/c/tls", "secret");
      assert.equal((await client.get("/c/tls")).kv?.value.toString(), "secret");
    } finally {
      client.close();
    }
    const plain = new EtcdClient({ endpoints: secure.endpoints, callTimeoutMs: 500 });
    await assert.rejects(plain.get("/c/tls"), EtcdError);
    plain.close();
    const noCert = new EtcdClient({ endpoints: secure.endpoints, callTimeoutMs: 500, tls: { ca: tls.ca } });
    await assert.rejects(noCert.get("/c/tls"), EtcdError);
    noCert.close();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      warnings.filter((c) => c === "DEP0123"),
      [],
    );
  } finally {
    process.off("warning", onWarning);
    await secure?.close();
    await rm(dir, { recursive: true, force: true });
  }
});
