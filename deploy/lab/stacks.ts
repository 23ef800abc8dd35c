/**
 * Which processes each stack runs, and how: the catalog `up`, `start`, `stop` and `kill`
 * work from. Pure: argv lists and file names, nothing is started here.
 */
import { AGENT_NODE_FLAGS } from "../../shared/node-flags.js";
import type { LabManifest, Stack } from "./manifest.js";
import { nginxArgv } from "./configs.js";
import { labPki } from "./pki.js";
import { REPO_ROOT, type HostPrograms, type LabPaths } from "./paths.js";
import {
  ADDRESSES,
  COORDINATOR_PORT,
  ETCD_CLIENT_PORT,
  ETCD_HOSTS,
  ETCD_PEER_PORT,
  REPLICA_HOSTS,
  SERVICE_PORT,
  hostNs,
  type EtcdHost,
  type Host,
  type LbHost,
} from "./topology.js";

export const PROCESS_NAMES = ["coordinator", "agent", "nginx", "backend", "keepalived", "etcd"] as const;
export type ProcessName = (typeof PROCESS_NAMES)[number];

export interface ProcessSpec {
  host: Host;
  name: ProcessName;
  /** The namespace it runs in (`ip netns exec NS argv…` execs, so the pid is the program's). */
  ns: string;
  argv: string[];
  pidFile: string;
  logFile: string;
  /** The program writes pidFile itself once it is ready (nginx, keepalived, the backend); otherwise the lab writes it at spawn. */
  writesPidFile: boolean;
  /** Ready once something listens on this TCP port in the host's namespace. */
  readyPort?: number;
  /** How long `start` waits for it to be ready. */
  readyTimeoutMs: number;
  /** Extra environment. */
  env: Record<string, string>;
  /** Who starts it: the lab, or (nginx in the keepvip stack) the agent, which supervises it. */
  startedBy: "lab" | "agent";
  /**
   * kill also SIGKILLs its direct children. nginx only: workers outlive a SIGKILLed master and
   * keep serving on :10016, so "nginx died" would not be what the client sees.
   */
  killChildren: boolean;
}

export function backendArgv(host: "b1" | "b2", paths: LabPaths, programs: HostPrograms): string[] {
  return [
    programs.node,
    "--import",
    "tsx",
    `${REPO_ROOT}/deploy/lab/backend.ts`,
    "--host",
    ADDRESSES.lan[host]!,
    "--port",
    String(SERVICE_PORT),
    "--pid-file",
    paths.pidFile(host, "backend"),
  ];
}

/**
 * One member of the lab's 3-member etcd (`up --ha`) on the control network, its data dir in
 * state/etcdN. Clients speak https and must show a certificate of the lab's CA (the
 * coordinator replicas show theirs); peers talk plain http on their own port. `up
 * --insecure`: clients too. Tuned for a LAN as docs/replicated.md explains: heartbeat 50 ms,
 * election 500 ms, so etcd grants 1 s leases and replaces a lost etcd leader in about 0.5 s.
 * `--initial-cluster-state new` only matters on the first start: a restart reads the data dir.
 */
export function etcdArgv(host: EtcdHost, m: Pick<LabManifest, "prefix" | "insecure">, paths: LabPaths, programs: HostPrograms): string[] {
  const url = (h: EtcdHost, port: number, scheme = "http") => `${scheme}://${ADDRESSES.ctl[h]}:${port}`;
  const client = url(host, ETCD_CLIENT_PORT, m.insecure ? "http" : "https");
  const pki = labPki(paths);
  return [
    programs.etcd,
    `--name=${host}`,
    `--data-dir=${paths.stateDir(host)}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    ...(m.insecure ? [] : [`--cert-file=${pki.coordinator.cert}`, `--key-file=${pki.coordinator.key}`, `--trusted-ca-file=${pki.ca}`, "--client-cert-auth"]),
    `--listen-peer-urls=${url(host, ETCD_PEER_PORT)}`,
    `--initial-advertise-peer-urls=${url(host, ETCD_PEER_PORT)}`,
    `--initial-cluster=${ETCD_HOSTS.map((h) => `${h}=${url(h, ETCD_PEER_PORT)}`).join(",")}`,
    `--initial-cluster-token=keepvip-lab-${m.prefix}`,
    "--initial-cluster-state=new",
    "--heartbeat-interval=50",
    "--election-timeout=500",
    "--logger=zap",
    "--log-level=warn",
  ];
}

/** etcdctl's flags for the lab's etcd: endpoints and, with mutual TLS, the lab's CA and a client certificate. */
export function etcdctlArgs(m: Pick<LabManifest, "insecure"> | undefined, paths: LabPaths, members: readonly EtcdHost[] = ETCD_HOSTS): string[] {
  const scheme = m?.insecure ? "http" : "https";
  const endpoints = `--endpoints=${members.map((h) => `${scheme}://${ADDRESSES.ctl[h]}:${ETCD_CLIENT_PORT}`).join(",")}`;
  if (m?.insecure) return [endpoints];
  const pki = labPki(paths);
  return [endpoints, `--cacert=${pki.ca}`, `--cert=${pki.coordinator.cert}`, `--key=${pki.coordinator.key}`];
}

/** The log level of the keepvip daemons (the test runner sets KEEPVIP_LOG_LEVEL=silent for itself). */
function daemonEnv(): Record<string, string> {
  return { KEEPVIP_LOG_LEVEL: process.env.KEEPVIP_LAB_LOG_LEVEL ?? "info" };
}

/** Every process of the stack, in start order (backends, coordinator, then the LBs). */
export function processSpecs(m: LabManifest, paths: LabPaths, programs: HostPrograms): ProcessSpec[] {
  const base = (host: Host, name: ProcessName) => ({
    host,
    name,
    ns: hostNs(m.prefix, host),
    pidFile: paths.pidFile(host, name),
    logFile: paths.logFile(host, name),
    env: {} as Record<string, string>,
    startedBy: "lab" as const,
    killChildren: false,
    readyTimeoutMs: 10_000,
  });
  const specs: ProcessSpec[] = [];
  for (const b of ["b1", "b2"] as const) {
    specs.push({ ...base(b, "backend"), argv: backendArgv(b, paths, programs), writesPidFile: true, readyPort: SERVICE_PORT });
  }
  if (m.stack === "keepvip" && m.ha) {
    for (const e of ETCD_HOSTS) {
      // Ready = listening; `up` then waits for the quorum (etcd listens before it has one).
      specs.push({ ...base(e, "etcd"), argv: etcdArgv(e, m, paths, programs), writesPidFile: false, readyPort: ETCD_CLIENT_PORT });
    }
    for (const c of REPLICA_HOSTS) {
      specs.push({
        ...base(c, "coordinator"),
        argv: [programs.node, m.bins.coordinator, "--config", paths.replicaConfig(c)],
        writesPidFile: false,
        readyPort: COORDINATOR_PORT,
        env: daemonEnv(),
      });
    }
  } else if (m.stack === "keepvip") {
    specs.push({
      ...base("coord", "coordinator"),
      argv: [programs.node, m.bins.coordinator, "--config", paths.coordinatorConfig],
      writesPidFile: false,
      readyPort: COORDINATOR_PORT,
      env: daemonEnv(),
    });
  }
  for (const lb of ["lb1", "lb2"] as const) specs.push(...lbSpecs(lb, m, paths, programs, base(lb, "nginx")));
  return specs;
}

function lbSpecs(lb: LbHost, m: LabManifest, paths: LabPaths, programs: HostPrograms, nginxBase: Omit<ProcessSpec, "argv" | "writesPidFile">): ProcessSpec[] {
  const nginx: ProcessSpec = { ...nginxBase, argv: nginxArgv(lb, paths, programs, true), writesPidFile: true, readyPort: SERVICE_PORT, killChildren: true };
  const ns = nginxBase.ns;
  switch (m.stack) {
    case "none":
      return [nginx];
    case "keepalived":
      return [
        nginx,
        {
          ...nginxBase,
          name: "keepalived",
          pidFile: paths.pidFile(lb, "keepalived"),
          logFile: paths.logFile(lb, "keepalived"),
          // -n: stay in the foreground (the lab keeps the pid); -l -G: log to the console (the log
          // file), not syslog; -D: detailed; -P: VRRP only (no checker, no IPVS). Own pid files per
          // lab and LB, so instances in other namespaces never see each other as "already running".
          argv: [
            programs.keepalived,
            "-n",
            "-l",
            "-G",
            "-D",
            "-P",
            "-f",
            paths.keepalivedConf(lb),
            "-p",
            paths.pidFile(lb, "keepalived"),
            "-r",
            paths.pidFile(lb, "keepalived-vrrp"),
          ],
          writesPidFile: true,
          ns,
        },
      ];
    case "keepvip":
      return [
        { ...nginx, startedBy: "agent" },
        {
          ...nginxBase,
          name: "agent",
          pidFile: paths.pidFile(lb, "agent"),
          logFile: paths.logFile(lb, "agent"),
          // The flags its bin's first line carries (systemd starts the bin itself).
          argv: [programs.node, ...AGENT_NODE_FLAGS, m.bins.agent, "--config", paths.agentConfig(lb)],
          // Ready when its nginx (child mode) listens on the service port.
          writesPidFile: false,
          readyPort: SERVICE_PORT,
          readyTimeoutMs: 20_000,
          env: daemonEnv(),
          ns,
        },
      ];
  }
}

/** The spec for HOST PROCESS in this stack, or a sentence saying what the stack runs there. */
export function findSpec(specs: ProcessSpec[], stack: Stack, host: string, name: string): ProcessSpec | string {
  const s = specs.find((x) => x.host === host && x.name === name);
  if (s) return s;
  const there = specs.filter((x) => x.host === host).map((x) => x.name);
  return there.length === 0
    ? `the ${stack} stack runs nothing on "${host}" (hosts with processes: ${[...new Set(specs.map((x) => x.host))].join(", ")})`
    : `the ${stack} stack runs no "${name}" on ${host} (it runs: ${there.join(", ")})`;
}
