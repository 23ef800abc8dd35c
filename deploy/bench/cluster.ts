/**
 * The benchmark's view of a lab while it runs: live observations (where the VIP is, whether
 * the client is served) from the sampler and prober, whether a process runs, and the steady
 * state each stack must reach before a fault is injected. Every wait has a deadline.
 */
import { adminStatus } from "../lab/admin.js";
import { LB_HOSTS, hostNs, labPaths, startProber, startVipSampler, vipHolders, type Host, type ProberHandle, type VipSamplerHandle } from "../lab/api.js";
import { SERVICE_PORT, VIP, VIP6 } from "../lab/topology.js";
import { isAlive, isInNamespace, readPidFile } from "../lab/procfs.js";
import type { StackName } from "./report.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` every `everyMs` until it holds or `timeoutMs` passes; resolves to whether it
 * held. Bounded in time and in iterations.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
  return false;
}

/** waitUntil, throwing "timed out after N ms waiting for WHAT" when it does not hold. */
export async function mustWait(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  if (!(await waitUntil(check, timeoutMs, everyMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Races a promise against a deadline. */
export async function withDeadline<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The prober and the VIP sampler of one trial, with live questions answered from memory (no subprocess per poll). */
export interface Observation {
  prober: ProberHandle;
  sampler: VipSamplerHandle;
  /** The LBs holding the VIP now, from the sampler's latest event per LB. */
  holders(): string[];
  /** The last `count` finished requests all succeeded and were all sent at or after `sinceT`. */
  serviceOk(sinceT: number, count?: number): boolean;
}

/**
 * Starts the sampler and the prober (10 ms each; 200 ms request timeout) for up to `durationMs`,
 * on the IPv4 VIP or (family 6) the group's IPv6 VIP.
 */
export function observe(prefix: string, durationMs: number, family: 4 | 6 = 4): Observation {
  const sampler = startVipSampler(prefix, { intervalMs: 10, durationMs, addresses: [family === 6 ? VIP6 : VIP] });
  const prober = startProber(prefix, { intervalMs: 10, timeoutMs: 200, durationMs, ...(family === 6 ? { url: `http://[${VIP6}]:${SERVICE_PORT}/aaa` } : {}) });
  return {
    prober,
    sampler,
    holders: () => {
      const last = new Map<string, boolean>();
      for (const e of sampler.events) last.set(e.host, e.has);
      return LB_HOSTS.filter((h) => last.get(h) === true);
    },
    serviceOk: (sinceT, count = 20) => {
      const rs = prober.records;
      if (rs.length < count) return false;
      for (let i = rs.length - count; i < rs.length; i++) if (!rs[i].ok || rs[i].t < sinceT) return false;
      return true;
    },
  };
}

/** HOST's PROCESS runs: its pid file names a live process inside the host's namespace. */
export function isRunning(prefix: string, host: Host, name: string): boolean {
  const pid = readPidFile(labPaths(prefix).pidFile(host, name));
  return pid !== undefined && isInNamespace(pid, hostNs(prefix, host));
}

/**
 * keepalived crashes on HOST: every keepalived process (the main one and its VRRP child) is
 * SIGKILLed at once, as an OOM kill or `systemctl kill -s KILL` would. SIGKILL of the main
 * process alone is no crash: the child gets SIGTERM from the kernel (parent-death signal) and
 * shuts down cleanly, releasing the VIP, exactly like F1. The main process is stopped first
 * so it cannot respawn the child in between.
 */
export async function crashKeepalived(prefix: string, host: Host): Promise<number[]> {
  const paths = labPaths(prefix);
  const ns = hostNs(prefix, host);
  const main = readPidFile(paths.pidFile(host, "keepalived"));
  const vrrp = readPidFile(paths.pidFile(host, "keepalived-vrrp"));
  if (main === undefined || !isInNamespace(main, ns)) throw new Error(`keepalived is not running on ${host}`);
  if (vrrp === undefined || !isInNamespace(vrrp, ns))
    throw new Error(`keepalived on ${host} has no live VRRP child (pid file ${paths.pidFile(host, "keepalived-vrrp")})`);
  process.kill(main, "SIGSTOP");
  process.kill(vrrp, "SIGKILL");
  process.kill(main, "SIGKILL");
  await mustWait(`keepalived ${main} and ${vrrp} on ${host} to die`, () => !isAlive(main) && !isAlive(vrrp), 5000, 10);
  return [main, vrrp];
}

/** Both agents connected, nginx running on both, lb1 holds the VIP (and only lb1), nothing moving: what the e2e tests wait for. */
async function keepvipSteady(prefix: string): Promise<boolean> {
  const g = (await adminStatus(prefix, 3000))?.groups[0];
  if (g?.holder !== "lb1" || g.phase !== "steady") return false;
  if (!g.members.every((m) => m.connected && m.nginx === "running" && m.eligible)) return false;
  const on = await vipHolders(prefix);
  return on.length === 1 && on[0] === "lb1";
}

/** keepalived has no status to ask: the VIP only on lb1 for `stableMs` in a row, nginx and keepalived running on both LBs. */
async function keepalivedSteady(prefix: string, stableMs: number, timeoutMs: number): Promise<boolean> {
  let since: number | undefined;
  return waitUntil(
    async () => {
      const running = LB_HOSTS.every((h) => isRunning(prefix, h, "nginx") && isRunning(prefix, h, "keepalived"));
      const on = await vipHolders(prefix);
      if (!running || on.length !== 1 || on[0] !== "lb1") {
        since = undefined;
        return false;
      }
      since ??= Date.now();
      return Date.now() - since >= stableMs;
    },
    timeoutMs,
    200,
  );
}

/**
 * Waits for the stack's steady state with the VIP on lb1. keepalived's VIP must stay put for
 * 3 s (three adverts at the seed's 1 s): a just-restarted keepalived can still preempt.
 */
export async function waitSteady(stack: StackName, prefix: string, timeoutMs = 60_000): Promise<void> {
  const ok = stack === "keepvip" ? await waitUntil(() => keepvipSteady(prefix), timeoutMs, 200) : await keepalivedSteady(prefix, 3000, timeoutMs);
  if (!ok) {
    const on = await vipHolders(prefix).catch(() => []);
    throw new Error(
      `the ${stack} lab ${prefix} did not reach its steady state (VIP only on lb1, everything running) in ${timeoutMs} ms; VIP now on: ${on.join(",") || "nobody"}`,
    );
  }
}

/** SIGINT/SIGTERM during a bench: tear the lab down once, then exit 130. */
export function tearDownOnSignal(teardown: () => Promise<unknown>): void {
  let interrupted = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${sig}: tearing the lab down`);
      void teardown().finally(() => process.exit(130));
    });
  }
}
