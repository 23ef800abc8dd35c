/**
 * A reconnect storm: a few hundred stand-in agents over real gRPC (through a loopback TCP
 * proxy) all come back at once, each claiming what it held, after the coordinator restarted
 * or after every stream was reset. Every holder must be adopted and no acquire or release
 * sent: a storm moves no VIP. A verification may be asked; it is answered as the LAN would
 * (the service still answers through the VIP, its holder never let go).
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { VerifyVerdict } from "../../shared/gen/keepvip/v1/agent.js";
import { StandinAgent } from "../support/standin-agent.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";
import { removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

/** 150 groups, a pair of agents each: 300 sessions. */
const GROUPS = 150;
const group = (i: number) => `g${String(i).padStart(3, "0")}`;
const nodes = (i: number): [string, string] => [`a${String(i).padStart(3, "0")}`, `b${String(i).padStart(3, "0")}`];

function stormYaml(): string {
  const groups = Array.from({ length: GROUPS }, (_, i) => {
    const [a, b] = nodes(i);
    return `  - { name: ${group(i)}, vips: ["10.77.${i >> 8}.${i & 255}/32"], service: { port: 80 }, members: [{ node: ${a}, priority: 100 }, { node: ${b}, priority: 90 }] }`;
  });
  // The seed's timing; the startup grace ends early once every node is connected.
  return `
insecure: true
timing:
  heartbeat_interval: 200ms
  dead_interval: 1000ms
  startup_grace: 10s
groups:
${groups.join("\n")}
`;
}

let coord: TestCoordinator | undefined;
let proxy: TcpProxy | undefined;
const agents: StandinAgent[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await coord?.stop();
  coord = undefined;
  await proxy?.close();
  proxy = undefined;
  for (const d of dirs.splice(0)) removeDir(d);
});

const moves = () => agents.flatMap((a) => a.commands.filter((c) => c.action?.$case === "acquire" || c.action?.$case === "release"));
const live = () => agents.filter((a) => coord!.engine.nodes.views.get(a.node)?.session === "live").length;

/** Who holds each group, by the agents' own account. */
function holdersByAgents(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of agents) for (const g of a.holds) out.set(g, [...(out.get(g) ?? []), a.node]);
  return out;
}

/** A cluster of 300 agents through the proxy, elected from scratch: one acquire per group. */
async function electedCluster(): Promise<void> {
  coord = await startCoordinator(stormYaml());
  dirs.push(coord.stateDir);
  proxy = await new TcpProxy(coord.address).listen();
  for (let i = 0; i < GROUPS; i++)
    for (const node of nodes(i))
      agents.push(
        new StandinAgent(proxy.address, { node, address: "198.18.0.1", heartbeatMs: 200, verdict: VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING }).connect(),
      );
  await waitFor(() => [...holdersByAgents().values()].filter((h) => h.length === 1).length === GROUPS, {
    what: `each of the ${GROUPS} groups held by one agent`,
    timeoutMs: 20_000,
  });
  assert.equal(moves().length, GROUPS, "the first election: one acquire per group, nothing else");
}

/** After a storm: every session back, each group's holder the agent that holds it, the epoch unchanged, no move. */
async function assertAdopted(epochs: Map<string, number>, movesBefore: number, what: string): Promise<void> {
  await waitFor(() => live() === agents.length, { what: `all ${agents.length} sessions back (${what})`, timeoutMs: 20_000 });
  await waitFor(() => !coord!.engine.inGrace(), { what: "the grace over", timeoutMs: 15_000 });
  const adopted = () => agents.every((a) => [...a.holds].every((g) => coord!.engine.runtimes.get(g)?.holder === a.node));
  await waitFor(adopted, { what: `every holder adopted (${what})`, timeoutMs: 20_000 });
  // A decision the storm caused would come within a few heartbeats of the last session's return: give it a second.
  await new Promise((r) => setTimeout(r, 1000));
  const holders = holdersByAgents();
  for (let i = 0; i < GROUPS; i++) {
    const g = group(i);
    assert.equal(holders.get(g)?.length, 1, `${g}: one agent holds it (${what})`);
    const rt = coord!.engine.runtimes.get(g)!;
    assert.equal(rt.holder, holders.get(g)![0], `${g}: its holder adopted (${what})`);
    assert.equal(rt.epoch, epochs.get(g), `${g}: the same epoch (${what})`);
    assert.equal(rt.phase.kind, "steady", `${g}: steady (${what})`);
  }
  const extra = moves().slice(movesBefore);
  assert.deepEqual(
    extra.map((c) => `${c.action?.$case} ${c.group} epoch ${c.epoch}`),
    [],
    `no acquire or release after ${what}`,
  );
}

const epochsNow = () => new Map(Array.from({ length: GROUPS }, (_, i) => [group(i), coord!.engine.runtimes.get(group(i))!.epoch]));

test("a coordinator restart: 300 agents reconnect at once claiming what they hold; every holder is adopted, no acquire or release", async () => {
  await electedCluster();
  const epochs = epochsNow();
  const movesBefore = moves().length;
  const stateDir = coord!.stateDir;
  await coord!.stop();
  // Their streams ended with it; each gets a fresh channel, as an agent reconnecting does.
  for (const a of agents) a.crash();
  // Started again on the same state; agents keep what they hold and say so in their hello.
  coord = await startCoordinator(stormYaml(), stateDir);
  proxy!.target = coord.address;
  for (const a of agents) a.connect();
  await assertAdopted(epochs, movesBefore, "the restart");
});

test("every stream reset at once (a TCP reset of the agents' connections): all reconnect claiming what they hold; every holder is adopted, no acquire or release", async () => {
  await electedCluster();
  const epochs = epochsNow();
  const movesBefore = moves().length;
  const closedBefore = coord!.engine.events.all().filter((e) => / session closed /.test(e.message)).length;
  proxy!.resetAll();
  await waitFor(() => agents.every((a) => a.closedWith !== undefined), { what: "every agent saw its stream fail", timeoutMs: 10_000 });
  for (const a of agents) {
    a.goSilent();
    a.connect();
  }
  await assertAdopted(epochs, movesBefore, "the reset");
  // The coordinator saw them lost, not leaving.
  const closes = coord!.engine.events
    .all()
    .filter((e) => / session closed /.test(e.message))
    .slice(closedBefore)
    .map((e) => e.message);
  assert.ok(closes.length > 0, "sessions were seen closing");
  assert.deepEqual(
    closes.filter((m) => /agent closed the session/.test(m)),
    [],
    "no reset is reported as the agent closing its session",
  );
});
