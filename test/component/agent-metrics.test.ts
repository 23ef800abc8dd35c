/**
 * The agent's metrics over HTTP: the real AgentCore (in-memory host ports),
 * twins of the nginx supervisor's and the upstream applier's listener hooks,
 * scraped from the real metrics listener on 127.0.0.1.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentCore } from "../../agent/core/agent.js";
import { loadMemory, saveMemory } from "../../agent/core/memory.js";
import { AgentMetrics } from "../../agent/metrics.js";
import type { ApplyResult } from "../../agent/nginx/apply.js";
import type { NginxStatus } from "../../agent/nginx/restart-policy.js";
import type { NginxStateListener } from "../../agent/nginx/supervisor.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";
import { silentLogger } from "../../shared/log.js";
import { startMetricsServer, type MetricsServer } from "../../shared/metrics-server.js";
import { FakeBackends, FakeLan, FakeLinks, FakeNginx, FakeNotify, FakeReach, FakeTracks, FakeUpstreams, FakeVerify, FakeVips } from "./helpers/fake-ports.js";
import { removeDir } from "./helpers/coordinator.js";
import { waitFor } from "../support/wait.js";

/** The supervisor's listener surface, driven by the test. */
class SupervisorTwin {
  status: NginxStatus = { state: "running", detail: "", pid: 10, failures: 0 };
  private readonly listeners = new Set<NginxStateListener>();
  state(): NginxStatus {
    return { ...this.status };
  }
  onState(l: NginxStateListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(state: NginxStatus["state"], failures: number, notify = true) {
    this.status = { state, detail: state, pid: state === "running" ? 11 : undefined, failures };
    if (notify) for (const l of this.listeners) l(state, state, this.state());
  }
}

class ApplierTwin {
  private readonly listeners = new Set<(r: ApplyResult) => void>();
  onApplied(l: (r: ApplyResult) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(r: ApplyResult) {
    for (const l of this.listeners) l(r);
  }
}

let dir: string;
let core: AgentCore;
let metrics: AgentMetrics;
let server: MetricsServer;
const nginx = new SupervisorTwin();
const applier = new ApplierTwin();
const tracks = new FakeTracks();
let connected = false;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keepvip-agent-metrics-"));
  const config = parseConfigText(
    agentConfigSchema,
    `node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\nstate_dir: ${dir}\ngroups: {VI_1: {interface: lan0}}\n`,
    "agent.yaml",
  );
  const lan = new FakeLan();
  core = new AgentCore({
    config,
    vips: new FakeVips(lan, "lb1"),
    nginx: new FakeNginx(),
    tracks,
    reach: new FakeReach(),
    verify: new FakeVerify(lan, "lb1"),
    notify: new FakeNotify(),
    link: new FakeLinks(),
    upstreams: new FakeUpstreams(),
    backends: new FakeBackends(),
    log: silentLogger,
    memory: loadMemory(dir),
    saveMemory: (m) => saveMemory(dir, m),
    instanceId: "t",
  });
  await core.init();
  metrics = new AgentMetrics({ node: "lb1", core, nginx, applier, connected: () => connected }, { processMetrics: false });
  server = await startMetricsServer(metrics.registry, "127.0.0.1:0");
});

after(async () => {
  core?.close();
  metrics?.close();
  await server?.close();
  removeDir(dir);
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://${server.address}/metrics`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  return res.text();
}

/** The value on the line `name{labels}`, exactly as rendered. */
function line(text: string, series: string): number | undefined {
  const hit = text.split("\n").find((l) => l.startsWith(`${series} `));
  return hit === undefined ? undefined : Number(hit.slice(series.length + 1));
}

test("before the coordinator: nothing held, BACKUP, session down, nginx running", async () => {
  const t = await scrape();
  assert.equal(line(t, `keepvip_agent_info{version="${t.match(/version="([^"]+)"/)?.[1]}",node="lb1"}`), 1);
  assert.equal(line(t, "keepvip_agent_session_connected"), 0);
  assert.equal(line(t, 'keepvip_agent_nginx_state{state="running"}'), 1);
  assert.equal(line(t, 'keepvip_agent_nginx_state{state="down"}'), 0);
  assert.equal(line(t, "keepvip_agent_fault"), 0);
  assert.equal(line(t, 'keepvip_agent_track_passing{track="nginx"}'), 1, "nginx is a built-in track");
});

test("the coordinator's welcome and an acquire: the VIP is counted as held, the group MASTER", async () => {
  connected = true;
  metrics.connection(true);
  core.message({
    body: {
      $case: "welcome",
      value: {
        sessionId: "s",
        heartbeatIntervalMs: 60_000,
        deadIntervalMs: 180_000,
        reachIntervalMs: 100,
        verifyTimeoutMs: 150,
        reachFall: 3,
        term: 0,
        groups: [{ name: "VI_1", vips: ["198.18.0.100/24"], servicePort: 10016, servicePath: "", tracks: [], lanReferences: [] }],
      },
    },
  });
  let t = await scrape();
  assert.equal(line(t, 'keepvip_agent_vips_held{group="VI_1"}'), 0);
  assert.equal(line(t, 'keepvip_agent_state{group="VI_1",state="BACKUP"}'), 1);
  core.message({
    body: {
      $case: "command",
      value: {
        commandId: "c1",
        group: "VI_1",
        epoch: 1,
        term: 0,
        reason: "test",
        action: { $case: "acquire", value: { vips: ["198.18.0.100/24"], takeover: false, forwardMs: 0 } },
      },
    },
  });
  await waitFor(() => core.held.has("VI_1"), { what: "the core holds VI_1" });
  t = await scrape();
  assert.equal(line(t, 'keepvip_agent_vips_held{group="VI_1"}'), 1);
  assert.equal(line(t, 'keepvip_agent_state{group="VI_1",state="MASTER"}'), 1);
  assert.equal(line(t, 'keepvip_agent_state{group="VI_1",state="BACKUP"}'), undefined, "one state per group");
  assert.equal(line(t, "keepvip_agent_session_connected"), 1);
  assert.equal(line(t, 'keepvip_agent_session_changes_total{to="up"}'), 1);
});

test("a track script's result is a gauge per track", async () => {
  tracks.set("chk_nginx", false);
  const t = await scrape();
  assert.equal(line(t, 'keepvip_agent_track_passing{track="chk_nginx"}'), 0);
});

test("nginx dies twice and is restarted each time, the second restart fails twice: two restarts and two failures counted, DOWN shown", async () => {
  nginx.set("starting", 0);
  nginx.set("running", 0);
  nginx.set("starting", 0);
  nginx.set("down", 1);
  // A retry failing with the same error changes no state: the supervisor does
  // not call its listeners, but the failure count grew; the scrape sees it.
  nginx.set("down", 2, false);
  const t = await scrape();
  assert.equal(line(t, "keepvip_agent_nginx_restarts_total"), 2);
  assert.equal(line(t, "keepvip_agent_nginx_failures_total"), 2);
  assert.equal(line(t, 'keepvip_agent_nginx_state{state="down"}'), 1);
  nginx.set("running", 0);
  const back = await scrape();
  assert.equal(line(back, "keepvip_agent_nginx_failures_total"), 2, "recovering counts nothing");
  assert.equal(line(back, 'keepvip_agent_nginx_state{state="running"}'), 1);
});

test("upstream applies are counted by outcome", async () => {
  applier.emit({ version: 2, ok: true, error: "", superseded: false });
  applier.emit({ version: 3, ok: false, error: "superseded by version 4", superseded: true });
  applier.emit({ version: 4, ok: false, error: "nginx -t failed: ...", superseded: false });
  const t = await scrape();
  assert.equal(line(t, 'keepvip_agent_upstream_applies_total{result="ok"}'), 1);
  assert.equal(line(t, 'keepvip_agent_upstream_applies_total{result="superseded"}'), 1);
  assert.equal(line(t, 'keepvip_agent_upstream_applies_total{result="failed"}'), 1);
});

test("process metrics: prom-client's defaults without its event-loop monitor; the timer wheel's lateness in its place", async () => {
  const late = [37, 0];
  const own = new AgentMetrics({ node: "lb1", core, nginx, applier, connected: () => connected, timerLateMs: () => late.shift() ?? 0 });
  try {
    const text = await own.registry.metrics();
    assert.ok((line(text, "process_resident_memory_bytes") ?? 0) > 0, "the process's RSS");
    assert.ok((line(text, "nodejs_heap_size_used_bytes") ?? 0) > 0, "the V8 heap");
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m, "GC");
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m, "CPU");
    assert.doesNotMatch(text, /nodejs_eventloop_lag/, "no event-loop monitor (its own timer and histogram)");
    assert.equal(line(text, "keepvip_agent_timer_late_seconds"), 0.037);
    assert.equal(line(await own.registry.metrics(), "keepvip_agent_timer_late_seconds"), 0, "each scrape shows what the wheel says then");
  } finally {
    own.close();
  }
});
