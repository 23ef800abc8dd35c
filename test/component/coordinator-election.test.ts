/**
 * The real coordinator on loopback, driven by real gRPC stand-in agents:
 * the election, verification before takeover, sessions closing vs going
 * silent, and epochs across a restart.
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { VerifyVerdict } from "../../shared/gen/keepvip/v1/agent.js";
import { parseConfigText as parseCfg } from "../../shared/config/load.js";
import { coordinatorConfigSchema as cfgSchema } from "../../shared/config/coordinator.js";
import { groupStatuses } from "../../coordinator/cluster/status.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

let coord: TestCoordinator | undefined;
const agents: StandinAgent[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await coord?.stop();
  coord = undefined;
  for (const d of dirs.splice(0)) removeDir(d);
});

async function cluster(yaml = clusterYaml(), stateDir?: string) {
  coord = await startCoordinator(yaml, stateDir);
  if (!stateDir) dirs.push(coord.stateDir);
  return coord;
}

function agent(node: string, extra: Partial<ConstructorParameters<typeof StandinAgent>[1]> = {}) {
  const a = new StandinAgent(coord!.address, { node, address: node === "lb1" ? "198.18.0.11" : "198.18.0.12", ...extra });
  agents.push(a);
  return a.connect();
}

const holder = () => coord!.engine.runtimes.get("VI_1")!.holder;
const epoch = () => coord!.engine.runtimes.get("VI_1")!.epoch;
const eventText = () =>
  coord!.engine.events
    .all()
    .map((e) => e.message)
    .join("\n");

test("the first holder is the member with the highest priority, and it is told to acquire with epoch 1", async () => {
  // The startup grace ends as soon as every member is connected: a long one only keeps a busy
  // host's late second connect from turning this into an election of lb2 and a preempt.
  await cluster(clusterYaml({ startupGrace: "5s" }));
  const lb2 = agent("lb2");
  const lb1 = agent("lb1");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds VI_1" });
  assert.equal(epoch(), 1);
  const acquire = lb1.commands.find((c) => c.action?.$case === "acquire");
  assert.ok(acquire, "lb1 got an acquire");
  assert.equal(acquire.epoch, 1);
  assert.deepEqual(acquire.action?.$case === "acquire" && acquire.action.value.vips, ["198.18.0.100/24"]);
  assert.equal(lb2.commands.filter((c) => c.action?.$case === "acquire").length, 0, "lb2 never told to acquire");
});

test("preempt: a returning higher-priority node takes the VIP back make-before-break", async () => {
  await cluster(clusterYaml({ startupGrace: "0s" }));
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb2", { what: "lb2 holds while alone" });
  const lb1 = agent("lb1");
  await waitFor(() => holder() === "lb1" && !lb2.holds.has("VI_1"), { what: "lb1 preempts and lb2 releases" });
  const acquire = lb1.commands.find((c) => c.action?.$case === "acquire")!;
  const release = lb2.commands.find((c) => c.action?.$case === "release")!;
  assert.equal(release.epoch, acquire.epoch, "both commands of the move carry the same epoch");
  // A planned move: the new holder forwards the old one's flows, the old one drains them (drain_timeout, 30 s by default).
  assert.equal(acquire.action?.$case === "acquire" && acquire.action.value.forwardMs, 30_000, "the new holder forwards for the drain window");
  assert.equal(release.action?.$case === "release" && release.action.value.drainMs, 30_000, "the old holder drains");
  assert.equal(release.action?.$case === "release" && release.action.value.afterMs, 0, "a drain replaces the planned overlap");
  // Make-before-break: the release was sent only after lb1 acked (lb1 got its command first).
  const iAcq = coord!.engine.events.all().findIndex((e) => /lb1 holds VI_1/.test(e.message));
  assert.ok(iAcq >= 0, eventText());
  assert.equal(epoch(), 2);
});

test("preempt with drain_timeout 0: no forwarding, no drain, the old holder releases after the planned overlap", async () => {
  await cluster(clusterYaml({ startupGrace: "0s", drainTimeout: "0s" }));
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb2", { what: "lb2 holds while alone" });
  const lb1 = agent("lb1");
  await waitFor(() => holder() === "lb1" && !lb2.holds.has("VI_1"), { what: "lb1 preempts and lb2 releases" });
  const acquire = lb1.commands.find((c) => c.action?.$case === "acquire")!;
  const release = lb2.commands.find((c) => c.action?.$case === "release")!;
  assert.equal(acquire.action?.$case === "acquire" && acquire.action.value.forwardMs, 0);
  assert.equal(release.action?.$case === "release" && release.action.value.drainMs, 0);
  assert.equal(release.action?.$case === "release" && release.action.value.afterMs, 20, "the old holder releases after the planned overlap");
});

test("nopreempt: a returning higher-priority node does not take the VIP", async () => {
  await cluster(clusterYaml({ preempt: false, startupGrace: "0s" }));
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb2", { what: "lb2 holds while alone" });
  const lb1 = agent("lb1");
  await waitFor(() => coord!.engine.runtimes.get("VI_1")!.last?.rule === "kept-holder-nopreempt", { what: "nopreempt rule applied" });
  assert.equal(holder(), "lb2");
  assert.equal(lb1.commands.length, 0);
  assert.ok(lb2.holds.has("VI_1"));
});

test("a weighted track failing pushes the holder below its peer and the VIP moves", async () => {
  await cluster(clusterYaml({ tracks: "    tracks:\n      - { name: chk_nginx, weight: -20 }\n" }));
  const lb1 = agent("lb1");
  lb1.tracks.chk_nginx = true;
  const lb2 = agent("lb2");
  lb2.tracks.chk_nginx = true;
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.tracks.chk_nginx = false; // 100 - 20 = 80 < 90
  lb1.sendReport();
  await waitFor(() => holder() === "lb2", { what: "lb2 takes over" });
  const status = coord!.engine.runtimes.get("VI_1")!.last!;
  assert.equal(status.rule, "kept-holder");
});

test("holder session closed: the candidate verifies first, and takes over only when it reports the VIP free", async () => {
  await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2", { verdict: VerifyVerdict.VERIFY_VERDICT_FREE });
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.crash();
  await waitFor(() => lb2.verifies.length > 0, { what: "lb2 asked to verify" });
  await waitFor(() => holder() === "lb2", { what: "lb2 takes over after verifying" });
  const acquire = lb2.commands.find((c) => c.action?.$case === "acquire")!;
  assert.equal(acquire.action?.$case === "acquire" && acquire.action.value.takeover, true, "a takeover announces harder");
  assert.match(eventText(), /lb1 session closed/);
  assert.doesNotMatch(eventText(), /lb1 missed its heartbeats/);
});

test("a holder that says it restarts is kept as it was: no verification, no move, no epoch while the next agent starts; one that does not come back in time is verified and replaced", async () => {
  await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2", { verdict: VerifyVerdict.VERIFY_VERDICT_FREE });
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const e0 = epoch();
  lb1.announceRestart(1500);
  await new Promise((r) => setTimeout(r, 50));
  lb1.crash();
  await waitFor(() => coord!.engine.statusInput().views.get("lb1")?.session === "restarting", { what: "lb1 restarting" });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(holder(), "lb1", "still the holder while it restarts");
  assert.equal(lb2.verifies.length, 0, "nobody verifies a restarting holder");
  assert.equal(epoch(), e0);
  const status = groupStatuses(coord!.engine.statusInput())[0];
  assert.equal(status.members.find((m) => m.nodeId === "lb1")?.state, "MASTER");
  // The next agent comes back within the grace, holding the VIP: nothing happened.
  lb1.connect();
  await waitFor(() => coord!.engine.statusInput().views.get("lb1")?.session === "live", { what: "lb1 back" });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(holder(), "lb1");
  assert.equal(epoch(), e0, "no new epoch");
  assert.equal(lb2.verifies.length, 0);
  assert.match(eventText(), /lb1 is restarting \(test restart\)/);
  // A restart that never comes back: the grace ends, then the usual verification and takeover.
  lb1.announceRestart(400);
  await new Promise((r) => setTimeout(r, 50));
  lb1.crash();
  await waitFor(() => holder() === "lb2", { what: "lb2 takes over after the grace", timeoutMs: 5000 });
  assert.ok(lb2.verifies.length > 0, "verified first");
  assert.match(eventText(), /lb1 did not come back from its restart in time/);
});

test("holder gone silent: detected after the dead interval, verified, taken over", async () => {
  await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const silentAt = Date.now();
  lb1.goSilent();
  await waitFor(() => holder() === "lb2", { what: "lb2 takes over" });
  const took = Date.now() - silentAt;
  assert.ok(took >= 120, `not before the dead interval (took ${took} ms)`);
  assert.match(eventText(), /lb1 missed its heartbeats/);
  assert.doesNotMatch(eventText(), /lb1 session closed/);
  assert.ok(lb2.verifies.length > 0);
});

test("no promotion while the candidate reports the VIP still answering and serving (holder cut off from the coordinator only)", async () => {
  await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2", { verdict: VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING });
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.goSilent();
  await waitFor(() => lb2.verifies.length >= 2, { what: "lb2 verified twice (initial and re-verify)", timeoutMs: 2000 });
  assert.equal(lb2.commands.filter((c) => c.action?.$case === "acquire").length, 0, "lb2 never told to acquire");
  assert.equal(coord!.engine.runtimes.get("VI_1")!.phase.kind === "cut-off" || coord!.engine.runtimes.get("VI_1")!.phase.kind === "verifying", true);
  assert.match(eventText(), /alive but cut off/);
  // The holder comes back: it is simply the holder again, no move, same epoch.
  const before = epoch();
  lb1.sendReport();
  const resumed = setInterval(() => lb1.sendReport(), 20);
  try {
    await waitFor(() => coord!.engine.runtimes.get("VI_1")!.phase.kind === "steady", { what: "steady again" });
  } finally {
    clearInterval(resumed);
  }
  assert.equal(holder(), "lb1");
  assert.equal(epoch(), before);
});

test("a clean stop hands over: the leaving holder is told to release only after the backup acquired, then may go", async () => {
  await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.leave(true);
  await waitFor(() => lb1.received.some((m) => m.body?.$case === "leaveReady"), { what: "lb1 told it may go" });
  assert.equal(holder(), "lb2");
  const ready = lb1.received.find((m) => m.body?.$case === "leaveReady")!;
  assert.deepEqual(ready.body?.$case === "leaveReady" && ready.body.value.handedOver, ["VI_1"]);
  assert.ok(!lb1.holds.has("VI_1"));
  assert.ok(lb2.holds.has("VI_1"));
});

test("a stopping holder with nobody to take over is told to keep the VIP", async () => {
  await cluster(clusterYaml({ startupGrace: "0s" }));
  const lb1 = agent("lb1");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  lb1.leave(true);
  await waitFor(() => lb1.received.some((m) => m.body?.$case === "leaveReady"), { what: "lb1 answered" });
  const ready = lb1.received.find((m) => m.body?.$case === "leaveReady")!;
  assert.deepEqual(ready.body?.$case === "leaveReady" && ready.body.value.kept, ["VI_1"]);
});

test("epochs strictly increase across a coordinator restart, and a restart moves nothing", async () => {
  const c1 = await cluster(clusterYaml({ startupGrace: "0s" }));
  const stateDir = c1.stateDir;
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb2", { what: "lb2 holds" });
  const _lb1 = agent("lb1");
  await waitFor(() => holder() === "lb1" && !lb2.holds.has("VI_1"), { what: "lb1 preempts" });
  const e1 = epoch();
  assert.equal(e1, 2);
  const saved = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8"));
  assert.equal(saved.epochs.VI_1, 2, "the epoch is persisted");
  for (const a of agents.splice(0)) a.destroy();
  await c1.stop();

  // Restart on the same state dir; the agents come back holding what they held.
  coord = await startCoordinator(clusterYaml(), stateDir);
  const lb1b = agent("lb1", { holds: ["VI_1"], epochs: { VI_1: 2 } });
  const lb2b = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 adopted as holder" });
  assert.ok(
    coord!.engine.events.all().some((e) => /lb1 holds VI_1 \(epoch 2\)/.test(e.message)),
    "the event history survived the restart",
  );
  await new Promise((r) => setTimeout(r, 200)); // let any wrong move show itself
  assert.equal(epoch(), 2, "adoption takes no new epoch");
  assert.equal(lb1b.commands.length + lb2b.commands.length, 0, "no command at all: nothing moved");
  // The next move takes epoch 3, never a reused one.
  lb1b.leave(true);
  await waitFor(() => holder() === "lb2", { what: "lb2 takes over" });
  assert.equal(epoch(), 3);
  dirs.push(stateDir);
});

test("an agent hello carrying a newer epoch than the state file raises the epoch (a lost state file never reuses epochs)", async () => {
  await cluster(clusterYaml());
  agent("lb1", { epochs: { VI_1: 41 } });
  agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  assert.equal(epoch(), 42);
});

test("a second agent claiming a connected node id is refused; the live one stays", async () => {
  await cluster();
  const lb1 = agent("lb1");
  agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const impostor = agent("lb1");
  await waitFor(() => impostor.closedWith !== undefined, { what: "impostor refused" });
  assert.match(impostor.closedWith!, /already connected/);
  assert.ok(impostor.received.some((m) => m.body?.$case === "refused"));
  assert.equal(lb1.closedWith, undefined, "the live session is not kicked");
  assert.equal(holder(), "lb1");
});

test("an unknown node id is refused with the reason", async () => {
  await cluster();
  const x = agent("lb9");
  await waitFor(() => x.closedWith !== undefined, { what: "refused" });
  assert.match(x.closedWith!, /node id "lb9" is not a member of any group/);
});

test("a switchover to a lower-priority node sticks: preempt does not undo it, and the pin survives a coordinator restart", async () => {
  const c1 = await cluster();
  const lb1 = agent("lb1");
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  c1.engine.requestSwitchover("VI_1", "lb2");
  await waitFor(() => holder() === "lb2" && !lb1.holds.has("VI_1"), { what: "lb2 holds after the switchover" });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(holder(), "lb2", "preempt did not move it back");
  assert.equal(coord!.engine.runtimes.get("VI_1")!.last?.rule, "kept-holder-pinned");
  const stateDir = c1.stateDir;
  lb1.destroy();
  lb2.destroy();
  agents.splice(0);
  await c1.stop();
  coord = await startCoordinator(clusterYaml(), stateDir);
  const lb2b = agent("lb2", { holds: ["VI_1"], epochs: { VI_1: epoch() } });
  const lb1b = agent("lb1");
  await waitFor(() => holder() === "lb2" && coord!.engine.runtimes.get("VI_1")!.last?.rule === "kept-holder-pinned", {
    what: "still pinned after the restart",
  });
  assert.equal(lb1b.commands.length + lb2b.commands.length, 0, "the restart moved nothing");
  // The pin drops when lb2 cannot hold; then the ordinary rules apply.
  lb2b.fault = "nginx cannot start";
  lb2b.holds.delete("VI_1");
  lb2b.sendReport();
  await waitFor(() => holder() === "lb1", { what: "lb1 takes over" });
  assert.equal(coord!.engine.runtimes.get("VI_1")!.pinned, undefined);
});

test("config reload: a priority change that does not call for a move moves nothing; one that does preempts; an upstream weight change pushes a new version", async () => {
  const yaml = clusterYaml({ upstreams: true });
  await cluster(yaml);
  const lb1 = agent("lb1");
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const e0 = epoch();
  const v0 = coord!.engine.upstreams.current().version;
  const next = (y: string) => ({ ...parseCfg(cfgSchema, y, "reload.yaml"), state_dir: coord!.stateDir });
  const r1 = await coord!.engine.reconfigure(
    next(
      yaml
        .replace("priority: 90", "priority: 95")
        .replace('{ address: "198.18.0.21:10016", max_fails: 3', '{ address: "198.18.0.21:10016", weight: 5, max_fails: 3'),
    ),
  );
  assert.equal(r1.ok, true, r1.lines.join("\n"));
  assert.ok(r1.lines.includes("VI_1: lb2 priority 90 → 95"), r1.lines.join("\n"));
  await waitFor(() => coord!.engine.upstreams.current().version > v0, { what: "a new upstream version" });
  assert.equal(coord!.engine.upstreams.current().upstreams[0].servers[0].weight, 5);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(holder(), "lb1");
  assert.equal(epoch(), e0, "nothing moved");
  const r2 = await coord!.engine.reconfigure(next(yaml.replace("priority: 90", "priority: 120")));
  assert.equal(r2.ok, true);
  await waitFor(() => holder() === "lb2" && !lb1.holds.has("VI_1"), { what: "lb2 (now 120) preempts: the change requires that move" });
  assert.match(
    coord!.engine.events
      .all()
      .map((e) => e.message)
      .join("\n"),
    /config reloaded: VI_1: lb2 priority 95 → 120/,
  );
  void lb2;
});

test("config reload: changing the listener needs a restart, so that reload is refused whole", async () => {
  const yaml = clusterYaml();
  await cluster(yaml);
  agent("lb1");
  agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const changed = {
    ...parseCfg(cfgSchema, yaml.replace("insecure: true", 'insecure: true\nlisten: "127.0.0.1:7499"').replace("priority: 90", "priority: 120"), "r.yaml"),
    state_dir: coord!.stateDir,
  };
  const r = await coord!.engine.reconfigure(changed);
  assert.equal(r.ok, false);
  assert.match(r.lines[0], /not applied: listen \(127\.0\.0\.1:7400 → 127\.0\.0\.1:7499\) needs a restart/);
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(holder(), "lb1", "the priority change in the refused reload was not applied either");
});

test("config reload: a group removed from the config is released by its holder", async () => {
  const yaml = clusterYaml();
  await cluster(yaml);
  const lb1 = agent("lb1");
  agent("lb2");
  await waitFor(() => holder() === "lb1" && lb1.holds.has("VI_1"), { what: "lb1 holds" });
  const two = yaml.replace(
    "groups:\n",
    `groups:\n  - name: VI_2\n    vips: ["198.18.0.101/24"]\n    service: { port: 10016 }\n    members:\n      - { node: lb1, priority: 100, address: 198.18.0.11 }\n      - { node: lb2, priority: 90, address: 198.18.0.12 }\n`,
  );
  const parsed = (y: string) => ({ ...parseCfg(cfgSchema, y, "r.yaml"), state_dir: coord!.stateDir });
  assert.equal((await coord!.engine.reconfigure(parsed(two))).ok, true);
  await waitFor(() => coord!.engine.runtimes.get("VI_2")?.holder === "lb1" && lb1.holds.has("VI_2"), { what: "the added group is elected" });
  const r = await coord!.engine.reconfigure(parsed(yaml));
  assert.ok(
    r.lines.some((l) => /group VI_2 removed/.test(l)),
    r.lines.join("\n"),
  );
  await waitFor(() => !lb1.holds.has("VI_2"), { what: "lb1 released VI_2" });
  assert.ok(lb1.holds.has("VI_1"), "VI_1 untouched");
  assert.equal(coord!.engine.runtimes.has("VI_2"), false);
});

test("a coordinator restart waits for a holder still in its reconnect back-off: nothing moves (docs/design.md, Invariants, 3)", async () => {
  const yaml = clusterYaml({ startupGrace: "default" });
  const c1 = await cluster(yaml);
  const lb1 = agent("lb1");
  const lb2 = agent("lb2");
  await waitFor(() => holder() === "lb1", { what: "lb1 holds" });
  const stateDir = c1.stateDir;
  const e = epoch();
  lb1.destroy();
  lb2.destroy();
  agents.splice(0);
  await c1.stop();
  coord = await startCoordinator(yaml, stateDir);
  // lb2 is back at once and would verify "free" (a probe that timed out); lb1 is still backing off.
  const lb2b = agent("lb2", { verdict: VerifyVerdict.VERIFY_VERDICT_FREE });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(lb2b.commands.length + lb2b.verifies.length, 0, "no election, no verification while the grace lasts");
  const lb1b = agent("lb1", { holds: ["VI_1"], epochs: { VI_1: e } });
  await waitFor(() => holder() === "lb1", { what: "lb1 adopted" });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(epoch(), e, "no new epoch");
  assert.equal(lb1b.commands.length + lb2b.commands.length, 0, "nothing moved");
  dirs.push(stateDir);
});
