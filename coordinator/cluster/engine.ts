/**
 * The coordinator's engine: the event loop. It turns session traffic into
 * planner events, runs the pure planner one event at a time, persists epochs
 * before any command that carries a new one, and carries out what the pure
 * decisions return (planner actions, config reconcile, handover verdicts).
 * gRPC handlers call it; it decides nothing itself and owns no sockets. Time
 * and timers come from its Scheduler.
 */
import { nanoid } from "nanoid";
import type { Logger } from "pino";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { formatCidr } from "../../shared/config/net.js";
import { startupGraceMs, takeoverGraceMs } from "../../shared/config/coordinator.js";
import type { AgentMessage, CoordinatorMessage, DrillReport, Hello, Welcome } from "../../shared/gen/keepvip/v1/agent.js";
import { VerifyVerdict } from "../../shared/gen/keepvip/v1/agent.js";
import { realScheduler, type Scheduler, type SchedulerTimer } from "../../shared/scheduler.js";
import { VERSION } from "../../shared/version.js";
import { BEAT_SLICES, beatIntervalMs, SLICED_FROM_SESSIONS } from "../../shared/session-timing.js";
import {
  acksInHello,
  commandDelivered,
  commandsSent,
  step,
  type Action,
  type PlannerEvent,
  type PlannerTiming,
  type UnitRuntime,
} from "../election/planner.js";
import type { StateStore, PersistedState } from "../state/store.js";
import { EventLog } from "./events.js";
import { NodeTable } from "./nodes.js";
import { sameView } from "../election/view.js";
import { buildUnits, indexUnits, type Unit, type UnitIndex } from "./units.js";
import { UpstreamManager } from "../upstreams/manager.js";
import type { EventHistory } from "../state/event-journal.js";
import { sanitizeEpochs, sanitizeReport } from "./sanitize.js";
import { diffConfig, reconcileUnits, runtimeFromState } from "./reconfigure.js";
import { AGENT_EVENTS, RateLimiter } from "./rate-limiter.js";
import { CommandTracker, commandLifetimeMs, commandMessage, commandsFor, type OutgoingCommand } from "./commands.js";
import { SessionRegistry, type SessionSink } from "./sessions.js";
import { handoverVerdict, type Leave } from "./handover.js";
import { StatusCache, type StatusInput } from "./status.js";
import { fail, ok, type Result } from "../../shared/result.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import { BatchedSaves } from "../state/batched-saves.js";
import { ListeningClock, STALL_TOLERANCE_MS } from "./listening-clock.js";

export type { SessionSink };

/** A session opened, or why not (failed-precondition: not a member, or a second agent for a connected node). */
export type HelloOutcome = Result<{ sessionId: string }>;

const VERDICT: Record<number, "free" | "answering-serving" | "answering-not-serving" | undefined> = {
  [VerifyVerdict.VERIFY_VERDICT_FREE]: "free",
  [VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING]: "answering-serving",
  [VerifyVerdict.VERIFY_VERDICT_ANSWERING_NOT_SERVING]: "answering-not-serving",
};

/** Longest an agent that says it restarts is kept as it was without a session. */
const MAX_RESTART_GRACE_MS = 30_000;

export class Engine {
  units: Unit[];
  readonly nodes: NodeTable;
  readonly runtimes = new Map<string, UnitRuntime>();
  readonly events: EventLog;
  /** When the engine was created (Engine.now()). */
  readonly startedMs: number;
  /** Agent reports since start: ones that repeated their session's last (liveness only), and the others. */
  readonly reportCounts = { repeated: 0, changed: 0 };
  private readonly sessions: SessionRegistry;
  private readonly commands: CommandTracker;
  private readonly leaving = new Map<string, Leave & { ready: boolean }>();
  /** Agents that said they restart: until when their node is kept as it was (VIPs included). */
  private readonly restarting = new Map<string, { untilMs: number; timer?: SchedulerTimer }>();
  private readonly wakeTimers = new Map<string, { atMs: number; timer: SchedulerTimer }>();
  private readonly queuedTicks = new Set<string>();
  /** Commands already logged as undeliverable (node, unit, action, epoch): each is said once. */
  private readonly undeliverable = new Set<string>();
  /** Planner events and reloads, one at a time. */
  private readonly queue = new SerialQueue();
  /** State writes, batched: what changed before a save() is durable when it resolves. */
  private readonly saves = new BatchedSaves(() => this.store.save(this.state));
  /** Per unit: its commands still waiting for a write (later ones go out after them). */
  private readonly gates = new Map<string, Promise<void>>();
  private state!: PersistedState;
  private graceUntilMs = 0;
  private graceOver = false;
  private graceTimer?: SchedulerTimer;
  private sweepTimer?: SchedulerTimer;
  private beatTimer?: SchedulerTimer;
  private stopped = false;
  private journal?: EventHistory;
  private readonly agentEventLimiter = new RateLimiter(AGENT_EVENTS.burst, AGENT_EVENTS.perSecond);
  /** The engine's time: monotonic, the coordinator's own stalls taken out (listening-clock.ts). */
  private readonly clock = new ListeningClock();
  /** Members' statuses between status calls (status.ts). */
  private readonly statusCache = new StatusCache();
  /** The beat slice the next session gets (round robin). */
  private nextBeatSlot = 0;
  /** Upstream health, overrides and versioned pushes (created at start, from the state store). */
  upstreams!: UpstreamManager;

  /**
   * The leader term every welcome and command carries (replicated coordinators:
   * the election key's revision; 0: a single coordinator). Agents refuse a lower one.
   */
  term = 0;
  /** Replicated coordinators: this replica's name (status says who answered); "" for a single coordinator. */
  replica = "";
  /**
   * Replicated coordinators: true while this replica may command (its etcd
   * lease certainly alive). A command is never sent outside it.
   */
  fence: () => boolean = () => true;
  /** Replicated coordinators: this engine takes over from another leader (its grace is the takeover grace). */
  takeover = false;

  /** Per-event lookups for the current config (units.ts). */
  private index: UnitIndex;

  constructor(
    public config: CoordinatorConfig,
    private readonly store: StateStore,
    private readonly log: Logger,
    readonly scheduler: Scheduler = realScheduler,
  ) {
    this.units = buildUnits(config);
    this.index = indexUnits(this.units, config);
    const nodes = new Set(config.groups.flatMap((g) => g.members.map((m) => m.node)));
    this.nodes = new NodeTable(nodes, config.timing.dead_interval);
    this.sessions = new SessionRegistry(this.nodes);
    this.commands = new CommandTracker(
      scheduler,
      (commandId, c, cause) => {
        this.log.debug(
          { event: "command.expired", commandId, node: c.node, unit: c.unit, group: c.group, action: c.action, epoch: c.epoch, cause },
          `${c.action} → ${c.node}: no answer (${cause})`,
        );
      },
      (sessionId) => {
        const s = this.sessions.get(sessionId);
        return s !== undefined && this.nodes.views.get(s.node)?.session === "live";
      },
    );
    this.events = new EventLog(2000, () => scheduler.wallMs());
    this.startedMs = this.now();
  }

  get timing(): PlannerTiming {
    const t = this.config.timing;
    return {
      plannedOverlapMs: t.planned_overlap,
      ackTimeoutMs: t.ack_timeout,
      verifyTimeoutMs: t.verify_timeout,
      reverifyMs: t.dead_interval,
      reachFall: t.reach_fall,
    };
  }

  /** Loads persisted epochs and pins, then waits out the startup grace before electing. */
  async start(): Promise<void> {
    this.state = await this.store.load();
    // The event history outlives a restart (bounded) where the store keeps one: a file
    // beside the state, or etcd for replicas (a new leader shows what happened before it).
    const journal = this.store.history?.(2000, (err) => this.log.warn({ event: "events.journal.error", err }, "cannot write the event history"));
    if (journal) {
      this.events.restore(await journal.load());
      this.events.subscribe((e) => journal.append(e, () => this.events.all()));
      this.journal = journal;
    }
    for (const u of this.units) this.runtimes.set(u.name, runtimeFromState(u, this.state));
    for (const n of this.state.maintenance) this.nodes.update(n, { maintenance: true });
    this.upstreams = new UpstreamManager(
      this.config,
      this.state.upstreamVersion,
      this.state.overrides,
      {
        send: (node, config) => {
          const session = this.sessions.of(node);
          session?.sink.send({ body: { $case: "upstreams", value: config } });
          return session !== undefined;
        },
        persist: async (upstreamVersion, overrides) => {
          this.state = { ...this.state, upstreamVersion, overrides };
          await this.saves.save();
        },
        event: (kind, message, fields) =>
          this.events.add(
            kind === "push" ? { kind, message, ...(fields?.version !== undefined ? { version: Number(fields.version) } : {}) } : { kind, message },
          ),
      },
      this.log,
      this.scheduler,
    );
    const upstreamsStarted = this.upstreams.start();
    // A replica taking over a running cluster (etcd names holders) waits only the takeover
    // grace: the agents were connected to the last leader a moment ago.
    const grace = this.takeover && Object.keys(this.state.holders).length > 0 ? takeoverGraceMs(this.config) : startupGraceMs(this.config);
    this.graceUntilMs = this.now() + grace;
    this.graceTimer = this.timerAfterReading(() => this.endGrace("startup grace elapsed"), grace);
    const sweepEvery = Math.max(5, Math.min(50, Math.floor(this.config.timing.heartbeat_interval / 2)));
    // The sweep also times the loop: a sweep that runs late saw the coordinator stalled, and
    // that time is nobody's silence (listening-clock.ts).
    let sweepDue = this.scheduler.now() + sweepEvery;
    const sweepLoop = () => {
      this.clock.observe(sweepDue, this.scheduler.now());
      sweepDue = this.scheduler.now() + sweepEvery;
      this.sweepTimer = this.scheduler.setTimeout(sweepLoop, sweepEvery);
      this.sweep();
    };
    this.sweepTimer = this.scheduler.setTimeout(sweepLoop, sweepEvery);
    // Each session is beaten once per beat interval, in its own slice of it (sessions.ts, beatSlot).
    const beatSliceMs = () => Math.max(1, Math.floor(beatIntervalMs(this.config.timing.heartbeat_interval, this.config.timing.dead_interval) / BEAT_SLICES));
    let beatSlice = 0;
    const beatLoop = () => {
      // Few sessions: every one at once, a wake-up per interval (switching only between two
      // rounds of slices, so no session misses its beat).
      if (beatSlice === 0 && this.sessions.size < SLICED_FROM_SESSIONS) {
        this.beatTimer = this.scheduler.setTimeout(beatLoop, beatSliceMs() * BEAT_SLICES);
        this.beat(undefined);
        return;
      }
      this.beatTimer = this.scheduler.setTimeout(beatLoop, beatSliceMs());
      this.beat(beatSlice);
      beatSlice = (beatSlice + 1) % BEAT_SLICES;
    };
    this.beatTimer = this.scheduler.setTimeout(beatLoop, beatSliceMs());
    // The first upstream version is persisted (or failed to be) before any agent can connect.
    await upstreamsStarted;
    this.log.info(
      {
        event: "engine.start",
        store: this.store.describe(),
        graceMs: grace,
        units: this.units.map((u) => ({ unit: u.name, epoch: this.runtimes.get(u.name)!.epoch, lastHolder: this.runtimes.get(u.name)!.lastHolder })),
      },
      "coordinator engine started",
    );
  }

  /** Stops timers and ends every session (agents keep what they hold: fail-static). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.graceTimer) this.scheduler.clearTimeout(this.graceTimer);
    if (this.sweepTimer) this.scheduler.clearTimeout(this.sweepTimer);
    if (this.beatTimer) this.scheduler.clearTimeout(this.beatTimer);
    this.upstreams?.stop();
    for (const w of this.wakeTimers.values()) this.scheduler.clearTimeout(w.timer);
    for (const r of this.restarting.values()) if (r.timer) this.scheduler.clearTimeout(r.timer);
    this.sessions.endAll("coordinator shutting down");
    this.commands.clear();
    await this.queue.idle();
    await Promise.all(this.gates.values());
    await this.saves.idle();
    await this.journal?.flush();
  }

  /**
   * The engine's time: the scheduler's monotonic clock in whole milliseconds (times reach the
   * planner's messages and the admin API as integers), less the time the coordinator itself
   * was stalled (listening-clock.ts): silence, ack and verify timeouts count only time in
   * which the coordinator could have heard the answer.
   */
  now(): number {
    return Math.floor(this.clock.at(this.scheduler.now()));
  }

  /** Time the coordinator's own loop was seen stalled so far (ms; metrics and tests). */
  get stalledMs(): number {
    return this.clock.stalled;
  }

  inGrace(): boolean {
    return !this.graceOver && this.now() < this.graceUntilMs;
  }

  /** Commands sent and not yet answered, expired or dropped with their session. */
  get commandsInFlight(): number {
    return this.commands.size;
  }

  /** What status, `keepvip why`, the admin checks and the metrics read: the engine's view, at the engine's time. */
  statusInput(): StatusInput {
    const now = this.now();
    const lastReportMs = new Map<string, number>();
    // A drain's age as of now: the report said how long it had run when it was sent. Only
    // nodes that drain are listed (status is read for thousands of nodes at once).
    const draining = new Map<string, Array<{ group: string; connections: number; elapsedMs: number }>>();
    for (const [n, r] of this.nodes.lastReport) {
      lastReportMs.set(n, r.atMs);
      if (r.report.draining?.length)
        draining.set(
          n,
          r.report.draining.map((d) => ({ group: d.group, connections: d.connections, elapsedMs: d.elapsedMs + (now - r.atMs) })),
        );
    }
    return {
      units: this.units,
      runtimes: this.runtimes,
      views: this.nodes.views,
      lastReportMs,
      draining,
      nowMs: now,
      reachFall: this.config.timing.reach_fall,
      startedMs: this.startedMs,
      version: VERSION,
      insecure: this.config.insecure,
      cache: this.statusCache,
    };
  }

  // ------------------------------------------------------------------ sessions

  hello(hello: Hello, peer: string, sink: SessionSink, fingerprint = ""): HelloOutcome {
    const node = hello.nodeId;
    if (!this.nodes.knows(node)) return fail("failed-precondition", `node id "${node}" is not a member of any group in the coordinator config`);
    const admitted = this.nodes.admits(node, hello.instanceId, fingerprint);
    if (!admitted.ok) return fail("failed-precondition", admitted.reason);
    if (admitted.replaces) this.dropSession(admitted.replaces.id, "replaced by a new session of the same node");
    const now = this.now();
    const sessionId = nanoid(12);
    const beatSlot = this.nextBeatSlot;
    this.nextBeatSlot = (this.nextBeatSlot + 1) % BEAT_SLICES;
    this.sessions.open({
      id: sessionId,
      node,
      instanceId: hello.instanceId,
      openedMs: now,
      lastSeenMs: now,
      peer,
      fingerprint,
      sink,
      beatSlot,
      ...(hello.countsCommands ? { commands: { sent: 0, received: 0 } } : {}),
    });
    this.leaving.delete(node);
    const restart = this.restarting.get(node);
    if (restart?.timer) this.scheduler.clearTimeout(restart.timer);
    this.restarting.delete(node);
    if (hello.state) this.nodes.report(sessionId, sanitizeReport(hello.state, this.boundsOf(node)), now, hello.state);
    this.raiseEpochs(sanitizeEpochs(hello.epochs, this.boundsOf(node)).map((e) => [e.group, e.epoch]));
    sink.send({ body: { $case: "welcome", value: this.welcomeFor(node, sessionId) } });
    // A (re)connecting agent gets the current state, not a replay of events.
    sink.send({ body: { $case: "probePlan", value: this.upstreams.probePlan() } });
    this.upstreams.hello(node, hello.state?.upstreamVersion ?? 0);
    this.events.add({
      kind: "session",
      node,
      message: `${node} connected from ${peer} (agent ${hello.agentVersion || "?"}, holding ${hello.state?.held.map((h) => h.address).join(", ") || "nothing"})`,
    });
    this.log.info({ event: "session.open", node, session: sessionId, peer, held: hello.state?.held.map((h) => h.group) }, "agent session opened");
    // Every node live needs a session for every node: counted first, the nodes are looked at
    // once, not at each of a storm's thousands of hellos (that scan was 8 % of the coordinator's
    // CPU samples in the first 12 s of a 5000-agent startup storm).
    if (!this.graceOver && this.sessions.size >= this.nodes.views.size && [...this.nodes.views.values()].every((v) => v.session === "live"))
      this.endGrace("every node connected");
    // An acquire whose ack went down with the old session: the hello's held VIPs say it.
    for (const u of this.index.unitsOfNode.get(node) ?? [])
      for (const ack of acksInHello(this.runtimes.get(u.name)!, u, node, hello.state?.held ?? [])) this.enqueue(u.name, ack);
    this.tickUnitsOf(node);
    return ok({ sessionId });
  }

  message(sessionId: string, msg: AgentMessage): void {
    const body = msg.body;
    if (!body) return;
    const now = this.now();
    // A steady agent's heartbeat repeats its last report: it only says the session lives. With
    // thousands of agents that is nearly every message, so it costs a comparison and no more.
    if (body.$case === "report") {
      this.delivered(sessionId, body.value.commandsReceived);
      if (this.nodes.repeated(sessionId, body.value, now)) {
        this.reportCounts.repeated++;
        return;
      }
      this.reportCounts.changed++;
    }
    const known = this.nodes.sessions.get(sessionId);
    const viewBefore = known && this.nodes.views.get(known.node);
    const session = this.nodes.seen(sessionId, now);
    if (!session) return;
    const node = session.node;
    switch (body.$case) {
      case "report": {
        const report = sanitizeReport(body.value, this.boundsOf(node));
        this.nodes.report(sessionId, report, now, body.value);
        this.upstreams.report(node, report.probes, report.upstreamVersion, report.upstreamError);
        // Only a report that changes what the election sees wakes the node's units (view.ts,
        // sameView): what time alone changes, the planner is woken for (wakeAtMs).
        const viewAfter = this.nodes.views.get(node);
        if (!viewBefore || !viewAfter || !sameView(viewBefore, viewAfter)) this.tickUnitsOf(node);
        return;
      }
      case "ack": {
        const p = this.commands.settle(body.value.commandId);
        if (!p) return;
        // Like reports, an ack may only speak of the node's own groups.
        const own = this.boundsOf(node).groups;
        if (body.value.held.length > 0 || p.action === "release")
          this.nodes.update(node, { holds: [...new Set(body.value.held.map((h) => h.group).filter((g) => own.has(g)))].sort() });
        if (p.action === "verify") return;
        this.enqueue(p.unit, { type: "ack", node, group: p.group, epoch: p.epoch, action: p.action, ok: body.value.ok, error: body.value.error || undefined });
        return;
      }
      case "verifyResult": {
        const p = this.commands.settle(body.value.commandId);
        if (!p) return;
        const verdict = VERDICT[body.value.verdict];
        this.log.info({ event: "verify.result", node, unit: p.unit, verdict, tookMs: body.value.tookMs, detail: body.value.detail }, "LAN verification result");
        if (verdict) this.enqueue(p.unit, { type: "verified", node, verdict, detail: body.value.detail });
        return;
      }
      case "leaving": {
        if ((body.value.restartMs ?? 0) > 0) {
          const graceMs = Math.min(MAX_RESTART_GRACE_MS, body.value.restartMs);
          this.restarting.set(node, { untilMs: now + graceMs });
          this.events.add({
            kind: "session",
            node,
            message: `${node} is restarting (${body.value.reason || "no reason given"}): it keeps its VIPs and nginx for the next agent, for at most ${Math.round(graceMs / 1000)} s`,
          });
          return;
        }
        const view = this.nodes.views.get(node)!;
        this.leaving.set(node, { groups: [...view.holds], ready: false });
        this.nodes.update(node, { leaving: true });
        this.events.add({
          kind: "session",
          node,
          message: `${node} is stopping${body.value.handover ? " and asks for a handover" : ""}: ${body.value.reason || "no reason given"}`,
        });
        this.tickUnitsOf(node);
        return;
      }
      case "event":
        // A chatty or hostile agent cannot flood the history (bounded per node).
        if (this.agentEventLimiter.take(node, now) > 0) return;
        this.events.add({
          kind: "agent",
          group: body.value.group,
          node,
          message: `${node}: ${body.value.detail.slice(0, 500)}`,
          agentKind: body.value.kind.slice(0, 64),
        });
        this.log.info({ event: "agent.event", node, group: body.value.group, kind: body.value.kind }, body.value.detail);
        return;
      case "drillReport":
        for (const l of this.drillListeners) l(node, body.value);
        return;
      case "hello":
        return;
    }
  }

  /**
   * A session's stream ended; `how` says how, `abrupt` when the agent did not close it (a
   * reset stream, a broken connection): a lost agent is a warning, one that left is not.
   */
  closed(sessionId: string, how: string, abrupt = false): void {
    const node = this.sessions.closed(sessionId);
    this.commands.sessionClosed(sessionId);
    if (node === undefined) return;
    this.leaving.delete(node);
    this.upstreams.forget(node);
    const restart = this.restarting.get(node);
    if (restart && this.now() < restart.untilMs) {
      // Kept as it was: a holder stays the holder, nothing is verified or moved meanwhile.
      this.nodes.update(node, { session: "restarting" });
      restart.timer = this.timerAfterReading(() => this.restartOver(node), Math.max(0, restart.untilMs - this.now()));
      this.events.add({ kind: "session", node, message: `${node} session closed for its restart (${how}); waiting for the new agent` });
      this.log.info({ event: "session.restarting", node, session: sessionId, how }, "agent restarting: keeping its node as it was");
      return;
    }
    this.restarting.delete(node);
    this.events.add({ kind: "session", node, message: `${node} session closed (${how})` });
    this.log[abrupt ? "warn" : "info"](
      { event: "session.closed", node, session: sessionId, how, abrupt },
      abrupt ? "agent session lost" : "agent session closed",
    );
    this.tickUnitsOf(node);
  }

  /** A restart grace ran out without a new session: the node is lost like any other. */
  private restartOver(node: string): void {
    const restart = this.restarting.get(node);
    this.restarting.delete(node);
    if (!restart || this.nodes.views.get(node)?.session !== "restarting") return;
    this.nodes.update(node, { session: "closed" });
    this.events.add({ kind: "session", node, message: `${node} did not come back from its restart in time` });
    this.log.warn({ event: "session.restart_timeout", node }, "restarting agent did not reconnect within its grace");
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
      this.queue
        .run(() => {
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
        })
        .catch((err: unknown) => {
          this.log.error({ event: "config.reload.error", err }, "config reload failed");
          resolve({ ok: false, lines: [`reload failed: ${(err as Error).message}`] });
        });
    });
  }

  private applyConfig(next: CoordinatorConfig): void {
    const units = buildUnits(next);
    for (const a of reconcileUnits({ oldUnits: this.units, units, runtimes: this.runtimes, state: this.state })) {
      switch (a.type) {
        case "init":
          this.runtimes.set(a.unit, a.runtime);
          break;
        case "send":
          this.send(a.command);
          break;
        case "forget": {
          this.runtimes.delete(a.unit);
          const wake = this.wakeTimers.get(a.unit);
          if (wake) this.scheduler.clearTimeout(wake.timer);
          this.wakeTimers.delete(a.unit);
          break;
        }
      }
    }
    this.config = next;
    this.units = units;
    this.index = indexUnits(units, next);
    const removedNodes = this.nodes.reconfigure(
      next.groups.flatMap((g) => g.members.map((m) => m.node)),
      next.timing.dead_interval,
    );
    for (const n of removedNodes) {
      const s = this.sessions.of(n);
      if (s) this.dropSession(s.id, `node ${n} is no longer in the coordinator config`);
    }
    this.upstreams.reconfigure(next);
    // Every agent gets the new timing, group specs and probe plan, as on a reconnect.
    for (const s of this.sessions.all()) {
      s.sink.send({ body: { $case: "welcome", value: this.welcomeFor(s.node, s.id) } });
      s.sink.send({ body: { $case: "probePlan", value: this.upstreams.probePlan() } });
    }
    for (const u of units) this.enqueue(u.name, { type: "tick" });
  }

  // ------------------------------------------------------------------ admin hooks

  private readonly drillListeners = new Set<(node: string, report: DrillReport) => void>();

  /** Drill reports as agents send them (keepvip drill); returns an unsubscribe function. */
  onDrillReport(listener: (node: string, report: DrillReport) => void): () => void {
    this.drillListeners.add(listener);
    return () => this.drillListeners.delete(listener);
  }

  /** Sends a message to a node's live session; false when it has none. */
  sendTo(node: string, message: CoordinatorMessage): boolean {
    const s = this.sessions.of(node);
    if (!s) return false;
    s.sink.send(message);
    return true;
  }

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
    await this.saves.save();
    this.tickUnitsOf(node);
  }

  /** Resolves once `predicate` holds (checked after every processed event), or false after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (predicate()) return resolve(true);
      const deadline = this.scheduler.setTimeout(() => finish(false), timeoutMs);
      let poll: SchedulerTimer;
      const check = () => {
        if (predicate()) finish(true);
        else poll = this.scheduler.setTimeout(check, 10);
      };
      poll = this.scheduler.setTimeout(check, 10);
      const finish = (ok: boolean) => {
        this.scheduler.clearTimeout(deadline);
        this.scheduler.clearTimeout(poll);
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
      reachFall: t.reach_fall,
      term: this.term,
      // The node's own groups from the index (units.ts): a hello storm of thousands of agents
      // scanned every group of the config for each.
      groups: (this.index.groupConfigsOfNode.get(node) ?? []).map((g) => ({
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
    return { groups: this.index.groupsOfNode.get(node) ?? new Set<string>(), servers: this.index.servers };
  }

  private endGrace(why: string): void {
    // Not started yet (no grace timer), already over, or stopping: nothing to end.
    if (this.graceTimer === undefined || this.graceOver || this.stopped) return;
    const wasInGrace = this.inGrace();
    this.graceOver = true;
    if (this.graceTimer) this.scheduler.clearTimeout(this.graceTimer);
    if (wasInGrace) this.log.info({ event: "engine.grace.end", why }, "startup grace over: electing");
    for (const u of this.units) this.enqueue(u.name, { type: "tick" });
  }

  private sweep(): void {
    for (const node of this.nodes.sweep(this.now())) {
      this.events.add({ kind: "session", node, message: `${node} missed its heartbeats for ${this.config.timing.dead_interval} ms` });
      this.log.warn({ event: "session.silent", node }, "agent session silent");
      this.upstreams.forget(node);
      this.tickUnitsOf(node);
    }
  }

  /**
   * The coordinator's heartbeat on every session, so an agent can tell a silent coordinator
   * from a quiet one. None while fenced: an agent then leaves a leader that may no longer
   * command and looks for the one that can.
   */
  /** Beats the sessions of one slice of the interval, or all of them (undefined). */
  private beat(slice: number | undefined): void {
    if (!this.fence()) return;
    const message: CoordinatorMessage = { body: { $case: "beat", value: { term: this.term } } };
    for (const s of this.sessions.all()) if (slice === undefined || (s.beatSlot ?? 0) === slice) s.sink.send(message);
  }

  private tickUnitsOf(node: string): void {
    for (const u of this.index.unitsOfNode.get(node) ?? []) this.enqueue(u.name, { type: "tick" });
  }

  /** Epochs the agents have seen win over a lost or older state file: never go back. */
  private raiseEpochs(seen: Array<[string, number]>): void {
    for (const [group, epoch] of seen) {
      const unit = this.index.byGroup.get(group);
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
    this.queue
      .run(() => this.process(unitName, event))
      .catch((err: unknown) => {
        this.log.error({ event: "engine.error", unit: unitName, err }, "engine step failed");
      });
  }

  private async process(unitName: string, event: PlannerEvent): Promise<void> {
    if (event.type === "tick") this.queuedTicks.delete(unitName);
    if (this.stopped) return;
    const unit = this.index.byName.get(unitName)!;
    const before = this.runtimes.get(unitName)!;
    // Before the grace ends only acks are folded in: a restarted coordinator first
    // listens to the agents, then decides (docs/design.md, Moves and safety).
    if (this.inGrace() && event.type !== "ack") return;
    const now = this.now();
    const onTheWay = before.phase.kind === "acquiring" ? this.onTheWay(unitName, before.phase.to) : undefined;
    const { runtime, actions, wakeAtMs } = step(before, { unit, views: this.nodes.views, nowMs: now, timing: this.timing, onTheWay }, event);
    this.runtimes.set(unitName, runtime);
    // Write-ahead: a new epoch is durable before any command carries it (docs/design.md,
    // Invariants, 5). The write is batched with the other units' (BatchedSaves) and this
    // unit's commands wait for it, not the queue: other units go on deciding meanwhile, and
    // the unit's later commands queue behind these (its gate), so they go out in order.
    // A completed move changes only the last holder or the pin: its release to the old
    // holder carries an epoch already on disk, so it goes out at once and the record is
    // written after (an fsync first was most of the time a cut-off holder stayed on the VIP
    // with the new one).
    const epochChanged = runtime.epoch !== before.epoch;
    const recordChanged = runtime.lastHolder !== before.lastHolder || runtime.pinned !== before.pinned;
    if (epochChanged || recordChanged) this.record(unit, runtime);
    const durable = epochChanged ? this.saves.save() : undefined;
    const send = () => {
      if (this.stopped) return;
      for (const a of actions) this.dispatch(unit, runtime, a);
      this.checkLeaving();
    };
    const gate = this.gates.get(unitName);
    if (durable || gate) {
      const next: Promise<void> = Promise.all([gate, durable])
        .then(() => {
          send();
          // The phase these commands start waits from now, not from the decision.
          const current = this.runtimes.get(unitName);
          if (current) this.runtimes.set(unitName, commandsSent(current, runtime.phase, this.now()));
          // A unit that waited for these with its timeout run out has no wake-up left: it looks again now.
          if (!this.wakeTimers.has(unitName)) this.enqueue(unitName, { type: "tick" });
        })
        .catch((err: unknown) =>
          this.log.error(
            { event: "engine.persist.failed", unit: unitName, err },
            `cannot persist epoch ${runtime.epoch} of ${unitName}: its commands are not sent`,
          ),
        )
        .finally(() => {
          if (this.gates.get(unitName) === next) this.gates.delete(unitName);
        });
      this.gates.set(unitName, next);
    } else send();
    if (!epochChanged && recordChanged)
      this.saves
        .save()
        .catch((err: unknown) => this.log.error({ event: "engine.persist.failed", unit: unitName, err }, `cannot persist the holder of ${unitName}`));
    this.scheduleWake(unitName, wakeAtMs);
    this.checkLeaving();
  }

  /** Writes a unit's epoch, last holder and pin into the state the next save carries. */
  private record(unit: Unit, rt: UnitRuntime): void {
    const { epochs, holders, pins } = this.state;
    for (const g of unit.groups) epochs[g] = rt.epoch;
    if (rt.lastHolder !== null) holders[unit.name] = rt.lastHolder;
    if (rt.pinned !== undefined) pins[unit.name] = rt.pinned;
    else delete pins[unit.name];
  }

  private dispatch(unit: Unit, rt: UnitRuntime, a: Action): void {
    if (a.type === "note") {
      this.events.add(
        a.kind === "move"
          ? { kind: a.kind, group: unit.name, node: a.node, epoch: rt.epoch, message: a.message, durationMs: a.durationMs }
          : { kind: a.kind, group: unit.name, node: a.node, epoch: rt.epoch, message: a.message },
      );
      this.log.info({ event: `unit.${a.kind}`, unit: unit.name, node: a.node, epoch: rt.epoch, durationMs: a.durationMs }, a.message);
      return;
    }
    for (const c of commandsFor(unit, rt, a, this.config.timing.verify_timeout)) this.send(c);
  }

  private send(c: OutgoingCommand): void {
    const session = this.sessions.of(c.node);
    if (!session) {
      // The planner times the command out and decides again; a lost node gets the current
      // state when it comes back (conflict clean-up). A release for a holder that is gone is
      // the expected end of a takeover: said once, at info. Anything else once per epoch, as a warning.
      const key = `${c.node}\u0000${c.unit}\u0000${c.action}\u0000${c.epoch}`;
      if (this.undeliverable.has(key)) return;
      if (this.undeliverable.size >= 1000) this.undeliverable.clear();
      this.undeliverable.add(key);
      const fields = { event: "command.undeliverable", node: c.node, unit: c.unit, group: c.group, action: c.action, epoch: c.epoch };
      if (c.action === "release")
        this.log.info(fields, `release → ${c.node} not sent: it has no session (it is told again if it comes back holding ${c.group})`);
      else this.log.warn(fields, `${c.action} → ${c.node} not sent: it has no session`);
      return;
    }
    if (!this.fence()) {
      this.log.warn(
        { event: "command.fenced", node: c.node, unit: c.unit, group: c.group, action: c.action, epoch: c.epoch, term: this.term },
        `${c.action} → ${c.node} not sent: the leader lease of term ${this.term} may have ended`,
      );
      return;
    }
    const commandId = nanoid(12);
    const seq = session.commands ? ++session.commands.sent : undefined;
    this.commands.track(
      commandId,
      { node: c.node, sessionId: session.id, unit: c.unit, group: c.group, epoch: c.epoch, action: c.action, sentMs: this.now(), seq },
      commandLifetimeMs(c, this.timing),
    );
    this.log.info({ event: `command.${c.action}`, node: c.node, unit: c.unit, group: c.group, epoch: c.epoch, commandId }, `${c.action} → ${c.node}`);
    session.sink.send(commandMessage(c, commandId, this.term));
  }

  /**
   * Nodes a command of the unit is on its way to: its acquire still waits behind the unit's
   * gate (its epoch being written: not sent at all yet), or went out and its agent has not
   * reported receiving it.
   */
  private onTheWay(unitName: string, acquiringTo: string): ReadonlySet<string> {
    const sent = this.commands.onTheWay(unitName);
    return this.gates.has(unitName) ? new Set([...sent, acquiringTo]) : sent;
  }

  /**
   * A report says how many of the session's commands its agent has received: an acquire that
   * arrived late has its ack timed from now (commandDelivered), and its unit looks again.
   */
  private delivered(sessionId: string, count: number): void {
    const counter = this.sessions.get(sessionId)?.commands;
    if (!counter || count <= counter.received) return;
    counter.received = Math.min(count, counter.sent);
    const now = this.now();
    for (const c of this.commands.delivered(sessionId, counter.received)) {
      if (c.action !== "acquire") continue;
      const rt = this.runtimes.get(c.unit);
      if (rt) this.runtimes.set(c.unit, commandDelivered(rt, c.node, now));
      this.enqueue(c.unit, { type: "tick" });
    }
  }

  /** Ends a session from our side; its commands are dropped with it. */
  private dropSession(sessionId: string, reason: string): void {
    this.sessions.drop(sessionId, reason);
    this.commands.sessionClosed(sessionId);
  }

  /**
   * A timer for a decision that what agents say may overturn (the startup grace's end, a
   * restart grace running out): when it runs late, the loop was stalled and a hello may sit
   * unread, so the loop reads the sockets first (listening-clock.ts).
   */
  private timerAfterReading(fn: () => void, ms: number): SchedulerTimer {
    const dueMs = this.scheduler.now() + ms;
    return this.scheduler.setTimeout(() => {
      const nowMs = this.scheduler.now();
      this.clock.observe(dueMs, nowMs);
      if (nowMs - dueMs > STALL_TOLERANCE_MS) setImmediate(fn);
      else fn();
    }, ms);
  }

  private scheduleWake(unitName: string, atMs: number | undefined): void {
    const existing = this.wakeTimers.get(unitName);
    if (existing && (atMs === undefined || existing.atMs !== atMs)) {
      this.scheduler.clearTimeout(existing.timer);
      this.wakeTimers.delete(unitName);
    }
    if (atMs === undefined || this.wakeTimers.has(unitName)) return;
    const delayMs = Math.max(0, atMs - this.now());
    const dueMs = this.scheduler.now() + delayMs;
    const timer = this.scheduler.setTimeout(() => {
      this.wakeTimers.delete(unitName);
      // A wake that comes late (the loop was stalled) first lets the loop read what the
      // sockets hold: an ack sitting unread must not lose to its own timeout.
      const nowMs = this.scheduler.now();
      this.clock.observe(dueMs, nowMs);
      if (nowMs - dueMs > STALL_TOLERANCE_MS) setImmediate(() => this.enqueue(unitName, { type: "tick" }));
      else this.enqueue(unitName, { type: "tick" });
    }, delayMs);
    this.wakeTimers.set(unitName, { atMs, timer });
  }

  /** Tells stopping agents when they may go: what they held is handed over, or nobody can take it. */
  private checkLeaving(): void {
    for (const [node, leave] of this.leaving) {
      if (leave.ready) continue;
      const session = this.sessions.of(node);
      if (!session) continue;
      const verdict = handoverVerdict({ node, leave, holds: this.nodes.views.get(node)!.holds, units: this.units, runtimes: this.runtimes });
      if (!verdict) continue;
      leave.ready = true;
      session.sink.send({ body: { $case: "leaveReady", value: verdict } });
      this.log.info({ event: "session.leave-ready", node, handedOver: verdict.handedOver, kept: verdict.kept }, "stopping agent may go");
    }
  }
}
