/**
 * Status, "why" and the admin API's checks as data: pure views over the
 * engine's units, runtimes and node views at the engine's time
 * (Engine.statusInput), so every query sees what the engine sees.
 */
import type { GroupStatus, MemberStatus, StatusReply, UpstreamStatus, WhyReply } from "../../shared/gen/keepvip/v1/admin.js";
import { elect, type Election } from "../election/elect.js";
import type { UnitRuntime } from "../election/planner.js";
import type { NodeView } from "../election/view.js";
import { formatCidr } from "../../shared/config/net.js";
import type { Unit } from "./units.js";

export interface StatusInput {
  units: Unit[];
  runtimes: ReadonlyMap<string, UnitRuntime>;
  views: ReadonlyMap<string, NodeView>;
  lastReportMs: ReadonlyMap<string, number>;
  /** Node → its drains in progress, as last reported. */
  draining?: ReadonlyMap<string, ReadonlyArray<{ group: string; connections: number; elapsedMs: number }>>;
  nowMs: number;
  reachFall: number;
  startedMs: number;
  version: string;
  insecure: boolean;
  /** Members' statuses kept between calls (StatusCache); without it every unit is ranked again. */
  cache?: StatusCache;
}

/** A member's status as far as it does not depend on the time of the call. */
type MemberBase = Omit<MemberStatus, "reportAgeMs" | "drainingConnections" | "drainingMs">;

/**
 * What status keeps of each unit between calls: its members' ranking and states, as long as
 * the unit's holder and its members' views are the same objects (views are replaced, never
 * changed in place, and a report that repeats the last one leaves its view as it was). With
 * thousands of groups, ranking every unit again for every status call was most of its cost;
 * only report ages and drains, which move with time, are filled in each time.
 */
export class StatusCache {
  private readonly units = new WeakMap<Unit, { holder: string | null; views: Array<NodeView | undefined>; members: MemberBase[] }>();

  membersOf(input: StatusInput, unit: Unit, rt: UnitRuntime): MemberBase[] {
    const views = unit.members.map((m) => input.views.get(m.node));
    const hit = this.units.get(unit);
    if (hit && hit.holder === rt.holder && hit.views.every((v, i) => v === views[i])) return hit.members;
    const members = rankedMembers(input, unit, rt);
    this.units.set(unit, { holder: rt.holder, views, members });
    return members;
  }
}

function rankedMembers(input: StatusInput, unit: Unit, rt: UnitRuntime): MemberBase[] {
  // Only the ranking is read here: eligibility and priorities, which no pin changes.
  return electionOf(input, unit).ranking.map((c) => {
    const view = input.views.get(c.node);
    return {
      nodeId: c.node,
      basePriority: c.priority.base,
      effectivePriority: c.effective,
      state: memberState(c.node, rt, view, c.eligibility.eligible, c.eligibility.reason),
      nginx: view?.nginx ?? "unknown",
      eligible: c.eligibility.eligible,
      ineligibleReason: c.eligibility.eligible ? "" : c.eligibility.detail,
      connected: view?.session === "live",
    };
  });
}

/**
 * The election as it stands for a unit (its holder and preempt bookkeeping),
 * at the engine's time: status, `keepvip why` and the admin checks (is the
 * switchover target eligible, would maintenance leave no holder) read it.
 */
export function electionOf(input: StatusInput, unit: Unit): Election {
  const rt = input.runtimes.get(unit.name)!;
  return elect({ unit, views: input.views, holder: rt.holder, nowMs: input.nowMs, preemptSince: rt.preemptSince, reachFall: input.reachFall });
}

function memberState(node: string, rt: UnitRuntime, view: NodeView | undefined, eligible: boolean, reason: string | undefined): string {
  if (!view || view.session === "never" || view.session === "closed" || view.session === "silent") return rt.holder === node ? "MASTER?" : "DISCONNECTED";
  if (view.session === "restarting" && rt.holder !== node) return "DISCONNECTED";
  if (rt.holder === node) return "MASTER";
  if (view.maintenance) return "MAINTENANCE";
  // A member whose agent does not run a track its group lists cannot hold either: FAULT, with
  // the reason (its ineligible_reason) naming the track that is not in its agent config.
  if (!eligible && (reason === "fault" || reason === "track-missing" || reason === "track-fault" || reason === "nginx-down" || reason === "lan-unreachable"))
    return "FAULT";
  return "BACKUP";
}

export function groupStatuses(input: StatusInput): GroupStatus[] {
  const out: GroupStatus[] = [];
  for (const unit of input.units) {
    const rt = input.runtimes.get(unit.name)!;
    const base = input.cache ? input.cache.membersOf(input, unit, rt) : rankedMembers(input, unit, rt);
    const members: MemberStatus[] = base.map((b) => {
      const last = input.lastReportMs.get(b.nodeId);
      const reported = input.draining?.get(b.nodeId);
      const drains = reported === undefined ? [] : reported.filter((d) => unit.groups.includes(d.group));
      return {
        nodeId: b.nodeId,
        basePriority: b.basePriority,
        effectivePriority: b.effectivePriority,
        state: b.state,
        nginx: b.nginx,
        reportAgeMs: last === undefined ? -1 : input.nowMs - last,
        eligible: b.eligible,
        ineligibleReason: b.ineligibleReason,
        connected: b.connected,
        drainingConnections:
          drains.length === 0
            ? -1
            : Math.min(
                2 ** 31 - 1,
                drains.reduce((n, d) => n + d.connections, 0),
              ),
        drainingMs: drains.length === 0 ? 0 : Math.min(2 ** 32 - 1, Math.max(0, Math.round(Math.max(...drains.map((d) => d.elapsedMs))))),
      };
    });
    for (const cfg of unit.configs) {
      out.push({
        name: cfg.name,
        vips: cfg.vips.map(formatCidr),
        holder: rt.holder ?? "",
        epoch: rt.epoch,
        phase: rt.phase.kind,
        reason: rt.last?.reason ?? "not elected yet (startup grace)",
        members,
        preempt: unit.preempt,
        preemptDelayMs: unit.preemptDelayMs,
      });
    }
  }
  return out;
}

export function statusReply(input: StatusInput): StatusReply {
  return {
    groups: groupStatuses(input),
    upstreams: [],
    coordinatorVersion: input.version,
    uptimeMs: input.nowMs - input.startedMs,
    insecure: input.insecure,
    replica: "",
    term: 0,
  };
}

/** What the whole status is made of (the engine, or a stand-in in tests). */
export interface StatusSource {
  statusInput(): StatusInput;
  upstreams: { status(): UpstreamStatus[] };
  /** Replicated coordinators: this replica and its term ("" and 0 for a single coordinator). */
  replica: string;
  term: number;
}

/** The status `keepvip status` shows (the admin API's GetStatus) and the status page serves: one builder for both. */
export function currentStatus(source: StatusSource): StatusReply {
  return { ...statusReply(source.statusInput()), upstreams: source.upstreams.status(), replica: source.replica, term: source.term };
}

/** Each member's inputs and the rule that decided, in words. */
export function whyReply(input: StatusInput, unit: Unit, group: string): WhyReply {
  const rt = input.runtimes.get(unit.name)!;
  const e = electionOf(input, unit);
  return {
    group,
    holder: rt.holder ?? "",
    epoch: rt.epoch,
    rule: rt.last?.rule ?? e.rule,
    explanation: rt.last?.reason ?? e.reason,
    preempt: unit.preempt,
    preemptDelayMs: unit.preemptDelayMs,
    members: e.ranking.map((c) => {
      const view = input.views.get(c.node);
      const inputs = [
        `base priority ${c.priority.base}`,
        ...c.priority.adjustments.map(
          (a) =>
            `track ${a.track} ${a.reported ? (a.passing ? "passing" : "failing") : `not run by ${c.node}'s agent (not in its agent config; counted as failing)`}, weight ${a.weight}${a.delta !== 0 ? ` → ${a.delta > 0 ? "+" : ""}${a.delta}` : ""}`,
        ),
        `effective priority ${c.effective}`,
        `session ${view?.session ?? "never"}`,
        `nginx ${view?.nginx ?? "unknown"}`,
        ...(view?.maintenance ? ["in maintenance"] : []),
        ...(view?.fault ? [`FAULT: ${view.faultReason}`] : []),
        ...(view?.leaving ? ["stopping"] : []),
      ];
      return {
        nodeId: c.node,
        basePriority: c.priority.base,
        effectivePriority: c.effective,
        inputs,
        eligible: c.eligibility.eligible,
        ineligibleReason: c.eligibility.eligible ? "" : c.eligibility.detail,
      };
    }),
  };
}
