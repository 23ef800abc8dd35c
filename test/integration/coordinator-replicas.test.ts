/**
 * Replicated coordinators for real: a one-member etcd on loopback and two
 * keepvip-coordinator processes with an `ha:` section, stand-in agents over
 * real gRPC. Exactly one replica answers; the other refuses naming it (the
 * `keepvip-leader` trailer). Welcomes and commands carry the leader's term.
 * The leader SIGKILLed: the other leads within the lease, with a higher term,
 * adopts the holder and its epoch from etcd and the agents' hellos, and moves
 * nothing. Processes are ended by their pid.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, status as Status } from "@grpc/grpc-js";
import { AdminClient, type StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { LEADER_TRAILER } from "../../coordinator/grpc/routing.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { EtcdCluster } from "./helpers/etcd-cluster.js";
import { freePort } from "./nginx-harness.js";

const dir = mkdtempSync(join(tmpdir(), "keepvip-replicas-"));
let etcd: EtcdCluster;
const procs = new Map<string, ChildProcess>();
const agents: StandinAgent[] = [];

before(async () => {
  etcd = await EtcdCluster.start(1);
});
after(async () => {
  for (const a of agents) a.crash();
  for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

function configYaml(name: string, port: number, metricsPort: number): string {
  return `
listen: "127.0.0.1:${port}"
metrics: { listen: "127.0.0.1:${metricsPort}" }
state_dir: ${join(dir, name)}
insecure: true
ha:
  etcd: { endpoints: [${etcd.endpoints.map((e) => `"${e}"`).join(", ")}], call_timeout: 500ms }
  prefix: /keepvip/replicas-test
  lease_ttl: 1s
  name: ${name}
  advertise: "127.0.0.1:${port}"
timing:
  heartbeat_interval: 50ms
  dead_interval: 300ms
  startup_grace: 500ms
  verify_timeout: 100ms
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016, path: /aaa }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }
`;
}

/** Each replica's metrics listener, by its gRPC address. */
const metricsOf = new Map<string, string>();

async function startReplica(name: string): Promise<string> {
  const port = await freePort();
  const metricsPort = await freePort();
  metricsOf.set(`127.0.0.1:${port}`, `127.0.0.1:${metricsPort}`);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, configYaml(name, port, metricsPort));
  const p = spawn(process.execPath, ["--import", "tsx", "coordinator/main.ts", "--config", file], {
    cwd: process.cwd(),
    env: { ...process.env, KEEPVIP_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  procs.set(name, p);
  return `127.0.0.1:${port}`;
}

type Answer = { ok: true; status: StatusReply } | { ok: false; code: number; details: string; leader?: string };

function getStatus(address: string): Promise<Answer> {
  const client = new AdminClient(address, credentials.createInsecure());
  return new Promise<Answer>((resolve) => {
    const call = client.getStatus({}, new Metadata(), { deadline: Date.now() + 1000 }, (err, res) => {
      client.close();
      if (err) resolve({ ok: false, code: err.code, details: err.details, leader: err.metadata?.get(LEADER_TRAILER)[0]?.toString() });
      else resolve({ ok: true, status: res! });
    });
    void call;
  });
}

/** The value of metric `name` whose label set contains `label` (e.g. 'node="lb1"'), from a replica's /metrics. */
async function metric(address: string, name: string, label = ""): Promise<number | undefined> {
  const text = await (await fetch(`http://${metricsOf.get(address)}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

function welcomeTerm(a: StandinAgent): number | undefined {
  const w = a.received.find((m) => m.body?.$case === "welcome");
  return w?.body?.$case === "welcome" ? w.body.value.term : undefined;
}

test("two replicas: one leads and commands under its term; SIGKILLed, the other leads with a higher term and moves nothing", async (t) => {
  const addresses = { coord1: await startReplica("coord1"), coord2: await startReplica("coord2") };
  const [leaderName, leaderAddr, followerName, followerAddr] = await waitFor(
    async () => {
      const [a, b] = await Promise.all([getStatus(addresses.coord1), getStatus(addresses.coord2)]);
      if (a.ok && !b.ok && b.leader === addresses.coord1) return ["coord1", addresses.coord1, "coord2", addresses.coord2] as const;
      if (b.ok && !a.ok && a.leader === addresses.coord2) return ["coord2", addresses.coord2, "coord1", addresses.coord1] as const;
      return undefined;
    },
    { what: "one replica leads, the other names it", timeoutMs: 20_000, intervalMs: 100 },
  );
  const refused = await getStatus(followerAddr);
  assert.ok(!refused.ok);
  assert.equal(refused.code, Status.UNAVAILABLE);
  assert.match(refused.details, new RegExp(`coordinator replica ${followerName} follows: the leader is ${leaderName} at ${leaderAddr.replace(/\./g, "\\.")}`));

  // A follower refuses an agent session, naming the leader.
  const stray = new StandinAgent(followerAddr, { node: "lb2", address: "198.18.0.12" }).connect();
  agents.push(stray);
  await waitFor(() => stray.received.find((m) => m.body?.$case === "refused"), { what: "the follower refuses the session", timeoutMs: 5000 });
  const hint = stray.received.find((m) => m.body?.$case === "refused");
  assert.equal(hint?.body?.$case === "refused" && hint.body.value.leaderHint, leaderAddr);
  stray.crash();

  // The leader welcomes the agents and commands lb1 under its term.
  const lb1 = new StandinAgent(leaderAddr, { node: "lb1", address: "198.18.0.11" }).connect();
  const lb2 = new StandinAgent(leaderAddr, { node: "lb2", address: "198.18.0.12" }).connect();
  agents.push(lb1, lb2);
  const acquire = await waitFor(() => lb1.commands.find((c) => c.action?.$case === "acquire"), { what: "lb1 told to acquire", timeoutMs: 10_000 });
  const term1 = welcomeTerm(lb1)!;
  assert.ok(term1 > 0, `a leader's term is positive (${term1})`);
  assert.equal(acquire.term, term1, "the command carries the welcome's term");
  assert.equal(acquire.epoch, 1);
  await waitFor(
    async () => {
      const s = await getStatus(leaderAddr);
      return s.ok && s.status.groups[0]?.holder === "lb1";
    },
    { what: "lb1 holds VI_1", timeoutMs: 5000 },
  );

  // Metrics: each replica its role and term; the leader its engine's too (the follower has none).
  assert.equal(await metric(leaderAddr, "keepvip_replica_leader"), 1);
  assert.equal(await metric(followerAddr, "keepvip_replica_leader"), 0);
  assert.equal(await metric(leaderAddr, "keepvip_replica_term"), term1);
  assert.equal(await metric(followerAddr, "keepvip_replica_term"), term1);
  assert.equal(await metric(leaderAddr, "keepvip_holder", 'node="lb1"'), 1);
  assert.equal(await metric(followerAddr, "keepvip_holder", 'node="lb1"'), undefined, "a follower serves no engine metrics");
  assert.equal(await metric(followerAddr, "keepvip_etcd_member_up"), 1);
  const rtt = await metric(leaderAddr, "keepvip_etcd_rtt_seconds");
  assert.ok(rtt !== undefined && rtt > 0 && rtt < 0.5, `etcd round trip ${rtt} s`);

  // The CLI, given both replicas (the follower first), finds the leader and lists both roles.
  const cli = spawnSync(
    process.execPath,
    ["--import", "tsx", "cli/main.ts", "--insecure", "--coordinator", `${followerAddr},${leaderAddr}`, "--json", "status"],
    { encoding: "utf8", timeout: 20_000 },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const reply = JSON.parse(cli.stdout) as { groups: Array<{ holder: string }>; replica: string; term: number; coordinators: unknown[] };
  assert.equal(reply.groups[0]?.holder, "lb1");
  assert.deepEqual([reply.replica, reply.term], [leaderName, term1]);
  assert.deepEqual(reply.coordinators, [
    { name: followerName, address: followerAddr, role: "follower", term: term1 },
    { name: leaderName, address: leaderAddr, role: "leader", term: term1 },
  ]);
  // Given only the follower, it follows the hint; an admin change reaches the leader.
  const change = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", "--insecure", "--coordinator", followerAddr, "maintenance", "lb2", "off"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(change.status, 0, change.stderr);
  assert.match(change.stdout, /lb2 is out of maintenance/);

  // The leader dies. The other replica leads once the lease has ended.
  const killedAt = performance.now();
  procs.get(leaderName)!.kill("SIGKILL");
  lb1.crash();
  lb2.crash();
  const status = await waitFor(
    async () => {
      const s = await getStatus(followerAddr);
      return s.ok ? s.status : undefined;
    },
    { what: `${followerName} leads`, timeoutMs: 10_000, intervalMs: 20 },
  );
  const failoverMs = Math.round(performance.now() - killedAt);
  t.diagnostic(`new leader answering ${failoverMs} ms after the old one was SIGKILLed (lease TTL 1 s)`);
  assert.ok(failoverMs < 5000, `failover took ${failoverMs} ms`);
  assert.equal(status.groups[0]?.epoch, 1, "the epoch came from etcd");
  assert.equal(await metric(followerAddr, "keepvip_replica_leader"), 1, "the new leader's metrics say so");
  assert.equal(await metric(followerAddr, "keepvip_replica_leader_changes_total"), 2, "it followed one term and leads the next");

  // The agents come back to the new leader: lb1 still holds VI_1 at epoch 1.
  const lb1b = new StandinAgent(followerAddr, { node: "lb1", address: "198.18.0.11", holds: ["VI_1"], epochs: { VI_1: 1 } }).connect();
  const lb2b = new StandinAgent(followerAddr, { node: "lb2", address: "198.18.0.12", epochs: { VI_1: 1 } }).connect();
  agents.push(lb1b, lb2b);
  await waitFor(() => welcomeTerm(lb1b) !== undefined && welcomeTerm(lb2b) !== undefined, { what: "both welcomed by the new leader", timeoutMs: 5000 });
  const term2 = welcomeTerm(lb1b)!;
  assert.ok(term2 > term1, `the new term (${term2}) is above the old (${term1})`);
  // Past the startup grace: nothing moved, no new epoch, no command at all.
  await new Promise((r) => setTimeout(r, 1500));
  const after = await getStatus(followerAddr);
  assert.ok(after.ok);
  assert.equal(after.status.groups[0]?.holder, "lb1");
  assert.equal(after.status.groups[0]?.epoch, 1, "no new epoch: nothing moved");
  assert.deepEqual(
    [...lb1b.commands, ...lb2b.commands].map((c) => c.action?.$case),
    [],
    "no acquire or release after the leader changed",
  );
});
