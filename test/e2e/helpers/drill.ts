/**
 * Fault drills for the end-to-end tests: a prober in the client namespace
 * (a request to VIP:10016/aaa every 10 ms) and a VIP sampler on both LBs run
 * around an injected fault; the result is what a client saw and where the VIP
 * was. Waits poll observations with deadlines, never fixed sleeps where an
 * observation exists.
 */
import { readFileSync } from "node:fs";
import { waitFor as waitUntil } from "../../support/wait.js";
import { after, before } from "node:test";
import { adminStatus } from "../../../deploy/lab/admin.js";
import type { StatusReply } from "../../../shared/gen/keepvip/v1/admin.js";
import { SERVICE_PORT, VIP, VIP6 } from "../../../deploy/lab/topology.js";
import {
  analyzeProbes,
  labDown,
  labPaths,
  labUp,
  startProber,
  startVipSampler,
  vipHolders,
  type ProbeSummary,
  type VipSummary,
} from "../../../deploy/lab/api.js";

export interface DrillResult {
  probes: ProbeSummary;
  vip: VipSummary;
  /** `ipv6` drills: what a client probing the IPv6 VIP saw, and where the IPv6 VIP was. */
  v6?: { probes: ProbeSummary; vip: VipSummary };
  /** Holders when the drill ended. */
  holders: string[];
  /** When the drill began (Date.now()): the start of the window its logs explain. */
  startedMs: number;
}

export type GroupStatus = NonNullable<StatusReply["groups"][number]>;

/** The first group's status, as `keepvip --json status` reports it. */
export async function clusterStatus(prefix: string): Promise<GroupStatus | undefined> {
  return (await adminStatus(prefix))?.groups[0];
}

/** The e2e form of test/support/wait.ts: `probe` answers undefined until it holds (0 and false are answers). */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const boxed = await waitUntil(
    async () => {
      const value = await probe();
      return value === undefined ? undefined : { value };
    },
    { what, timeoutMs, intervalMs: everyMs },
  );
  return boxed.value;
}

/**
 * Both agents connected, nginx running on both, `holder` holds the VIP and nothing is moving.
 * Each check runs the admin CLI (a whole node process) in the lab: polled every 500 ms, not
 * back to back, so the harness does not take a core from the lab's nginx and agents on a
 * 2-core machine while it waits. Back-to-back polling was the likely cause of two CI
 * failures of the rolling restart: the holder's agent missing 100 ms of heartbeats and a
 * request timing out, and a planned overlap stretched to 317 ms, each while it polled.
 */
export async function steady(prefix: string, holder = "lb1", timeoutMs = 30_000): Promise<GroupStatus> {
  return waitFor(
    `a steady cluster with the VIP on ${holder}`,
    timeoutMs,
    async () => {
      const s = await clusterStatus(prefix);
      if (!s || s.holder !== holder || s.phase !== "steady") return undefined;
      if (!s.members.every((m) => m.connected && m.nginx === "running" && m.eligible)) return undefined;
      const on = await vipHolders(prefix);
      return on.length === 1 && on[0] === holder ? s : undefined;
    },
    500,
  );
}

/**
 * Runs the prober and the VIP sampler, injects the fault `settleMs` after they
 * start, waits until `until` holds (bounded), keeps observing `afterMs` more.
 */
export async function drill(
  prefix: string,
  inject: () => Promise<unknown>,
  opts: { until?: () => Promise<boolean>; untilTimeoutMs?: number; settleMs?: number; afterMs?: number; observeMs?: number; ipv6?: boolean } = {},
): Promise<DrillResult> {
  // The observers' own bound (they stop earlier when the drill ends).
  const observeMs = opts.observeMs ?? 60_000;
  const startedMs = Date.now();
  // ipv6: the same prober and watchers also probe and watch the group's IPv6 VIP (one process each).
  const sampler = startVipSampler(prefix, { intervalMs: 10, durationMs: observeMs, ...(opts.ipv6 ? { addresses: [VIP, VIP6] } : {}) });
  const prober = startProber(prefix, { intervalMs: 10, timeoutMs: 200, durationMs: observeMs, ...(opts.ipv6 ? { more: [PROBE_URL6] } : {}) });
  try {
    await Promise.all([sampler.ready, prober.ready]);
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 500));
    await inject();
    if (opts.until) await waitFor("the drill's end condition", opts.untilTimeoutMs ?? 15_000, async () => ((await opts.until!()) ? true : undefined), 20);
    await new Promise((r) => setTimeout(r, opts.afterMs ?? 1000));
  } finally {
    // Stop both even when the drill failed, so nothing outlives the test.
    const [records, vip] = await Promise.all([prober.stop(), sampler.stop()]);
    const v4 = records.filter((r) => r.url === undefined || r.url !== PROBE_URL6);
    lastResult = {
      probes: analyzeProbes(v4, 10),
      vip,
      holders: await vipHolders(prefix),
      startedMs,
      ...(opts.ipv6
        ? {
            v6: {
              probes: analyzeProbes(
                records.filter((r) => r.url === PROBE_URL6),
                10,
              ),
              vip: sampler.summaries()[VIP6],
            },
          }
        : {}),
    };
  }
  return lastResult;
}
let lastResult: DrillResult;

/** The client's request through the IPv6 VIP (as `new URL(…).href` prints it). */
export const PROBE_URL6 = new URL(`http://[${VIP6}]:${SERVICE_PORT}/aaa`).href;

/** An end condition: the VIP is on `host` and nowhere else. */
export const onlyOn = (prefix: string, host: string) => async (): Promise<boolean> => {
  const h = await vipHolders(prefix);
  return h.length === 1 && h[0] === host;
};

/** One line of figures for the test log (and docs/benchmarks.md). */
export function figures(name: string, r: DrillResult): string {
  return `${name}: ${r.probes.failed} of ${r.probes.total} requests failed, longest outage ${r.probes.longestFailureMs} ms; VIP on both ${r.vip.bothMs} ms (longest ${r.vip.longestBothMs} ms), on none ${r.vip.noneMs} ms; ends on ${r.holders.join(",") || "nobody"}`;
}

/**
 * A keepvip lab (tuned timing) for one test file: built before its tests with
 * the VIP settled on lb1, removed after them even when a test failed.
 */
export function useLab(prefix: string, hooks: { afterUp?: () => Promise<unknown>; beforeDown?: () => void } = {}): void {
  before(async () => {
    await labDown(prefix);
    await labUp({ prefix, stack: "keepvip", timing: "tuned" });
    await steady(prefix, "lb1", 60_000);
    await hooks.afterUp?.();
  });
  after(async () => {
    hooks.beforeDown?.();
    await labDown(prefix);
  });
}

/**
 * A planned move (make-before-break) loses no request: the new holder forwards the
 * flows it does not know to the old one, which serves them until they end
 * (docs/design.md, Lossless planned moves), so not even a request in flight at the
 * clients' ARP flip is reset.
 */
export function assertPlannedMove(r: DrillResult): void {
  if (r.probes.failed === 0) return;
  throw new Error(`a planned move lost ${r.probes.failed} request(s): ${JSON.stringify(r.probes.errors)}`);
}

/** Coordinator events that explain a failed drill: moves, verdicts, silences, upstream health and pushes. */
const TELLING =
  /"event":"(unit\.move|unit\.verify|verify\.result|session\.(silent|closed|open)|upstream\.[a-z_.]+|command\.(acquire|release|fenced)|ha\.[a-z_]+)"/;

/** Agent events that explain a move the coordinator made: track flips, lost sessions, binds and unbinds. */
const AGENT_TELLING = /"event":"(track\.change|coordinator\.lost|reach\.[a-z_.]+|vip\.(acquire|release)[a-z_.]*|session\.[a-z_]+)"/;

/**
 * What the lab's logs say about the window since `sinceMs`, for a failure message: the
 * coordinator's and the agents' telling events and every LB's nginx error lines (at most
 * `max` lines each).
 */
export function labLogExcerpt(prefix: string, sinceMs: number, max = 40): string {
  const paths = labPaths(prefix);
  const read = (file: string): string[] => {
    try {
      return readFileSync(file, "utf8").split("\n");
    } catch {
      return [];
    }
  };
  // One coordinator, or the replicas of an --ha lab (whichever logs exist), merged in time order.
  const timeOf = (l: string) => /"time":"([^"]+)"/.exec(l)?.[1];
  const coordinator = (["coord", "coord1", "coord2", "coord3"] as const)
    .flatMap((h) => read(paths.logFile(h, "coordinator")).map((l) => ({ l: h === "coord" ? l : `${h}: ${l}`, time: timeOf(l) })))
    .filter((x) => x.time !== undefined && Date.parse(x.time) >= sinceMs && TELLING.test(x.l))
    .sort((a, b) => (a.time! < b.time! ? -1 : a.time! > b.time! ? 1 : 0))
    .map((x) => x.l);
  const agents = (["lb1", "lb2"] as const)
    .flatMap((h) => read(paths.logFile(h, "agent")).map((l) => ({ l: `${h}: ${l}`, time: timeOf(l) })))
    .filter((x) => x.time !== undefined && Date.parse(x.time) >= sinceMs && AGENT_TELLING.test(x.l))
    .sort((a, b) => (a.time! < b.time! ? -1 : a.time! > b.time! ? 1 : 0))
    .map((x) => x.l);
  // nginx error lines begin with the local time, "YYYY/MM/DD HH:MM:SS", whole seconds.
  const nginx = (["lb1", "lb2"] as const).flatMap((h) =>
    read(paths.nginxErrorLog(h))
      .filter((l) => Date.parse(l.slice(0, 19)) >= sinceMs - 1000)
      .slice(-max)
      .map((l) => `${h}: ${l}`),
  );
  return [
    `coordinator (${coordinator.length} events):`,
    ...coordinator.slice(-max).map((l) => l.slice(0, 400)),
    `agents (${agents.length} events):`,
    ...agents.slice(-max).map((l) => l.slice(0, 400)),
    "nginx errors:",
    ...nginx.slice(-max),
  ].join("\n");
}

/** One unsolicited neighbour advertisement seen on the LAN. */
export interface NeighbourAdvert {
  /** tcpdump's time of day, seconds since midnight. */
  atS: number;
  /** The frame's source MAC. */
  mac: string;
  target: string;
  flags: string;
}

/** tcpdump -e -n -v lines of neighbour advertisements (pure: tested on captured text). */
export function parseNeighbourAdverts(text: string): NeighbourAdvert[] {
  const out: NeighbourAdvert[] = [];
  const re = /^(\d\d):(\d\d):(\d\d\.\d+) ([0-9a-f:]{17}) > .*neighbor advertisement, length \d+, tgt is (\S+), Flags \[([^\]]*)\]/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m) out.push({ atS: Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]), mac: m[4], target: m[5], flags: m[6] });
  }
  return out;
}

/**
 * Captures neighbour advertisements on HOST's LAN interface (tcpdump inside the lab's
 * namespace, bounded by `timeout`), for `run`'s duration plus `tailMs`.
 */
export async function captureNeighbourAdverts<T>(
  prefix: string,
  host: string,
  run: () => Promise<T>,
  tailMs = 1500,
): Promise<{ result: T; adverts: NeighbourAdvert[] }> {
  const { spawn } = await import("node:child_process");
  const proc = spawn(
    "ip",
    ["netns", "exec", `${prefix}-${host}`, "timeout", "120", "tcpdump", "-l", "-n", "-e", "-v", "-i", "lan0", "icmp6 and ip6[40] == 136"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let text = "";
  let listening = false;
  proc.stdout.on("data", (c: Buffer) => (text += c.toString("utf8")));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stderr.on("data", (c: Buffer) => {
      if (/listening on/.test(c.toString("utf8")) && !listening) {
        listening = true;
        resolve();
      }
    });
    proc.on("exit", (code) => reject(new Error(`tcpdump in ${prefix}-${host} exited (${code}) before listening`)));
  });
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  try {
    await ready;
    const result = await run();
    await new Promise((r) => setTimeout(r, tailMs));
    return { result, adverts: parseNeighbourAdverts(text) };
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
}
