/**
 * The coordinator's upstream state: folds agents' probe reports into
 * aggregated health, applies overrides and slow start, and publishes versioned
 * configs to every agent (rate-limited, merged, never dropped). It also plans
 * the probes each agent runs. Decisions live in the pure modules beside it;
 * this class keeps state and timers.
 */
import type { Logger } from "pino";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import type { ProbePlan, ProbeResult, UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import type { UpstreamStatus } from "../../shared/gen/keepvip/v1/admin.js";
import { desiredUpstreams, serverKey, type Override } from "./desired.js";
import { aggregateHealth, type AgentObservation } from "./health.js";
import { flush, initialPublisher, offer, type PublisherState } from "./publisher.js";
import { realScheduler, type Scheduler, type SchedulerTimer } from "../../shared/scheduler.js";

export interface UpstreamHooks {
  /** Send a new version to every connected agent. */
  broadcast(config: UpstreamConfig): void;
  /** Persist the version counter and overrides (survive a restart). */
  persist(version: number, overrides: Record<string, Override>): Promise<void>;
  /** An event line (server down/up, push). */
  event(kind: "push" | "fault" | "admin", message: string, fields?: Record<string, string>): void;
}

export class UpstreamManager {
  private publisher: PublisherState;
  /** node → "upstream/server" → observation. */
  private readonly observations = new Map<string, Map<string, AgentObservation>>();
  private readonly health = new Map<string, boolean>();
  private readonly upSince = new Map<string, number>();
  /** node → applied version / error. */
  readonly applied = new Map<string, { version: number; error: string }>();
  private timer?: SchedulerTimer;
  private timerAt = 0;

  constructor(private config: CoordinatorConfig, version: number, private overrides: Record<string, Override>, private readonly hooks: UpstreamHooks, private readonly log: Logger, private readonly scheduler: Scheduler = realScheduler) {
    this.publisher = initialPublisher(version);
  }

  /** The config every agent must converge to (version 0: nothing published yet). */
  current(): UpstreamConfig {
    return this.publisher.current;
  }

  probePlan(): ProbePlan {
    return {
      version: 1,
      checks: this.config.upstreams.filter((u) => u.check).map((u) => ({
        upstream: u.name,
        servers: u.servers.map((s) => s.address),
        type: u.check!.type,
        path: u.check!.path,
        host: u.check!.host ?? "",
        expectStatusMin: u.check!.expect_status.min,
        expectStatusMax: u.check!.expect_status.max,
        expectBody: u.check!.expect_body ?? "",
        intervalMs: u.check!.interval,
        timeoutMs: u.check!.timeout,
        rise: u.check!.rise,
        fall: u.check!.fall,
      })),
    };
  }

  /**
   * A config reload: servers no longer configured lose their observations and
   * overrides; the desired state is recomputed (a new version only if it changed).
   */
  reconfigure(config: CoordinatorConfig): void {
    this.config = config;
    const keys = new Set(config.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}/${s.address}`)));
    for (const m of this.observations.values()) for (const k of m.keys()) if (!keys.has(k)) m.delete(k);
    for (const k of this.health.keys()) if (!keys.has(k)) this.health.delete(k);
    const overrides = Object.fromEntries(Object.entries(this.overrides).filter(([k]) => keys.has(k)));
    if (Object.keys(overrides).length !== Object.keys(this.overrides).length) {
      this.overrides = overrides;
      void this.hooks.persist(this.publisher.current.version, this.overrides);
    }
    this.recompute("config reload");
  }

  /** First publish (startup), so agents get a versioned config right away. */
  start(): void {
    this.recompute("startup");
  }

  stop(): void {
    if (this.timer) this.scheduler.clearTimeout(this.timer);
  }

  /** Folds one agent's report. */
  report(node: string, probes: ProbeResult[], appliedVersion: number, applyError: string): void {
    const prev = this.applied.get(node);
    if (!prev || prev.version !== appliedVersion || prev.error !== applyError) {
      this.applied.set(node, { version: appliedVersion, error: applyError });
      if (applyError) this.hooks.event("push", `${node} could not apply upstream version ${this.publisher.current.version}: ${applyError}`);
    }
    if (probes.length === 0) return;
    const mine = this.observations.get(node) ?? new Map<string, AgentObservation>();
    let changed = false;
    for (const p of probes) {
      const key = serverKey(p.upstream, p.server);
      const before = mine.get(key);
      if (before?.up !== p.up) changed = true;
      mine.set(key, { node, up: p.up, detail: p.detail });
    }
    this.observations.set(node, mine);
    if (changed) this.recompute(`probe report from ${node}`);
  }

  /** A node's session is gone: its observations no longer count. */
  forget(node: string): void {
    if (this.observations.delete(node)) this.recompute(`${node} left`);
  }

  setOverride(upstream: string, server: string, action: "drain" | "down" | "up" | "weight", weight?: number): string {
    const u = this.config.upstreams.find((x) => x.name === upstream);
    if (!u) throw new Error(`unknown upstream "${upstream}" (upstreams: ${this.config.upstreams.map((x) => x.name).join(", ") || "none"})`);
    if (!u.servers.some((s) => s.address === server)) throw new Error(`upstream ${upstream} has no server ${server} (servers: ${u.servers.map((s) => s.address).join(", ")})`);
    const key = serverKey(upstream, server);
    const next = { ...this.overrides };
    // A server an operator takes out of drain/down comes back like a recovered one: with slow start.
    if (action === "up" && (next[key]?.action === "drain" || next[key]?.action === "down")) this.upSince.set(key, this.scheduler.now());
    if (action === "up") delete next[key];
    else next[key] = action === "weight" ? { action, weight } : { action };
    this.overrides = next;
    void this.hooks.persist(this.publisher.current.version, this.overrides);
    this.recompute(`admin: ${server} ${action}${action === "weight" ? ` ${weight}` : ""}`);
    return `${upstream} ${server}: ${action === "up" ? "override cleared" : action === "weight" ? `weight ${weight}` : action}`;
  }

  status(): UpstreamStatus[] {
    const desired = desiredUpstreams(this.input(this.scheduler.now())).upstreams;
    return this.config.upstreams.map((u) => {
      const d = desired.find((x) => x.name === u.name)!;
      return {
        name: u.name,
        balance: u.balance,
        version: this.publisher.current.version,
        servers: u.servers.map((s) => {
          const key = serverKey(u.name, s.address);
          return {
            address: s.address,
            up: this.health.get(key) ?? true,
            weight: d.servers.find((x) => x.address === s.address)!.weight,
            configWeight: s.weight,
            override: this.overrides[key]?.action ?? "",
            seenBy: [...this.observations].flatMap(([node, m]) => (m.has(key) ? [{ nodeId: node, up: m.get(key)!.up, detail: m.get(key)!.detail }] : [])),
          };
        }),
        applied: [...this.applied].map(([nodeId, a]) => ({ nodeId, applied: a.version, error: a.error })),
      };
    });
  }

  private input(nowMs: number) {
    return { upstreams: this.config.upstreams, health: this.health, overrides: this.overrides, upSince: this.upSince, nowMs };
  }

  private recompute(why: string): void {
    const now = this.scheduler.now();
    for (const u of this.config.upstreams) {
      const share = u.check?.down_share ?? 0.5;
      for (const s of u.servers) {
        const key = serverKey(u.name, s.address);
        const obs = [...this.observations.values()].flatMap((m) => (m.has(key) ? [m.get(key)!] : []));
        const h = aggregateHealth(obs, share);
        const was = this.health.get(key) ?? true;
        if (was !== h.up) {
          this.hooks.event("fault", `${u.name} ${s.address} is ${h.up ? "up" : "DOWN"}: ${h.reason}`);
          this.log.info({ event: h.up ? "upstream.server.up" : "upstream.server.down", upstream: u.name, server: s.address, reason: h.reason }, `${s.address} ${h.up ? "up" : "down"}`);
          if (h.up) this.upSince.set(key, now);
        }
        this.health.set(key, h.up);
      }
    }
    const desired = desiredUpstreams(this.input(now));
    const r = offer(this.publisher, desired.upstreams, now, this.config.timing.reload_min_interval);
    this.apply(r, why);
    const wakes = [r.retryAtMs, desired.wakeAtMs].filter((x): x is number => x !== undefined);
    if (wakes.length > 0) this.wake(Math.min(...wakes));
  }

  private apply(r: ReturnType<typeof offer>, why: string): void {
    this.publisher = r.state;
    if (!r.publish) return;
    const publish = r.publish;
    this.hooks.event("push", `upstream config version ${publish.version} (${why})`, { version: String(publish.version) });
    // Write-ahead: the version is durable before any agent sees it, so a restart never reuses it.
    void this.hooks.persist(publish.version, this.overrides).then(() => this.hooks.broadcast(publish), (err: unknown) => {
      this.log.error({ event: "upstream.persist.failed", err }, "cannot persist the upstream version; pushing anyway");
      this.hooks.broadcast(publish);
    });
  }

  private wake(atMs: number): void {
    if (this.timer && this.timerAt <= atMs && this.timerAt > this.scheduler.now()) return;
    if (this.timer) this.scheduler.clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = undefined;
      const f = flush(this.publisher, this.scheduler.now(), this.config.timing.reload_min_interval);
      this.apply(f, "merged changes");
      this.recompute("timer");
    }, Math.max(0, atMs - this.scheduler.now()));
  }
}
