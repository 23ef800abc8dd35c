/**
 * The desired state of every upstream: configured servers, adjusted by
 * aggregated health, admin overrides and slow start (which nginx open source
 * lacks: a server coming back ramps up over `slow_start` in pushed steps), failing
 * open when health would take out every server.
 * Pure: (config, health, overrides, upSince, now) → upstreams + next wake-up.
 */
import type { UpstreamConfigSpec } from "../../shared/config/coordinator.js";
import type { Upstream } from "../../shared/gen/keepvip/v1/agent.js";

export type Override = { action: "drain" | "down" | "weight"; weight?: number };

/** Slow start goes up in this many equal steps (25 %, 50 %, 75 %, 100 %). */
export const SLOW_START_STEPS = 4;

export interface DesiredInput {
  upstreams: UpstreamConfigSpec[];
  /** "upstream/server" → aggregated up? (missing = up). */
  health: ReadonlyMap<string, boolean>;
  overrides: Readonly<Record<string, Override>>;
  /** "upstream/server" → when it last came back up (ms), for slow start. */
  upSince: ReadonlyMap<string, number>;
  nowMs: number;
}

export interface Desired {
  upstreams: Upstream[];
  /** When the next slow-start step is due (undefined: none pending). */
  wakeAtMs?: number;
  /**
   * Upstreams failing open: every server the config and the operator leave in
   * service looks down, so health is ignored for them (see failsOpen).
   */
  failOpen: string[];
}

/**
 * Fail open: when aggregated health would take out every server the config and
 * the operator leave in service, health is ignored for that upstream. An
 * upstream whose servers are all `down` answers 502 to every request for sure;
 * kept in, nginx's own passive checks (max_fails) still skip the dead ones and
 * any server that does answer is used. Probes that all fail at once are more
 * often the probers' trouble (CPU-starved agents, their own network) than every
 * backend dying in the same second.
 */
export function failsOpen(servers: ReadonlyArray<{ inService: boolean; healthy: boolean }>): boolean {
  const inService = servers.filter((s) => s.inService);
  return inService.length > 0 && inService.every((s) => !s.healthy);
}

export const serverKey = (upstream: string, server: string) => `${upstream}/${server}`;

/**
 * Weight during slow start: step k of SLOW_START_STEPS gives ceil(weight × k /
 * steps), never below 1. Returns the weight and when the next step is due.
 */
export function slowStartWeight(weight: number, slowStartMs: number, upSinceMs: number | undefined, nowMs: number): { weight: number; nextMs?: number } {
  if (slowStartMs <= 0 || upSinceMs === undefined) return { weight };
  const elapsed = nowMs - upSinceMs;
  if (elapsed >= slowStartMs) return { weight };
  const stepMs = slowStartMs / SLOW_START_STEPS;
  const step = Math.min(SLOW_START_STEPS, Math.floor(elapsed / stepMs) + 1);
  return { weight: Math.max(1, Math.ceil((weight * step) / SLOW_START_STEPS)), nextMs: upSinceMs + step * stepMs };
}

export function desiredUpstreams(input: DesiredInput): Desired {
  const wakes: number[] = [];
  const failOpen: string[] = [];
  const upstreams = input.upstreams.map((u): Upstream => {
    const adminDown = (address: string) => {
      const action = input.overrides[serverKey(u.name, address)]?.action;
      return action === "down" || action === "drain";
    };
    const healthOf = (address: string) => input.health.get(serverKey(u.name, address)) ?? true;
    const ignoreHealth = failsOpen(u.servers.map((s) => ({ inService: !s.down && !adminDown(s.address), healthy: healthOf(s.address) })));
    if (ignoreHealth) failOpen.push(u.name);
    return {
      name: u.name,
      balance: u.balance,
      hashKey: u.hash_key ?? "",
      hashConsistent: u.consistent,
      keepalive: u.keepalive,
      servers: u.servers.map((s) => {
        const key = serverKey(u.name, s.address);
        const o = input.overrides[key];
        const healthy = ignoreHealth || healthOf(s.address);
        let weight = o?.action === "weight" && o.weight ? o.weight : s.weight;
        const ramp = slowStartWeight(weight, u.slow_start, input.upSince.get(key), input.nowMs);
        weight = ramp.weight;
        if (ramp.nextMs !== undefined) wakes.push(ramp.nextMs);
        // Drain: nginx open source cannot stop new requests to one server while
        // letting in-flight ones finish other than by `down` + graceful reload:
        // old workers keep their connections until done, new ones skip it.
        const down = s.down || !healthy || o?.action === "down" || o?.action === "drain";
        return { address: s.address, weight, maxFails: s.max_fails, failTimeoutS: Math.round(s.fail_timeout / 1000), backup: s.backup, down };
      }),
    };
  });
  return { upstreams, wakeAtMs: wakes.length > 0 ? Math.min(...wakes) : undefined, failOpen };
}
