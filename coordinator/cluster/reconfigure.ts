/**
 * What a config reload changes, in words, and what it cannot change without a
 * restart (the listener, the state dir, TLS). Pure: the engine applies it.
 */
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { formatCidr } from "../../shared/config/net.js";

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
  for (const g of a.groups) if (!b.groups.some((x) => x.name === g.name)) changes.push(`group ${g.name} removed: its holder releases ${g.vips.map(formatCidr).join(", ")}`);
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
