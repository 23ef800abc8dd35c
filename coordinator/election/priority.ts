/**
 * Effective priority and eligibility of one member: keepalived's rules for
 * weighted tracks, plus keepvip's session and nginx conditions. Pure.
 */
import type { MemberSpec, NodeView, TrackSpec, UnitSpec } from "./view.js";
import { ipv6Groups } from "../../shared/config/net.js";

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 254;

export interface Adjustment {
  track: string;
  passing: boolean;
  weight: number;
  /** What this track adds now (0 when it does not apply). */
  delta: number;
  /**
   * The node's latest report names the track. false: its agent does not run it at all
   * (not in its agent config); it counts as failing here and makes the member ineligible.
   */
  reported: boolean;
}

export interface PriorityResult {
  base: number;
  effective: number;
  adjustments: Adjustment[];
  /** A weight-0 track is failing (or not reported): the member is FAULT. */
  faultTrack?: string;
  /**
   * Tracks the unit needs that the node's latest report does not name at all: its
   * agent does not run them (not in its agent config). Empty without a view.
   */
  missingTracks: string[];
}

/**
 * keepalived semantics: weight > 0 adds while passing, weight < 0 adds while
 * failing, weight 0 failing means FAULT. The sum is clamped to 1..254. A track
 * the node has not reported counts as failing: a missing script must not make
 * a node look healthier than one that runs it. A track its report does not name
 * at all is also listed in missingTracks (eligibility: "track-missing").
 */
export function effectivePriority(member: MemberSpec, tracks: TrackSpec[], view: NodeView | undefined): PriorityResult {
  const adjustments: Adjustment[] = [];
  const missingTracks: string[] = [];
  let sum = member.priority;
  let faultTrack: string | undefined;
  for (const t of tracks) {
    const reported = view !== undefined && Object.hasOwn(view.tracks, t.name);
    const passing = reported && view.tracks[t.name] === true;
    if (view !== undefined && !reported) missingTracks.push(t.name);
    let delta = 0;
    if (t.weight > 0 && passing) delta = t.weight;
    if (t.weight < 0 && !passing) delta = t.weight;
    if (t.weight === 0 && !passing && faultTrack === undefined) faultTrack = t.name;
    sum += delta;
    adjustments.push({ track: t.name, passing, weight: t.weight, delta, reported });
  }
  const effective = Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, sum));
  return { base: member.priority, effective, adjustments, faultTrack, missingTracks };
}

export type Ineligible =
  | "disconnected"
  | "session-silent"
  | "fault"
  | "track-missing"
  | "track-fault"
  | "nginx-down"
  | "maintenance"
  | "leaving"
  | "lan-unreachable";

/** "chk_x", "chk_x and chk_y", "a, b and c" */
function names(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? "") : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

/**
 * The sentence for a member whose agent does not run tracks its group lists: a
 * config mismatch (`keepvip validate coordinator.yaml agent-*.yaml` finds it), not a
 * failing check.
 */
export function trackMissingDetail(node: string, missing: readonly string[]): string {
  return `${node}'s agent does not run track${missing.length === 1 ? "" : "s"} ${names(missing)} (not in its agent config)`;
}

export interface Eligibility {
  eligible: boolean;
  reason?: Ineligible;
  /** A sentence for status and `keepvip why`. */
  detail: string;
}

export interface EligibilityContext {
  /** The member currently holds the unit: a restarting nginx does not cost it the VIP (F4). */
  isHolder: boolean;
  /** Whether the LAN-reference signal means anything: at least one live member reports lanOk. */
  lanSignalValid: boolean;
}

/** Whether a member may hold the unit now, and if not, why. */
export function eligibility(member: MemberSpec, unit: UnitSpec, view: NodeView | undefined, prio: PriorityResult, ctx: EligibilityContext): Eligibility {
  if (!view || view.session === "never" || view.session === "closed")
    return { eligible: false, reason: "disconnected", detail: `${member.node} has no session` };
  if (view.session === "silent") return { eligible: false, reason: "session-silent", detail: `${member.node} missed its heartbeats` };
  // A restarting holder keeps what it holds (its VIP serves, nginx runs); nobody else may be handed anything meanwhile.
  if (view.session === "restarting" && !ctx.isHolder)
    return { eligible: false, reason: "disconnected", detail: `${member.node} is restarting (its agent reconnects shortly)` };
  if (view.fault) return { eligible: false, reason: "fault", detail: `${member.node} is FAULT: ${view.faultReason || "reported by agent"}` };
  // A track the agent does not run at all is a config mismatch, not a failing check: it
  // says so, and the member cannot hold until its agent runs the track (or the group stops
  // listing it). It counts whatever the weight: a node must not hold on the strength of a
  // check it never runs.
  if (prio.missingTracks.length > 0) return { eligible: false, reason: "track-missing", detail: trackMissingDetail(member.node, prio.missingTracks) };
  if (prio.faultTrack !== undefined) return { eligible: false, reason: "track-fault", detail: `track ${prio.faultTrack} (weight 0) is failing` };
  if (view.maintenance) return { eligible: false, reason: "maintenance", detail: `${member.node} is in maintenance` };
  if (view.leaving) return { eligible: false, reason: "leaving", detail: `${member.node} is stopping` };
  const nginxOk = view.nginx === "running" || (view.nginx === "starting" && ctx.isHolder);
  if (!nginxOk) return { eligible: false, reason: "nginx-down", detail: `nginx on ${member.node} is ${view.nginx}` };
  if (ctx.lanSignalValid && view.lanOk === false)
    return { eligible: false, reason: "lan-unreachable", detail: `${member.node} cannot reach any LAN reference` };
  void unit;
  return { eligible: true, detail: `${member.node} is eligible` };
}

/**
 * A fixed-width key that compares like the address's number: IPv4 as its
 * IPv4-mapped IPv6 form, every IPv6 spelling ("fd00::a", "FD00:0:0:0:0:0:0:A")
 * expanded to eight 4-digit groups. Text compare of "fd00::10" and "fd00::9"
 * would rank ::9 higher and break VRRP's "higher address wins".
 * Something that is not an address keeps its lowercased text (still a total order).
 */
function addressKey(address: string | undefined): string {
  if (!address) return "";
  const groups = ipv6Groups(address.includes(":") ? address : `::ffff:${address}`);
  return groups ? groups.map((g) => g.toString(16).padStart(4, "0")).join(":") : address.toLowerCase();
}

/**
 * Total order of candidates: higher effective priority, then higher address
 * (VRRP's rule), then node id. Every evaluator, given the same inputs in any
 * order, picks the same winner. Returns < 0 when a ranks before b.
 */
export function compareCandidates(a: { node: string; address?: string; effective: number }, b: { node: string; address?: string; effective: number }): number {
  if (a.effective !== b.effective) return b.effective - a.effective;
  const ak = addressKey(a.address);
  const bk = addressKey(b.address);
  if (ak !== bk) return ak > bk ? -1 : 1;
  return a.node > b.node ? -1 : a.node < b.node ? 1 : 0;
}
