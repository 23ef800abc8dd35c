/**
 * The coordinator's upstream state: folds agents' probe reports into
 * aggregated health, applies overrides and slow start, and publishes versioned
 * configs (rate-limited, merged, never dropped). A version is persisted before
 * any agent sees it; each agent's acked version is kept, and one that lags or
 * refuses the current version gets it again with back-off (delivery.ts). It
 * also plans the probes each agent runs. Decisions live in the pure modules
 * beside it; this class keeps state and timers.
 */
import type { Logger } from "pino";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { normalizeHostPort } from "../../shared/config/net.js";
import type { ProbePlan, ProbeResult, UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import type { UpstreamStatus } from "../../shared/gen/keepvip/v1/admin.js";
import { fail, ok, type Result } from "../../shared/result.js";
import { desiredUpstreams, serverKey, type Override } from "./desired.js";
import {
  acknowledged,
  decide,
  newDelivery,
  planDelivery,
  RESEND,
  resendDelayMs,
  sent,
  type NodeDecision,
  type NodeDelivery,
  type ResendPolicy,
} from "./delivery.js";
import { aggregateHealth, type AgentObservation } from "./health.js";
import { flush, initialPublisher, offer, type PublisherState } from "./publisher.js";
import { realScheduler, type Scheduler, type SchedulerTimer } from "../../shared/scheduler.js";

export interface UpstreamHooks {
  /** Sends a version to one node's session; false when the node has no session. */
  send(node: string, config: UpstreamConfig): boolean;
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
  /** Upstreams failing open (every server in service looks down: health ignored). */
  private failingOpen = new Set<string>();
  /** node → applied version / error. */
  readonly applied = new Map<string, { version: number; error: string }>();
  /** The last version persisted and sent: what every agent must converge to (0: none yet). */
  private published: UpstreamConfig = { version: 0, upstreams: [] };
  /** node (with a session) → what it acked and what it was sent. */
  private readonly delivery = new Map<string, NodeDelivery>();
  /** A version is being persisted: nothing else is published until it settles. */
  private persisting?: Promise<void>;
  /** Something changed while persisting: recompute once it settles. */
  private dirty = false;
  /** Persist failures in a row (drives the retry back-off). */
  private persistFailures = 0;
  private stopped = false;
  private timer?: SchedulerTimer;
  private timerAt = 0;
  private deliveryTimer?: SchedulerTimer;
  private deliveryAt = 0;

  constructor(
    private config: CoordinatorConfig,
    version: number,
    private overrides: Record<string, Override>,
    private readonly hooks: UpstreamHooks,
    private readonly log: Logger,
    private readonly scheduler: Scheduler = realScheduler,
    private readonly resend: ResendPolicy = RESEND,
  ) {
    this.publisher = initialPublisher(version);
  }

  /** The config every agent must converge to (version 0: nothing published yet). */
  current(): UpstreamConfig {
    return this.published;
  }

  /** What a connected node acked and was sent (undefined: no session known). */
  deliveryOf(node: string): Readonly<NodeDelivery> | undefined {
    return this.delivery.get(node);
  }

  probePlan(): ProbePlan {
    return {
      version: 1,
      checks: this.config.upstreams
        .filter((u) => u.check)
        .map((u) => ({
          upstream: u.name,
          servers: u.servers.map((s) => s.address),
          type: u.check!.type,
          path: u.check!.path,
          host: u.check!.host ?? "",
          expectStatusMin: u.check!.expect_status.min,
          expectStatusMax: u.check!.expect_status.max,
          expectBody: u.check!.expect_body ?? "",
          expectDigest: u.check!.expect_digest ?? "",
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
      this.persistOverrides();
    }
    this.recompute("config reload");
  }

  /** First publish (startup), so agents get a versioned config right away; settles once it is persisted (or failed to be). */
  async start(): Promise<void> {
    this.recompute("startup");
    await this.persisting;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.scheduler.clearTimeout(this.timer);
    if (this.deliveryTimer) this.scheduler.clearTimeout(this.deliveryTimer);
  }

  /** A node opened a session, on `appliedVersion`: it gets the current version unless it has it. */
  hello(node: string, appliedVersion: number): void {
    this.delivery.set(node, newDelivery(appliedVersion));
    this.deliverTo(node);
  }

  /** Folds one agent's report (its applied version is its ack, an apply error its NACK). */
  report(node: string, probes: ProbeResult[], appliedVersion: number, applyError: string): void {
    const prev = this.applied.get(node);
    if (!prev || prev.version !== appliedVersion || prev.error !== applyError) {
      this.applied.set(node, { version: appliedVersion, error: applyError });
      if (applyError) this.hooks.event("push", `${node} could not apply upstream version ${this.published.version}: ${applyError}`);
    }
    this.delivery.set(node, acknowledged(this.delivery.get(node) ?? newDelivery(appliedVersion), appliedVersion, applyError, this.published.version));
    this.deliverTo(node);
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

  /** A node's session is gone or silent: its observations no longer count (a report brings it back). */
  forget(node: string): void {
    this.delivery.delete(node);
    if (this.observations.delete(node)) this.recompute(`${node} left`);
  }

  /** An admin override of one server; fails (not-found) for an upstream or server the config does not have. */
  setOverride(upstream: string, asked: string, action: "drain" | "down" | "up" | "weight", weight?: number): Result<string> {
    const u = this.config.upstreams.find((x) => x.name === upstream);
    if (!u) return fail("not-found", `unknown upstream "${upstream}" (upstreams: ${this.config.upstreams.map((x) => x.name).join(", ") || "none"})`);
    // The operator may spell an IPv6 server another way ("[2001:DB8::0021]:80"): the config's spelling is its key.
    const configured = u.servers.find((s) => s.address === asked) ?? u.servers.find((s) => normalizeHostPort(s.address) === normalizeHostPort(asked));
    if (!configured) return fail("not-found", `upstream ${upstream} has no server ${asked} (servers: ${u.servers.map((s) => s.address).join(", ")})`);
    const server = configured.address;
    const key = serverKey(upstream, server);
    const next = { ...this.overrides };
    // A server an operator takes out of drain/down comes back like a recovered one: with slow start.
    if (action === "up" && (next[key]?.action === "drain" || next[key]?.action === "down")) this.upSince.set(key, this.scheduler.now());
    if (action === "up") delete next[key];
    else next[key] = action === "weight" ? { action, weight } : { action };
    this.overrides = next;
    this.persistOverrides();
    this.recompute(`admin: ${server} ${action}${action === "weight" ? ` ${weight}` : ""}`);
    return ok(`${upstream} ${server}: ${action === "up" ? "override cleared" : action === "weight" ? `weight ${weight}` : action}`);
  }

  status(): UpstreamStatus[] {
    const desired = desiredUpstreams(this.input(this.scheduler.now())).upstreams;
    return this.config.upstreams.map((u) => {
      const d = desired.find((x) => x.name === u.name)!;
      return {
        name: u.name,
        balance: u.balance,
        version: this.published.version,
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
          this.log.info(
            { event: h.up ? "upstream.server.up" : "upstream.server.down", upstream: u.name, server: s.address, reason: h.reason },
            `${s.address} ${h.up ? "up" : "down"}`,
          );
          if (h.up) this.upSince.set(key, now);
        }
        this.health.set(key, h.up);
      }
    }
    const desired = desiredUpstreams(this.input(now));
    this.noteFailOpen(desired.failOpen);
    if (desired.wakeAtMs !== undefined) this.wake(desired.wakeAtMs);
    if (this.persisting) {
      this.dirty = true;
      return;
    }
    const r = offer(this.publisher, desired.upstreams, now, this.config.timing.reload_min_interval);
    this.apply(r, why);
    if (r.retryAtMs !== undefined) this.wake(r.retryAtMs);
  }

  /** Says so when an upstream starts or stops failing open. */
  private noteFailOpen(names: string[]): void {
    const now = new Set(names);
    for (const name of now) {
      if (this.failingOpen.has(name)) continue;
      const message = `${name}: every server in service looks down; keeping them all in (fail open: nginx's passive checks decide, no 502 for sure)`;
      this.hooks.event("fault", message);
      this.log.warn({ event: "upstream.fail_open", upstream: name }, message);
    }
    for (const name of this.failingOpen) {
      if (now.has(name)) continue;
      const message = `${name}: a server is up again; health decides again (fail open over)`;
      this.hooks.event("fault", message);
      this.log.info({ event: "upstream.fail_open.over", upstream: name }, message);
    }
    this.failingOpen = now;
  }

  private apply(r: ReturnType<typeof offer>, why: string): void {
    const before = this.publisher;
    this.publisher = r.state;
    if (!r.publish) return;
    const publish = r.publish;
    // Write-ahead: the version is durable before any agent sees it, so a
    // restart never reuses it; a version that could not be written is never sent.
    this.persisting = this.hooks.persist(publish.version, this.overrides).then(
      () => {
        this.persisting = undefined;
        this.persistFailures = 0;
        this.published = publish;
        if (this.stopped) return;
        this.hooks.event("push", `upstream config version ${publish.version} (${why})`, { version: String(publish.version) });
        this.deliver();
        this.recomputeIfDirty();
      },
      (err: unknown) => {
        this.persisting = undefined;
        // The previous version stays current (agents keep converging to it); the change is offered again later.
        this.publisher = { ...before, pending: undefined };
        this.persistFailures++;
        const retryMs = resendDelayMs(this.persistFailures, this.resend);
        this.log.error(
          { event: "upstream.persist.failed", err, version: publish.version, current: this.published.version, retryMs },
          `cannot persist upstream version ${publish.version}: not sent; agents stay on version ${this.published.version}, retrying in ${retryMs} ms`,
        );
        if (this.stopped) return;
        this.dirty = false;
        this.wake(this.scheduler.now() + retryMs);
      },
    );
  }

  private recomputeIfDirty(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.recompute("changes while persisting");
  }

  /** Overrides survive a restart; a failed write is logged (the next successful one carries them). */
  private persistOverrides(): void {
    this.hooks
      .persist(this.publisher.current.version, this.overrides)
      .catch((err: unknown) => this.log.error({ event: "upstream.persist.failed", err }, "cannot persist the upstream overrides"));
  }

  /** Sends the current version to every node that needs it now; sleeps until the next resend is due. */
  private deliver(): void {
    if (this.stopped) return;
    const now = this.scheduler.now();
    const current = this.published;
    const plan = planDelivery(this.delivery, current.version, now, this.resend);
    for (const d of plan.decisions) this.carryOut(d, current, now);
    if (plan.wakeAtMs !== undefined) this.wakeDelivery(plan.wakeAtMs, now);
  }

  /**
   * The same for one node, after its hello or report: a report touches only its own node
   * (with thousands of agents, planning every node's delivery per report was most of the
   * coordinator's time). Other nodes' resends fall due on the delivery timer.
   */
  private deliverTo(node: string): void {
    const d = this.delivery.get(node);
    if (this.stopped || !d) return;
    const now = this.scheduler.now();
    const current = this.published;
    const decision = decide(node, d, current.version, now, this.resend);
    this.carryOut(decision, current, now);
    if (decision.wakeAtMs !== undefined) this.wakeDelivery(decision.wakeAtMs, now);
  }

  private carryOut(d: NodeDecision, current: UpstreamConfig, now: number): void {
    if (!d.send) return;
    if (!this.hooks.send(d.node, current)) {
      this.delivery.delete(d.node);
      return;
    }
    const next = sent(this.delivery.get(d.node)!, current.version, now);
    this.delivery.set(d.node, next);
    if (d.reason !== "new-version")
      this.log.info(
        { event: "upstream.resend", node: d.node, version: current.version, acked: next.acked, reason: d.reason, sends: next.unacked },
        `${d.node} is on upstream version ${next.acked}: sending version ${current.version} again`,
      );
  }

  /** Looks at every node's delivery again at `atMs`, unless an earlier look is already due. */
  private wakeDelivery(atMs: number, now: number): void {
    if (this.deliveryTimer && this.deliveryAt <= atMs && this.deliveryAt > now) return;
    if (this.deliveryTimer) this.scheduler.clearTimeout(this.deliveryTimer);
    this.deliveryAt = atMs;
    this.deliveryTimer = this.scheduler.setTimeout(
      () => {
        this.deliveryTimer = undefined;
        this.deliver();
      },
      Math.max(0, atMs - now),
    );
  }

  private wake(atMs: number): void {
    if (this.stopped) return;
    if (this.timer && this.timerAt <= atMs && this.timerAt > this.scheduler.now()) return;
    if (this.timer) this.scheduler.clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = this.scheduler.setTimeout(
      () => {
        this.timer = undefined;
        if (!this.persisting) this.apply(flush(this.publisher, this.scheduler.now(), this.config.timing.reload_min_interval), "merged changes");
        this.recompute("timer");
      },
      Math.max(0, atMs - this.scheduler.now()),
    );
  }
}
