/**
 * Where a lab keeps its files: `${KEEPVIP_LAB_DIR:-/tmp/keepvip-lab}/PREFIX/`.
 *   lab.json                  what `up` built (stack, options) — `start` reads it
 *   pids/HOST-PROCESS.pid     every process the lab runs (other tools rely on these names)
 *   logs/HOST-PROCESS.log     stdout/stderr of each process (kept by `down` for post-mortems)
 *   conf/                     generated configs (coordinator.yaml or coordinator-coordN.yaml, agent-lbN.yaml, lbN/…)
 *   nginx/lbN/                nginx -p prefix (temp dirs)
 *   state/HOST/               state_dir of the coordinator(s) and the agents, data dir of an etcd member
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Host, LbHost, ReplicaHost } from "./topology.js";

/** The repository root (deploy/lab/../..), for bins and scripts. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface LabPaths {
  /** The lab's own directory. */
  dir: string;
  state: string;
  pids: string;
  logs: string;
  conf: string;
  /** lab.json */
  manifest: string;
  coordinatorConfig: string;
  /** `up --ha`: each replica's config. */
  replicaConfig(host: ReplicaHost): string;
  agentConfig(host: LbHost): string;
  /** `pids/HOST-PROCESS.pid` */
  pidFile(host: Host, process: string): string;
  /** `logs/HOST-PROCESS.log` */
  logFile(host: Host, process: string): string;
  nginxPrefix(host: LbHost): string;
  nginxConf(host: LbHost): string;
  /** The include file holding `upstream my10016` (the agent rewrites it in the keepvip stack). */
  upstreamFile(host: LbHost): string;
  /** The lab-owned include break-nginx fills with an invalid directive. */
  breakFile(host: LbHost): string;
  nginxErrorLog(host: LbHost): string;
  keepalivedConf(host: LbHost): string;
  nginxCheckScript(host: LbHost): string;
  stateDir(host: Host): string;
}

export function labRoot(): string {
  return process.env.KEEPVIP_LAB_DIR || "/tmp/keepvip-lab";
}

export function labPaths(prefix: string, root = labRoot()): LabPaths {
  const dir = join(resolve(root), prefix);
  const pids = join(dir, "pids");
  const logs = join(dir, "logs");
  const conf = join(dir, "conf");
  const state = join(dir, "state");
  return {
    dir,
    state,
    pids,
    logs,
    conf,
    manifest: join(dir, "lab.json"),
    coordinatorConfig: join(conf, "coordinator.yaml"),
    replicaConfig: (h) => join(conf, `coordinator-${h}.yaml`),
    agentConfig: (h) => join(conf, `agent-${h}.yaml`),
    pidFile: (h, p) => join(pids, `${h}-${p}.pid`),
    logFile: (h, p) => join(logs, `${h}-${p}.log`),
    nginxPrefix: (h) => join(dir, "nginx", h),
    nginxConf: (h) => join(conf, h, "nginx.conf"),
    upstreamFile: (h) => join(conf, h, "keepvip-upstreams.conf"),
    breakFile: (h) => join(conf, h, "lab-break.conf"),
    nginxErrorLog: (h) => join(logs, `${h}-nginx-error.log`),
    keepalivedConf: (h) => join(conf, h, "keepalived.conf"),
    nginxCheckScript: (h) => join(conf, h, "nginx_check.sh"),
    stateDir: (h) => join(state, h),
  };
}

/** Host programs, resolved where this machine has them (paths differ across distributions). */
export interface HostPrograms {
  ip: string;
  arping: string;
  nginx: string;
  keepalived: string;
  etcd: string;
  etcdctl: string;
  node: string;
}

function firstExisting(candidates: string[]): string {
  return candidates.find((c) => existsSync(c)) ?? candidates[0];
}

export function hostPrograms(): HostPrograms {
  return {
    ip: firstExisting(["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]),
    arping: firstExisting(["/usr/sbin/arping", "/usr/bin/arping", "/sbin/arping", "/bin/arping"]),
    nginx: firstExisting(["/usr/sbin/nginx", "/usr/bin/nginx"]),
    keepalived: firstExisting(["/usr/sbin/keepalived", "/usr/bin/keepalived"]),
    etcd: firstExisting(["/usr/bin/etcd", "/usr/local/bin/etcd"]),
    etcdctl: firstExisting(["/usr/bin/etcdctl", "/usr/local/bin/etcdctl"]),
    node: process.execPath,
  };
}

/** The built admin CLI (`keepvip`): the lab's certificates and every admin call go through it. */
export const CLI_BIN = join(REPO_ROOT, "dist", "cli", "keepvip.js");

/** The keepvip bins the keepvip stack runs (built by `npm run build`; the agent's is the bundle the package ships). */
export interface KeepvipBins {
  coordinator: string;
  agent: string;
}

export function defaultKeepvipBins(): KeepvipBins {
  return { coordinator: join(REPO_ROOT, "dist", "coordinator", "main.js"), agent: join(REPO_ROOT, "dist", "agent", "keepvip-agent.js") };
}
