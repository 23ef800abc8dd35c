/**
 * What a config reload changes, in words, and what it cannot change without a
 * restart (the listener, the state dir, TLS), and what the units do about it
 * (reconcileUnits). Pure: the engine applies both.
 */
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { formatCidr } from "../../shared/config/net.js";
import { initialRuntime, type UnitRuntime } from "../election/planner.js";
import type { PersistedState } from "../state/store.js";
import { commandsFor, type OutgoingCommand } from "./commands.js";
import type { Unit } from "./units.js";

export interface ConfigDiff {
  /** Fields that need a restart: a reload that changes them is refused whole. */
  restartNeeded: string[];
  /** What changes, one sentence each ("VI_1: lb2 priority 90 → 95"). */
  changes: string[];
}

const j = (x: unknown) => JSON.stringify(x);

export function diffConfig(a: CoordinatorConfig, b: CoordinatorConfig): ConfigDiff {
  const restartNeeded: string[] = [];
  if (a.listen !== b.listen) restartNeeded.push(`listen (${a.listen} → ${b.listen})`);
  if (a.state_dir !== b.state_dir) restartNeeded.push(`state_dir (${a.state_dir} → ${b.state_dir})`);
  if (j(a.tls) !== j(b.tls) || a.insecure !== b.insecure) restartNeeded.push("tls / insecure");
  if (j(a.metrics) !== j(b.metrics)) restartNeeded.push("metrics.listen");
  if (j(a.status_page) !== j(b.status_page)) restartNeeded.push("status_page.listen");

  const changes: string[] = [];
  if (j(a.timing) !== j(b.timing)) {
    for (const k of Object.keys(b.timing) as Array<keyof typeof b.timing>) {
      if (j(a.timing[k]) !== j(b.timing[k])) changes.push(`timing.${k}: ${j(a.timing[k])} → ${j(b.timing[k])}`);
    }
  }
  const oldGroups = new Map(a.groups.map((g) => [g.name, g]));
  for (const g of b.groups) {
    const o = oldGroups.get(g.name);
    if (!o) {
      changes.push(`group ${g.name} added (${g.vips.map(formatCidr).join(", ")})`);
      continue;
    }
    if (j(o.vips) !== j(g.vips)) changes.push(`${g.name}: VIPs ${o.vips.map(formatCidr).join(", ")} → ${g.vips.map(formatCidr).join(", ")}`);
    const om = new Map(o.members.map((m) => [m.node, m]));
    for (const m of g.members) {
      const p = om.get(m.node);
      if (!p) changes.push(`${g.name}: member ${m.node} added (priority ${m.priority})`);
      else if (p.priority !== m.priority) changes.push(`${g.name}: ${m.node} priority ${p.priority} → ${m.priority}`);
    }
    for (const m of o.members) if (!g.members.some((x) => x.node === m.node)) changes.push(`${g.name}: member ${m.node} removed`);
    if (o.preempt !== g.preempt) changes.push(`${g.name}: preempt ${o.preempt} → ${g.preempt}`);
    if (o.preempt_delay !== g.preempt_delay) changes.push(`${g.name}: preempt_delay ${o.preempt_delay} ms → ${g.preempt_delay} ms`);
    if (j(o.tracks) !== j(g.tracks)) changes.push(`${g.name}: tracks ${j(o.tracks)} → ${j(g.tracks)}`);
    if (j(o.service) !== j(g.service) || j(o.lan_references) !== j(g.lan_references)) changes.push(`${g.name}: service or LAN references changed`);
  }
  for (const g of a.groups)
    if (!b.groups.some((x) => x.name === g.name)) changes.push(`group ${g.name} removed: its holder releases ${g.vips.map(formatCidr).join(", ")}`);
  if (j(a.sync_groups) !== j(b.sync_groups)) changes.push(`sync_groups ${j(a.sync_groups)} → ${j(b.sync_groups)}`);
  const oldUp = new Map(a.upstreams.map((u) => [u.name, u]));
  for (const u of b.upstreams) {
    const o = oldUp.get(u.name);
    if (!o) changes.push(`upstream ${u.name} added`);
    else if (j(o) !== j(u)) changes.push(`upstream ${u.name} changed`);
  }
  for (const u of a.upstreams) if (!b.upstreams.some((x) => x.name === u.name)) changes.push(`upstream ${u.name} removed`);
  return { restartNeeded, changes };
}

/** The persisted runtime a unit starts from: the highest epoch of its groups, its last holder and pin. */
export function runtimeFromState(unit: Unit, state: Pick<PersistedState, "epochs" | "holders" | "pins">): UnitRuntime {
  const epoch = Math.max(0, ...unit.groups.map((g) => state.epochs[g] ?? 0));
  return { ...initialRuntime(epoch, state.holders[unit.name] ?? null), pinned: state.pins[unit.name] };
}

/** What applying a new config does to the units, in order. */
export type ReconcileAction =
  /** A unit new in the config starts from the persisted state. */
  | { type: "init"; unit: string; runtime: UnitRuntime }
  /** A command to a holder (a removed unit's release, VIPs added to or removed from a group). */
  | { type: "send"; command: OutgoingCommand }
  /** A unit no longer configured: its runtime and wake-up go. */
  | { type: "forget"; unit: string };

export interface ReconcileInput {
  oldUnits: readonly Unit[];
  units: readonly Unit[];
  runtimes: ReadonlyMap<string, UnitRuntime>;
  state: Pick<PersistedState, "epochs" | "holders" | "pins">;
}

/**
 * Reconciles the units with a reloaded config. Units keep their runtime
 * (holder, epoch, pin) by name, so nothing moves unless the new config asks for
 * it: a removed group's holder lets go of its VIPs (the only move a removal
 * requires), and a holder whose group changed VIPs adds the new ones and drops
 * the removed ones, keeping its epoch. Elections then run as usual (a priority
 * that now preempts, a removed member).
 */
export function reconcileUnits(input: ReconcileInput): ReconcileAction[] {
  const { oldUnits, units, runtimes, state } = input;
  const actions: ReconcileAction[] = [];
  for (const u of units) if (!runtimes.has(u.name)) actions.push({ type: "init", unit: u.name, runtime: runtimeFromState(u, state) });
  for (const old of oldUnits) {
    if (units.some((u) => u.name === old.name)) continue;
    const rt = runtimes.get(old.name);
    if (rt?.holder) {
      const release = {
        type: "release" as const,
        node: rt.holder,
        epoch: rt.epoch,
        afterMs: 0,
        drain: false,
        reason: `${old.name} was removed from the config`,
      };
      for (const command of commandsFor(old, rt, release, 0)) actions.push({ type: "send", command });
    }
    actions.push({ type: "forget", unit: old.name });
  }
  for (const u of units) {
    const old = oldUnits.find((o) => o.name === u.name);
    const rt = runtimes.get(u.name);
    if (!old || !rt?.holder) continue;
    for (const cfg of u.configs) {
      const before = old.configs.find((c) => c.name === cfg.name);
      const now = cfg.vips.map(formatCidr);
      const was = before?.vips.map(formatCidr) ?? [];
      const gone = was.filter((v) => !now.includes(v));
      const target = { node: rt.holder, unit: u.name, group: cfg.name, epoch: rt.epoch };
      if (now.join() !== was.join())
        actions.push({
          type: "send",
          command: { ...target, action: "acquire", vips: now, takeover: false, forwardMs: 0, reason: "VIPs changed in the config" },
        });
      if (gone.length > 0)
        actions.push({ type: "send", command: { ...target, action: "release", vips: gone, afterMs: 0, drainMs: 0, reason: "VIPs removed from the config" } });
    }
  }
  return actions;
}
