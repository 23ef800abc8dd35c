/**
 * Prometheus metrics, scraped over HTTP on 127.0.0.1 like Prometheus does:
 * the real coordinator (engine + gRPC) with stand-in agents, a switchover and
 * a lost holder; then the coordinator binary itself, started with a metrics
 * listener from its config.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoordinatorMetrics } from "../../coordinator/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../shared/metrics-server.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format → samples (comments skipped). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels` (undefined: none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

async function scrape(address: string): Promise<{ status: number; type: string; samples: Sample[]; text: string }> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", samples: parseExposition(text), text };
}

let coord: TestCoordinator;
let metrics: CoordinatorMetrics;
let server: MetricsServer;
const agents: StandinAgent[] = [];

before(async () => {
  coord = await startCoordinator(clusterYaml({ startupGrace: "0s" }));
  metrics = new CoordinatorMetrics(coord.engine);
  server = await startMetricsServer(metrics.registry, "127.0.0.1:0");
});

after(async () => {
  for (const a of agents) a.destroy();
  metrics?.close();
  await server?.close();
  await coord?.stop();
  if (coord) removeDir(coord.stateDir);
});

function agent(node: string): StandinAgent {
  const a = new StandinAgent(coord.address, { node, address: node === "lb1" ? "198.18.0.11" : "198.18.0.12" });
  agents.push(a);
  return a.connect();
}
const holder = () => coord.engine.runtimes.get("VI_1")!.holder;
const phase = () => coord.engine.runtimes.get("VI_1")!.phase.kind;
/** Completed moves in the history: a move's note follows the runtime change (after the epoch is persisted). */
const movesDone = () => coord.engine.events.all().filter((e) => e.kind === "move" && e.durationMs !== undefined).length;

test("the endpoint serves the Prometheus text format on /metrics only", async () => {
  const r = await scrape(server.address);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /# HELP keepvip_failover_duration_seconds /);
  assert.equal((await fetch(`http://${server.address}/`)).status, 404);
  assert.equal((await fetch(`http://${server.address}/metrics`, { method: "POST" })).status, 405);
});

test("holder, epoch and sessions follow the cluster; the first election's move is counted", async () => {
  agent("lb1");
  agent("lb2");
  await waitFor(() => holder() === "lb1" && phase() === "steady" && movesDone() === 1, { what: "lb1 holds VI_1" });
  const s = (await scrape(server.address)).samples;
  assert.equal(value(s, "keepvip_holder", { group: "VI_1", node: "lb1" }), 1);
  assert.equal(value(s, "keepvip_holder", { group: "VI_1", node: "lb2" }), 0);
  assert.equal(value(s, "keepvip_epoch", { group: "VI_1" }), 1);
  assert.equal(value(s, "keepvip_sessions_connected"), 2);
  assert.equal(value(s, "keepvip_node_session", { node: "lb1", state: "live" }), 1);
  assert.equal(value(s, "keepvip_member_state", { group: "VI_1", node: "lb1", state: "MASTER" }), 1);
  assert.equal(value(s, "keepvip_member_state", { group: "VI_1", node: "lb2", state: "BACKUP" }), 1);
  assert.equal(value(s, "keepvip_member_priority", { group: "VI_1", node: "lb2" }), 90);
  assert.equal(value(s, "keepvip_moves_total", { group: "VI_1", reason: "initial-election", outcome: "completed" }), 1);
  assert.equal(value(s, "keepvip_election_outcomes_total", { group: "VI_1", rule: "initial-election" }), 1);
  assert.equal(value(s, "keepvip_group_phase", { group: "VI_1", phase: "steady" }), 1);
});

test("a switchover is counted as a completed move with its reason, and the failover histogram observes it", async () => {
  coord.engine.requestSwitchover("VI_1", "lb2");
  await waitFor(() => holder() === "lb2" && phase() === "steady" && movesDone() === 2, { what: "lb2 holds VI_1 after the switchover" });
  const s = (await scrape(server.address)).samples;
  assert.equal(value(s, "keepvip_moves_total", { group: "VI_1", reason: "switchover", outcome: "completed" }), 1);
  assert.equal(value(s, "keepvip_failover_duration_seconds_count", { group: "VI_1", reason: "switchover" }), 1);
  const seconds = value(s, "keepvip_failover_duration_seconds_sum", { group: "VI_1", reason: "switchover" })!;
  assert.ok(seconds >= 0 && seconds < 0.5, `the switchover took ${seconds} s in the histogram`);
  assert.equal(value(s, "keepvip_failover_duration_seconds_bucket", { group: "VI_1", reason: "switchover", le: "+Inf" }), 1);
  assert.equal(value(s, "keepvip_holder", { group: "VI_1", node: "lb2" }), 1);
  assert.equal(value(s, "keepvip_epoch", { group: "VI_1" }), 2);
  assert.equal(value(s, "keepvip_election_outcomes_total", { group: "VI_1", rule: "switchover" }), 1);
});

test("a holder that leaves (crash) is a holder-lost move: verified, taken over, observed", async () => {
  const lb2 = agents.find((a) => a.node === "lb2")!;
  lb2.crash();
  await waitFor(() => holder() === "lb1" && phase() === "steady" && movesDone() === 3, { what: "lb1 takes over after lb2 crashed" });
  const s = (await scrape(server.address)).samples;
  assert.equal(value(s, "keepvip_moves_total", { group: "VI_1", reason: "holder-lost", outcome: "completed" }), 1);
  assert.equal(value(s, "keepvip_failover_duration_seconds_count", { group: "VI_1", reason: "holder-lost" }), 1);
  assert.equal(value(s, "keepvip_sessions_connected"), 1);
  assert.equal(value(s, "keepvip_node_session", { node: "lb2", state: "closed" }), 1);
  assert.equal(value(s, "keepvip_member_state", { group: "VI_1", node: "lb2", state: "DISCONNECTED" }), 1);
  assert.ok((value(s, "keepvip_events_total", { kind: "session" }) ?? 0) >= 3, "sessions opened and closed are counted");
  // Every move so far, and nothing else: no label value outside the rules.
  const moves = s
    .filter((x) => x.name === "keepvip_moves_total")
    .map((x) => `${x.labels.reason}/${x.labels.outcome}=${x.value}`)
    .sort();
  assert.deepEqual(moves, ["holder-lost/completed=1", "initial-election/completed=1", "switchover/completed=1"]);
});

test("agent events are counted by node and a bounded kind", async () => {
  const lb1 = agents.find((a) => a.node === "lb1")!;
  lb1.write({ body: { $case: "event", value: { kind: "vip.drift-repaired", group: "VI_1", detail: "re-added", atMs: Date.now() } } });
  lb1.write({ body: { $case: "event", value: { kind: "made-up-by-an-agent-123", group: "VI_1", detail: "?", atMs: Date.now() } } });
  await waitFor(() => coord.engine.events.all().filter((e) => e.kind === "agent").length >= 2, { what: "two agent events in the history" });
  const s = (await scrape(server.address)).samples;
  assert.equal(value(s, "keepvip_agent_events_total", { node: "lb1", kind: "vip.drift-repaired" }), 1);
  assert.equal(value(s, "keepvip_agent_events_total", { node: "lb1", kind: "other" }), 1);
});

test("upstream versions: published, and applied per agent", async () => {
  const c = await startCoordinator(clusterYaml({ startupGrace: "0s", upstreams: true }));
  const m = new CoordinatorMetrics(c.engine, { processMetrics: false });
  const a = new StandinAgent(c.address, { node: "lb1", address: "198.18.0.11" });
  try {
    a.connect();
    await waitFor(() => c.engine.nodes.views.get("lb1")?.session === "live", { what: "lb1 connected" });
    const published = c.engine.upstreams.current().version;
    assert.ok(published > 0);
    a.write({
      body: {
        $case: "report",
        value: {
          ...a.report(),
          upstreamVersion: published,
          probes: [{ upstream: "my10016", server: "198.18.0.21:10016", up: false, detail: "refused", latencyMs: 0 }],
        },
      },
    });
    await waitFor(() => c.engine.upstreams.applied.get("lb1")?.version === published, { what: "lb1's applied version reported" });
    // The stand-in reports the version it applied on its own too: wait for the report with the probe.
    const observed = { upstream: "my10016", server: "198.18.0.21:10016", node: "lb1" };
    await waitFor(async () => value(parseExposition(await m.registry.metrics()), "keepvip_upstream_server_observed_up", observed) === 0, {
      what: "lb1's probe report folded in",
    });
    const s = parseExposition(await m.registry.metrics());
    assert.equal(value(s, "keepvip_upstream_version_published"), published);
    assert.equal(value(s, "keepvip_upstream_version_applied", { node: "lb1" }), published);
    assert.equal(value(s, "keepvip_upstream_apply_failing", { node: "lb1" }), 0);
    assert.equal(value(s, "keepvip_upstream_server_observed_up", { upstream: "my10016", server: "198.18.0.21:10016", node: "lb1" }), 0);
    assert.equal(value(s, "keepvip_upstream_server_up", { upstream: "my10016", server: "198.18.0.22:10016" }), 1);
    assert.equal(value(s, "process_cpu_seconds_total"), undefined, "process metrics can be left out");
  } finally {
    a.destroy();
    m.close();
    await c.stop();
    removeDir(c.stateDir);
  }
});

test("agent reports are counted as repeats (the same as the last, a probe's latency and a reach probe's time aside) or changes", async () => {
  // A long dead interval: the session stays live between the reports the test sends (a
  // silent session's report is never a repeat).
  const c = await startCoordinator(clusterYaml({ startupGrace: "0s", upstreams: true, deadInterval: "10s" }));
  const m = new CoordinatorMetrics(c.engine, { processMetrics: false });
  // Reports only when the test sends them (and when it answers a command or a push).
  const a = new StandinAgent(c.address, { node: "lb1", address: "198.18.0.11", heartbeatMs: 0 });
  const counts = async () => {
    const s = parseExposition(await m.registry.metrics());
    return {
      repeat: value(s, "keepvip_agent_reports_total", { kind: "repeat" }) ?? -1,
      change: value(s, "keepvip_agent_reports_total", { kind: "change" }) ?? -1,
    };
  };
  const send = (latencyMs: number, observedMs: number, up = true) =>
    a.write({
      body: {
        $case: "report",
        value: {
          ...a.report(),
          probes: [{ upstream: "my10016", server: "198.18.0.21:10016", up, detail: up ? "HTTP 200" : "refused", latencyMs }],
          reach: [{ group: "VI_1", address: "198.18.0.100", reachable: true, lanOk: true, lanFresh: true, consecutiveFailures: 0, observedMs }],
        },
      },
    });
  try {
    a.connect();
    await waitFor(() => c.engine.runtimes.get("VI_1")?.holder === "lb1" && c.engine.runtimes.get("VI_1")?.phase.kind === "steady", { what: "lb1 holds VI_1" });
    await new Promise((r) => setTimeout(r, 200));
    const start = await counts();
    send(1, 1000);
    await waitFor(async () => (await counts()).change === start.change + 1, { what: "the first report folded in" });
    send(3, 1200);
    send(2, 1400);
    await waitFor(async () => (await counts()).repeat === start.repeat + 2, { what: "two repeats counted" });
    send(2, 1600, false);
    await waitFor(async () => (await counts()).change === start.change + 2, { what: "a probe down is a change" });
    assert.deepEqual(await counts(), { repeat: start.repeat + 2, change: start.change + 2 });
  } finally {
    a.destroy();
    m.close();
    await c.stop();
    removeDir(c.stateDir);
  }
});

/** A free TCP port on 127.0.0.1 (bound, then released for the child to take). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test("keepvip-coordinator serves metrics on the listener its config names (metrics.listen)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-metrics-"));
  const [grpcPort, metricsPort] = [await freePort(), await freePort()];
  const file = join(dir, "coordinator.yaml");
  writeFileSync(file, `${clusterYaml()}\nlisten: "127.0.0.1:${grpcPort}"\nstate_dir: ${dir}\nmetrics: { listen: "127.0.0.1:${metricsPort}" }\n`);
  const child = spawn(process.execPath, ["dist/coordinator/main.js", "--config", file], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, KEEPVIP_LOG_LEVEL: "silent", NOTIFY_SOCKET: "" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    let samples: Sample[] = [];
    // Bounded: up to 15 s for node to start and bind both listeners.
    for (let i = 0; i < 150 && samples.length === 0 && child.exitCode === null; i++) {
      samples = await scrape(`127.0.0.1:${metricsPort}`).then(
        (r) => r.samples,
        () => [],
      );
      if (samples.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(child.exitCode, null, `the coordinator exited: ${stderr}`);
    assert.equal(value(samples, "keepvip_epoch", { group: "VI_1" }), 0);
    assert.equal(value(samples, "keepvip_sessions_connected"), 0);
    assert.ok((value(samples, "process_resident_memory_bytes") ?? 0) > 0, "process metrics from the real process");
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    removeDir(dir);
  }
});

test("security: keepvip_coordinator_insecure says whether the listener runs without TLS; the certificate's expiry follows reloads", async () => {
  let notAfter = Date.parse("2027-11-30T11:06:08Z");
  const secure = new CoordinatorMetrics(coord.engine, { processMetrics: false, security: { insecure: false, certNotAfterMs: () => notAfter } });
  const insecure = new CoordinatorMetrics(coord.engine, { processMetrics: false, security: { insecure: true } });
  try {
    let s = parseExposition(await secure.registry.metrics());
    assert.equal(value(s, "keepvip_coordinator_insecure"), 0);
    assert.equal(value(s, "keepvip_tls_cert_expiry_timestamp_seconds"), Date.parse("2027-11-30T11:06:08Z") / 1000);
    notAfter = Date.parse("2028-01-01T00:00:00Z");
    s = parseExposition(await secure.registry.metrics());
    assert.equal(value(s, "keepvip_tls_cert_expiry_timestamp_seconds"), Date.parse("2028-01-01T00:00:00Z") / 1000, "a reloaded certificate's date");
    s = parseExposition(await insecure.registry.metrics());
    assert.equal(value(s, "keepvip_coordinator_insecure"), 1);
    assert.equal(value(s, "keepvip_tls_cert_expiry_timestamp_seconds"), undefined, "no certificate, no expiry");
  } finally {
    secure.close();
    insecure.close();
  }
});
