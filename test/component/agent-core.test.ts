/**
 * The real agent core and session client against the real coordinator over
 * gRPC on loopback, with in-memory host ports: commands, epochs, local FAULT
 * release, handover on stop, fail-static when the coordinator goes away.
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentCore } from "../../agent/core/agent.js";
import { loadMemory, saveMemory } from "../../agent/core/memory.js";
import { CoordinatorSession } from "../../agent/session/client.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";
import { silentLogger } from "../../shared/log.js";
import type { Session } from "../../coordinator/cluster/sessions.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";
import { FakeBackends, FakeUpstreams, FakeLan, FakeLinks, FakeNginx, FakeNotify, FakeReach, FakeTracks, FakeVerify, FakeVips } from "./helpers/fake-ports.js";
import { waitFor } from "../support/wait.js";
import { credentials } from "@grpc/grpc-js";
import { DrillRunner } from "../../agent/probe/drill.js";
import type { ServiceProber } from "../../agent/probe/service.js";
import { AdminClient, type DrillOutcome, type DrillRequest } from "../../shared/gen/keepvip/v1/admin.js";

interface Node {
  core: AgentCore;
  session: CoordinatorSession;
  vips: FakeVips;
  nginx: FakeNginx;
  links: FakeLinks;
  notify: FakeNotify;
  tracks: FakeTracks;
  verify: FakeVerify;
  reach: FakeReach;
  upstreams: FakeUpstreams;
  backends: FakeBackends;
  stateDir: string;
}

let coord: TestCoordinator | undefined;
const nodes: Node[] = [];
const dirs: string[] = [];
let lan = new FakeLan();

afterEach(async () => {
  for (const n of nodes.splice(0)) {
    n.core.close();
    n.session.stop();
  }
  await coord?.stop();
  coord = undefined;
  for (const d of dirs.splice(0)) removeDir(d);
  lan = new FakeLan();
});

/** Starts the coordinator and registers its state dir for removal. */
async function coordinator(yaml: string): Promise<TestCoordinator> {
  const c = await startCoordinator(yaml);
  dirs.push(c.stateDir);
  return c;
}

/** Every node by id, and a drill prober that answers while a node holds the VIP with its nginx running (two may: make-before-break). */
const byId = new Map<string, Node>();
const drillProbe: ServiceProber = async (o) => {
  const on = lan.holders(o.host);
  const ok = on.some((n) => byId.get(n)?.nginx.current === "running");
  return { ok, outcome: ok ? "ok" : on.length === 0 ? "timeout" : "refused", detail: "", latencyMs: 1 };
};

async function startNode(id: string, opts: { stateDir?: string; force?: boolean; drills?: boolean } = {}): Promise<Node> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), `keepvip-agent-${id}-`));
  dirs.push(stateDir);
  const config = parseConfigText(
    agentConfigSchema,
    `node_id: ${id}\ncoordinator: "${coord!.address}"\ninsecure: true\nstate_dir: ${stateDir}\nstop_timeout: 2s\nforce_release_on_stop: ${opts.force ?? false}\ngroups: {VI_1: {interface: lan0}}\ntrack_interfaces: [lan0]\n${opts.drills ? "drills: {allow_nginx_kill: true}\n" : ""}`,
    "agent.yaml",
  );
  const n: Node = {
    vips: new FakeVips(lan, id),
    nginx: new FakeNginx(),
    links: new FakeLinks(),
    notify: new FakeNotify(),
    tracks: new FakeTracks(),
    verify: new FakeVerify(lan, id),
    reach: new FakeReach(),
    upstreams: new FakeUpstreams(),
    backends: new FakeBackends(),
    stateDir,
  } as Node;
  n.core = new AgentCore({
    config,
    vips: n.vips,
    nginx: n.nginx,
    tracks: n.tracks,
    reach: n.reach,
    verify: n.verify,
    notify: n.notify,
    link: n.links,
    upstreams: n.upstreams,
    backends: n.backends,
    ...(opts.drills ? { drills: new DrillRunner({ probe: drillProbe, wallMs: () => Date.now() }) } : {}),
    log: silentLogger,
    memory: loadMemory(stateDir),
    saveMemory: (m) => saveMemory(stateDir, m),
    instanceId: `${id}-${Date.now()}`,
  });
  await n.core.init();
  n.session = new CoordinatorSession(
    coord!.address,
    (await import("../../shared/tls-target.js")).insecureChannel,
    {
      hello: () => n.core.hello(),
      message: (m) => n.core.message(m),
      connection: (up, d) => n.core.connection(up, d),
    },
    silentLogger,
    { initialMs: 20, maxMs: 200 },
  );
  n.core.attach((m) => n.session.send(m));
  n.session.start();
  nodes.push(n);
  byId.set(id, n);
  return n;
}

const holder = () => coord!.engine.runtimes.get("VI_1")!.holder;
const onLan = () => lan.holders("198.18.0.100");

test("the agents elect through the coordinator and the VIP lands on lb1's interface only", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  assert.deepEqual(lb1.vips.log, ["acquire 198.18.0.100 on lan0"]);
  assert.deepEqual(lb1.notify.calls.at(-1), ["VI_1", "MASTER"]);
});

test("nginx unable to restart: the holder releases the VIP itself before the coordinator acts, then the backup takes over", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  const commandsBefore = lb1.vips.log.length;
  lb1.nginx.set("down", "bind() to 0.0.0.0:10016 failed");
  // The release is local and immediate: by the time the event loop turns, lb1 has let go.
  await waitFor(() => !onLan().includes("lb1"), { what: "lb1 released", timeoutMs: 200 });
  assert.equal(lb1.vips.log[commandsBefore], "release 198.18.0.100", "released by the agent itself");
  await waitFor(() => onLan().join() === "lb2" && holder() === "lb2", { what: "lb2 took over" });
  assert.ok(lb1.notify.calls.some(([, s]) => s === "FAULT"));
  void lb2;
});

test("a tracked interface going down is a FAULT: local release, then takeover", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  lb1.links.set("lan0", false);
  await waitFor(() => onLan().join() === "lb2", { what: "VIP moved to lb2" });
  lb1.links.set("lan0", true);
  // Back and higher: preempted back, make-before-break.
  await waitFor(() => onLan().join() === "lb1" && holder() === "lb1", { what: "lb1 preempts back" });
});

test("a command with a stale epoch is ignored and acked as stale", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  assert.equal(lb1.core.epochs.newest("VI_1"), 1);
  lb1.core.epochs.admit("VI_1", 5); // it has seen epoch 5 since (e.g. from a newer coordinator)
  lb1.core.message({
    body: {
      $case: "command",
      value: {
        commandId: "old",
        group: "VI_1",
        epoch: 3,
        term: 0,
        reason: "replayed",
        action: { $case: "release", value: { vips: ["198.18.0.100/24"], afterMs: 0, drainMs: 0, memberAddresses: [] } },
      },
    },
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(onLan(), ["lb1"], "the stale release was not obeyed");
  assert.ok(!lb1.vips.log.includes("release 198.18.0.100"));
});

test("the agent counts the commands its session delivers and reports the count; the coordinator's count of what it sent matches; a new session counts from 0", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const counter = () => (coord!.engine.nodes.sessionOf("lb1") as Session | undefined)?.commands;
  assert.ok(counter(), "the hello said the agent counts");
  const sent = counter()!.sent;
  assert.ok(sent >= 1, "at least the acquire went out");
  assert.equal(lb1.core.report().commandsReceived, sent, "the agent has every command sent");
  await waitFor(() => counter()!.received === sent, { what: "the coordinator read the count in a report" });
  const hello = lb1.core.hello();
  assert.equal(hello.countsCommands, true);
  assert.equal(hello.state?.commandsReceived, 0, "a new session's hello says 0");
  assert.equal(lb1.core.report().commandsReceived, 0);
});

test("the epoch guard survives an agent restart", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.core.close();
  lb1.session.stop();
  const memory = loadMemory(lb1.stateDir);
  assert.equal(memory.epochs.VI_1, 1);
  assert.deepEqual(
    memory.groups.map((g) => g.name),
    ["VI_1"],
  );
});

test("an agent restart keeps the VIP: reconcile finds it, the hello reports it, nothing moves", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  const epochBefore = coord.engine.runtimes.get("VI_1")!.epoch;
  // Crash: the process vanishes, the VIP stays on the interface.
  lb1.core.close();
  lb1.session.stop();
  nodes.splice(nodes.indexOf(lb1), 1);
  const again = await startNode("lb1", { stateDir: lb1.stateDir });
  assert.ok(again.core.held.has("VI_1"), "reconciled from the interface");
  await waitFor(() => coord!.engine.nodes.views.get("lb1")!.session === "live" && coord!.engine.runtimes.get("VI_1")!.phase.kind === "steady", {
    what: "lb1 back",
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(onLan(), ["lb1"], "never on lb2");
  assert.equal(coord.engine.runtimes.get("VI_1")!.epoch, epochBefore);
  assert.equal(lb2.vips.log.length, 0);
});

test("a clean stop hands the VIP over before releasing it (make-before-break)", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  let sawBoth = false;
  const sampler = setInterval(() => {
    if (onLan().length === 0 && holder() !== null) assert.fail("VIP unheld during a planned move");
    if (onLan().length === 2) sawBoth = true;
  }, 1);
  try {
    const outcome = await lb1.core.stop(lb1.session.connected);
    assert.match(outcome, /handed over VI_1/);
  } finally {
    clearInterval(sampler);
  }
  assert.deepEqual(onLan(), ["lb2"]);
  assert.ok(sawBoth, "the overlap was observed: the new holder acquired before the old released");
  void lb2;
});

test("coordinator lost: agents keep what they hold; a stop then keeps the VIP and says why", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  await coord.stop();
  coord = undefined;
  await waitFor(() => !lb1.session.connected, { what: "lb1 notices" });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(onLan(), ["lb1"], "fail-static: nothing dropped");
  const outcome = await lb1.core.stop(lb1.session.connected);
  assert.match(outcome, /coordinator is unreachable/);
  assert.deepEqual(onLan(), ["lb1"], "kept on stop without a coordinator");
});

test("with force_release_on_stop and no coordinator, a stop releases", async () => {
  coord = await coordinator(clusterYaml({ startupGrace: "0s" }));
  const lb1 = await startNode("lb1", { force: true });
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  await coord.stop();
  coord = undefined;
  await waitFor(() => !lb1.session.connected, { what: "lb1 notices" });
  const outcome = await lb1.core.stop(false);
  assert.match(outcome, /released anyway/);
  assert.deepEqual(onLan(), []);
});

test("upstreams: agents get the probe plan and a versioned config, and a server seen down by every agent is pushed down everywhere", async () => {
  coord = await coordinator(clusterYaml({ upstreams: true }));
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => lb1.upstreams.applied.length > 0 && lb2.upstreams.applied.length > 0, { what: "both applied the first version" });
  assert.deepEqual(
    lb1.backends.plan?.checks.map((c) => [c.upstream, c.servers, c.type, c.path, c.rise, c.fall]),
    [["my10016", ["198.18.0.21:10016", "198.18.0.22:10016"], "http", "/aaa", 2, 2]],
  );
  const v1 = lb1.upstreams.applied[0];
  assert.deepEqual(
    v1.upstreams[0].servers.map((s) => [s.address, s.down, s.maxFails, s.failTimeoutS]),
    [
      ["198.18.0.21:10016", false, 3, 30],
      ["198.18.0.22:10016", false, 3, 30],
    ],
  );
  await waitFor(
    () => coord!.engine.upstreams.applied.get("lb1")?.version === v1.version && coord!.engine.upstreams.applied.get("lb2")?.version === v1.version,
    { what: "coordinator sees both agents on the version" },
  );

  // Only lb1 sees b1 fail: not a majority, nothing changes.
  const down = { upstream: "my10016", server: "198.18.0.21:10016", up: false, detail: "timeout", latencyMs: 50 };
  const upB = { upstream: "my10016", server: "198.18.0.22:10016", up: true, detail: "", latencyMs: 1 };
  lb1.backends.results = [down, upB];
  lb1.core.scheduleReport();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(lb1.upstreams.applied.length, 1, "one agent's view is not enough");
  lb2.backends.results = [down, upB];
  lb2.core.scheduleReport();
  await waitFor(() => lb1.upstreams.applied.length === 2 && lb2.upstreams.applied.length === 2, { what: "both applied the next version" });
  const v2 = lb2.upstreams.applied[1];
  assert.equal(v2.version, v1.version + 1);
  assert.equal(v2.upstreams[0].servers[0].down, true);
  assert.equal(v2.upstreams[0].servers[1].down, false);
  assert.match(
    coord.engine.events
      .all()
      .map((e) => e.message)
      .join("\n"),
    /198\.18\.0\.21:10016 is DOWN: 2 of 2 agents see it fail/,
  );
});

test("upstreams: an agent that cannot apply a version reports the error, and the coordinator shows it", async () => {
  coord = await coordinator(clusterYaml({ upstreams: true, startupGrace: "0s" }));
  const lb1 = await startNode("lb1");
  lb1.upstreams.reject = "nginx -t: host not found in upstream";
  await waitFor(() => coord!.engine.upstreams.applied.get("lb1")?.error === "nginx -t: host not found in upstream", { what: "error reported" });
  assert.equal(coord.engine.upstreams.applied.get("lb1")?.version, 0, "nothing applied");
});

test("a takeover the LAN does not follow is re-announced and reported in the coordinator's events", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  // lb1's agent dies but its VIP stays on the LAN; lb2's verification is told (wrongly) that the VIP is free.
  lb2.verify.override = "free";
  lb1.core.close();
  lb1.session.stop();
  nodes.splice(nodes.indexOf(lb1), 1);
  await waitFor(() => holder() === "lb2", { what: "lb2 took over" });
  await waitFor(
    () => coord!.engine.events.all().some((e) => e.kind === "agent" && /takeover of VI_1 not confirmed \(attempt 1\/3\): also answered by lb1/.test(e.message)),
    { what: "the unconfirmed takeover reported" },
  );
  const reannounced = lb2.vips.log.filter((l) => l === "acquire 198.18.0.100 on lan0 takeover").length;
  await waitFor(() => lb2.vips.log.filter((l) => l === "acquire 198.18.0.100 on lan0 takeover").length > reannounced || reannounced >= 2, {
    what: "re-announced",
  });
  assert.equal(lb2.vips.garp?.offsetsMs.join(","), "0,100,300,700", "the coordinator's GARP timing reached the agent");
});

test("a verification that finds the VIP silent is overruled while this node's continuous probes still reach it (no takeover from a slow probe)", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1");
  const lb2 = await startNode("lb2");
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  lb2.verify.override = "free"; // one probe timed out on a busy host
  lb2.reach.states.set("VI_1", { reachable: true, failures: 0, lanOk: true, lanFresh: true, observedMs: Date.now() });
  lb1.core.close();
  lb1.session.stop();
  nodes.splice(nodes.indexOf(lb1), 1);
  await waitFor(() => lb2.verify.calls >= 2, { what: "lb2 verified (and re-verified)" });
  assert.deepEqual(onLan(), ["lb1"], "never on both");
  assert.match(
    coord.engine.events
      .all()
      .map((e) => e.message)
      .join("\n"),
    /alive but cut off/,
  );
  // The continuous probes go silent (the holder really died): the next verification takes over.
  lb2.reach.states.set("VI_1", { reachable: false, failures: 3, lanOk: true, lanFresh: true, observedMs: Date.now() });
  lan.owners.get("198.18.0.100")?.delete("lb1");
  await waitFor(() => onLan().join() === "lb2" && holder() === "lb2", { what: "lb2 takes over once its probes go silent", timeoutMs: 5000 });
});

/** A drill over the real admin API: its progress lines and its outcome, or the error. */
async function runDrill(req: Partial<DrillRequest>): Promise<{ steps: string[]; outcome?: DrillOutcome; error?: Error & { code?: number } }> {
  const admin = new AdminClient(coord!.address, credentials.createInsecure());
  const steps: string[] = [];
  try {
    return await new Promise((resolve) => {
      let outcome: DrillOutcome | undefined;
      const stream = admin.drill({ group: "VI_1", toNode: "", killNginx: false, ...req });
      stream.on("data", (p: { step: string; outcome?: DrillOutcome }) => {
        steps.push(p.step);
        if (p.outcome) outcome = p.outcome;
      });
      stream.on("end", () => resolve({ steps, outcome }));
      stream.on("error", (error: Error) => resolve({ steps, error }));
    });
  } finally {
    admin.close();
  }
}

test("keepvip drill: both agents probe through the VIP while it goes to lb2 and back; 0 failed, figures in the history", async () => {
  coord = await coordinator(clusterYaml());
  await startNode("lb1", { drills: true });
  await startNode("lb2", { drills: true });
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  const epoch = coord.engine.runtimes.get("VI_1")!.epoch;
  const { steps, outcome, error } = await runDrill({});
  assert.equal(error, undefined);
  assert.ok(outcome);
  assert.deepEqual([outcome.mode, outcome.fromNode, outcome.toNode, outcome.backNode], ["switchover", "lb1", "lb2", "lb1"]);
  assert.equal(outcome.failedProbes, 0);
  assert.equal(outcome.blackoutMs, 0);
  assert.deepEqual(
    outcome.agents.map((a) => a.nodeId),
    ["lb1", "lb2"],
  );
  // About 3 s of probes every 10 ms on each member (timers run late on a busy host).
  for (const a of outcome.agents) assert.ok(a.probes > 100 && a.error === "", JSON.stringify(a));
  assert.ok(
    steps.some((s) => /^switchover lb1 → lb2: done in \d+ ms/.test(s)),
    steps.join("\n"),
  );
  assert.ok(
    steps.some((s) => /^switchover back lb2 → lb1: done/.test(s)),
    steps.join("\n"),
  );
  assert.equal(holder(), "lb1");
  assert.equal(coord.engine.runtimes.get("VI_1")!.epoch, epoch + 2, "two moves, one epoch each");
  const drills = coord.engine.events.since(0).filter((e) => e.kind === "drill");
  assert.equal(drills.length, 1);
  assert.deepEqual(drills[0].kind === "drill" && drills[0].figures, {
    mode: "switchover",
    blackoutMs: 0,
    failedProbes: 0,
    probes: outcome.probes,
    onNoneMs: outcome.onNoneMs,
    onBothMs: outcome.onBothMs,
  });
});

test("keepvip drill --kill-nginx: the holder's nginx is kept down, the group fails over, and the probes measure the blackout", async () => {
  coord = await coordinator(clusterYaml());
  const lb1 = await startNode("lb1", { drills: true });
  await startNode("lb2", { drills: true });
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  // The fake nginx does what the supervisor does: down for the hold, then running again.
  lb1.nginx.holdDownEffect = true;
  const { outcome, error } = await runDrill({ killNginx: true });
  assert.equal(error, undefined);
  assert.ok(outcome);
  assert.deepEqual(lb1.nginx.holdDowns, [3000]);
  assert.deepEqual([outcome.mode, outcome.fromNode, outcome.toNode], ["kill-nginx", "lb1", "lb2"]);
  // In memory the release and the takeover are a few ms apart, so probes every 10 ms may see
  // no gap at all (the lab's end-to-end drill measures a real one); never a long one.
  assert.ok(outcome.blackoutMs < 1000, `blackout ${outcome.blackoutMs} ms`);
  for (const a of outcome.agents) assert.ok(a.probes > 100 && a.error === "", JSON.stringify(a));
  // nginx came back after the hold, and lb1 (preempt) holds VI_1 again.
  await waitFor(() => lb1.nginx.current === "running" && holder() === "lb1", { what: "lb1 back", timeoutMs: 5000 });
});

test("a drill is refused when no other member could take the VIP, and nothing moves", async () => {
  coord = await coordinator(clusterYaml());
  await startNode("lb1", { drills: true });
  await waitFor(() => holder() === "lb1" && onLan().join() === "lb1", { what: "VIP on lb1" });
  const epoch = coord.engine.runtimes.get("VI_1")!.epoch;
  const { error } = await runDrill({});
  assert.equal(error?.code, 9, "FAILED_PRECONDITION");
  assert.match(error.message, /VI_1 has no eligible standby \(lb2: .*\)/);
  assert.equal(holder(), "lb1");
  assert.equal(coord.engine.runtimes.get("VI_1")!.epoch, epoch);
  const unknown = await runDrill({ group: "VI_9" });
  assert.equal(unknown.error?.code, 5, "NOT_FOUND");
});
