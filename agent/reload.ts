/**
 * What an agent SIGHUP applies in place and what waits for a restart (pure).
 * In place: the tracks' scripts, intervals and timeouts (the same track names:
 * the coordinator's groups name them, so a track added or removed changes what
 * the node reports and waits for a restart, as the coordinator's config does),
 * the notify scripts and their timeout, nginx's commands (start, reload,
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

/** nginx settings the supervisor reads at each use: a reload applies them to the running agent. */
export const NGINX_IN_PLACE = ["start_command", "reload_command", "test_command", "restart_backoff", "watch_interval"] as const;

export function planReload(running: AgentConfig, next: AgentConfig): ReloadPlan {
  const plan: ReloadPlan = { apply: [], restart: [] };
  for (const key of Object.keys({ ...running, ...next }) as Array<keyof AgentConfig>) {
    if (same(running[key], next[key])) continue;
    if (key === "notify") plan.apply.push("notify");
    else if (key === "nginx") {
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
