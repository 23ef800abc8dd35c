/**
 * Builders for the election tables: a unit and its node views in one line
 * each, so a case reads like the situation it describes. Defaults are the
 * seed's pair (lb1 100, lb2 90, chk_nginx weight -20, preempt on) with every
 * node live, nginx running, every track passing and nothing held.
 */
import type { MemberSpec, NodeView, ReachView, TrackSpec, UnitSpec } from "../../coordinator/election/view.js";
import type { PlannerTiming } from "../../coordinator/election/planner.js";
import { prng } from "../../shared/prng.js";

/** lb1 .11, lb2 .12, lb3 .13 on the lab LAN; more nodes get .14, .15, … */
export function address(node: string): string {
  const n = Number(node.replace(/^\D+/, ""));
  return `198.18.0.${10 + n}`;
}

/** "lb1:100" → member lb1, priority 100, lab address; "lb1:100@198.18.0.200" sets the address; "lb1:100@" none. */
export function member(spec: string): MemberSpec {
  const [head, addr] = spec.split("@");
  const [node, priority] = head.split(":");
  const m: MemberSpec = { node, priority: Number(priority) };
  if (addr === undefined) m.address = address(node);
  else if (addr !== "") m.address = addr;
  return m;
}

export interface UnitOptions {
  name?: string;
  groups?: string[];
  members?: string[];
  /** "chk_nginx:-20" */
  tracks?: string[];
  preempt?: boolean;
  preemptDelayMs?: number;
}

/** The seed's VI_1 unless told otherwise. */
export function unit(o: UnitOptions = {}): UnitSpec {
  const tracks: TrackSpec[] = (o.tracks ?? ["chk_nginx:-20"]).map((t) => {
    const [name, weight] = t.split(":");
    return { name, weight: Number(weight) };
  });
  const groups = o.groups ?? ["VI_1"];
  return {
    name: o.name ?? (groups.length === 1 ? groups[0] : groups.join("+")),
    groups,
    members: (o.members ?? ["lb1:100", "lb2:90"]).map(member),
    tracks,
    preempt: o.preempt ?? true,
    preemptDelayMs: o.preemptDelayMs ?? 0,
  };
}

/** A node view: live, nginx running, no fault, every track of `u` passing. */
export function view(node: string, u: UnitSpec, over: Partial<NodeView> = {}): NodeView {
  const tracks = Object.fromEntries(u.tracks.map((t) => [t.name, true]));
  return {
    node,
    session: "live",
    nginx: "running",
    fault: false,
    faultReason: "",
    maintenance: false,
    leaving: false,
    holds: [],
    reach: {},
    ...over,
    tracks: { ...tracks, ...over.tracks },
  };
}

/**
 * Views for every member of `u`, with per-node overrides; `order` picks the
 * Map's insertion order (the election must not care).
 */
export function views(u: UnitSpec, over: Record<string, Partial<NodeView>> = {}, order?: string[]): Map<string, NodeView> {
  const names = order ?? u.members.map((m) => m.node);
  return new Map(names.map((n) => [n, view(n, u, over[n])]));
}

/**
 * A peer's reach report for one group: `failures` consecutive misses (0:
 * reachable); `lanFresh` says its LAN is proven on evidence as fresh as that.
 */
export function reach(group: string, failures: number, lanOk = true, lanFresh = lanOk): Record<string, ReachView> {
  return { [group]: { reachable: failures === 0, failures, lanOk, lanFresh } };
}

export const timing: PlannerTiming = { plannedOverlapMs: 50, ackTimeoutMs: 1000, verifyTimeoutMs: 200, reverifyMs: 2000, reachFall: 3 };

/** The shared deterministic PRNG: a failing seed is a failing test forever, never a flake. */
export { prng };

/** Fisher–Yates with the given PRNG; returns a new array. */
export function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
