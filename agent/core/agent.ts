/**
 * The agent's core: obeys the coordinator's commands (never a stale epoch),
 * releases its VIPs itself the moment the node turns FAULT (nginx cannot start,
 * a tracked link is down) without waiting for anyone, answers LAN
 * verifications, and reports its state on every change and every heartbeat.
 * While the coordinator is away it keeps what it holds (fail-static).
 * All side effects go through the ports.
 */
import type { Logger } from "pino";
import type { AgentConfig } from "../../shared/config/agent.js";
import { parseCidr } from "../../shared/config/net.js";
import {
  NginxState, VerifyVerdict,
  type AgentMessage, type Command, type CoordinatorMessage, type GroupSpec, type Hello, type HeldVip, type LeaveReady, type Report, type UpstreamConfig, type VerifyRequest, type Welcome,
} from "../../shared/gen/keepvip/v1/agent.js";
import { VERSION } from "../../shared/version.js";
import type { NginxHealth } from "../../shared/protocol.js";
import { EpochGuard, type AgentMemory } from "./memory.js";
import type { BackendProbePort, LinkPort, NginxPort, NotifyPort, ReachPort, TrackPort, UpstreamPort, VerifyPort, VipPort, VipSpec } from "./ports.js";

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
  log: Logger;
  memory: AgentMemory;
  saveMemory(memory: AgentMemory): void;
  instanceId: string;
}

const NGINX_WIRE: Record<NginxHealth, NginxState> = {
  running: NginxState.NGINX_STATE_RUNNING,
  starting: NginxState.NGINX_STATE_STARTING,
  down: NginxState.NGINX_STATE_DOWN,
  stopped: NginxState.NGINX_STATE_STOPPED,
  unknown: NginxState.NGINX_STATE_UNSPECIFIED,
};

const VERDICT_WIRE = {
  free: VerifyVerdict.VERIFY_VERDICT_FREE,
  "answering-serving": VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING,
  "answering-not-serving": VerifyVerdict.VERIFY_VERDICT_ANSWERING_NOT_SERVING,
} as const;

/** How many times a takeover is re-announced when another host still answers for the VIP. */
const CONFIRM_ATTEMPTS = 3;

export class AgentCore {
  /** Group specs: from memory until the coordinator's welcome replaces them. */
  readonly groups = new Map<string, GroupSpec>();
  /** What this host holds now. */
  readonly held = new Map<string, { vips: VipSpec[]; epoch: number }>();
  readonly epochs: EpochGuard;
  private welcome?: Welcome;
  private send: (m: AgentMessage) => boolean = () => false;
  private fault = { on: false, reason: "" };
  private readonly pendingRelease = new Map<string, NodeJS.Timeout>();
  private readonly groupQueues = new Map<string, Promise<void>>();
  private heartbeat?: NodeJS.Timeout;
  private reportQueued = false;
  private seq = 0;
  private leaveWaiter?: (l: LeaveReady) => void;
  /** A local fault release is in flight: reports wait for it (a few ms) so none shows the fault before the release. */
  private releasingForFault = false;
  private stopping = false;
  private readonly unsubscribers: Array<() => void> = [];
  /** Last upstream version applied, and why the newest was not (""). */
  private upstream = { version: 0, error: "" };
  private upstreamChain: Promise<void> = Promise.resolve();
  private latestUpstream?: UpstreamConfig;

  constructor(private readonly deps: AgentDeps) {
    this.epochs = new EpochGuard({ ...deps.memory.epochs }, (seen) => this.remember({ epochs: seen }));
    for (const g of deps.memory.groups) this.groups.set(g.name, g);
  }

  /** Reconcile on start: VIPs already on the interfaces are reported and kept, never blindly removed. */
  async init(): Promise<void> {
    for (const [name, spec] of this.groups) {
      const wanted = this.bindings(name, spec.vips);
      if (typeof wanted === "string") continue;
      const present = await this.deps.vips.scan(wanted);
      if (present.length > 0) {
        this.held.set(name, { vips: present, epoch: this.epochs.newest(name) });
        this.deps.log.warn({ event: "vip.reconciled", group: name, vips: present.map((v) => v.address) }, `found ${present.map((v) => v.address).join(", ")} of ${name} already on this host: keeping it until the coordinator decides`);
      }
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
    return {
      nodeId: this.deps.config.node_id,
      agentVersion: VERSION,
      instanceId: this.deps.instanceId,
      state: this.report(),
      epochs: Object.entries(this.epochs.all()).map(([group, epoch]) => ({ group, epoch })),
    };
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
      case "command":
        return void this.serialize(body.value.group, () => this.onCommand(body.value));
      case "verify":
        return void this.onVerify(body.value);
      case "leaveReady":
        return this.leaveWaiter?.(body.value);
      case "upstreams":
        return this.onUpstreams(body.value);
      case "probePlan":
        this.deps.backends.setPlan(body.value);
        return;
      case "refused":
        return;
    }
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
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.sendReport(), Math.max(10, w.heartbeatIntervalMs));
    this.deps.log.info({ event: "session.welcome", session: w.sessionId, groups: w.groups.map((g) => g.name), heartbeatMs: w.heartbeatIntervalMs }, "coordinator session established");
    this.sendReport();
  }

  private async onCommand(c: Command): Promise<void> {
    const stale = this.epochs.admit(c.group, c.epoch);
    if (stale) {
      this.deps.log.warn({ event: "command.stale", group: c.group, epoch: c.epoch, newest: this.epochs.newest(c.group), commandId: c.commandId }, `ignoring command: ${stale}`);
      return this.ack(c, false, stale);
    }
    const action = c.action;
    if (!action) return this.ack(c, false, "command without an action");
    const vips = this.bindings(c.group, action.value.vips);
    if (typeof vips === "string") return this.ack(c, false, vips);
    const log = { group: c.group, epoch: c.epoch, commandId: c.commandId, vips: vips.map((v) => v.address) };

    if (action.$case === "acquire") {
      clearTimeout(this.pendingRelease.get(c.group));
      this.pendingRelease.delete(c.group);
      if (this.fault.on) return this.ack(c, false, `node is FAULT: ${this.fault.reason}`);
      try {
        await this.deps.vips.acquire(vips, { takeover: action.value.takeover, garp: { offsetsMs: this.welcome?.garp?.offsetsMs ?? [0, 100, 300, 700], refreshMs: this.welcome?.garp?.refreshMs ?? 0 } });
      } catch (err) {
        this.deps.log.error({ event: "vip.acquire.failed", ...log, err }, "acquire failed");
        return this.ack(c, false, (err as Error).message);
      }
      this.held.set(c.group, { vips, epoch: c.epoch });
      this.retargetReach();
      this.deps.log.info({ event: "vip.acquire", ...log, takeover: action.value.takeover, reason: c.reason }, `acquired ${c.group}`);
      this.ack(c, true);
      this.deps.notify.notify(c.group, "MASTER", 0);
      if (action.value.takeover) void this.confirmTakeover(c.group, c.epoch);
      return this.sendReport();
    }

    const release = async () => {
      this.pendingRelease.delete(c.group);
      try {
        await this.deps.vips.release(vips);
      } catch (err) {
        this.deps.log.error({ event: "vip.release.failed", ...log, err }, "release failed");
        return this.ack(c, false, (err as Error).message);
      }
      this.held.delete(c.group);
      this.retargetReach();
      this.deps.log.info({ event: "vip.release", ...log, reason: c.reason }, `released ${c.group}`);
      this.ack(c, true);
      this.deps.notify.notify(c.group, this.fault.on ? "FAULT" : "BACKUP", 0);
      this.sendReport();
    };
    if (action.value.afterMs > 0) {
      // Planned overlap: stragglers still reach us while the new holder's GARP
      // spreads. The group's queue is not blocked meanwhile: a newer acquire
      // cancels the pending release.
      clearTimeout(this.pendingRelease.get(c.group));
      this.pendingRelease.set(c.group, setTimeout(() => void this.serialize(c.group, release), action.value.afterMs));
      return;
    }
    await release();
  }

  /**
   * Applies pushed upstreams one at a time; a newer version arriving while one
   * is applied supersedes any waiting one (the newest is never dropped).
   */
  private onUpstreams(config: UpstreamConfig): void {
    this.latestUpstream = config;
    this.upstreamChain = this.upstreamChain.then(async () => {
      const next = this.latestUpstream;
      if (!next || next.version === this.upstream.version) return;
      const r = await this.deps.upstreams.apply(next);
      this.upstream = r.ok ? { version: r.version, error: "" } : { version: this.upstream.version, error: r.error };
      this.deps.log[r.ok ? "info" : "error"]({ event: r.ok ? "upstreams.applied" : "upstreams.rejected", version: next.version, error: r.error || undefined }, r.ok ? `upstream version ${next.version} applied` : `upstream version ${next.version} NOT applied: ${r.error}`);
      this.sendReport();
    }).catch((err: unknown) => this.deps.log.error({ event: "upstreams.error", err }, "upstream apply failed"));
  }

  /**
   * After a takeover the LAN must follow: no other host may still answer ARP
   * for the VIP. When one does, announce again (a denser burst) and look
   * again, a bounded number of times, reporting each miss as an event.
   */
  private async confirmTakeover(group: string, epoch: number): Promise<void> {
    for (let attempt = 1; attempt <= CONFIRM_ATTEMPTS; attempt++) {
      const h = this.held.get(group);
      if (!h || h.epoch !== epoch || this.stopping) return;
      const results = await Promise.all(h.vips.map((v) => this.deps.vips.confirm(v).catch((err: unknown) => ({ confirmed: false, detail: (err as Error).message }))));
      const missed = results.filter((r) => !r.confirmed);
      if (missed.length === 0) {
        this.deps.log.info({ event: "vip.confirmed", group, epoch, attempt }, `the LAN follows the takeover of ${group}`);
        return;
      }
      const detail = `takeover of ${group} not confirmed (attempt ${attempt}/${CONFIRM_ATTEMPTS}): ${missed.map((m) => m.detail).join("; ")}`;
      this.deps.log.warn({ event: "vip.unconfirmed", group, epoch, attempt }, detail);
      this.agentEvent("vip.unconfirmed", group, detail);
      if (this.held.get(group)?.epoch !== epoch) return;
      await this.deps.vips.acquire(h.vips, { takeover: true, garp: { offsetsMs: [], refreshMs: 0 } }).catch(() => undefined);
    }
  }

  /** Tells the coordinator (and so `keepvip events`) about something this agent did on its own. */
  agentEvent(kind: string, group: string, detail: string): void {
    this.send({ body: { $case: "event", value: { kind, group, detail, atMs: Date.now() } } });
  }

  private async onVerify(v: VerifyRequest): Promise<void> {
    const started = Date.now();
    const vip = this.bindings(v.group, v.vips.slice(0, 1));
    let verdict: keyof typeof VERDICT_WIRE = "free";
    let detail = "";
    if (typeof vip === "string") {
      detail = vip;
    } else {
      try {
        const r = await this.deps.verify.verify({ vip: vip[0].address, interface: vip[0].interface, port: v.port, path: v.path, timeoutMs: v.timeoutMs });
        verdict = r.verdict;
        detail = r.detail;
      } catch (err) {
        detail = `verification failed: ${(err as Error).message}`;
      }
    }
    // Evidence in hand beats one probe (DESIGN.md): if this node's continuous
    // probes through the VIP still get answers, a verification that found
    // nothing is one slow answer on a busy host, not a free VIP. Seen in the
    // lab under load: a 50 ms probe timed out while the holder served, and the
    // VIP ended up on both nodes. A dead holder still reads "free" once the
    // continuous probes go silent (reach_fall probes).
    const reach = this.deps.reach.current(v.group);
    if (verdict === "free" && reach !== undefined && reach.reachable && reach.failures === 0) {
      verdict = "answering-serving";
      detail = `${detail}; overruled: continuous probes through the VIP still get answers`;
    }
    // An error is reported as answering-serving: when in doubt, do not take over.
    const wire = typeof vip === "string" || detail.startsWith("verification failed") ? VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING : VERDICT_WIRE[verdict];
    this.deps.log.info({ event: "verify", group: v.group, verdict, detail, tookMs: Date.now() - started }, "LAN verification");
    this.send({ body: { $case: "verifyResult", value: { commandId: v.commandId, group: v.group, verdict: wire, detail, tookMs: Date.now() - started } } });
  }

  // ------------------------------------------------------------------ fault

  private evaluateFault(): void {
    const nginx = this.deps.nginx.state();
    let reason = "";
    if (nginx.state === "down") reason = `nginx cannot start: ${nginx.detail || "restart failed"}`;
    for (const iface of this.deps.config.track_interfaces) {
      if (this.deps.link.isUp(iface) === false) reason ||= `tracked interface ${iface} is down`;
    }
    const was = this.fault.on;
    this.fault = { on: reason !== "", reason };
    if (this.fault.on && !was) {
      this.deps.log.error({ event: "agent.fault", reason, held: [...this.held.keys()] }, `FAULT: ${reason}; releasing VIPs now`);
      for (const g of this.groups.keys()) this.deps.notify.notify(g, "FAULT", 0);
      // Release first, report after (releaseAll reports): the coordinator then
      // sees a FAULT node that already holds nothing, never the other order.
      this.releasingForFault = true;
      void this.releaseAll(`FAULT: ${reason}`).finally(() => {
        this.releasingForFault = false;
        this.sendReport();
      });
      return;
    } else if (!this.fault.on && was) {
      this.deps.log.info({ event: "agent.fault.cleared" }, "fault cleared: eligible again");
      for (const g of this.groups.keys()) if (!this.held.has(g)) this.deps.notify.notify(g, "BACKUP", 0);
    }
    this.sendReport();
  }

  /** Releases everything held, locally, at once (FAULT, forced stop). */
  async releaseAll(why: string): Promise<void> {
    const groups = [...this.held.keys()];
    await Promise.all(groups.map((g) => this.serialize(g, async () => {
      const h = this.held.get(g);
      if (!h) return;
      try {
        await this.deps.vips.release(h.vips);
        this.held.delete(g);
        this.deps.log.warn({ event: "vip.release.local", group: g, why }, `released ${g}: ${why}`);
      } catch (err) {
        this.deps.log.error({ event: "vip.release.failed", group: g, err }, "local release failed");
      }
    })));
    this.retargetReach();
    this.sendReport();
  }

  // ------------------------------------------------------------------ stop

  /**
   * A clean stop (SIGTERM): ask for a planned handover and wait (bounded) until
   * the new holder has taken over. With no coordinator nobody can take over: keep
   * the VIPs (nginx keeps serving) unless forced. Returns what happened, in words.
   */
  async stop(connected: boolean): Promise<string> {
    this.stopping = true;
    const cfg = this.deps.config;
    let outcome = "nothing held";
    if (this.held.size > 0 && connected) {
      const ready = new Promise<LeaveReady | undefined>((resolve) => {
        this.leaveWaiter = resolve;
        setTimeout(() => resolve(undefined), cfg.stop_timeout);
      });
      this.send({ body: { $case: "leaving", value: { handover: true, reason: "agent stopping (SIGTERM)" } } });
      const r = await ready;
      // Let a release in its planned overlap finish (bounded by the overlap itself).
      for (let i = 0; i < 100 && this.pendingRelease.size > 0; i++) await new Promise((res) => setTimeout(res, 10));
      await Promise.all([...this.groupQueues.values()]);
      if (!r) outcome = `handover did not complete within ${cfg.stop_timeout} ms`;
      else outcome = `handed over ${r.handedOver.join(", ") || "nothing"}${r.kept.length > 0 ? `; kept ${r.kept.join(", ")} (${r.detail})` : ""}`;
    } else if (this.held.size > 0) {
      outcome = "the coordinator is unreachable, so nobody can take over";
    }
    if (this.held.size > 0) {
      if (cfg.force_release_on_stop) {
        await this.releaseAll("stopping with force_release_on_stop");
        outcome += "; released anyway (force_release_on_stop)";
      } else {
        this.deps.log.error({ event: "agent.stop.keeping", held: [...this.held.keys()] }, `STOPPING WHILE HOLDING ${[...this.held.keys()].join(", ")}: ${outcome}. The VIP stays on this host and nginx keeps serving; set force_release_on_stop to release instead.`);
      }
    }
    for (const g of this.groups.keys()) this.deps.notify.notify(g, "STOP", 0);
    this.close();
    return outcome;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const t of this.pendingRelease.values()) clearTimeout(t);
    for (const g of this.groups.keys()) this.deps.reach.stop(g);
    for (const u of this.unsubscribers.splice(0)) u();
  }

  // ------------------------------------------------------------------ reports

  report(): Report {
    const nginx = this.deps.nginx.state();
    const tracks = this.deps.tracks.current().map((t) => ({ name: t.name, passing: t.passing, detail: t.detail.slice(0, 200) }));
    for (const iface of this.deps.config.track_interfaces) tracks.push({ name: `if:${iface}`, passing: this.deps.link.isUp(iface) !== false, detail: "" });
    // nginx is a built-in track: a group may weight it like a script. A restart in
    // progress still passes (F4: a restartable death must not move the VIP).
    tracks.push({ name: "nginx", passing: nginx.state === "running" || nginx.state === "starting", detail: nginx.detail.slice(0, 200) });
    const held: HeldVip[] = [...this.held].flatMap(([group, h]) => h.vips.map((v) => ({ group, address: `${v.address}/${v.prefix}`, interface: v.interface, epoch: h.epoch })));
    const reach = [...this.groups.keys()].map((group) => {
      const r = this.deps.reach.current(group);
      const holding = this.held.has(group);
      return { group, address: this.groups.get(group)?.vips[0] ?? "", reachable: holding || (r?.reachable ?? false), lanOk: r?.lanOk ?? true, observedMs: r?.observedMs ?? 0, consecutiveFailures: holding ? 0 : r?.failures ?? 0 };
    });
    return {
      nginx: NGINX_WIRE[nginx.state], nginxDetail: nginx.detail.slice(0, 500), tracks, held, reach,
      upstreamVersion: this.upstream.version, upstreamError: this.upstream.error, probes: this.deps.backends.current(),
      fault: this.fault.on, faultReason: this.fault.reason, seq: ++this.seq,
    };
  }

  /** Sends a report soon (coalesced within one tick). */
  scheduleReport(): void {
    if (this.reportQueued) return;
    this.reportQueued = true;
    setImmediate(() => {
      this.reportQueued = false;
      this.sendReport();
    });
  }

  private sendReport(): void {
    if (this.releasingForFault) return;
    this.send({ body: { $case: "report", value: this.report() } });
  }

  // ------------------------------------------------------------------ helpers

  private ack(c: Command, ok: boolean, error = ""): void {
    const held = [...this.held].flatMap(([group, h]) => h.vips.map((v) => ({ group, address: `${v.address}/${v.prefix}`, interface: v.interface, epoch: h.epoch })));
    this.send({ body: { $case: "ack", value: { commandId: c.commandId, ok, error, held } } });
  }

  /** The VIPs of a group on this host's interface for it, or why not. */
  bindings(group: string, vips: string[]): VipSpec[] | string {
    const cfg = this.deps.config;
    const bind = cfg.groups[group];
    const iface = bind?.interface ?? cfg.default_interface;
    if (!iface) return `no interface for group ${group} in the agent config (groups.${group}.interface or default_interface)`;
    const out: VipSpec[] = [];
    for (const v of vips) {
      const c = parseCidr(v);
      if (typeof c === "string") return `bad VIP from the coordinator: ${c}`;
      out.push({ group, address: c.address, prefix: c.prefix, family: c.family, interface: iface, label: bind?.label, scope: bind?.scope });
    }
    return out;
  }

  /**
   * Non-holders probe the service through each VIP they could take (F11
   * evidence); every member, holder included, probes its LAN references so a
   * node cut off the LAN says so itself.
   */
  private retargetReach(): void {
    if (!this.welcome || this.stopping) return;
    for (const [name, g] of this.groups) {
      if (g.vips.length === 0) continue;
      const vip = parseCidr(g.vips[0]);
      if (typeof vip === "string") continue;
      this.deps.reach.start({ group: name, vip: vip.address, port: g.servicePort, path: g.servicePath, intervalMs: this.welcome.reachIntervalMs, lanReferences: g.lanReferences, probeVip: !this.held.has(name) }, () => this.scheduleReport());
    }
  }

  private serialize(group: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.groupQueues.get(group) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => this.deps.log.error({ event: "agent.error", group, err }, "command failed"));
    this.groupQueues.set(group, next);
    return next;
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
