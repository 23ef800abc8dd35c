/**
 * The agent's Prometheus metrics, read through public surfaces only: the
 * core's `held`, `groups` and `report()` (the same state the coordinator gets)
 * at scrape time; the nginx supervisor's and the upstream applier's listeners
 * for what happens between scrapes (restarts, failed starts, reloads, rejected
 * configs). The core does not know metrics exist.
 *
 * Label values: group, track and server names come from the configs; states
 * from fixed enums.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Report } from "../shared/gen/keepvip/v1/agent.js";
import { VERSION } from "../shared/version.js";
import { NGINX_STATES } from "../shared/protocol.js";
import type { AgentCore } from "./core/agent.js";
import type { ApplyResult } from "./nginx/apply.js";
import type { NginxStateListener } from "./nginx/supervisor.js";
import type { NginxStatus } from "./nginx/restart-policy.js";
import { collectProcessMetrics } from "./process-metrics.js";

/** What the metrics read; AgentCore, NginxSupervisor and UpstreamApplier provide it (tests pass twins). */
export interface AgentMetricsSources {
  node: string;
  core: Pick<AgentCore, "held" | "groups" | "report">;
  nginx: { state(): NginxStatus; onState(listener: NginxStateListener): () => void };
  applier: { onApplied(listener: (r: ApplyResult) => void): () => void };
  /** The coordinator session is up (welcomed). */
  connected(): boolean;
  /** The most the agent's timer wheel ran late lately, in ms (TimerWheel.lateMs). */
  timerLateMs?(): number;
}

export class AgentMetrics {
  readonly registry: Registry;
  private readonly unsubscribers: Array<() => void> = [];
  private readonly sessionChanges: Counter<"to">;

  constructor(
    private readonly sources: AgentMetricsSources,
    options: { registry?: Registry; processMetrics?: boolean } = {},
  ) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    if (options.processMetrics ?? true) collectProcessMetrics(registry);
    if (sources.timerLateMs) {
      const timerLate = sources.timerLateMs;
      new Gauge({
        name: "keepvip_agent_timer_late_seconds",
        help: "The most the agent's periodic work (probes, reports, checks) ran after its time in the last 1-2 minutes: the event loop's delay, measured on the agent's own wake-ups",
        registers,
        collect() {
          this.set(timerLate() / 1000);
        },
      });
    }

    // One report() per scrape, shared by the collectors below; the first collector starts a scrape.
    let report: Report | undefined;
    const current = (): Report => (report ??= sources.core.report());
    const info = new Gauge({
      name: "keepvip_agent_info",
      help: "keepvip agent version and node id (always 1)",
      labelNames: ["version", "node"],
      registers,
      collect: () => {
        report = undefined;
        info.set({ version: VERSION, node: sources.node }, 1);
      },
    });

    // ---------------------------------------------------------------- VIPs and state
    const held = new Gauge({
      name: "keepvip_agent_vips_held",
      help: "VIP addresses this host holds, per group (0: not held)",
      labelNames: ["group"],
      registers,
      collect: () => {
        held.reset();
        for (const g of this.groupNames()) held.set({ group: g }, sources.core.held.get(g)?.vips.length ?? 0);
      },
    });
    const state = new Gauge({
      name: "keepvip_agent_state",
      help: "1 for this host's state per group as the agent sees it (MASTER: holds it, FAULT: must not, BACKUP: could)",
      labelNames: ["group", "state"],
      registers,
      collect: () => {
        state.reset();
        const fault = current().fault;
        for (const g of this.groupNames()) state.set({ group: g, state: sources.core.held.has(g) ? "MASTER" : fault ? "FAULT" : "BACKUP" }, 1);
      },
    });
    const fault = new Gauge({
      name: "keepvip_agent_fault",
      help: "1 while the node is FAULT (nginx cannot start, tracked link down): it releases and holds nothing",
      registers,
      collect: () => {
        fault.set(current().fault ? 1 : 0);
      },
    });
    const connected = new Gauge({
      name: "keepvip_agent_session_connected",
      help: "1 while the session with the coordinator is up (0: fail-static, keeping what it holds)",
      registers,
      collect: () => {
        connected.set(sources.connected() ? 1 : 0);
      },
    });
    this.sessionChanges = new Counter({
      name: "keepvip_agent_session_changes_total",
      help: "Coordinator session established (to=up) and lost (to=down)",
      labelNames: ["to"],
      registers,
    });

    // ---------------------------------------------------------------- nginx
    const nginxState = new Gauge({
      name: "keepvip_agent_nginx_state",
      help: "1 for nginx's supervision state (running, starting, down, stopped)",
      labelNames: ["state"],
      registers,
      collect: () => {
        const s = sources.nginx.state();
        follow(s);
        for (const name of NGINX_STATES) nginxState.set({ state: name }, name === s.state ? 1 : 0);
      },
    });

    const restarts = new Counter({
      name: "keepvip_agent_nginx_restarts_total",
      help: "nginx deaths the agent restarted nginx after (a failed restart's background retries count as failures)",
      registers,
    });
    const failures = new Counter({
      name: "keepvip_agent_nginx_failures_total",
      help: "nginx start attempts that failed (the first one makes the node FAULT; retries back off)",
      registers,
    });
    let last = sources.nginx.state();
    // The supervisor's failure count only grows until nginx runs again (then 0):
    // count its increases, seen on every change and on every scrape.
    const follow = (status: NginxStatus) => {
      if (status.state === "starting" && last.state !== "starting") restarts.inc();
      if (status.failures > last.failures) failures.inc(status.failures - last.failures);
      last = status;
    };
    this.unsubscribers.push(sources.nginx.onState((_state, _detail, status) => follow(status)));
    // ---------------------------------------------------------------- upstreams
    const applies = new Counter({
      name: "keepvip_agent_upstream_applies_total",
      help: "Upstream pushes by outcome: ok (tested and nginx reloaded), failed (render or nginx -t failed: the last good file stays), superseded (a newer push replaced it)",
      labelNames: ["result"],
      registers,
    });
    for (const result of ["ok", "failed", "superseded"]) applies.inc({ result }, 0);
    this.unsubscribers.push(sources.applier.onApplied((r) => applies.inc({ result: r.ok ? "ok" : r.superseded ? "superseded" : "failed" })));
    const version = new Gauge({
      name: "keepvip_agent_upstream_version_applied",
      help: "Upstream config version in place on this host",
      registers,
      collect: () => {
        version.set(current().upstreamVersion);
      },
    });
    const applyFailing = new Gauge({
      name: "keepvip_agent_upstream_apply_failing",
      help: "1 while the newest pushed version could not be applied",
      registers,
      collect: () => {
        applyFailing.set(current().upstreamError ? 1 : 0);
      },
    });

    // ---------------------------------------------------------------- tracks, reach, probes
    const track = new Gauge({
      name: "keepvip_agent_track_passing",
      help: "Track results after rise/fall (1 passing, 0 failing): scripts, if:<interface>, nginx",
      labelNames: ["track"],
      registers,
      collect: () => {
        track.reset();
        for (const t of current().tracks) track.set({ track: t.name }, t.passing ? 1 : 0);
      },
    });
    const reachable = new Gauge({
      name: "keepvip_agent_reach_reachable",
      help: "The service answered through the group's VIP on the last probe from this host (holders: 1)",
      labelNames: ["group"],
      registers,
      collect: () => {
        reachable.reset();
        for (const r of current().reach) reachable.set({ group: r.group }, r.reachable ? 1 : 0);
      },
    });
    const reachFailures = new Gauge({
      name: "keepvip_agent_reach_failures",
      help: "Consecutive failed probes through the group's VIP",
      labelNames: ["group"],
      registers,
      collect: () => {
        reachFailures.reset();
        for (const r of current().reach) reachFailures.set({ group: r.group }, r.consecutiveFailures);
      },
    });
    const lanOk = new Gauge({
      name: "keepvip_agent_lan_ok",
      help: "1 while this host reaches at least one of the group's LAN references (its own LAN works)",
      labelNames: ["group"],
      registers,
      collect: () => {
        lanOk.reset();
        for (const r of current().reach) lanOk.set({ group: r.group }, r.lanOk ? 1 : 0);
      },
    });
    const backendUp = new Gauge({
      name: "keepvip_agent_backend_up",
      help: "This host's probe result per upstream server, after rise/fall (1 up, 0 down)",
      labelNames: ["upstream", "server"],
      registers,
      collect: () => {
        backendUp.reset();
        for (const p of current().probes) backendUp.set({ upstream: p.upstream, server: p.server }, p.up ? 1 : 0);
      },
    });
    const backendLatency = new Gauge({
      name: "keepvip_agent_backend_latency_seconds",
      help: "Latency of the last probe per upstream server",
      labelNames: ["upstream", "server"],
      registers,
      collect: () => {
        backendLatency.reset();
        for (const p of current().probes) backendLatency.set({ upstream: p.upstream, server: p.server }, p.latencyMs / 1000);
      },
    });
  }

  /** The session came up or went down (wired to the session's connection callback). */
  connection(up: boolean): void {
    this.sessionChanges.inc({ to: up ? "up" : "down" });
  }

  close(): void {
    for (const u of this.unsubscribers.splice(0)) u();
  }

  /** Groups this host serves: from the coordinator's welcome (or memory), and whatever it holds. */
  private groupNames(): string[] {
    return [...new Set([...this.sources.core.groups.keys(), ...this.sources.core.held.keys()])].sort();
  }
}
