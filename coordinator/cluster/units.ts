/**
 * Election units from the cluster config: each sync group is one unit (its
 * groups always move together to one holder, like vrrp_sync_group); every
 * other group is a unit of its own. Pure.
 */
import type { CoordinatorConfig, GroupConfig } from "../../shared/config/coordinator.js";
import type { UnitSpec } from "../election/view.js";

export interface Unit extends UnitSpec {
  /** The groups' configs, in unit order. */
  configs: GroupConfig[];
}

export function buildUnits(cfg: CoordinatorConfig): Unit[] {
  const byName = new Map(cfg.groups.map((g) => [g.name, g]));
  const synced = new Set(cfg.sync_groups.flatMap((s) => s.groups));
  const units: Unit[] = cfg.sync_groups.map((s) =>
    unitOf(
      s.name,
      s.groups.map((n) => byName.get(n)!),
    ),
  );
  for (const g of cfg.groups) if (!synced.has(g.name)) units.push(unitOf(g.name, [g]));
  return units;
}

function unitOf(name: string, groups: GroupConfig[]): Unit {
  const first = groups[0];
  // A sync unit ranks members by the priorities of its first group (keepalived
  // sync groups normally repeat the same priorities in every instance); the
  // tracks of all its groups count, each name once.
  const members = first.members.map((m) => ({ node: m.node, address: m.address, priority: m.priority }));
  const tracks = new Map<string, number>();
  for (const g of groups) for (const t of g.tracks) if (!tracks.has(t.name)) tracks.set(t.name, t.weight);
  return {
    name,
    groups: groups.map((g) => g.name),
    configs: groups,
    members,
    tracks: [...tracks].map(([trackName, weight]) => ({ name: trackName, weight })),
    // A sync unit preempts only if every group allows it (nopreempt anywhere wins).
    preempt: groups.every((g) => g.preempt),
    preemptDelayMs: Math.max(...groups.map((g) => g.preempt_delay)),
  };
}

/** The unit a group belongs to. */
export function unitOfGroup(units: Unit[], group: string): Unit | undefined {
  return units.find((u) => u.groups.includes(group));
}
