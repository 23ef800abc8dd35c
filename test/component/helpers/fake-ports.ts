/** In-memory twins of the agent's ports: a fake host whose VIPs, nginx and links tests control. */
import type { NginxHealth } from "../../../shared/protocol.js";
import type { ProbePlan, ProbeResult, UpstreamConfig } from "../../../shared/gen/keepvip/v1/agent.js";
import type {
  BackendProbePort,
  GarpPlan,
  UpstreamPort,
  LinkPort,
  NginxPort,
  NotifyPort,
  NotifyState,
  ReachPort,
  ReachState,
  ReachTarget,
  TrackPort,
  TrackState,
  Verdict,
  VerifyPort,
  VipPort,
  VipSpec,
} from "../../../agent/core/ports.js";

/** One shared "LAN": which node has which VIP address. */
export class FakeLan {
  readonly owners = new Map<string, Set<string>>();
  holders(address: string): string[] {
    return [...(this.owners.get(address) ?? [])].sort();
  }
}

export class FakeVips implements VipPort {
  readonly log: string[] = [];
  constructor(
    private readonly lan: FakeLan,
    private readonly node: string,
  ) {}
  async scan(vips: VipSpec[]) {
    return vips.filter((v) => this.lan.holders(v.address).includes(this.node));
  }
  async acquire(vips: VipSpec[], opts: { takeover: boolean; moving?: () => void }) {
    for (const v of vips) {
      if (!this.lan.owners.has(v.address)) this.lan.owners.set(v.address, new Set());
      if (!this.lan.owners.get(v.address)!.has(this.node)) opts.moving?.();
      this.lan.owners.get(v.address)!.add(this.node);
      this.log.push(`acquire ${v.address} on ${v.interface}${opts.takeover ? " takeover" : ""}`);
    }
  }
  async release(vips: VipSpec[], opts?: { drainMs?: number; moving?: () => void }) {
    for (const v of vips) {
      opts?.moving?.();
      this.lan.owners.get(v.address)?.delete(this.node);
      this.log.push(`release ${v.address}${opts?.drainMs ? ` drain ${opts.drainMs}ms` : ""}`);
    }
  }
  draining() {
    return [];
  }
  localDrains(): string[] {
    return [];
  }
  async endDrain(vip: VipSpec, why: string) {
    this.log.push(`end drain ${vip.address}: ${why}`);
  }
  garp?: GarpPlan;
  setGarp(garp: GarpPlan) {
    this.garp = garp;
  }
  /** Confirmed unless another node holds the same address on the fake LAN. */
  async confirm(vip: VipSpec) {
    const others = this.lan.holders(vip.address).filter((n) => n !== this.node);
    return { confirmed: others.length === 0, detail: others.length ? `also answered by ${others.join(",")}` : "nobody else" };
  }
}

export class FakeNginx implements NginxPort {
  private listeners = new Set<(s: NginxHealth, d: string) => void>();
  constructor(
    public current: NginxHealth = "running",
    public detail = "",
  ) {}
  state() {
    return { state: this.current, detail: this.detail };
  }
  onState(l: (s: NginxHealth, d: string) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** Drill kills asked for (ms each); `holdDownAnswer` is what holdDown returns. */
  readonly holdDowns: number[] = [];
  holdDownAnswer = "";
  /** With it, holdDown also goes "down" for the hold and "running" after it, as the supervisor does. */
  holdDownEffect = false;
  holdDown(forMs: number) {
    this.holdDowns.push(forMs);
    if (this.holdDownEffect && !this.holdDownAnswer) {
      this.set("down", "kept down by a failover drill");
      setTimeout(() => this.set("running"), forMs).unref();
    }
    return this.holdDownAnswer;
  }
  set(s: NginxHealth, detail = "") {
    this.current = s;
    this.detail = detail;
    for (const l of this.listeners) l(s, detail);
  }
}

export class FakeTracks implements TrackPort {
  readonly states = new Map<string, TrackState>();
  readonly policies = new Map<string, { rise: number; fall: number }>();
  private listeners = new Set<(t: TrackState) => void>();
  current() {
    return [...this.states.values()];
  }
  onChange(l: (t: TrackState) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  setPolicy(name: string, rise: number, fall: number) {
    this.policies.set(name, { rise, fall });
  }
  set(name: string, passing: boolean) {
    const t = { name, passing, detail: "" };
    this.states.set(name, t);
    for (const l of this.listeners) l(t);
  }
}

export class FakeReach implements ReachPort {
  readonly targets = new Map<string, ReachTarget>();
  readonly states = new Map<string, ReachState>();
  start(t: ReachTarget) {
    this.targets.set(t.group, t);
  }
  stop(group: string) {
    this.targets.delete(group);
  }
  current(group: string) {
    return this.states.get(group);
  }
}

/** Verifies against the fake LAN: serving when another node holds the VIP (and its nginx runs), unless told otherwise. */
export class FakeVerify implements VerifyPort {
  calls = 0;
  override?: Verdict;
  constructor(
    private readonly lan: FakeLan,
    private readonly node: string,
  ) {}
  async verify(req: { vip: string }) {
    this.calls++;
    const others = this.lan.holders(req.vip).filter((n) => n !== this.node);
    const verdict: Verdict = this.override ?? (others.length > 0 ? "answering-serving" : "free");
    return { verdict, detail: `fake LAN: held by ${others.join(",") || "nobody"}`, tookMs: 1 };
  }
}

export class FakeNotify implements NotifyPort {
  readonly calls: Array<[string, NotifyState]> = [];
  notify(group: string, state: NotifyState) {
    this.calls.push([group, state]);
  }
}

export class FakeLinks implements LinkPort {
  readonly up = new Map<string, boolean>();
  private listeners = new Set<(i: string, up: boolean) => void>();
  isUp(i: string) {
    return this.up.get(i);
  }
  onChange(l: (i: string, up: boolean) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(i: string, up: boolean) {
    this.up.set(i, up);
    for (const l of this.listeners) l(i, up);
  }
}

export class FakeUpstreams implements UpstreamPort {
  readonly applied: UpstreamConfig[] = [];
  reject = "";
  async apply(config: UpstreamConfig) {
    if (this.reject) return { version: config.version, ok: false, error: this.reject };
    this.applied.push(config);
    return { version: config.version, ok: true, error: "" };
  }
}

/** Like the real prober: every planned server is reported, up until told otherwise. */
export class FakeBackends implements BackendProbePort {
  plan?: ProbePlan;
  results: ProbeResult[] = [];
  setPlan(plan: ProbePlan) {
    this.plan = plan;
    this.results = plan.checks.flatMap((c) => c.servers.map((server) => ({ upstream: c.upstream, server, up: true, detail: "", latencyMs: 1 })));
  }
  current() {
    return this.results;
  }
}
