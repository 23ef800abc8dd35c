/**
 * The vocabulary the agent and the coordinator share: the domain names for
 * what travels on the wire, and the one map between each name and its proto
 * enum. Both sides import this module; neither imports the other.
 * (Session timing both sides must agree on is in ./session-timing.ts.)
 */
import { NginxState } from "./gen/keepvip/v1/agent.js";

/** nginx supervision state, as an agent reports it (proto NginxState). */
export type NginxStateName = "running" | "starting" | "down" | "stopped";

/** What is known of a node's nginx: a reported state, or "unknown" before the first report. */
export type NginxHealth = NginxStateName | "unknown";

/** Every reported state, in a fixed order (metrics label values). */
export const NGINX_STATES: readonly NginxStateName[] = ["running", "starting", "down", "stopped"];

const NGINX_TO_WIRE: Record<NginxHealth, NginxState> = {
  running: NginxState.NGINX_STATE_RUNNING,
  starting: NginxState.NGINX_STATE_STARTING,
  down: NginxState.NGINX_STATE_DOWN,
  stopped: NginxState.NGINX_STATE_STOPPED,
  unknown: NginxState.NGINX_STATE_UNSPECIFIED,
};

/** The proto enum value for an nginx state (Report.nginx). */
export function nginxToWire(state: NginxHealth): NginxState {
  return NGINX_TO_WIRE[state];
}

/** The domain name for a reported proto value; anything unset or unrecognised is "unknown". */
export function nginxFromWire(state: NginxState): NginxHealth {
  for (const name of NGINX_STATES) if (NGINX_TO_WIRE[name] === state) return name;
  return "unknown";
}

/**
 * VIP controller events an agent forwards to the coordinator's event history
 * (as `vip.<kind>`); the controller logs every event itself.
 */
export const FORWARDED_VIP_EVENTS: readonly string[] = ["drift-repaired", "drift-repair-failed", "unexpected", "garp-failed", "watch-failed"];
/** Lossless planned moves, also in the coordinator's event history. */
export const DRAIN_EVENTS: readonly string[] = ["drain-started", "drain-ended", "forward-started", "forward-failed"];

/** The agent core's own event: a VIP it took could not be confirmed on the LAN. */
export const VIP_UNCONFIRMED = "vip.unconfirmed";

/** Every event kind an agent sends (AgentEvent.kind); the coordinator counts anything else as "other". */
export const AGENT_EVENT_KINDS: ReadonlySet<string> = new Set([...[...FORWARDED_VIP_EVENTS, ...DRAIN_EVENTS].map((k) => `vip.${k}`), VIP_UNCONFIRMED]);

/**
 * The default gratuitous-ARP schedule, in ms after a VIP is added: the
 * coordinator's timing.garp defaults to the normal burst and refresh and sends
 * them in the welcome; an agent uses the whole schedule until told otherwise.
 * (Why this shape: agent/vip/plan.ts, DEFAULT_GARP_SCHEDULE.)
 */
export const DEFAULT_GARP = {
  burstMs: [0, 100, 300, 700],
  takeoverBurstMs: [0, 50, 100, 200, 300, 500, 700, 1000],
  refreshMs: 0,
} as const;

/**
 * Trailers of a follower replica's refusal (replicated coordinators): the
 * leader's address, this replica's name, the leader's term. The coordinator
 * sets them; the CLI follows them.
 */
export const LEADER_TRAILER = "keepvip-leader";
export const REPLICA_TRAILER = "keepvip-replica";
export const TERM_TRAILER = "keepvip-term";
