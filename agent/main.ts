#!/usr/bin/env -S node --jitless --expose-gc
/**
 * keepvip-agent --config FILE [--check | --preflight [--json]]
 * Wires the host modules to the core and the core to the coordinator session;
 * handles SIGTERM (planned handover) and SIGINT the same way.
 */
import { Command } from "commander";
import { nanoid } from "nanoid";
import { agentConfigSchema, coordinatorAddresses } from "../shared/config/agent.js";
import { ConfigError, loadConfigFile, loadConfigOrExit } from "../shared/config/load.js";
import { createLogger } from "../shared/log.js";
import { VERSION } from "../shared/version.js";
import { FORWARDED_VIP_EVENTS } from "../shared/protocol.js";
import { AgentCore } from "./core/agent.js";
import { loadMemory, saveMemory } from "./core/memory.js";
import { createCommandRunner } from "../shared/exec/runner.js";
import { UpstreamApplier } from "./nginx/apply.js";
import { NginxSupervisor } from "./nginx/supervisor.js";
import { groupNotify, Notifier } from "./notify/notify.js";
import { probeService } from "./probe/service.js";
import { CoordinatorSession, channelsFor } from "./session/client.js";
import { TrackScripts } from "./tracks/scripts.js";
import { sharingIpMonitor } from "./link/ip-monitor.js";
import { BackendProber } from "./upstreams/prober.js";
import { VipController } from "./vip/controller.js";
import { Drainer } from "./vip/drain.js";
import { AgentMetrics } from "./metrics.js";
import { startMetricsServer } from "../shared/metrics-server.js";
import { Readiness } from "../shared/systemd.js";
import { wheelScheduler } from "../shared/scheduler.js";
import { sharedWheel } from "../shared/timer-wheel.js";
import { ReloadableTls } from "../shared/tls-material.js";
import { planReload, withNotifyOf, type ReloadPlan } from "./reload.js";
import { stopIsRestart } from "./restart.js";
import { DrillRunner } from "./probe/drill.js";
import { startHeapTrim } from "./heap-trim.js";
import { linkPort, nginxPort, reachPort, trackPort, upstreamPort, verifyPort, vipPort } from "./wiring.js";

const program = new Command()
  .name("keepvip-agent")
  .description("keepvip agent: holds VIPs, supervises nginx, probes backends, follows the coordinator")
  .version(VERSION)
  .requiredOption("-c, --config <file>", "agent config (YAML)")
  .option("--check", "validate the config and exit")
  .option(
    "--preflight",
    "check this host for what the agent needs (tools, capabilities, interfaces, sysctls, nginx, coordinator) and exit: 0 when nothing blocks",
  )
  .option("--json", "with --preflight: the checklist as JSON")
  .parse();
const opts = program.opts<{ config: string; check?: boolean; preflight?: boolean; json?: boolean }>();

const config = loadConfigOrExit(agentConfigSchema, opts.config);
if (opts.check) {
  process.stdout.write(
    `${opts.config}: OK — node ${config.node_id}, coordinator ${coordinatorAddresses(config).join(", ")}, nginx ${config.nginx.mode}, ${Object.keys(config.tracks).length} track script(s)\n`,
  );
  process.exit(0);
}
if (opts.preflight) {
  // Loaded only here: a running agent never needs the preflight checks.
  const { formatChecklist, preflightExitCode, preflightJson, runPreflight } = await import("./preflight.js");
  const items = await runPreflight(config, { runner: createCommandRunner() });
  process.stdout.write(
    opts.json ? preflightJson(config.node_id, items) : `keepvip-agent preflight — node ${config.node_id} (${opts.config})\n${formatChecklist(items)}`,
  );
  process.exit(preflightExitCode(items));
}

const log = createLogger({ service: "keepvip-agent", node: config.node_id });
if (config.insecure && !config.tls) log.warn({ event: "security.insecure" }, "INSECURE: the session to the coordinator is not encrypted or authenticated");
const runner = createCommandRunner();

// nginx first: adopt a running master (agent restart, F2) or start one.
const supervisor = new NginxSupervisor({ config: config.nginx, runner, log: log.child({ component: "nginx" }) });
const nginxStatus = await supervisor.start();
log.info({ event: "nginx.start", state: nginxStatus.state, pid: nginxStatus.pid, detail: nginxStatus.detail }, `nginx ${nginxStatus.state}`);

const applier = new UpstreamApplier({ path: config.nginx.upstream_file, control: supervisor, log: log.child({ component: "upstreams" }) });
await applier.recover();

const scripts = new TrackScripts({ tracks: config.tracks, runner, scriptUser: config.script_user, log: log.child({ component: "tracks" }) });
scripts.start();

// The link watcher and the VIP controller share one `ip monitor` process.
const monitors = sharingIpMonitor(runner, config.ip);
const links = linkPort(monitors, config, log.child({ component: "link" }));
await links.watcher.start();

// The host modules report to the core, which is built after them.
let toCore = {
  event: (_kind: string, _group: string, _detail: string): void => undefined,
  report: (): void => undefined,
  drains: (): void => undefined,
};

// Drift repairs, unexpected VIPs and failed announcements also go to the
// coordinator's event history (keepvip events); the controller logs them itself.
const OPERATOR_EVENTS = new Set(FORWARDED_VIP_EVENTS);
/**
 * The re-read of every address behind `ip monitor address`, which reports drift at once: only
 * a safety net for a lost netlink message. Every read forks an `ip` process from this one, which
 * at the old 2 s was a third of the idle agent's spawns (docs/benchmarks.md, footprint): 10 s.
 */
const ADDRESS_POLL_MS = 10_000;
/** How often the agent checks its certificate files for a renewal. */
const TLS_WATCH_MS = 5000;
const vips = new VipController({
  runner: monitors,
  pollMs: ADDRESS_POLL_MS,
  tools: { ip: config.ip, arping: config.arping, na6: config.na6, ndisc6: config.ndisc6 },
  log: log.child({ component: "vip" }),
  onEvent: (e) => {
    if (OPERATOR_EVENTS.has(e.kind)) toCore.event(`vip.${e.kind}`, e.group, e.detail);
  },
});
await vips.start();
const drainer = new Drainer({
  runner,
  tools: { nft: config.nft, ip: config.ip, ss: config.ss, arping: config.arping, ndisc6: config.ndisc6 },
  macOf: (iface) => vips.interfaceMac(iface),
  sourceOf: (iface) => vips.interfaceAddress(iface),
  log: log.child({ component: "drain" }),
  onEvent: (e) => toCore.event(`vip.${e.kind}`, e.group, e.detail),
  onChange: () => toCore.drains(),
});

const notifier = new Notifier({
  config: config.notify,
  groups: groupNotify(config.groups),
  runner,
  scriptUser: config.script_user,
  log: log.child({ component: "notify" }),
});
const backends = new BackendProber(probeService, () => toCore.report());
const core = new AgentCore({
  config,
  log,
  vips: vipPort(vips, drainer),
  nginx: nginxPort(supervisor),
  tracks: trackPort(scripts, log, [...config.track_interfaces, ...config.interface_tracks]),
  reach: reachPort(log.child({ component: "reach" })),
  verify: verifyPort(runner, config, log.child({ component: "verify" })),
  notify: notifier,
  link: links.port,
  upstreams: upstreamPort(applier),
  backends,
  drills: new DrillRunner({ probe: probeService, wallMs: () => Date.now() }),
  memory: loadMemory(config.state_dir),
  saveMemory: (m) => saveMemory(config.state_dir, m),
  instanceId: nanoid(10),
  scheduler: wheelScheduler,
});
toCore = {
  event: (kind, group, detail) => core.agentEvent(kind, group, detail),
  report: () => core.scheduleReport(),
  drains: () => core.drainsChanged(),
};
// A drain an earlier process left (it stopped or crashed mid-drain) must not outlive it:
// its ARP filter would keep this host from answering for the VIP when it holds it again.
// IPv6 copies have no label: the VIPs of the groups this agent last knew tell them apart.
await drainer.clean(loadMemory(config.state_dir).groups.flatMap((g) => g.vips.map((v) => v.split("/")[0])));
await core.init();

// The first hello must carry real track results: an unreported track counts as
// failing and would cost this node its priority in the first election.
const slowest = Math.max(0, ...Object.values(config.tracks).map((t) => t.timeout ?? t.interval));
await Promise.race([scripts.ready(), new Promise((r) => setTimeout(r, slowest + 500))]);

// systemd (Type=notify): READY with the first session, or after READY_WITHIN_MS
// without one: a host whose coordinator is down still boots, fail-static.
const READY_WITHIN_MS = 10_000;
const readiness = new Readiness(runner, (error) => log.warn({ event: "systemd.notify.failed", error }, `systemd-notify failed: ${error}`));
let metrics: AgentMetrics | undefined;
const coordinators = coordinatorAddresses(config);
// Key, certificate and CA: checked now (a bad set stops the start, naming the file), reloaded
// on SIGHUP and when the files change; the open session is kept, the next one uses them.
const tlsFiles = config.tls ? new ReloadableTls(config.tls, log.child({ component: "tls" })) : undefined;
const session = new CoordinatorSession(
  coordinators,
  channelsFor(config, tlsFiles),
  {
    hello: () => core.hello(),
    accept: (w) => core.acceptWelcome(w),
    message: (m) => core.message(m),
    connection: (up, detail) => {
      core.connection(up, detail);
      metrics?.connection(up);
      if (up) readiness.ready(`connected to the coordinator ${session.address}`);
      else readiness.status(`coordinator ${session.address} lost (${detail}): keeping what this host holds`);
    },
  },
  log.child({ component: "session" }),
);
core.attach((m) => session.send(m));
tlsFiles?.onChange(() => session.refreshChannels());
// Every 5 s, not the default 500 ms: each check is a stat per file through the libuv pool, and
// a renewal lands days before the old certificate expires (SIGHUP applies one at once).
tlsFiles?.watch({ intervalMs: TLS_WATCH_MS });
session.start();
readiness.readyBy(READY_WITHIN_MS, `coordinator ${coordinators.join(", ")} not reachable yet: serving what this host holds (fail-static), retrying`);
if (config.metrics) {
  metrics = new AgentMetrics({
    node: config.node_id,
    core,
    nginx: supervisor,
    applier,
    connected: () => session.connected,
    timerLateMs: () => sharedWheel.lateMs(),
  });
  // Metrics are for people watching: a port clash is logged, it never stops the agent.
  await startMetricsServer(metrics.registry, config.metrics.listen, log).then(
    (m) => log.info({ event: "metrics.listening", address: m.address }, `metrics on http://${m.address}/metrics`),
    (err: Error) => log.error({ event: "metrics.error", err: err.message }, err.message),
  );
}
// The bin's --expose-gc puts gc() on the global object (agent/heap-trim.ts says why).
startHeapTrim(wheelScheduler, (globalThis as { gc?: () => void }).gc);
log.info({ event: "agent.start", version: VERSION, coordinators, held: [...core.held.keys()] }, `keepvip-agent ${VERSION} started`);

/** How long the coordinator keeps a restarting agent's node as it was (the next agent starts within it). */
const RESTART_GRACE_MS = 20_000;
/** Longest a stop waits for drains (the unit's TimeoutStopSec leaves room for it). */
const MAX_STOP_DRAIN_MS = 40_000;

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  // A restart (systemctl restart, or SIGUSR2 from another supervisor) moves nothing.
  if (signal === "SIGUSR2" || (signal === "SIGTERM" && (await stopIsRestart(runner)))) return restartExit(signal);
  log.info({ event: "agent.stop", signal }, "stopping: asking for a handover");
  const outcome = await core.stop(session.connected);
  log.info({ event: "agent.stopped", outcome }, `stopped: ${outcome}`);
  // A planned handover drains what this host still serves: wait for it (bounded), then let go.
  await drainer.settle(MAX_STOP_DRAIN_MS, () =>
    log.info({ event: "agent.draining", draining: drainer.status() }, "waiting for the drains to end before stopping"),
  );
  await drainer.close();
  await letGo();
  // Let the STOP notifications run (bounded by their own timeout, at most 5 s here).
  await Promise.race([notifier.flush(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(0);
}
/**
 * Exit for a restart: no handover, no STOP notifications (nothing stops). The VIPs stay
 * bound and nginx keeps serving; the next agent adopts both. The coordinator is told
 * first, and keeps this node as it is (holder included, nothing verified or moved) for at
 * most RESTART_GRACE_MS; without a session it would verify the VIP on the LAN, which
 * finds it serving, but a starting agent on a busy host is no place for a close call.
 */
async function restartExit(signal: string): Promise<void> {
  const how = signal === "SIGUSR2" ? "SIGUSR2" : "systemctl restart";
  const told = core.announceRestart(RESTART_GRACE_MS, `agent restarting (${how})`);
  log.info(
    { event: "agent.restart", signal, held: [...core.held.keys()], coordinatorTold: told },
    `restarting (${how}): the VIPs and nginx stay for the next agent to adopt, no handover`,
  );
  // Give the message its way out before the stream is cancelled.
  if (told) await new Promise((r) => setTimeout(r, 200));
  await letGo();
  process.exit(0);
}

/** The last steps of a stop or a restart: the session, scripts and watches end; what the host serves stays. */
async function letGo(): Promise<void> {
  // The coordinator ends the session once it has seen the half-close: a clean departure, not a lost agent.
  await session.stop();
  scripts.stop();
  backends.stop();
  await links.watcher.close();
  // Drift watching stops; the addresses stay as they are (a kept VIP keeps serving).
  await vips.close();
  // nginx keeps running: requests in flight finish, a restarted agent adopts it.
  supervisor.detach();
}
// SIGHUP (systemctl reload): the TLS files are reloaded (as when they change);
// the tracks' scripts, intervals and timeouts, the notify scripts (node-wide and per group) and nginx's
// commands apply in place (reload.ts); the agent's other settings (nginx's
// paths, groups, coordinator) take effect on a restart, which moves nothing,
// and the reload says which. An invalid file changes nothing. The cluster's settings
// (priorities, upstreams, timing) live in the coordinator and are reloaded
// there. Never exits on SIGHUP.
let running = config;
process.on("SIGHUP", () => {
  tlsFiles?.reload("SIGHUP");
  try {
    const next = loadConfigFile(agentConfigSchema, opts.config);
    const plan = planReload(running, next);
    const applied: ReloadPlan["apply"] = plan.apply.filter((what) => what !== "tracks");
    if (plan.apply.includes("tracks")) {
      const refused = scripts.reconfigure(next.tracks);
      if (refused) plan.restart.push(`tracks (${refused})`);
      else {
        running = { ...running, tracks: next.tracks };
        applied.unshift("tracks");
      }
    }
    if (plan.apply.includes("notify")) {
      // Node-wide and per-group scripts (groups.NAME.notify) together.
      notifier.reconfigure(next.notify, groupNotify(next.groups));
      running = withNotifyOf(running, next);
    }
    if (plan.apply.includes("nginx")) {
      supervisor.reconfigure(next.nginx);
      running = { ...running, nginx: next.nginx };
    }
    if (plan.apply.includes("tls")) running = { ...running, tls: next.tls };
    const parts = [
      applied.length > 0 ? `applied: ${applied.join(", ")}` : "",
      plan.restart.length > 0
        ? `${plan.restart.join(", ")} changed and valid; restart the agent to apply (systemctl restart keepvip-agent moves nothing: the new agent adopts the VIPs and nginx)`
        : "",
    ].filter(Boolean);
    log[plan.restart.length > 0 ? "warn" : "info"](
      { event: "config.reload", applied, restart: plan.restart },
      parts.length === 0 ? "config reload: no change" : `config reload: ${parts.join("; ")}`,
    );
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    log.error({ event: "config.reload.rejected", problems }, `config reload rejected, the running config stays:\n  ${problems.join("\n  ")}`);
  }
});
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGUSR2", () => void shutdown("SIGUSR2"));
process.on("SIGINT", () => void shutdown("SIGINT"));
