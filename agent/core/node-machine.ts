/**
 * The node-level decisions of the agent, pure: when the node is FAULT (and
 * what that sets off), what a LAN verification answers, and what a stop
 * amounts to. The per-group decisions are in group-machine.ts; the agent
 * core (agent.ts) feeds both and runs their effects through its ports.
 *
 * FAULT (nginx cannot start, a link of track_interfaces is down) releases
 * every VIP at once, before any report shows the fault: the coordinator then sees a FAULT
 * node that already holds nothing, never the other order.
 */
import type { LeaveReady } from "../../shared/gen/keepvip/v1/agent.js";
import type { NginxHealth } from "../../shared/protocol.js";
import type { LogLevel } from "./group-machine.js";
import type { NotifyState, ReachState, Verdict } from "./ports.js";

export interface NodeState {
  fault: { on: boolean; reason: string };
  /** A local fault release is in flight: reports wait for it (a few ms) so none shows the fault before the release. */
  releasingForFault: boolean;
  /** Stopping: no more reach retargeting or takeover confirmation. */
  stopping: boolean;
}

export type NodeEvent =
  /** Health changed (or may have): the fault reason now, "" when healthy. */
  | { type: "health"; reason: string }
  /** The local release set off by a FAULT is done. */
  | { type: "fault-released" }
  | { type: "stopping" };

export type NodeEffect =
  | { type: "notify"; group: string; state: NotifyState }
  /** Release every held group locally, then step `fault-released`. */
  | { type: "release-all"; why: string }
  | { type: "report" }
  | { type: "log"; level: LogLevel; event: string; fields: Record<string, unknown>; message: string };

export interface NodeContext {
  groups: string[];
  held: string[];
}

export function initialNodeState(): NodeState {
  return { fault: { on: false, reason: "" }, releasingForFault: false, stopping: false };
}

/** The agent config's watched links: track_interfaces (node FAULT) and interface_tracks (per group). */
export interface LinkTrackConfig {
  track_interfaces: string[];
  interface_tracks: string[];
}

export interface LinkVerdicts {
  /** The links whose loss makes the node FAULT (track_interfaces only), for faultReason. */
  fault: Array<[iface: string, up: boolean | undefined]>;
  /** Every watched link as a reported track "if:<iface>": passing unless seen down. */
  tracks: Array<{ name: string; passing: boolean; detail: string }>;
}

/**
 * What the links amount to. A link of track_interfaces down is a node FAULT (every
 * group); a link of interface_tracks is only a track "if:<iface>", counted by the
 * groups whose coordinator config lists it (keepalived's per-instance
 * track_interface: weight 0 = FAULT for that group, a weight adds or subtracts).
 * A link not seen yet is not down.
 */
export function linkVerdicts(cfg: LinkTrackConfig, isUp: (iface: string) => boolean | undefined): LinkVerdicts {
  const fault = [...new Set(cfg.track_interfaces)].map((iface): [string, boolean | undefined] => [iface, isUp(iface)]);
  const tracks = [...new Set([...cfg.track_interfaces, ...cfg.interface_tracks])].map((iface) => {
    const passing = isUp(iface) !== false;
    return { name: `if:${iface}`, passing, detail: passing ? "" : "link down" };
  });
  return { fault, tracks };
}

/** Why the node is FAULT (`links`: those of track_interfaces), or "" when it is not. */
export function faultReason(nginx: { state: NginxHealth; detail: string }, links: Array<[iface: string, up: boolean | undefined]>): string {
  if (nginx.state === "down") return `nginx cannot start: ${nginx.detail || "restart failed"}`;
  const down = links.find(([, up]) => up === false);
  return down ? `tracked interface ${down[0]} is down` : "";
}

export function stepNode(state: NodeState, event: NodeEvent, ctx: NodeContext): { state: NodeState; effects: NodeEffect[] } {
  switch (event.type) {
    case "stopping":
      return { state: { ...state, stopping: true }, effects: [] };
    case "fault-released":
      return { state: { ...state, releasingForFault: false }, effects: [{ type: "report" }] };
    case "health": {
      const was = state.fault.on;
      const fault = { on: event.reason !== "", reason: event.reason };
      if (fault.on && !was) {
        return {
          state: { ...state, fault, releasingForFault: true },
          effects: [
            {
              type: "log",
              level: "error",
              event: "agent.fault",
              fields: { reason: fault.reason, held: ctx.held },
              message: `FAULT: ${fault.reason}; releasing VIPs now`,
            },
            ...ctx.groups.map((group): NodeEffect => ({ type: "notify", group, state: "FAULT" })),
            { type: "release-all", why: `FAULT: ${fault.reason}` },
          ],
        };
      }
      const effects: NodeEffect[] = [];
      if (!fault.on && was) {
        effects.push({ type: "log", level: "info", event: "agent.fault.cleared", fields: {}, message: "fault cleared: eligible again" });
        for (const group of ctx.groups) if (!ctx.held.includes(group)) effects.push({ type: "notify", group, state: "BACKUP" });
      }
      effects.push({ type: "report" });
      return { state: { ...state, fault }, effects };
    }
  }
}

/** What a LAN verification came to, before judging it. */
export type VerifyOutcome =
  /** The verifier looked and found this. */
  | { kind: "observed"; verdict: Verdict; detail: string }
  /** The group has no binding on this host (no interface for it, bad VIP). */
  | { kind: "unbound"; detail: string }
  /** The verifier itself failed. */
  | { kind: "failed"; error: string };

export interface VerifyJudgement {
  /** What was seen, for the log. */
  seen: Verdict;
  /** What the coordinator is told. */
  answer: Verdict;
  detail: string;
}

/**
 * Evidence in hand beats one probe (docs/design.md, Fault matrix): if this
 * node's continuous probes through the VIP still get answers, a verification
 * that found nothing is one slow answer on a busy host, not a free VIP. Seen
 * under load: a 50 ms probe timed out while the holder served, and the VIP
 * ended up on both nodes. A dead holder still reads "free" once the
 * continuous probes go silent (reach_fall probes). When in doubt (no binding,
 * a failed verification), the answer is answering-serving: do not take over.
 */
export function judgeVerification(outcome: VerifyOutcome, reach: ReachState | undefined): VerifyJudgement {
  let seen: Verdict = outcome.kind === "observed" ? outcome.verdict : "free";
  let detail = outcome.kind === "observed" ? outcome.detail : outcome.kind === "unbound" ? outcome.detail : `verification failed: ${outcome.error}`;
  // A service probe that timed out once ("answering-not-serving": ARP answered, no HTTP
  // answer in time) is overruled the same way, but only while the continuous probes get
  // real answers: a refusal is no answer (a dead nginx behind a live ARP must be taken over).
  const freeButAnswered = seen === "free" && reach !== undefined && reach.reachable && reach.failures === 0;
  const slowButAnswered = seen === "answering-not-serving" && reach?.reachable === true && reach.failures === 0 && reach.lastOk === true;
  if (freeButAnswered || slowButAnswered) {
    seen = "answering-serving";
    detail = `${detail}; overruled: continuous probes through the VIP still get answers`;
  }
  return { seen, answer: outcome.kind === "observed" ? seen : "answering-serving", detail };
}

/** How a stop begins: ask for a handover, or say why nobody can take over. */
export function stopPlan(heldCount: number, connected: boolean): { kind: "handover" } | { kind: "done"; outcome: string } {
  if (heldCount === 0) return { kind: "done", outcome: "nothing held" };
  if (connected) return { kind: "handover" };
  return { kind: "done", outcome: "the coordinator is unreachable, so nobody can take over" };
}

/** A handover's outcome in words (`ready` undefined: the coordinator did not answer in time). */
export function handoverOutcome(ready: LeaveReady | undefined, stopTimeoutMs: number): string {
  if (!ready) return `handover did not complete within ${stopTimeoutMs} ms`;
  return `handed over ${ready.handedOver.join(", ") || "nothing"}${ready.kept.length > 0 ? `; kept ${ready.kept.join(", ")} (${ready.detail})` : ""}`;
}
