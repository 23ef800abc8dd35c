/**
 * The agent's core: the loop that feeds the coordinator's messages and the
 * host's changes into the agent's state machines (group-machine.ts per group,
 * node-machine.ts for FAULT, verification and stop) and runs their effects
 * through the ports. It obeys the coordinator's commands (never a stale
 * epoch), releases its VIPs itself the moment the node turns FAULT (nginx
 * cannot start, a link of track_interfaces is down) without waiting for anyone, answers
 * LAN verifications, and reports its state on every change and every
 * heartbeat. While the coordinator is away it keeps what it holds
 * (fail-static). Time and timers come from one scheduler port.
 */
import type { Logger } from "pino";
import type { AgentConfig } from "../../shared/config/agent.js";
import { parseCidr } from "../../shared/config/net.js";
import { bindVips } from "../vip/bindings.js";
import {
  VerifyVerdict,
  type AgentMessage,
  type Command,
  type CoordinatorMessage,
  type DrillProbe,
  type DrillReport,
  type GroupSpec,
  type Hello,
  type HeldVip,
  type LeaveReady,
  type Report,
  type UpstreamConfig,
  type VerifyRequest,
  type Welcome,
} from "../../shared/gen/keepvip/v1/agent.js";
import { realScheduler, type Scheduler, type SchedulerTimer } from "../../shared/scheduler.js";
import { VERSION } from "../../shared/version.js";
import { DEFAULT_GARP, nginxToWire, VIP_UNCONFIRMED } from "../../shared/protocol.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import {
  holdingOf,
  initialGroupState,
  stepGroup,
  type Bindings,
  type GroupContext,
  type GroupEffect,
  type GroupEvent,
  type GroupState,
  type Holding,
} from "./group-machine.js";
import { EpochGuard, TermGuard, type AgentMemory } from "./memory.js";
import {
  faultReason,
  handoverOutcome,
  initialNodeState,
  judgeVerification,
  linkVerdicts,
  stepNode,
  stopPlan,
  type NodeEvent,
  type NodeState,
  type VerifyOutcome,
} from "./node-machine.js";
import type {
  BackendProbePort,
  DrillPort,
  LinkPort,
  NginxPort,
  NotifyPort,
  ReachPort,
  TrackPort,
  UpstreamPort,
  Verdict,
  VerifyPort,
  VipPort,
} from "./ports.js";

export interface AgentDeps {
  config: AgentConfig;
  vips: VipPort;
  nginx: NginxPort;
  tracks: TrackPort;
  reach: ReachPort;
  verify: VerifyPort;
  notify: NotifyPort;
  link: LinkPort;
  upstreams: UpstreamPort;
  backends: BackendProbePort;
  /** Failover drills' probes (keepvip drill); without it the agent answers that it cannot. */
  drills?: DrillPort;
  log: Logger;
  memory: AgentMemory;
  saveMemory(memory: AgentMemory): void;
  instanceId: string;
  /** Time and timers (realScheduler when left out). */
  scheduler?: Scheduler;
}

const VERDICT_WIRE: Record<Verdict, VerifyVerdict> = {
  free: VerifyVerdict.VERIFY_VERDICT_FREE,
  "answering-serving": VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING,
  "answering-not-serving": VerifyVerdict.VERIFY_VERDICT_ANSWERING_NOT_SERVING,
};

/** How many times a takeover is re-announced when another host still answers for the VIP. */
const CONFIRM_ATTEMPTS = 3;
/** Silent probes through the VIP before "cannot reach", when the coordinator does not say (an older one). */
const DEFAULT_REACH_FALL = 3;

export class AgentCore {
  /** Group specs: from memory until the coordinator's welcome replaces them. */
  readonly groups = new Map<string, GroupSpec>();
  readonly epochs: EpochGuard;
  /** The highest coordinator leader term followed (persisted): a deposed leader is never obeyed. */
  readonly terms: TermGuard;
  private readonly clock: Scheduler;
  /** Each group's machine state (the newest epoch lives in `epochs`, which persists it). */
  private readonly machines = new Map<string, GroupState>();
  private node: NodeState = initialNodeState();
  private welcome?: Welcome;
  private send: (m: AgentMessage) => boolean = () => false;
  private readonly releaseTimers = new Map<string, SchedulerTimer>();
  private readonly groupQueues = new Map<string, SerialQueue>();
  private heartbeat?: SchedulerTimer;
  private reportQueued = false;
  private seq = 0;
  /** Commands (acquire, release, verify) this session delivered, reported back (counted from the hello). */
  private commandsReceived = 0;
  private leaveWaiter?: (l: LeaveReady) => void;
  private readonly unsubscribers: Array<() => void> = [];
  /** Last upstream version applied, and why the newest was not (""). */
  private upstream = { version: 0, error: "" };
  /** Pushed upstreams, applied one at a time. */
  private readonly upstreamQueue = new SerialQueue();
  private latestUpstream?: UpstreamConfig;

  constructor(private readonly deps: AgentDeps) {
    this.clock = deps.scheduler ?? realScheduler;
    this.epochs = new EpochGuard({ ...deps.memory.epochs }, (seen) => this.remember({ epochs: seen }));
    this.terms = new TermGuard(deps.memory.term ?? 0, (term) => this.remember({ term }));
    for (const g of deps.memory.groups) this.groups.set(g.name, g);
  }

  /** What this host holds now, per group. */
  get held(): ReadonlyMap<string, Holding> {
    const out = new Map<string, Holding>();
    for (const [group, state] of this.machines) {
      const h = holdingOf(state);
      if (h) out.set(group, h);
    }
    return out;
  }

  /** Reconcile on start: VIPs already on the interfaces are reported and kept, never blindly removed. */
  async init(): Promise<void> {
    for (const [name, spec] of this.groups) {
      const wanted = this.bindings(name, spec.vips);
      if (!wanted.ok) continue;
      const present = await this.deps.vips.scan(wanted.vips);
      await this.feed(name, { type: "found", vips: present });
    }
    this.unsubscribers.push(
      this.deps.nginx.onState(() => this.evaluateFault()),
      this.deps.tracks.onChange(() => this.scheduleReport()),
      this.deps.link.onChange(() => this.evaluateFault()),
    );
    this.evaluateFault();
  }

  /** Wires the session's send function. */
  attach(send: (m: AgentMessage) => boolean): void {
    this.send = send;
  }

  hello(): Hello {
    // A new session: its commands are counted from here (the hello's own report says 0).
    this.commandsReceived = 0;
    return {
      nodeId: this.deps.config.node_id,
      agentVersion: VERSION,
      instanceId: this.deps.instanceId,
      state: this.report(),
      epochs: Object.entries(this.epochs.all()).map(([group, epoch]) => ({ group, epoch })),
      term: this.terms.newest,
      countsCommands: true,
    };
  }

  /**
   * Before a welcome counts: "" to follow this coordinator, else why not (its
   * term is lower than one this agent followed: a deposed leader). A higher
   * term is persisted before anything of the session is acted on.
   */
  acceptWelcome(w: Welcome): string {
    const stale = this.terms.admit(w.term);
    if (stale) this.deps.log.error({ event: "session.stale_term", term: w.term, highest: this.terms.newest }, `not following this coordinator: ${stale}`);
    return stale;
  }

  connection(up: boolean, detail: string): void {
    if (up) return;
    // Fail-static: keep everything, keep supervising nginx, keep local fault release.
    this.deps.log.warn({ event: "coordinator.lost", detail, held: [...this.held.keys()] }, "coordinator session lost: keeping what this node holds");
    if (this.leaveWaiter) this.leaveWaiter({ handedOver: [], kept: [...this.held.keys()], detail: `coordinator lost: ${detail}` });
  }

  message(m: CoordinatorMessage): void {
    const body = m.body;
    if (!body) return;
    switch (body.$case) {
      case "welcome":
        return this.onWelcome(body.value);
      case "command": {
        this.commandsReceived++;
        const c = body.value;
        const stale = this.terms.admit(c.term);
        if (stale) {
          this.deps.log.warn(
            { event: "command.stale_term", group: c.group, epoch: c.epoch, term: c.term, highest: this.terms.newest, commandId: c.commandId },
            `ignoring command: ${stale}`,
          );
          this.send({ body: { $case: "ack", value: { commandId: c.commandId, ok: false, error: stale, held: this.heldVips() } } });
          return;
        }
        return void this.serialize(c.group, () => this.feed(c.group, this.commandEvent(c)));
      }
      case "verify":
        this.commandsReceived++;
        return void this.onVerify(body.value);
      case "leaveReady":
        return this.leaveWaiter?.(body.value);
      case "upstreams":
        return this.onUpstreams(body.value);
      case "probePlan":
        this.deps.backends.setPlan(body.value);
        return;
      case "drill":
        return this.onDrill(body.value);
      case "refused":
        return;
    }
  }

  /** Why a drill's fault was not done, per drill id, until its report goes out. */
  private readonly drillErrors = new Map<string, string>();

  private takeDrillError(drillId: string): string {
    const e = this.drillErrors.get(drillId) ?? "";
    this.drillErrors.delete(drillId);
    return e;
  }

  /** A failover drill: probe the service through the group's VIP until told to stop; on the holder, maybe kill nginx. */
  private onDrill(d: DrillProbe): void {
    if (d.stop) return void this.deps.drills?.stop(d.drillId);
    const spec = this.groups.get(d.group);
    const report = (fields: Partial<DrillReport>): void => {
      this.send({
        body: {
          $case: "drillReport",
          value: {
            drillId: d.drillId,
            group: d.group,
            probes: 0,
            failed: 0,
            longestBlackoutMs: 0,
            held: [],
            error: "",
            outcomes: {},
            startedMs: 0,
            endedMs: 0,
            crossed: 0,
            ...fields,
          },
        },
      });
    };
    if (!spec || spec.vips.length === 0) return report({ error: `${this.deps.config.node_id} is no member of ${d.group}` });
    if (!this.deps.drills) return report({ error: "this agent cannot run drills" });
    if (d.killNginxMs > 0 && this.held.has(d.group)) {
      const error = this.deps.config.drills.allow_nginx_kill
        ? this.deps.nginx.holdDown(d.killNginxMs)
        : `drills.allow_nginx_kill is off in ${this.deps.config.node_id}'s agent config: nginx was not killed`;
      if (error) this.drillErrors.set(d.drillId, error);
      else this.agentEvent("drill.nginx-killed", d.group, `failover drill: nginx killed and kept down for ${d.killNginxMs} ms`);
    }
    // A second message for a running drill only adds the fault.
    if (this.deps.drills.running(d.drillId)) return;
    const group = d.group;
    this.deps.drills.start(
      {
        drillId: d.drillId,
        group,
        host: spec.vips[0].split("/")[0],
        port: spec.servicePort,
        path: spec.servicePath,
        intervalMs: d.intervalMs,
        timeoutMs: d.timeoutMs,
        maxMs: d.maxMs,
      },
      () => (this.held.has(group) ? "held" : this.drainingHere(group) ? "draining" : "none"),
      (sum, startedMs, endedMs) =>
        report({
          probes: sum.probes,
          failed: sum.failed,
          longestBlackoutMs: sum.longestBlackoutMs,
          outcomes: sum.outcomes,
          held: sum.held.map((h) => ({ fromMs: h.fromMs, toMs: h.toMs })),
          error: this.takeDrillError(d.drillId),
          crossed: sum.crossed,
          startedMs,
          endedMs,
        }),
    );
  }

  // ------------------------------------------------------------------ coordinator messages

  private onWelcome(w: Welcome): void {
    this.welcome = w;
    this.groups.clear();
    for (const g of w.groups) this.groups.set(g.name, g);
    this.remember({ groups: w.groups });
    for (const g of w.groups) for (const t of g.tracks) this.deps.tracks.setPolicy(t.name, t.rise, t.fall);
    if (w.garp) this.deps.vips.setGarp({ offsetsMs: w.garp.offsetsMs, refreshMs: w.garp.refreshMs });
    this.retargetReach();
    this.armHeartbeat(Math.max(10, w.heartbeatIntervalMs));
    this.deps.log.info(
      { event: "session.welcome", session: w.sessionId, groups: w.groups.map((g) => g.name), heartbeatMs: w.heartbeatIntervalMs },
      "coordinator session established",
    );
    this.sendReport();
  }

  private armHeartbeat(everyMs: number): void {
    if (this.heartbeat) this.clock.clearTimeout(this.heartbeat);
    this.heartbeat = this.clock.setTimeout(() => {
      this.sendReport();
      this.armHeartbeat(everyMs);
    }, this.clock.alignedDelay?.(everyMs) ?? everyMs);
  }

  /** A wire command as the group machine's event. */
  private commandEvent(c: Command): GroupEvent {
    const command = { commandId: c.commandId, group: c.group, epoch: c.epoch, reason: c.reason };
    const action = c.action;
    if (!action) return { type: "command", command, action: null, bindings: { ok: false, error: "command without an action" } };
    const bindings = this.bindings(c.group, action.value.vips);
    return action.$case === "acquire"
      ? { type: "command", command, action: { kind: "acquire", takeover: action.value.takeover, forwardMs: action.value.forwardMs ?? 0 }, bindings }
      : {
          type: "command",
          command,
          action: { kind: "release", afterMs: action.value.afterMs, drainMs: action.value.drainMs ?? 0, members: action.value.memberAddresses ?? [] },
          bindings,
        };
  }

  /**
   * Applies pushed upstreams one at a time; a newer version arriving while one
   * is applied supersedes any waiting one (the newest is never dropped).
   */
  private onUpstreams(config: UpstreamConfig): void {
    this.latestUpstream = config;
    this.upstreamQueue
      .run(async () => {
        const next = this.latestUpstream;
        if (!next || next.version === this.upstream.version) return;
        const r = await this.deps.upstreams.apply(next);
        this.upstream = r.ok ? { version: r.version, error: "" } : { version: this.upstream.version, error: r.error };
        this.deps.log[r.ok ? "info" : "error"](
          { event: r.ok ? "upstreams.applied" : "upstreams.rejected", version: next.version, error: r.error || undefined },
          r.ok ? `upstream version ${next.version} applied` : `upstream version ${next.version} NOT applied: ${r.error}`,
        );
        this.sendReport();
      })
      .catch((err: unknown) => this.deps.log.error({ event: "upstreams.error", err }, "upstream apply failed"));
  }

  /**
   * After a takeover the LAN must follow: no other host may still answer ARP
   * for the VIP. When one does, announce again (a denser burst) and look
   * again, a bounded number of times, reporting each miss as an event.
   */
  private async confirmTakeover(group: string, epoch: number): Promise<void> {
    for (let attempt = 1; attempt <= CONFIRM_ATTEMPTS; attempt++) {
      const h = this.held.get(group);
      if (!h || h.epoch !== epoch || this.node.stopping) return;
      const results = await Promise.all(
        h.vips.map((v) => this.deps.vips.confirm(v).catch((err: unknown) => ({ confirmed: false, detail: (err as Error).message }))),
      );
      const missed = results.filter((r) => !r.confirmed);
      if (missed.length === 0) {
        this.deps.log.info({ event: "vip.confirmed", group, epoch, attempt }, `the LAN follows the takeover of ${group}`);
        return;
      }
      const detail = `takeover of ${group} not confirmed (attempt ${attempt}/${CONFIRM_ATTEMPTS}): ${missed.map((m) => m.detail).join("; ")}`;
      this.deps.log.warn({ event: VIP_UNCONFIRMED, group, epoch, attempt }, detail);
      this.agentEvent(VIP_UNCONFIRMED, group, detail);
      // Announced again in the group's queue, and only while still held under this epoch: a
      // release that arrived while the LAN was being asked (a preempt back within the
      // takeover) runs first and ends the loop; re-announcing outside the queue re-added a
      // VIP just released, and it stayed on both hosts.
      let stillHeld = false;
      await this.serialize(group, async () => {
        const now = this.held.get(group);
        if (!now || now.epoch !== epoch || this.node.stopping) return;
        stillHeld = true;
        await this.deps.vips.acquire(now.vips, { takeover: true, garp: { offsetsMs: [], refreshMs: 0 } }).catch(() => undefined);
      });
      if (!stillHeld) return;
    }
  }

  /** Tells the coordinator (and so `keepvip events`) about something this agent did on its own. */
  agentEvent(kind: string, group: string, detail: string): void {
    this.send({ body: { $case: "event", value: { kind, group, detail, atMs: this.clock.wallMs() } } });
  }

  private async onVerify(v: VerifyRequest): Promise<void> {
    const started = this.clock.now();
    const vip = this.bindings(v.group, v.vips.slice(0, 1));
    let outcome: VerifyOutcome;
    if (!vip.ok) {
      outcome = { kind: "unbound", detail: vip.error };
    } else {
      // A drain keeps the VIP local here: the LAN's answer is what counts now.
      const all = this.bindings(v.group, v.vips);
      if (all.ok && this.drainingHere(v.group))
        for (const b of all.vips) await this.deps.vips.endDrain(b, "the coordinator asks this host to verify the VIP on the LAN");
      try {
        const r = await this.deps.verify.verify({
          vip: vip.vips[0].address,
          interface: vip.vips[0].interface,
          port: v.port,
          path: v.path,
          timeoutMs: v.timeoutMs,
        });
        outcome = { kind: "observed", verdict: r.verdict, detail: r.detail };
      } catch (err) {
        outcome = { kind: "failed", error: (err as Error).message };
      }
    }
    const j = judgeVerification(outcome, this.deps.reach.current(v.group));
    const tookMs = Math.round(this.clock.now() - started);
    this.deps.log.info({ event: "verify", group: v.group, verdict: j.seen, detail: j.detail, tookMs }, "LAN verification");
    this.send({
      body: { $case: "verifyResult", value: { commandId: v.commandId, group: v.group, verdict: VERDICT_WIRE[j.answer], detail: j.detail, tookMs } },
    });
  }

  // ------------------------------------------------------------------ the group machines

  private groupState(group: string): GroupState {
    const state = this.machines.get(group) ?? initialGroupState(group);
    return { ...state, newest: this.epochs.newest(group) };
  }

  private groupContext(): GroupContext {
    return {
      fault: this.node.fault.on ? this.node.fault.reason : null,
      garp: { offsetsMs: this.welcome?.garp?.offsetsMs ?? [...DEFAULT_GARP.burstMs], refreshMs: this.welcome?.garp?.refreshMs ?? DEFAULT_GARP.refreshMs },
    };
  }

  /**
   * Steps a group's machine with `event` and runs the effects; an I/O effect's
   * outcome is the next event. Callers hold the group's queue (serialize), so
   * one group's events are stepped one at a time.
   */
  private async feed(group: string, event: GroupEvent): Promise<void> {
    let next: GroupEvent | undefined = event;
    while (next) {
      const r = stepGroup(this.groupState(group), next, this.groupContext());
      this.machines.set(group, r.state);
      next = undefined;
      for (const effect of r.effects) next = (await this.runGroupEffect(group, effect)) ?? next;
    }
  }

  private async runGroupEffect(group: string, e: GroupEffect): Promise<GroupEvent | undefined> {
    switch (e.type) {
      case "raise-epoch":
        this.epochs.admit(group, e.epoch);
        return;
      case "ack":
        this.send({ body: { $case: "ack", value: { commandId: e.command.commandId, ok: e.ok, error: e.error, held: this.heldVips() } } });
        return;
      case "bind":
        try {
          await this.deps.vips.acquire(e.vips, { takeover: e.takeover, garp: e.garp, forwardMs: e.forwardMs, moving: this.ownMove(group, "bind") });
          return { type: "bound", error: null };
        } catch (err) {
          return { type: "bound", error: (err as Error).message };
        }
      case "unbind":
        try {
          await this.deps.vips.release(e.vips, { drainMs: e.drainMs, members: e.members, moving: this.ownMove(group, "unbind") });
          return { type: "unbound", error: null };
        } catch (err) {
          return { type: "unbound", error: (err as Error).message };
        }
      case "arm-release": {
        const armed = this.releaseTimers.get(group);
        if (armed) this.clock.clearTimeout(armed);
        const timer = this.clock.setTimeout(() => {
          if (this.releaseTimers.get(group) === timer) this.releaseTimers.delete(group);
          void this.serialize(group, () => this.feed(group, { type: "release-due", release: e.release }));
        }, e.release.afterMs);
        this.releaseTimers.set(group, timer);
        return;
      }
      case "cancel-release": {
        const armed = this.releaseTimers.get(group);
        if (armed) this.clock.clearTimeout(armed);
        this.releaseTimers.delete(group);
        return;
      }
      case "retarget-reach":
        this.retargetReach();
        return;
      case "notify":
        // After this turn of the event loop: spawning the script must not hold back the
        // ack just queued on the session (the coordinator waits on it to release the old holder).
        setImmediate(() => this.deps.notify.notify(group, e.state, 0));
        return;
      case "confirm-takeover":
        void this.confirmTakeover(group, e.epoch);
        return;
      case "report":
        this.sendReport();
        return;
      case "log":
        this.deps.log[e.level]({ event: e.event, ...e.fields }, e.message);
        return;
    }
  }

  // ------------------------------------------------------------------ fault

  private evaluateFault(): void {
    const links = linkVerdicts(this.deps.config, (iface) => this.deps.link.isUp(iface));
    this.stepNode({ type: "health", reason: faultReason(this.deps.nginx.state(), links.fault) });
  }

  private stepNode(event: NodeEvent): void {
    const r = stepNode(this.node, event, { groups: [...this.groups.keys()], held: [...this.held.keys()] });
    this.node = r.state;
    for (const e of r.effects) {
      switch (e.type) {
        case "notify":
          setImmediate(() => this.deps.notify.notify(e.group, e.state, 0));
          break;
        case "release-all":
          void this.releaseAll(e.why).finally(() => this.stepNode({ type: "fault-released" }));
          break;
        case "report":
          this.sendReport();
          break;
        case "log":
          this.deps.log[e.level]({ event: e.event, ...e.fields }, e.message);
          break;
      }
    }
  }

  /** Releases everything held, locally, at once (FAULT, forced stop). */
  async releaseAll(why: string): Promise<void> {
    const groups = [...this.held.keys()];
    await Promise.all(groups.map((g) => this.serialize(g, () => this.feed(g, { type: "local-release", why }))));
    this.retargetReach();
    this.sendReport();
  }

  // ------------------------------------------------------------------ stop

  /**
   * A restart (systemctl restart, an upgrade): tell the coordinator to keep this node
   * as it is, VIPs included, for at most `graceMs` while the next agent starts. Returns
   * whether the message went out (no session: the coordinator verifies the VIP on the
   * LAN before anything moves, as after a crash).
   */
  announceRestart(graceMs: number, reason: string): boolean {
    return this.send({ body: { $case: "leaving", value: { handover: false, reason, restartMs: Math.max(1, Math.round(graceMs)) } } });
  }

  /**
   * A clean stop (SIGTERM): ask for a planned handover and wait (bounded) until
   * the new holder has taken over. With no coordinator nobody can take over: keep
   * the VIPs (nginx keeps serving) unless forced. Returns what happened, in words.
   */
  async stop(connected: boolean): Promise<string> {
    this.stepNode({ type: "stopping" });
    const cfg = this.deps.config;
    const plan = stopPlan(this.held.size, connected);
    let outcome: string;
    if (plan.kind === "handover") {
      let timeout: SchedulerTimer | undefined;
      const ready = new Promise<LeaveReady | undefined>((resolve) => {
        this.leaveWaiter = resolve;
        timeout = this.clock.setTimeout(() => resolve(undefined), cfg.stop_timeout);
      });
      this.send({ body: { $case: "leaving", value: { handover: true, reason: "agent stopping (SIGTERM)", restartMs: 0 } } });
      const r = await ready;
      if (timeout) this.clock.clearTimeout(timeout);
      // Let a release in its planned overlap finish (bounded by the overlap itself).
      for (let i = 0; i < 100 && this.releasePending(); i++) await new Promise<void>((res) => this.clock.setTimeout(() => res(), 10));
      await Promise.all([...this.groupQueues.values()].map((q) => q.idle()));
      outcome = handoverOutcome(r, cfg.stop_timeout);
    } else {
      outcome = plan.outcome;
    }
    if (this.held.size > 0) {
      if (cfg.force_release_on_stop) {
        await this.releaseAll("stopping with force_release_on_stop");
        outcome += "; released anyway (force_release_on_stop)";
      } else {
        this.deps.log.error(
          { event: "agent.stop.keeping", held: [...this.held.keys()] },
          `STOPPING WHILE HOLDING ${[...this.held.keys()].join(", ")}: ${outcome}. The VIP stays on this host and nginx keeps serving; set force_release_on_stop to release instead.`,
        );
      }
    }
    for (const g of this.groups.keys()) this.deps.notify.notify(g, "STOP", 0);
    this.close();
    return outcome;
  }

  /** A delayed release is armed or queued (its timer went off, its turn has not come). */
  private releasePending(): boolean {
    for (const state of this.machines.values()) if (state.delayed) return true;
    return false;
  }

  close(): void {
    if (this.heartbeat) this.clock.clearTimeout(this.heartbeat);
    this.heartbeat = undefined;
    for (const t of this.releaseTimers.values()) this.clock.clearTimeout(t);
    this.releaseTimers.clear();
    for (const g of this.groups.keys()) this.deps.reach.stop(g);
    for (const u of this.unsubscribers.splice(0)) u();
  }

  // ------------------------------------------------------------------ reports

  report(): Report {
    const nginx = this.deps.nginx.state();
    const tracks = this.deps.tracks.current().map((t) => ({ name: t.name, passing: t.passing, detail: t.detail.slice(0, 200) }));
    // Links as tracks "if:<iface>": track_interfaces (also a node FAULT) and interface_tracks (only
    // the groups whose coordinator tracks name them count them).
    tracks.push(...linkVerdicts(this.deps.config, (iface) => this.deps.link.isUp(iface)).tracks);
    // nginx is a built-in track: a group may weight it like a script. A restart in
    // progress still passes (F4: a restartable death must not move the VIP).
    tracks.push({ name: "nginx", passing: nginx.state === "running" || nginx.state === "starting", detail: nginx.detail.slice(0, 200) });
    const held = this.held;
    const draining = this.deps.vips.draining();
    const reach = [...this.groups.keys()].map((group) => {
      const r = this.deps.reach.current(group);
      const holding = held.has(group);
      // A draining VIP is still local here: probes through it answer from this host,
      // so they witness nothing about the holder (never "fresh", never failing).
      const local = holding || draining.some((d) => d.group === group);
      return {
        group,
        address: this.groups.get(group)?.vips[0] ?? "",
        reachable: local || (r?.reachable ?? false),
        lanOk: r?.lanOk ?? true,
        lanFresh: local && !holding ? false : (r?.lanFresh ?? false),
        observedMs: r?.observedMs ?? 0,
        consecutiveFailures: local ? 0 : (r?.failures ?? 0),
      };
    });
    return {
      nginx: nginxToWire(nginx.state),
      nginxDetail: nginx.detail.slice(0, 500),
      tracks,
      held: this.heldVips(),
      reach,
      upstreamVersion: this.upstream.version,
      upstreamError: this.upstream.error,
      probes: this.deps.backends.current(),
      fault: this.node.fault.on,
      faultReason: this.node.fault.reason,
      seq: ++this.seq,
      commandsReceived: this.commandsReceived,
      draining: draining.map((d) => ({ ...d, elapsedMs: Math.round(d.elapsedMs) })),
    };
  }

  /** A drain started, changed or ended: what this node probes and reports follows. */
  drainsChanged(): void {
    this.retargetReach();
    this.scheduleReport();
  }

  /** Sends a report soon (coalesced within one tick). */
  scheduleReport(): void {
    if (this.reportQueued) return;
    this.reportQueued = true;
    this.clock.setTimeout(() => {
      this.reportQueued = false;
      this.sendReport();
    }, 0);
  }

  private sendReport(): void {
    if (this.node.releasingForFault) return;
    this.send({ body: { $case: "report", value: this.report() } });
  }

  // ------------------------------------------------------------------ helpers

  /**
   * What the VIP port calls right before it adds (a bind) or deletes (an unbind) one of the
   * group's addresses, when that moves the VIP to or from this node: a drill running here
   * records its own move at that instant. The kernel's routes for the VIP change with that
   * `ip addr add/del`, which may cut a drill probe's local connection through the VIP.
   * Recorded once the bind was done (the first GARP out, tens of ms later), the move came
   * after the probe it cut; recorded as the bind began, before a planned move's forwarding
   * is set up (a few programs run first), the address may change more than the drill's
   * margin later. Undefined when nothing moves: a bind of a VIP this node holds already (a
   * newer epoch), an unbind of one that is not here.
   */
  private ownMove(group: string, kind: "bind" | "unbind"): (() => void) | undefined {
    const drills = this.deps.drills;
    if (!drills) return undefined;
    const moves = kind === "bind" ? !this.held.has(group) : this.held.has(group) || this.drainingHere(group);
    return moves ? () => drills.ownMove(group) : undefined;
  }

  /** The group's VIP is still local here after a release (a drain, reported or not). */
  private drainingHere(group: string): boolean {
    return this.deps.vips.localDrains().includes(group);
  }

  private heldVips(): HeldVip[] {
    return [...this.held].flatMap(([group, h]) => h.vips.map((v) => ({ group, address: `${v.address}/${v.prefix}`, interface: v.interface, epoch: h.epoch })));
  }

  /** The VIPs of a group on this host's interfaces for it (per address: groups.NAME.addresses), or why not. */
  bindings(group: string, vips: string[]): Bindings {
    return bindVips(this.deps.config, group, vips);
  }

  /**
   * Non-holders probe the service through each VIP they could take (F11
   * evidence); every member, holder included, probes its LAN references so a
   * node cut off the LAN says so itself.
   */
  private retargetReach(): void {
    if (!this.welcome || this.node.stopping) return;
    const held = this.held;
    // A draining VIP is still local here: probing it would only reach this host.
    const draining = new Set(this.deps.vips.draining().map((d) => d.group));
    for (const [name, g] of this.groups) {
      if (g.vips.length === 0) continue;
      const vip = parseCidr(g.vips[0]);
      if (!vip.ok) continue;
      this.deps.reach.start(
        {
          group: name,
          vip: vip.value.address,
          port: g.servicePort,
          // A TCP connect, not the service's HTTP path: the question is whether the holder is
          // reachable on the LAN. Through the path a blackholed backend made the holder's nginx
          // answer late, read as "cannot reach the holder", and moved the VIP to a node whose
          // nginx has the same backends (a clean-clone run of F10).
          path: "",
          intervalMs: this.welcome.reachIntervalMs,
          fall: this.welcome.reachFall || DEFAULT_REACH_FALL,
          lanReferences: g.lanReferences,
          probeVip: !held.has(name) && !draining.has(name),
        },
        () => this.scheduleReport(),
      );
    }
  }

  private serialize(group: string, fn: () => Promise<void>): Promise<void> {
    let queue = this.groupQueues.get(group);
    if (!queue) this.groupQueues.set(group, (queue = new SerialQueue()));
    return queue.run(fn).catch((err: unknown) => this.deps.log.error({ event: "agent.error", group, err }, "command failed"));
  }

  private remember(patch: Partial<AgentMemory>): void {
    Object.assign(this.deps.memory, patch);
    try {
      this.deps.saveMemory(this.deps.memory);
    } catch (err) {
      this.deps.log.error({ event: "agent.memory.failed", err }, "cannot save agent state");
    }
  }
}
