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

/** The lookups the engine makes on every event, built once per config: no event scans every unit or group. */
export interface UnitIndex {
  byName: ReadonlyMap<string, Unit>;
  /** Group → the unit it belongs to. */
  byGroup: ReadonlyMap<string, Unit>;
  /** Node → the units it is a member of, in unit order. */
  unitsOfNode: ReadonlyMap<string, readonly Unit[]>;
  /** Node → the groups whose members name it (what its reports may speak of). */
  groupsOfNode: ReadonlyMap<string, ReadonlySet<string>>;
  /** Node → the configs of those groups, in config order (its welcome's group specs). */
  groupConfigsOfNode: ReadonlyMap<string, readonly GroupConfig[]>;
  /** "upstream/server" of every configured server (what probe reports may speak of). */
  servers: ReadonlySet<string>;
}

export function indexUnits(units: readonly Unit[], cfg: Pick<CoordinatorConfig, "groups" | "upstreams">): UnitIndex {
  const byGroup = new Map<string, Unit>();
  const unitsOfNode = new Map<string, Unit[]>();
  for (const u of units) {
    for (const g of u.groups) if (!byGroup.has(g)) byGroup.set(g, u);
    for (const m of u.members) {
      const mine = unitsOfNode.get(m.node) ?? [];
      if (!mine.includes(u)) mine.push(u);
      unitsOfNode.set(m.node, mine);
    }
  }
  const groupsOfNode = new Map<string, Set<string>>();
  const groupConfigsOfNode = new Map<string, GroupConfig[]>();
  for (const g of cfg.groups)
    for (const m of g.members) {
      const names = groupsOfNode.get(m.node) ?? new Set<string>();
      // A node named twice in one group's members still gets the group once.
      if (!names.has(g.name)) groupConfigsOfNode.set(m.node, [...(groupConfigsOfNode.get(m.node) ?? []), g]);
      groupsOfNode.set(m.node, names.add(g.name));
    }
  return {
    byName: new Map(units.map((u) => [u.name, u])),
    byGroup,
    unitsOfNode,
    groupsOfNode,
    groupConfigsOfNode,
    servers: new Set(cfg.upstreams.flatMap((u) => u.servers.map((s) => `${u.name}/${s.address}`))),
  };
}
