/**
 * Bringing a lab up and down. `up` builds the topology, writes the configs, starts the
 * stack's processes and waits until each is ready; if anything fails it tears down what it
 * made and throws. `down` works from what is there (pid files, the prefix's exact namespace
 * names), so it cleans up after a crash or a half-built `up`, and a second run is a no-op.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createCommandRunner, type CommandRunner } from "../../shared/exec/runner.js";
import { writeLabConfigs } from "./configs.js";
import { readManifest, writeManifest, type LabManifest, type Stack, type Timing } from "./manifest.js";
import { applyTopology, deleteNamespaces, namespacePids, presentNamespaces } from "./netns.js";
import { CLI_BIN, defaultKeepvipBins, hostPrograms, labPaths, type HostPrograms, type KeepvipBins, type LabPaths } from "./paths.js";
import { isAlive, isInNamespace, readPidFile, waitFor } from "./procfs.js";
import { startProcess } from "./processes.js";
import { issueLabPki, labPki } from "./pki.js";
import { etcdctlArgs, processSpecs, type ProcessSpec } from "./stacks.js";
import { DEFAULT_PREFIX, ETCD_HOSTS, checkPrefix, hostNs, isHost, planTopology, type EtcdHost, type TopologyPlan } from "./topology.js";

let sharedRunner: CommandRunner | undefined;
/** The lab's CommandRunner (the real one). */
export function labRunner(): CommandRunner {
  sharedRunner ??= createCommandRunner();
  return sharedRunner;
}

export interface UpOptions {
  /** Namespace prefix (default "kv"). */
  prefix?: string;
  /** Default "keepvip". */
  stack?: Stack;
  /** keepvip coordinator timing (default "seed"). */
  timing?: Timing;
  /** keepalived advert_int in seconds (default 1, the seed's). */
  advertSec?: number;
  /** nginx proxy_connect_timeout in ms (default 3000, the seed's). */
  connectTimeoutMs?: number;
  /** keepvip bins (default dist/coordinator/main.js, dist/agent/keepvip-agent.js). */
  bins?: KeepvipBins;
  /** Three coordinator replicas on a 3-member etcd instead of one coordinator (keepvip stack only). */
  ha?: boolean;
  /** Plaintext gRPC and etcd, as before mutual TLS was the default (for comparison). */
  insecure?: boolean;
  /** keepalived stack: the IPv6 VIP as an excluded address of VI_1 (default) or in a VRRPv3 IPv6 instance. */
  keepalivedIpv6?: "excluded" | "vrrp3";
}

export interface UpReport {
  prefix: string;
  stack: Stack;
  /** host-process → pid */
  pids: Record<string, number>;
  /** Wall time of `up`. */
  ms: number;
  paths: LabPaths;
}

export interface DownReport {
  prefix: string;
  /** Pids it ended (pid files and stragglers in the lab's namespaces). */
  killed: number[];
  /** Namespaces it deleted. */
  namespaces: string[];
  ms: number;
}

export function mustPrefix(prefix: string | undefined): string {
  const p = prefix ?? DEFAULT_PREFIX;
  const problem = checkPrefix(p);
  if (problem) throw new Error(problem);
  return p;
}

/** What the stack needs on this machine, as sentences; [] when all is there. */
export function missingForStack(stack: Stack, programs: HostPrograms, bins: KeepvipBins, ha = false): string[] {
  const missing: string[] = [];
  if (ha && stack !== "keepvip") missing.push(`--ha replicates the keepvip coordinator: it needs --stack keepvip, not ${stack}`);
  if (ha && !existsSync(programs.etcd)) missing.push(`etcd not found at ${programs.etcd} (bash deploy/ensure-deps.sh installs etcd-server)`);
  if (ha && !existsSync(programs.etcdctl)) missing.push(`etcdctl not found at ${programs.etcdctl} (bash deploy/ensure-deps.sh installs etcd-client)`);
  if (!existsSync(programs.ip)) missing.push(`ip (iproute2) not found at ${programs.ip}`);
  if (!existsSync(programs.nginx)) missing.push(`nginx not found at ${programs.nginx} (bash deploy/ensure-deps.sh installs it)`);
  if (stack === "keepalived" && !existsSync(programs.keepalived))
    missing.push(`keepalived not found at ${programs.keepalived} (bash deploy/ensure-deps.sh installs it)`);
  if (stack === "keepvip") {
    for (const [what, file] of Object.entries({ ...bins, "admin CLI": CLI_BIN })) {
      if (!existsSync(file)) missing.push(`the keepvip ${what} is not built: ${file} is missing (run \`npm run build\`, or use --stack none|keepalived)`);
    }
  }
  return missing;
}

/** Clears a previous run's runtime state (logs too: each `up` starts fresh logs). */
function resetDir(paths: LabPaths): void {
  for (const d of [paths.pids, paths.conf, paths.state, paths.logs, `${paths.dir}/nginx`, labPki(paths).dir]) rmSync(d, { recursive: true, force: true });
  rmSync(paths.manifest, { force: true });
  for (const d of [paths.pids, paths.logs, paths.conf, paths.state]) mkdirSync(d, { recursive: true });
}

/** How long `up` waits for a fresh 3-member etcd to elect a leader and serve. */
const ETCD_QUORUM_TIMEOUT_MS = 20_000;

/**
 * Waits until etcd serves a linearizable read through `members` (all three by default; one
 * member: that member has caught up with a leader). etcd listens on its client port before
 * it has a quorum, so "listening" alone is not "ready".
 */
export async function waitEtcdServing(prefix: string, members: readonly EtcdHost[] = ETCD_HOSTS, timeoutMs = ETCD_QUORUM_TIMEOUT_MS): Promise<void> {
  const programs = hostPrograms();
  const paths = labPaths(prefix);
  const etcdctl = etcdctlArgs(readManifest(paths.manifest), paths, members);
  let last = "";
  const ok = await waitFor(
    async () => {
      const r = await labRunner().run(
        [programs.ip, "netns", "exec", hostNs(prefix, members[0]), programs.etcdctl, ...etcdctl, "--command-timeout=1s", "get", "keepvip-lab-ready"],
        { timeoutMs: 3000, env: { ETCDCTL_API: "3" } },
      );
      last = (r.stderr || r.stdout).trim();
      return r.exitCode === 0;
    },
    timeoutMs,
    100,
  );
  if (!ok) throw new Error(`etcd of lab ${prefix} (${members.join(", ")}) serves no read after ${timeoutMs} ms (etcdctl: ${last || "no output"})`);
}

async function startAll(specs: ProcessSpec[], programs: HostPrograms, prefix: string): Promise<Record<string, number>> {
  const ip = programs.ip;
  const pids: Record<string, number> = {};
  const run = async (group: ProcessSpec[]) => {
    const started = await Promise.all(group.map(async (s) => [`${s.host}-${s.name}`, await startProcess(s, ip)] as const));
    for (const [k, pid] of started) pids[k] = pid;
  };
  const byLab = specs.filter((s) => s.startedBy === "lab");
  // Backends first (nginx proxies to them), then etcd (--ha: all members at once, they need
  // each other for a quorum), then the coordinator(s), then each LB's processes in order
  // (nginx before keepalived; the agent starts its own nginx), both LBs at once.
  await run(byLab.filter((s) => s.host === "b1" || s.host === "b2"));
  const etcd = byLab.filter((s) => s.name === "etcd");
  if (etcd.length > 0) {
    await run(etcd);
    await waitEtcdServing(prefix);
  }
  await run(byLab.filter((s) => s.name === "coordinator"));
  const lbs = ["lb1", "lb2"].map((h) => byLab.filter((s) => s.host === h));
  for (let step = 0; step < Math.max(...lbs.map((l) => l.length)); step++) {
    await run(lbs.map((l) => l[step]).filter((s) => s !== undefined));
  }
  return pids;
}

export async function labUp(options: UpOptions = {}): Promise<UpReport> {
  const started = Date.now();
  const prefix = mustPrefix(options.prefix);
  const stack = options.stack ?? "keepvip";
  const programs = hostPrograms();
  const bins = options.bins ?? defaultKeepvipBins();
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (network namespaces, nginx, keepalived)");
  const ha = options.ha ?? false;
  const missing = missingForStack(stack, programs, bins, ha);
  if (missing.length > 0) throw new Error(`cannot bring up the ${stack} stack:\n  ${missing.join("\n  ")}`);
  const advertSec = options.advertSec ?? 1;
  if (!(advertSec >= 0.01 && advertSec <= 255)) throw new Error(`advert must be between 0.01 and 255 seconds, got ${advertSec}`);
  const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  if (!(Number.isInteger(connectTimeoutMs) && connectTimeoutMs >= 1 && connectTimeoutMs <= 75_000)) {
    throw new Error(`connect timeout must be 1ms..75s (nginx caps it at 75s), got ${connectTimeoutMs}ms`);
  }
  const plan = planTopology(prefix, ha);
  const present = presentNamespaces(everyLayout(prefix));
  if (present.length > 0) {
    throw new Error(`lab "${prefix}" is already (partly) up: namespaces ${present.join(", ")} exist; run \`npm run lab -- down --prefix ${prefix}\` first`);
  }
  const paths = labPaths(prefix);
  // Paths go unquoted into nginx.conf, keepalived.conf and a shell script.
  if (!/^[A-Za-z0-9._/-]+$/.test(paths.dir))
    throw new Error(`the lab dir must be a plain path (letters, digits, . _ - /), got "${paths.dir}" (set KEEPVIP_LAB_DIR)`);
  const manifest: LabManifest = {
    prefix,
    stack,
    timing: options.timing ?? "seed",
    advertSec,
    connectTimeoutMs,
    bins,
    ha,
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.keepalivedIpv6 ? { keepalivedIpv6: options.keepalivedIpv6 } : {}),
    createdAt: new Date().toISOString(),
  };
  resetDir(paths);
  // A fresh CA and certificates per `up`, made by `keepvip certs` (keepvip stack; not for --insecure).
  if (stack === "keepvip" && !manifest.insecure) await issueLabPki(labRunner(), paths, CLI_BIN);
  writeLabConfigs(manifest, paths, programs);
  writeManifest(paths.manifest, manifest);
  try {
    await applyTopology(labRunner(), plan, programs.ip);
    const pids = await startAll(processSpecs(manifest, paths, programs), programs, prefix);
    return { prefix, stack, pids, ms: Date.now() - started, paths };
  } catch (err) {
    await labDown(prefix).catch(() => undefined);
    throw err;
  }
}

function kill(pid: number): boolean {
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

/**
 * Every namespace either layout of PREFIX can have (switch first): `down` and the "already
 * up" check must see an `--ha` lab's namespaces as well as a single-coordinator lab's.
 */
export function everyLayout(prefix: string): TopologyPlan {
  const ha = planTopology(prefix, true);
  return { ...ha, namespaces: [...new Set([...planTopology(prefix, false).namespaces, ...ha.namespaces])] };
}

/** The topology of the lab that is up (its manifest says which layout). */
export function labTopology(prefix: string): TopologyPlan {
  return planTopology(prefix, readManifest(labPaths(prefix).manifest)?.ha ?? false);
}

export async function labDown(prefixArg?: string): Promise<DownReport> {
  const started = Date.now();
  const prefix = mustPrefix(prefixArg);
  const programs = hostPrograms();
  const runner = labRunner();
  const plan = everyLayout(prefix);
  const paths = labPaths(prefix);
  const killed = new Set<number>();
  // 1. Every pid file: HOST-PROCESS.pid, signalled only if that pid lives in HOST's namespace.
  //    SIGKILL: down is a teardown, not a drill; nothing of the lab needs a clean exit.
  if (existsSync(paths.pids)) {
    for (const f of readdirSync(paths.pids)) {
      const host = f.split("-")[0];
      const pid = readPidFile(`${paths.pids}/${f}`);
      if (!isHost(host) || pid === undefined || !isInNamespace(pid, `${prefix}-${host}`)) continue;
      if (kill(pid)) killed.add(pid);
    }
  }
  // 2. Whatever else still runs in the lab's namespaces: nginx workers, keepalived's children,
  //    check scripts, probers, watchers. Only this prefix's exact namespace names are looked at.
  for (const ns of plan.namespaces) {
    for (const pid of await namespacePids(runner, ns, programs.ip)) if (kill(pid)) killed.add(pid);
  }
  await waitFor(() => [...killed].every((p) => !isAlive(p)), 5000);
  const namespaces = await deleteNamespaces(runner, plan, programs.ip);
  // 3. Runtime state; logs stay for a post-mortem (the next `up` clears them).
  for (const d of [paths.pids, paths.conf, paths.state, `${paths.dir}/nginx`]) rmSync(d, { recursive: true, force: true });
  rmSync(paths.manifest, { force: true });
  return { prefix, killed: [...killed], namespaces, ms: Date.now() - started };
}

/** The lab's manifest; throws a clear error when the lab is not up. */
export function mustManifest(prefix: string): LabManifest {
  const paths = labPaths(prefix);
  const m = readManifest(paths.manifest);
  if (!m) throw new Error(`lab "${prefix}" is not up (no ${paths.manifest}); run \`npm run lab -- up --prefix ${prefix}\``);
  return m;
}
