/**
 * Running the client prober and the VIP watchers inside the lab from a test or a benchmark.
 * Both run as subprocesses inside the lab's namespaces (through the CommandRunner), report
 * NDJSON on stdout, and are bounded in time by their own arguments.
 */
import type { RunningProcess } from "../../shared/exec/runner.js";
import { labRunner, mustPrefix } from "./lab.js";
import { REPO_ROOT, hostPrograms } from "./paths.js";
import { parseProbeLine, type ProbeRecord } from "./probe-analysis.js";
import { DEFAULT_PROBE_URL } from "./prober.js";
import type { PoolRecord } from "./pool-client.js";
import { LB_HOSTS, VIP } from "./topology.js";
import { summarizeVipEvents, type VipEvent, type VipSummary } from "./vip-timeline.js";

function tsxArgv(ns: string, script: string, args: string[]): string[] {
  const { ip, node } = hostPrograms();
  return [ip, "netns", "exec", ns, node, "--import", "tsx", `${REPO_ROOT}/deploy/lab/${script}`, ...args];
}

export interface ProbeOptions {
  /** Default http://198.18.0.100:10016/aaa */
  url?: string;
  /** More URLs on the same schedule (records name their url). */
  more?: string[];
  /** Default 10. */
  intervalMs?: number;
  /** Per request; default 200. */
  timeoutMs?: number;
  /** Default 10000 (capped at 10 minutes by the prober). */
  durationMs?: number;
  count?: number;
}

/** A client running in P-client that reports one NDJSON record per request. */
export interface ClientHandle<R extends ProbeRecord> {
  /** Resolves at the first finished request (the client runs); rejects if it exits first. */
  ready: Promise<void>;
  /** Records so far (completion order). */
  records: R[];
  /** Resolves with every record when the client ends by itself. */
  done: Promise<R[]>;
  /** Ends it early (SIGTERM: it finishes its in-flight requests) and resolves with every record. */
  stop(): Promise<R[]>;
}

export type ProberHandle = ClientHandle<ProbeRecord>;

/** Runs deploy/lab/SCRIPT in P-client and collects its records. */
function startClient<R extends ProbeRecord>(prefixArg: string | undefined, script: string, args: string[]): ClientHandle<R> {
  const prefix = mustPrefix(prefixArg);
  const records: R[] = [];
  const stderr: string[] = [];
  let markReady: () => void = () => undefined;
  let failReady: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((res, rej) => {
    markReady = res;
    failReady = rej;
  });
  // Nobody may await `ready`; an exit after it resolved must not become an unhandled rejection.
  ready.catch(() => undefined);
  const proc = labRunner().start(tsxArgv(`${prefix}-client`, script, args), {
    cwd: REPO_ROOT,
    onStdoutLine: (line) => {
      const r = parseProbeLine(line);
      if (r) {
        records.push(r as R);
        markReady();
      }
    },
    onStderrLine: (line) => stderr.push(line),
  });
  const done = proc.exited.then((r) => {
    failReady(new Error(`${script} exited before any request finished (exit ${r.exitCode}): ${stderr.join("\n")}`));
    return records;
  });
  return { ready, records, done, stop: async () => (proc.kill("SIGTERM"), done) };
}

/** Starts the prober (a new connection per request) in P-client. */
export function startProber(prefix: string | undefined, opts: ProbeOptions = {}): ProberHandle {
  return startClient(prefix, "prober.ts", [
    "--url",
    opts.url ?? DEFAULT_PROBE_URL,
    ...(opts.more ?? []).flatMap((u) => ["--url", u]),
    "--interval",
    String(opts.intervalMs ?? 10),
    "--timeout",
    String(opts.timeoutMs ?? 200),
    "--duration",
    String(opts.durationMs ?? 10_000),
    ...(opts.count !== undefined ? ["--count", String(opts.count)] : []),
  ]);
}

export interface PoolClientOptions {
  /** Default http://198.18.0.100:10016/aaa */
  url?: string;
  /** Keep-alive connections, each busy with one request after another. Default 20. */
  connections?: number;
  /** Each request asks the backend to answer after 0..maxDelayMs. Default 2000. */
  maxDelayMs?: number;
  /** Per request; default 5000. */
  timeoutMs?: number;
  /** Default 10000 (capped at 10 minutes by the client). */
  durationMs?: number;
}

export type PoolClientHandle = ClientHandle<PoolRecord>;

/** Starts the keep-alive client (deploy/lab/pool-client.ts) in P-client. */
export function startPoolClient(prefix: string | undefined, opts: PoolClientOptions = {}): PoolClientHandle {
  return startClient(prefix, "pool-client.ts", [
    "--url",
    opts.url ?? DEFAULT_PROBE_URL,
    "--connections",
    String(opts.connections ?? 20),
    "--max-delay",
    String(opts.maxDelayMs ?? 2000),
    "--timeout",
    String(opts.timeoutMs ?? 5000),
    "--duration",
    String(opts.durationMs ?? 10_000),
  ]);
}

export interface VipSamplerOptions {
  /** Sampling interval in each LB namespace; default 10. */
  intervalMs?: number;
  /** Upper bound of the run; default 60000. */
  durationMs?: number;
  /** The addresses watched (one watcher per LB for all of them); default the IPv4 VIP. */
  addresses?: string[];
}

export interface VipSamplerHandle {
  /** Resolves when both watchers have reported their first state. */
  ready: Promise<void>;
  /** Change events so far (the first address's). */
  events: VipEvent[];
  /** Stops both watchers and summarises the run (the first address). */
  stop(): Promise<VipSummary>;
  /** After stop: each watched address's summary. */
  summaries(): Record<string, VipSummary>;
}

/** Watches lan0 of both LBs for the VIP (one small poller per LB namespace, see vip-watch.ts). */
export function startVipSampler(prefixArg: string | undefined, opts: VipSamplerOptions = {}): VipSamplerHandle {
  const prefix = mustPrefix(prefixArg);
  const addresses = opts.addresses ?? [VIP];
  const byAddress = new Map<string, VipEvent[]>(addresses.map((a) => [a, []]));
  const events = byAddress.get(addresses[0])!;
  const seen = new Set<string>();
  const procs: RunningProcess[] = [];
  let markReady: () => void = () => undefined;
  let failReady: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((res, rej) => {
    markReady = res;
    failReady = rej;
  });
  ready.catch(() => undefined);
  for (const host of LB_HOSTS) {
    const args = ["--interval", String(opts.intervalMs ?? 10), "--duration", String(opts.durationMs ?? 60_000), "--address", addresses.join(",")];
    const stderr: string[] = [];
    const proc = labRunner().start(tsxArgv(`${prefix}-${host}`, "vip-watch.ts", args), {
      cwd: REPO_ROOT,
      onStdoutLine: (line) => {
        try {
          const v = JSON.parse(line) as { t: number; has: boolean; address?: string };
          byAddress.get(v.address ?? addresses[0])?.push({ t: v.t, host, has: v.has });
          seen.add(host);
          if (seen.size === LB_HOSTS.length) markReady();
        } catch {
          // not a watcher line
        }
      },
      onStderrLine: (line) => stderr.push(line),
    });
    void proc.exited.then((r) => failReady(new Error(`VIP watcher in ${prefix}-${host} exited (exit ${r.exitCode}): ${stderr.join("\n")}`)));
    procs.push(proc);
  }
  return {
    ready,
    events,
    stop: async () => {
      for (const p of procs) p.kill("SIGTERM");
      await Promise.all(procs.map((p) => p.exited));
      return summarizeVipEvents(events, LB_HOSTS);
    },
    summaries: () => Object.fromEntries([...byAddress].map(([a, ev]) => [a, summarizeVipEvents(ev, LB_HOSTS)])),
  };
}
