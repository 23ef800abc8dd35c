/**
 * Leader election on a real etcd (one member on loopback, lease TTL 1 s):
 * exactly one leader, a resign hands over at once, and a leader cut from etcd
 * fences itself before anyone else can lead, after which a write guarded by
 * its term fails. Figures (handover and failover times) go to the test log.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../coordinator/ha/etcd-client.js";
import { op, txn } from "../../coordinator/ha/etcd-txn.js";
import { leaderGuard } from "../../coordinator/ha/campaign.js";
import { LeaderElection, NotLeaderError, type LeaderState } from "../../coordinator/ha/leader.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { TcpProxy } from "./helpers/tcp-proxy.js";
import { waitFor } from "../support/wait.js";

let etcd: EtcdCluster;
before(async () => {
  etcd = await EtcdCluster.start(1);
});
after(async () => {
  await etcd?.close();
});

interface Replica {
  name: string;
  client: EtcdClient;
  election: LeaderElection;
  /** Role changes with their monotonic time. */
  history: Array<{ atMs: number; state: LeaderState }>;
}

function replica(name: string, endpoints: string[], key: string, now?: () => number): Replica {
  const client = new EtcdClient({ endpoints, callTimeoutMs: 500 });
  const history: Replica["history"] = [];
  const election = new LeaderElection({
    client,
    key,
    me: { name, address: `${name}:7400` },
    ttlSeconds: 1,
    retryMs: 50,
    now,
    onChange: (state) => history.push({ atMs: performance.now(), state }),
  });
  return { name, client, election, history };
}

async function shutdown(...rs: Replica[]): Promise<void> {
  for (const r of rs) {
    await r.election.stop();
    r.client.close();
  }
}

test("two contenders: exactly one leads, the other follows it by name and term; a resign hands over at once", async (t) => {
  const key = "/t1/leader";
  const a = replica("coord1", etcd.endpoints, key);
  const b = replica("coord2", etcd.endpoints, key);
  try {
    a.election.start();
    b.election.start();
    const [leader, follower] = await waitFor(
      () => {
        const [sa, sb] = [a.election.state, b.election.state];
        if (sa.kind === "leader" && sb.kind === "follower" && sb.leader) return [a, b];
        if (sb.kind === "leader" && sa.kind === "follower" && sa.leader) return [b, a];
        return undefined;
      },
      { what: "one leader and one follower", timeoutMs: 5000, intervalMs: 5 },
    );
    const term = (leader.election.state as { term: bigint }).term;
    const seen = follower.election.state as { term?: bigint; leader?: { name: string } };
    assert.equal(seen.leader?.name, leader.name);
    assert.equal(seen.term, term);
    // For a while, never two leaders and never two that may command.
    for (let i = 0; i < 50; i++) {
      assert.ok(!(a.election.canCommand() && b.election.canCommand()), "both may command");
      assert.ok(!(a.election.state.kind === "leader" && b.election.state.kind === "leader"), "two leaders");
      assert.ok(leader.election.canCommand(), "a healthy leader keeps commanding (keep-alives renew its fence)");
      await new Promise((r) => setTimeout(r, 30));
    }
    const resignedAt = performance.now();
    await leader.election.stop();
    assert.equal(leader.election.canCommand(), false);
    await waitFor(() => follower.election.state.kind === "leader" && follower.election.canCommand(), {
      what: "the follower to lead",
      timeoutMs: 3000,
      intervalMs: 2,
    });
    const handoverMs = performance.now() - resignedAt;
    const next = (follower.election.state as { term: bigint }).term;
    assert.ok(next > term, `the new term ${next} is above the old ${term}`);
    t.diagnostic(`handover after resign: ${handoverMs.toFixed(0)} ms (TTL 1 s)`);
    assert.ok(handoverMs < 500, `handover took ${handoverMs.toFixed(0)} ms`);
  } finally {
    await shutdown(a, b);
  }
});

test("a leader cut from etcd stops commanding before the other leads; its term's guarded writes then fail", async (t) => {
  const key = "/t2/leader";
  const proxy = await TcpProxy.start({ host: "127.0.0.1", port: Number(etcd.endpoint(0).split(":")[1]) });
  const a = replica("coord1", [proxy.address], key);
  const b = replica("coord2", etcd.endpoints, key);
  try {
    a.election.start();
    await waitFor(() => a.election.state.kind === "leader", { what: "coord1 to lead", timeoutMs: 5000, intervalMs: 5 });
    b.election.start();
    await waitFor(() => b.election.state.kind === "follower" && (b.election.state as { leader?: unknown }).leader, {
      what: "coord2 to follow",
      timeoutMs: 5000,
      intervalMs: 5,
    });
    const oldTerm = (a.election.state as { term: bigint }).term;
    // A guarded write works while it leads.
    await a.election.guardedTxn([op.put("/t2/state", `written by term ${oldTerm}`)]);

    const deadline = a.election.commandDeadlineMs();
    const cutAt = performance.now();
    proxy.cut();
    await waitFor(() => b.election.state.kind === "leader", { what: "coord2 to lead", timeoutMs: 5000, intervalMs: 2 });
    const newLeaderAt = performance.now();
    const fencedAt = a.history.find((h) => h.atMs >= cutAt && h.state.kind !== "leader")?.atMs;
    assert.ok(fencedAt !== undefined, "coord1 stepped down");
    assert.ok(fencedAt <= deadline + 50, `coord1 stepped down ${(fencedAt - deadline).toFixed(0)} ms after its fencing deadline`);
    assert.ok(fencedAt < newLeaderAt, "coord1 stopped commanding before coord2 led");
    assert.equal(a.election.canCommand(), false);
    const newTerm = (b.election.state as { term: bigint }).term;
    assert.ok(newTerm > oldTerm);
    t.diagnostic(
      `lease loss (TTL 1 s): old leader fenced ${(fencedAt - cutAt).toFixed(0)} ms after the cut, new leader after ${(newLeaderAt - cutAt).toFixed(0)} ms`,
    );

    // The old leader's own write path refuses; a write guarded by its term fails on etcd.
    await assert.rejects(a.election.guardedTxn([op.put("/t2/state", "late")]), NotLeaderError);
    const stale = await b.client.txn(txn(leaderGuard(key, oldTerm), [op.put("/t2/state", `replayed from term ${oldTerm}`)]));
    assert.equal(stale.succeeded, false);
    assert.equal((await b.client.get("/t2/state")).kv?.value.toString(), `written by term ${oldTerm}`);
    await b.election.guardedTxn([op.put("/t2/state", `written by term ${newTerm}`)]);

    // Healed, the old leader comes back as a follower of the new term.
    proxy.heal();
    await waitFor(
      () => {
        const s = a.election.state;
        return s.kind === "follower" && s.term === newTerm && s.leader?.name === "coord2";
      },
      { what: "coord1 to follow coord2", timeoutMs: 5000, intervalMs: 5 },
    );
    assert.equal(b.election.state.kind, "leader");
  } finally {
    await shutdown(a, b);
    await proxy.close();
  }
});

test("the fence closes even when its timer fires before the deadline by this replica's clock (a timer armed from a stale loop time)", async () => {
  const key = "/t3/leader";
  const proxy = await TcpProxy.start({ host: "127.0.0.1", port: Number(etcd.endpoint(0).split(":")[1]) });
  // A clock that runs at 90 % of the timers' pace: every fence timer fires early by it.
  const slow = () => performance.now() * 0.9;
  const a = replica("coord1", [proxy.address], key, slow);
  try {
    a.election.start();
    await waitFor(() => a.election.state.kind === "leader", { what: "coord1 to lead", timeoutMs: 5000, intervalMs: 5 });
    proxy.cut();
    await waitFor(() => a.election.state.kind !== "leader", { what: "coord1 to step down once cut off", timeoutMs: 5000, intervalMs: 5 });
    assert.equal(a.election.canCommand(), false);
  } finally {
    await shutdown(a);
    await proxy.close();
  }
});
