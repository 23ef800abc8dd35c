/**
 * The coordinator's engine: turns session traffic into planner events, runs the
 * pure planner one event at a time, persists epochs before any command that
 * carries a new one, and sends the resulting commands. gRPC handlers call it;
 * it decides nothing itself (the planner does) and owns no sockets.
 */
import { nanoid } from "nanoid";
import type { Logger } from "pino";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { formatCidr } from "../../shared/config/net.js";
import { startupGraceMs } from "../../shared/config/coordinator.js";
import type { AgentMessage, CoordinatorMessage, Hello, Welcome } from "../../shared/gen/keepvip/v1/agent.js";
import { VerifyVerdict } from "../../shared/gen/keepvip/v1/agent.js";
import { initialRuntime, step, type Action, type PlannerEvent, type PlannerTiming, type UnitRuntime } from "../election/planner.js";
import type { StateStore, PersistedState } from "../state/store.js";
import { EventLog } from "./events.js";
import { NodeTable } from "./nodes.js";
import { buildUnits, unitOfGroup, type Unit } from "./units.js";
import { UpstreamManager } from "../upstreams/manager.js";
import { EventJournal } from "../state/event-journal.js";
import { sanitizeEpochs, sanitizeReport } from "./sanitize.js";
import { diffConfig } from "./reconfigure.js";
import { AGENT_EVENTS, RateLimiter } from "../limits.js";

/** Where the engine sends messages for one session (the gRPC stream). */
export interface SessionSink {
  send(message: CoordinatorMessage): void;
  /** Ends the stream from our side. */
  end(reason: string): void;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

interface Pending {
  node: string;
  unit: string;
  group: string;
  epoch: number;
  action: "acquire" | "release" | "verify";
  sentMs: number;
}

export type HelloOutcome = { ok: true; sessionId: string } | { ok: false; reason: string };

const VERDICT: Record<number, "free" | "answering-serving" | "answering-not-serving" | undefined> = {
  [VerifyVerdict.VERIFY_VERDICT_FREE]: "free",
  [VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING]: "answering-serving",
  [VerifyVerdict.VERIFY_VERDICT_ANSWERING_NOT_SERVING]: "answering-not-serving",
};

export class Engine {
  units: Unit[];
  readonly nodes: NodeTable;
  readonly runtimes = new Map<string, UnitRuntime>();
  readonly events: EventLog;
  readonly startedMs: number;
  private readonly sinks = new Map<string, SessionSink>();
  private readonly pending = new Map<string, Pending>();
  private readonly leaving = new Map<string, { groups: string[]; ready: boolean }>();
  private readonly wakeTimers = new Map<string, { atMs: number; timer: NodeJS.Timeout }>();
  private readonly queuedTicks = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private state!: PersistedState;
  private graceUntilMs = 0;
  private graceTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;
  private journal?: EventJournal;
  private readonly agentEventLimiter = new RateLimiter(AGENT_EVENTS.burst, AGENT_EVENTS.perSecond);
  /** Upstream health, overrides and versioned pushes (created at start, from the state store). */
  upstreams!: UpstreamManager;

  constructor(public config: CoordinatorConfig, private readonly store: StateStore, private readonly log: Logger, private readonly clock: Clock = systemClock) {
    this.units = buildUnits(config);
    const nodes = new Set(config.groups.flatMap((g) => g.members.map((m) => m.node)));
    this.nodes = new NodeTable(nodes, config.timing.dead_interval);
    this.events = new EventLog(2000, () => clock.now());
    this.startedMs = clock.now();
  }

  get timing(): PlannerTiming {
    const t = this.config.timing;
    return { plannedOverlapMs: t.planned_overlap, ackTimeoutMs: t.ack_timeout, verifyTimeoutMs: t.verify_timeout, reverifyMs: t.dead_interval, reachFall: t.reach_fall };
  }

  /** Loads persisted epochs and pins, then waits out the startup grace before electing. */
  async start(): Promise<void> {
    this.state = await this.store.load();
    // The event history outlives a restart (bounded); a memory store keeps none.
    if (this.store.describe() !== "memory") {
      const journal = new EventJournal(this.config.state_dir, 2000, (err) => this.log.warn({ event: "events.journal.error", err }, "cannot write the event history"));
      this.events.restore(await journal.load());
      this.events.subscribe((e) => journal.append(e, () => this.events.all()));
      this.journal = journal;
    }
    for (const u of this.units) {
      const epoch = Math.max(0, ...u.groups.map((g) => this.state.epochs[g] ?? 0));
      this.runtimes.set(u.name, { ...initialRuntime(epoch, this.state.holders[u.name] ?? null), pinned: this.state.pins[u.name] });
    }
    for (const n of this.state.maintenance) this.nodes.update(n, { maintenance: true });
    this.upstreams = new UpstreamManager(this.config, this.state.upstreamVersion, this.state.overrides, {
      broadcast: (config) => {
        for (const [id, sink] of this.sinks) if (this.nodes.sessions.has(id)) sink.send({ body: { $case: "upstreams", value: config } });
      },
      persist: async (upstreamVersion, overrides) => {
        this.state = { ...this.state, upstreamVersion, overrides };
        await this.store.save(this.state);
      },
      event: (kind, message, fields) => this.events.add({ kind, message, fields }),
    }, this.log);
    this.upstreams.start();
    const grace = startupGraceMs(this.config);
    this.graceUntilMs = this.clock.now() + grace;
    this.graceTimer = setTimeout(() => this.endGrace("startup grace elapsed"), grace);
    const sweepEvery = Math.max(5, Math.min(50, Math.floor(this.config.timing.heartbeat_interval / 2)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery);
    this.log.info({ event: "engine.start", store: this.store.describe(), graceMs: grace, units: this.units.map((u) => ({ unit: u.name, epoch: this.runtimes.get(u.name)!.epoch, lastHolder: this.runtimes.get(u.name)!.lastHolder })) }, "coordinator engine started");
  }

  /** Stops timers and ends every session (agents keep what they hold: fail-static). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.graceTimer);
    clearInterval(this.sweepTimer);
    this.upstreams?.stop();
    for (const w of this.wakeTimers.values()) clearTimeout(w.timer);
    for (const sink of this.sinks.values()) sink.end("coordinator shutting down");
    this.sinks.clear();
    await this.queue;
    await this.journal?.flush();
  }

  inGrace(): boolean {
    return this.clock.now() < this.graceUntilMs;
  }

  // ------------------------------------------------------------------ sessions

  hello(hello: Hello, peer: string, sink: SessionSink, fingerprint = ""): HelloOutcome {
    const node = hello.nodeId;
    if (!this.nodes.knows(node)) return { ok: false, reason: `node id "${node}" is not a member of any group in the coordinator config` };
    const admitted = this.nodes.admits(node, hello.instanceId, fingerprint);
    if (!admitted.ok) return admitted;
    if (admitted.replaces) {
      this.sinks.get(admitted.replaces.id)?.end("replaced by a new session of the same node");
      this.sinks.delete(admitted.replaces.id);
      this.nodes.sessions.delete(admitted.replaces.id);
    }
    const now = this.clock.now();
    const sessionId = nanoid(12);
    this.nodes.open({ id: sessionId, node, instanceId: hello.instanceId, openedMs: now, lastSeenMs: now, peer, fingerprint });
    this.sinks.set(sessionId, sink);
    this.leaving.delete(node);
    if (hello.state) this.nodes.report(sessionId, sanitizeReport(hello.state, this.boundsOf(node)), now);
    this.raiseEpochs(sanitizeEpochs(hello.epochs, this.boundsOf(node)).map((e) => [e.group, e.epoch]));
    sink.send({ body: { $case: "welcome", value: this.welcomeFor(node, sessionId) } });
    // A (re)connecting agent gets the current state, not a replay of events.
    sink.send({ body: { $case: "probePlan", value: this.upstreams.probePlan() } });
    if (this.upstreams.current().version > 0) sink.send({ body: { $case: "upstreams", value: this.upstreams.current() } });
    this.events.add({ kind: "session", node, message: `${node} connected from ${peer} (agent ${hello.agentVersion || "?"}, holding ${hello.state?.held.map((h) => h.address).join(", ") || "nothing"})` });
    this.log.info({ event: "session.open", node, session: sessionId, peer, held: hello.state?.held.map((h) => h.group) }, "agent session opened");
    if ([...this.nodes.views.values()].every((v) => v.session === "live")) this.endGrace("every node connected");
    this.tickUnitsOf(node);
    return { ok: true, sessionId };
  }

  message(sessionId: string, msg: AgentMessage): void {
    const body = msg.body;
    if (!body) return;
    const now = this.clock.now();
    const session = this.nodes.seen(sessionId, now);
    if (!session) return;
    const node = session.node;
    switch (body.$case) {
      case "report": {
        const report = sanitizeReport(body.value, this.boundsOf(node));
        this.nodes.report(sessionId, report, now);
        this.upstreams.report(node, report.probes, report.upstreamVersion, report.upstreamError);
        this.tickUnitsOf(node);
        return;
      }
      case "ack": {
        const p = this.pending.get(body.value.commandId);
        if (!p) return;
        this.pending.delete(body.value.commandId);
        // Like reports, an ack may only speak of the node's own groups.
        const own = this.boundsOf(node).groups;
        if (body.value.held.length > 0 || p.action === "release") this.nodes.update(node, { holds: [...new Set(body.value.held.map((h) => h.group).filter((g) => own.has(g)))].sort() });
        if (p.action === "verify") return;
        this.enqueue(p.unit, { type: "ack", node, group: p.group, epoch: p.epoch, action: p.action, ok: body.value.ok, error: body.value.error || undefined });
        return;
      }
      case "verifyResult": {
        const p = this.pending.get(body.value.commandId);
        if (!p) return;
        this.pending.delete(body.value.commandId);
        const verdict = VERDICT[body.value.verdict];
        this.log.info({ event: "verify.result", node, unit: p.unit, verdict, tookMs: body.value.tookMs, detail: body.value.detail }, "LAN verification result");
        if (verdict) this.enqueue(p.unit, { type: "verified", node, verdict, detail: body.value.detail });
        return;
      }
      case "leaving": {
        const view = this.nodes.views.get(node)!;
        this.leaving.set(node, { groups: [...view.holds], ready: false });
        this.nodes.update(node, { leaving: true });
        this.events.add({ kind: "session", node, message: `${node} is stopping${body.value.handover ? " and asks for a handover" : ""}: ${body.value.reason || "no reason given"}` });
        this.tickUnitsOf(node);
        return;
      }
      case "event":
        // A chatty or hostile agent cannot flood the history (bounded per node).
        if (this.agentEventLimiter.take(node, now) > 0) return;
        this.events.add({ kind: "agent", group: body.value.group, node, message: `${node}: ${body.value.detail.slice(0, 500)}`, fields: { kind: body.value.kind.slice(0, 64) } });
        this.log.info({ event: "agent.event", node, group: body.value.group, kind: body.value.kind }, body.value.detail);
        return;
      case "hello":
        return;
    }
  }

  closed(sessionId: string, how: string): void {
    const node = this.nodes.close(sessionId);
    this.sinks.delete(sessionId);
    if (node === undefined) return;
    this.leaving.delete(node);
    this.upstreams.forget(node);
    this.events.add({ kind: "session", node, message: `${node} session closed (${how})` });
    this.log.warn({ event: "session.closed", node, session: sessionId, how }, "agent session closed");
    this.tickUnitsOf(node);
  }

  // ------------------------------------------------------------------ config reload

  /**
   * Applies a changed cluster config (SIGHUP) in the engine's queue, between
   * two events: units keep their runtime (holder, epoch, pin) by name, so
   * nothing moves unless the new config asks for it (a priority that now
   * preempts, a removed member, a removed group). Listener, state dir and TLS
   * changes need a restart: such a reload is refused whole.
   */
  reconfigure(next: CoordinatorConfig): Promise<{ ok: boolean; lines: string[] }> {
    return new Promise((resolve) => {
      this.queue = this.queue.then(() => {
        const diff = diffConfig(this.config, next);
        if (diff.restartNeeded.length > 0) {
          const lines = [`not applied: ${diff.restartNeeded.join(", ")} need${diff.restartNeeded.length === 1 ? "s" : ""} a restart of the coordinator`];
          this.events.add({ kind: "config", message: `config reload refused: ${lines[0]}` });
          return resolve({ ok: false, lines });
        }
        this.applyConfig(next);
        const lines = diff.changes.length > 0 ? diff.changes : ["no change"];
        this.events.add({ kind: "config", message: `config reloaded: ${lines.join("; ")}` });
        this.log.info({ event: "config.reload", changes: lines }, "config reloaded");
        resolve({ ok: true, lines });
      }).catch((err: unknown) => {
        this.log.error({ event: "config.reload.error", err }, "config reload failed");
        resolve({ ok: false, lines: [`reload failed: ${(err as Error).message}`] });
      });
    });
  }

  private applyConfig(next: CoordinatorConfig): void {
    const oldUnits = this.units;
    const units = buildUnits(next);
    for (const u of units) {
      if (this.runtimes.has(u.name)) continue;
      const epoch = Math.max(0, ...u.groups.map((g) => this.state.epochs[g] ?? 0));
      this.runtimes.set(u.name, { ...initialRuntime(epoch, this.state.holders[u.name] ?? null), pinned: this.state.pins[u.name] });
    }
    // A group no longer configured: its holder lets go of its VIPs (the only move a removal requires).
    for (const old of oldUnits) {
      if (units.some((u) => u.name === old.name)) continue;
      const rt = this.runtimes.get(old.name);
      if (rt?.holder) this.dispatch(old, rt, { type: "release", node: rt.holder, epoch: rt.epoch, afterMs: 0, reason: `${old.name} was removed from the config` });
      this.runtimes.delete(old.name);
      clearTimeout(this.wakeTimers.get(old.name)?.timer);
      this.wakeTimers.delete(old.name);
    }
    // Same group, other VIPs: the holder adds the new ones and drops the removed ones, keeping its epoch.
    for (const u of units) {
      const old = oldUnits.find((o) => o.name === u.name);
      const rt = this.runtimes.get(u.name)!;
      if (!old || !rt.holder) continue;
      for (const cfg of u.configs) {
        const before = old.configs.find((c) => c.name === cfg.name);
        const now = cfg.vips.map(formatCidr);
        const was = before?.vips.map(formatCidr) ?? [];
        const gone = was.filter((v) => !now.includes(v));
        if (now.join() !== was.join()) this.send(rt.holder, u, cfg.name, rt.epoch, "acquire", (commandId) => ({ body: { $case: "command", value: { commandId, group: cfg.name, epoch: rt.epoch, action: { $case: "acquire", value: { vips: now, takeover: false } }, reason: "VIPs changed in the config" } } }));
        if (gone.length > 0) this.send(rt.holder, u, cfg.name, rt.epoch, "release", (commandId) => ({ body: { $case: "command", value: { commandId, group: cfg.name, epoch: rt.epoch, action: { $case: "release", value: { vips: gone, afterMs: 0 } }, reason: "VIPs removed from the config" } } }));
      }
    }
    this.config = next;
    this.units = units;
    const removedNodes = this.nodes.reconfigure(next.groups.flatMap((g) => g.members.map((m) => m.node)), next.timing.dead_interval);
    for (const n of removedNodes) {
      const s = [...this.nodes.sessions.values()].find((x) => x.node === n);
      if (s) {
        this.sinks.get(s.id)?.end(`node ${n} is no longer in the coordinator config`);
        this.sinks.delete(s.id);
        this.nodes.sessions.delete(s.id);
      }
    }
    this.upstreams.reconfigure(next);
    // Every agent gets the new timing, group specs and probe plan, as on a reconnect.
    for (const s of this.nodes.sessions.values()) {
      const sink = this.sinks.get(s.id);
      if (!sink) continue;
      sink.send({ body: { $case: "welcome", value: this.welcomeFor(s.node, s.id) } });
      sink.send({ body: { $case: "probePlan", value: this.upstreams.probePlan() } });
    }
    for (const u of units) this.enqueue(u.name, { type: "tick" });
  }

  // ------------------------------------------------------------------ admin hooks

  /** Asks for a switchover; the planner carries it out as a planned move. */
  requestSwitchover(unitName: string, to: string): void {
    const rt = this.runtimes.get(unitName);
    if (!rt) return;
    this.runtimes.set(unitName, { ...rt, switchoverTo: to });
    this.enqueue(unitName, { type: "tick" });
  }

  async setMaintenance(node: string, on: boolean): Promise<void> {
    this.nodes.update(node, { maintenance: on });
    const set = new Set(this.state.maintenance);
    if (on) set.add(node);
    else set.delete(node);
    this.state = { ...this.state, maintenance: [...set].sort() };
    await this.store.save(this.state);
    this.tickUnitsOf(node);
  }

  /** Resolves once `predicate` holds (checked after every processed event), or false after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (predicate()) return resolve(true);
      const deadline = setTimeout(() => finish(false), timeoutMs);
      const poll = setInterval(() => predicate() && finish(true), 10);
      const finish = (ok: boolean) => {
        clearTimeout(deadline);
        clearInterval(poll);
        resolve(ok);
      };
    });
  }

  // ------------------------------------------------------------------ internals

  private welcomeFor(node: string, sessionId: string): Welcome {
    const t = this.config.timing;
    const defaultRefs = this.config.upstreams.flatMap((u) => u.servers.map((s) => s.address));
    return {
      sessionId,
      heartbeatIntervalMs: t.heartbeat_interval,
      deadIntervalMs: t.dead_interval,
      garp: { offsetsMs: t.garp.delays, refreshMs: t.garp.refresh },
      reachIntervalMs: t.reach_interval,
      verifyTimeoutMs: t.verify_timeout,
      groups: this.config.groups.filter((g) => g.members.some((m) => m.node === node)).map((g) => ({
        name: g.name,
        vips: g.vips.map(formatCidr),
        servicePort: g.service.port,
        servicePath: g.service.path ?? "",
        tracks: g.tracks.map((tr) => ({ name: tr.name, rise: tr.rise, fall: tr.fall })),
        lanReferences: g.lan_references.length > 0 ? g.lan_references : defaultRefs,
      })),
    };
  }

  /** What a node's reports may mention (sanitize.ts). */
  private boundsOf(node: string) {
    const groups = new Set(this.config.groups.filter((g) => g.members.some((m) => m.node === node)).map((g) => g.name));
    const servers = new Set(this.config.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}/${s.address}`)));
    return { groups, servers };
  }

  private endGrace(why: string): void {
    if (this.graceUntilMs === 0 || this.stopped) return;
    const wasInGrace = this.inGrace();
    this.graceUntilMs = 0;
    clearTimeout(this.graceTimer);
    if (wasInGrace) this.log.info({ event: "engine.grace.end", why }, "startup grace over: electing");
    for (const u of this.units) this.enqueue(u.name, { type: "tick" });
  }

  private sweep(): void {
    for (const node of this.nodes.sweep(this.clock.now())) {
      this.events.add({ kind: "session", node, message: `${node} missed its heartbeats for ${this.config.timing.dead_interval} ms` });
      this.log.warn({ event: "session.silent", node }, "agent session silent");
      this.upstreams.forget(node);
      this.tickUnitsOf(node);
    }
  }

  private tickUnitsOf(node: string): void {
    for (const u of this.units) if (u.members.some((m) => m.node === node)) this.enqueue(u.name, { type: "tick" });
  }

  /** Epochs the agents have seen win over a lost or older state file: never go back. */
  private raiseEpochs(seen: Array<[string, number]>): void {
    for (const [group, epoch] of seen) {
      const unit = unitOfGroup(this.units, group);
      const rt = unit && this.runtimes.get(unit.name);
      if (unit && rt && epoch > rt.epoch) {
        this.log.warn({ event: "epoch.raised", unit: unit.name, from: rt.epoch, to: epoch }, "an agent has seen a newer epoch than the state file; raising");
        this.runtimes.set(unit.name, { ...rt, epoch });
      }
    }
  }

  private enqueue(unitName: string, event: PlannerEvent): void {
    if (this.stopped) return;
    if (event.type === "tick") {
      if (this.queuedTicks.has(unitName)) return;
      this.queuedTicks.add(unitName);
    }
    this.queue = this.queue.then(() => this.process(unitName, event)).catch((err: unknown) => {
      this.log.error({ event: "engine.error", unit: unitName, err }, "engine step failed");
    });
  }

  private async process(unitName: string, event: PlannerEvent): Promise<void> {
    if (event.type === "tick") this.queuedTicks.delete(unitName);
    if (this.stopped) return;
    const unit = this.units.find((u) => u.name === unitName)!;
    const before = this.runtimes.get(unitName)!;
    // Before the grace ends only acks are folded in: a restarted coordinator first
    // listens to the agents, then decides (DESIGN.md: rebuild without flapping).
    if (this.inGrace() && event.type !== "ack") return;
    const now = this.clock.now();
    const { runtime, actions, wakeAtMs } = step(before, { unit, views: this.nodes.views, nowMs: now, timing: this.timing }, event);
    this.runtimes.set(unitName, runtime);
    if (runtime.epoch !== before.epoch || runtime.lastHolder !== before.lastHolder || runtime.pinned !== before.pinned) await this.persist(unit, runtime);
    for (const a of actions) this.dispatch(unit, runtime, a);
    this.scheduleWake(unitName, wakeAtMs);
    this.checkLeaving();
  }

  private async persist(unit: Unit, rt: UnitRuntime): Promise<void> {
    const epochs = { ...this.state.epochs };
    for (const g of unit.groups) epochs[g] = rt.epoch;
    const holders = { ...this.state.holders };
    if (rt.lastHolder !== null) holders[unit.name] = rt.lastHolder;
    const pins = { ...this.state.pins };
    if (rt.pinned !== undefined) pins[unit.name] = rt.pinned;
    else delete pins[unit.name];
    this.state = { ...this.state, epochs, holders, pins };
    // Write-ahead: the epoch is durable before any command carries it (inv. 5).
    await this.store.save(this.state);
  }

  private dispatch(unit: Unit, rt: UnitRuntime, a: Action): void {
    switch (a.type) {
      case "note":
        this.events.add({ kind: a.kind, group: unit.name, node: a.node, epoch: rt.epoch, message: a.message, fields: a.durationMs !== undefined ? { duration_ms: String(a.durationMs) } : undefined });
        this.log.info({ event: `unit.${a.kind}`, unit: unit.name, node: a.node, epoch: rt.epoch, durationMs: a.durationMs }, a.message);
        return;
      case "acquire":
      case "release":
        for (const cfg of unit.configs) {
          const vips = cfg.vips.map(formatCidr);
          const action = a.type === "acquire"
            ? { $case: "acquire" as const, value: { vips, takeover: a.takeover } }
            : { $case: "release" as const, value: { vips, afterMs: a.afterMs } };
          this.send(a.node, unit, cfg.name, a.epoch, a.type, (commandId) => ({ body: { $case: "command", value: { commandId, group: cfg.name, epoch: a.epoch, action, reason: a.reason } } }));
        }
        return;
      case "verify": {
        const cfg = unit.configs[0];
        this.send(a.node, unit, cfg.name, rt.epoch, "verify", (commandId) => ({
          body: { $case: "verify", value: { commandId, group: cfg.name, vips: cfg.vips.map(formatCidr), port: cfg.service.port, path: cfg.service.path ?? "", timeoutMs: this.config.timing.verify_timeout } },
        }));
        return;
      }
    }
  }

  private send(node: string, unit: Unit, group: string, epoch: number, action: Pending["action"], build: (commandId: string) => CoordinatorMessage): void {
    const session = this.nodes.sessionOf(node);
    const sink = session && this.sinks.get(session.id);
    if (!session || !sink) {
      // The planner times the command out and decides again; a lost node gets
      // the current state when it comes back (conflict clean-up).
      this.log.warn({ event: "command.undeliverable", node, unit: unit.name, group, action, epoch }, "no session to send the command to");
      return;
    }
    const commandId = nanoid(12);
    this.pending.set(commandId, { node, unit: unit.name, group, epoch, action, sentMs: this.clock.now() });
    this.log.info({ event: `command.${action}`, node, unit: unit.name, group, epoch, commandId }, `${action} → ${node}`);
    sink.send(build(commandId));
  }

  private scheduleWake(unitName: string, atMs: number | undefined): void {
    const existing = this.wakeTimers.get(unitName);
    if (existing && (atMs === undefined || existing.atMs !== atMs)) {
      clearTimeout(existing.timer);
      this.wakeTimers.delete(unitName);
    }
    if (atMs === undefined || this.wakeTimers.has(unitName)) return;
    const timer = setTimeout(() => {
      this.wakeTimers.delete(unitName);
      this.enqueue(unitName, { type: "tick" });
    }, Math.max(0, atMs - this.clock.now()));
    this.wakeTimers.set(unitName, { atMs, timer });
  }

  /** Tells stopping agents when they may go: what they held is handed over, or nobody can take it. */
  private checkLeaving(): void {
    for (const [node, leave] of this.leaving) {
      if (leave.ready) continue;
      const session = this.nodes.sessionOf(node);
      const sink = session && this.sinks.get(session.id);
      if (!sink) continue;
      const view = this.nodes.views.get(node)!;
      const kept: string[] = [];
      let waiting = false;
      for (const u of this.units) {
        if (!u.groups.some((g) => view.holds.includes(g))) continue;
        const rt = this.runtimes.get(u.name)!;
        // Kept only when the election ran after the leave and found nobody else.
        if (rt.phase.kind === "steady" && rt.holder === node && rt.last?.rule === "no-eligible") kept.push(...u.groups);
        else waiting = true;
      }
      if (waiting) continue;
      leave.ready = true;
      const handedOver = leave.groups.filter((g) => !kept.includes(g));
      sink.send({ body: { $case: "leaveReady", value: { handedOver, kept, detail: kept.length > 0 ? `no other eligible member for ${kept.join(", ")}` : "handover complete" } } });
      this.log.info({ event: "session.leave-ready", node, handedOver, kept }, "stopping agent may go");
    }
  }
}
