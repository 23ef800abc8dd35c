/**
 * The agent core's edges: each side effect behind an interface of a few
 * methods, so the core is tested with fakes and wired to the real adapters
 * (agent/vip, agent/nginx, agent/tracks, agent/probe, agent/link, agent/notify)
 * in main.ts.
 */
import type { NginxHealth } from "../../shared/protocol.js";
import type { ProbePlan, ProbeResult, UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import type { VipBinding } from "../vip/plan.js";

/** One VIP on one interface: the VIP module's own binding type. */
export type VipSpec = VipBinding;

export interface GarpPlan {
  /** ms after acquiring at which gratuitous ARPs go out. */
  offsetsMs: number[];
  /** One more every refreshMs while held (0 = off). */
  refreshMs: number;
}

export interface VipPort {
  /** Which of these VIPs are on their interfaces now (reconcile on start). */
  scan(vips: VipSpec[]): Promise<VipSpec[]>;
  /**
   * Adds (idempotent) and announces; resolves once added and the first GARP is out.
   * `forwardMs` > 0 (a planned move): first forward the flows this host does not
   * know to the host answering for the VIP now, for that long. `moving` is called right
   * before each address is added (`ip addr add`, after the forwarding is in): the kernel's
   * routes for the VIP change then, tens of ms before this resolves.
   */
  acquire(vips: VipSpec[], opts: { takeover: boolean; garp: GarpPlan; forwardMs?: number; moving?: () => void }): Promise<void>;
  /**
   * Removes from the LAN (idempotent) and stops announcing. `drainMs` > 0 (a planned
   * move): the flows established here go on, unannounced, until they end or that long
   * (`members`: addresses whose flows are probes, not waited for). `moving` is called right
   * before each address leaves the LAN interface (`ip addr del`).
   */
  release(vips: VipSpec[], opts?: { drainMs?: number; members?: string[]; moving?: () => void }): Promise<void>;
  /** VIPs let go of in a planned move whose flows this host still serves. */
  draining(): DrainingVip[];
  /**
   * Groups whose VIP is still local here after a release (on lo), until the drain's removal
   * begins: every drain, those draining() reports and those with only this host's own
   * probes to wait for, which it does not.
   */
  localDrains(): string[];
  /** Ends a drain at once (this host must probe the VIP on the LAN, not itself). */
  endDrain(vip: VipSpec, why: string): Promise<void>;
  /** The coordinator's GARP timing. */
  setGarp(garp: GarpPlan): void;
  /** After a takeover: does the LAN follow (no other host answers ARP for the VIP)? */
  confirm(vip: VipSpec): Promise<{ confirmed: boolean; detail: string }>;
}

export interface DrainingVip {
  group: string;
  address: string;
  connections: number;
  elapsedMs: number;
  timeoutMs: number;
}

export interface NginxPort {
  state(): { state: NginxHealth; detail: string };
  /** A failover drill: kill nginx and keep it from starting for `forMs`; "" or why not. */
  holdDown(forMs: number): string;
  /** Called on every state change; returns an unsubscribe function. */
  onState(listener: (state: NginxHealth, detail: string) => void): () => void;
}

export interface TrackState {
  name: string;
  passing: boolean;
  detail: string;
}

export interface TrackPort {
  current(): TrackState[];
  onChange(listener: (t: TrackState) => void): () => void;
  /** rise/fall pushed by the coordinator for a track name. */
  setPolicy(name: string, rise: number, fall: number): void;
}

export interface ReachState {
  reachable: boolean;
  failures: number;
  lanOk: boolean;
  /** The LAN answered on evidence at least as fresh as the VIP verdict (the witness rule). */
  lanFresh: boolean;
  /** The last probe through the VIP got the service's answer (not a refusal, not silence). */
  lastOk?: boolean;
  observedMs: number;
}

export interface ReachTarget {
  group: string;
  vip: string;
  port: number;
  path: string;
  intervalMs: number;
  /** Consecutive silent probes before the VIP counts as unreachable (the coordinator's reach_fall). */
  fall: number;
  lanReferences: string[];
  /** false while this node holds the VIP: only the LAN references are probed (its own lanOk). */
  probeVip: boolean;
}

export interface ReachPort {
  /** Starts (or retargets) continuous probing of a group's VIP. */
  start(target: ReachTarget, onChange: (s: ReachState) => void): void;
  stop(group: string): void;
  current(group: string): ReachState | undefined;
}

export type Verdict = "free" | "answering-serving" | "answering-not-serving";

export interface VerifyPort {
  verify(req: { vip: string; interface: string; port: number; path: string; timeoutMs: number }): Promise<{ verdict: Verdict; detail: string; tookMs: number }>;
}

export type NotifyState = "MASTER" | "BACKUP" | "FAULT" | "STOP";

export interface NotifyPort {
  /** Fire and forget; never blocks the caller. */
  notify(group: string, state: NotifyState, priority: number): void;
}

export interface LinkPort {
  isUp(iface: string): boolean | undefined;
  onChange(listener: (iface: string, up: boolean) => void): () => void;
}

export interface UpstreamPort {
  /** Renders, tests (`nginx -t`) and reloads; a failing test leaves the last good file in place. */
  apply(config: UpstreamConfig): Promise<{ version: number; ok: boolean; error: string }>;
}

export interface BackendProbePort {
  setPlan(plan: ProbePlan): void;
  /** Results after rise/fall, for the report. */
  current(): ProbeResult[];
}

/** A failover drill's probes through a VIP (keepvip drill). */
export interface DrillPort {
  start(
    spec: { drillId: string; group: string; host: string; port: number; path: string; intervalMs: number; timeoutMs: number; maxMs: number },
    here: () => "held" | "draining" | "none",
    done: (
      summary: {
        probes: number;
        failed: number;
        longestBlackoutMs: number;
        outcomes: Record<string, number>;
        held: Array<{ fromMs: number; toMs: number }>;
        crossed: number;
      },
      startedMs: number,
      endedMs: number,
    ) => void,
  ): void;
  stop(drillId: string): void;
  running(drillId: string): boolean;
  /**
   * This node adds or deletes the group's VIP now (called right before the `ip addr add` or
   * `ip addr del`): a drill of the group running here records its own move at this instant.
   */
  ownMove(group: string): void;
}
