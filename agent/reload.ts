/**
 * What an agent SIGHUP applies in place and what waits for a restart (pure).
 * In place: the tracks' scripts, intervals and timeouts (the same track names:
 * the coordinator's groups name them, so a track added or removed changes what
 * the node reports and waits for a restart, as the coordinator's config does),
 * the notify scripts and their timeout (node-wide `notify` and each group's
 * `groups.NAME.notify`), nginx's commands (start, reload,
 * test), restart back-off and watch interval, and the TLS files (reloaded on
 * their own, shared/tls-material.ts). Everything else the agent was started
 * with (node id, coordinators, groups, nginx's mode, binary and paths, which
 * name the running nginx, state dir, tools) needs a restart, which moves
 * nothing (`systemctl restart`: the next agent adopts the VIPs and nginx).
 */
import type { AgentConfig } from "../shared/config/agent.js";

export interface ReloadPlan {
  /** Applied now: "tracks", "notify", "nginx" (its commands and timings) and "tls", which reloads itself. */
  apply: Array<"tracks" | "notify" | "nginx" | "tls">;
  /** Changed, valid, and waiting for a restart (config keys, or "tracks (added: x; removed: y)"). */
  restart: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const applyNotify = (plan: ReloadPlan) => {
  if (!plan.apply.includes("notify")) plan.apply.push("notify");
};

/**
 * The groups without their notify scripts: where the VIPs go (restart to change). A group
 * listed for its notify scripts alone binds as an unlisted one (default_interface).
 */
function placements(groups: AgentConfig["groups"]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(groups)
      .map(([name, { notify: _notify, ...place }]) => [name, place] as const)
      .filter(([, place]) => Object.values(place).some((v) => v !== undefined))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** Each group's own notify scripts (applied in place). */
function notifyScripts(groups: AgentConfig["groups"]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(groups)
      .flatMap(([name, g]) => (g.notify ? [[name, g.notify] as const] : []))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/**
 * The running config once a reload applied `next`'s notify scripts: the node-wide
 * ones and each group's. A group only `next` lists keeps just its scripts here, so a
 * later reload still tells that the rest of it waits for a restart.
 */
export function withNotifyOf(running: AgentConfig, next: AgentConfig): AgentConfig {
  const groups: AgentConfig["groups"] = {};
  for (const [name, { notify: _old, ...place }] of Object.entries(running.groups)) {
    const notify = Object.hasOwn(next.groups, name) ? next.groups[name].notify : undefined;
    groups[name] = notify ? { ...place, notify } : place;
  }
  for (const [name, g] of Object.entries(next.groups)) if (!Object.hasOwn(groups, name) && g.notify) groups[name] = { notify: g.notify };
  return { ...running, notify: next.notify, groups };
}

/** nginx settings the supervisor reads at each use: a reload applies them to the running agent. */
export const NGINX_IN_PLACE = ["start_command", "reload_command", "test_command", "restart_backoff", "watch_interval"] as const;

export function planReload(running: AgentConfig, next: AgentConfig): ReloadPlan {
  const plan: ReloadPlan = { apply: [], restart: [] };
  for (const key of Object.keys({ ...running, ...next }) as Array<keyof AgentConfig>) {
    if (same(running[key], next[key])) continue;
    if (key === "notify") applyNotify(plan);
    else if (key === "groups") {
      // A group's own notify scripts apply in place; where its VIPs go waits for a restart.
      if (!same(placements(running.groups), placements(next.groups))) plan.restart.push("groups");
      if (!same(notifyScripts(running.groups), notifyScripts(next.groups))) applyNotify(plan);
    } else if (key === "nginx") {
      const keys = Object.keys({ ...running.nginx, ...next.nginx }) as Array<keyof AgentConfig["nginx"]>;
      const changed = keys.filter((k) => !same(running.nginx[k], next.nginx[k]));
      const fixed = changed.filter((k) => !(NGINX_IN_PLACE as readonly string[]).includes(k));
      if (fixed.length > 0) plan.restart.push(...fixed.map((k) => `nginx.${k}`));
      else plan.apply.push("nginx");
    } else if (key === "tls" && running.tls && next.tls) plan.apply.push("tls");
    else if (key === "tracks") {
      const before = Object.keys(running.tracks);
      const after = Object.keys(next.tracks);
      const added = after.filter((n) => !before.includes(n));
      const removed = before.filter((n) => !after.includes(n));
      if (added.length === 0 && removed.length === 0) plan.apply.push("tracks");
      else
        plan.restart.push(
          `tracks (${[added.length > 0 ? `added: ${added.join(", ")}` : "", removed.length > 0 ? `removed: ${removed.join(", ")}` : ""].filter(Boolean).join("; ")})`,
        );
    } else plan.restart.push(key);
  }
  return plan;
}
