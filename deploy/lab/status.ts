/**
 * `lab status`: namespaces, processes (pid, alive), who holds the VIP, each host's link and
 * switch port. collectStatus reads the lab; formatStatus is pure.
 */
import { existsSync } from "node:fs";
import { CLI, adminCli, adminStatusJson, type ReplicaRole } from "./admin.js";
import { readManifest, type LabManifest, type Stack } from "./manifest.js";
import { hostLink, switchPort, vipHolderHosts, type LinkState, type PortState } from "./netns.js";
import { hostPrograms, labPaths } from "./paths.js";
import { netnsInode } from "./procfs.js";
import { processStatus, type ProcessStatus } from "./processes.js";
import { processSpecs } from "./stacks.js";
import { labRunner, labTopology, mustPrefix } from "./lab.js";
import { ADDRESSES, COORDINATOR_PORT, REPLICA_HOSTS } from "./topology.js";

export interface PortStatus {
  host: string;
  net: string;
  ifname: string;
  port: string;
  /** undefined when the namespace or link is gone. */
  link?: LinkState;
  switchPort?: PortState;
}

export interface LabStatus {
  prefix: string;
  dir: string;
  /** Every namespace of the lab is there. */
  up: boolean;
  namespaces: Array<{ name: string; present: boolean }>;
  manifest?: LabManifest;
  processes: ProcessStatus[];
  /** LB hosts with the VIP on lan0. */
  vipHolders: string[];
  ports: PortStatus[];
  /** Lines from the stack's status hook (keepvip: the admin CLI's view). */
  stackLines: string[];
  /** `up --ha`: every coordinator replica's role as the replicas themselves say it. */
  coordinators?: Array<{ name: string; address: string; role: ReplicaRole["role"]; term: number }>;
}

/** A stack's extra status lines (e.g. the keepvip admin CLI's cluster view). */
export type StackStatusHook = (m: LabManifest) => Promise<string[]>;

/**
 * The keepvip stack's view from the admin CLI (`keepvip status`), run on the control network
 * (admin.ts says where): the coordinator listens there only.
 */
async function keepvipAdminStatus(m: LabManifest): Promise<string[]> {
  if (!existsSync(CLI)) return [`keepvip status: ${CLI} is not built (npm run build)`];
  const r = await adminCli(m.prefix, ["--timeout", "2000", "status"], 10_000);
  const out = (r.code === 0 ? r.out : `${r.out}\n${r.err}`).trim();
  return ["keepvip status (admin CLI):", ...out.split("\n").map((l) => `  ${l}`)];
}

/** Extra status per stack; tests or tools may replace or add one. */
export const stackStatusHooks: Partial<Record<Stack, StackStatusHook>> = {
  keepvip: keepvipAdminStatus,
};

export async function collectStatus(prefixArg?: string): Promise<LabStatus> {
  const prefix = mustPrefix(prefixArg);
  const paths = labPaths(prefix);
  const plan = labTopology(prefix);
  const programs = hostPrograms();
  const runner = labRunner();
  const namespaces = plan.namespaces.map((name) => ({ name, present: netnsInode(name) !== undefined }));
  const manifest = readManifest(paths.manifest);
  const processes = manifest ? processSpecs(manifest, paths, programs).map(processStatus) : [];
  const swUp = netnsInode(plan.switchNs) !== undefined;
  const ports = await Promise.all(
    plan.attachments.map(async (a): Promise<PortStatus> => {
      const out: PortStatus = { host: a.host, net: a.net, ifname: a.ifname, port: a.port };
      if (netnsInode(a.ns) !== undefined) out.link = await hostLink(runner, a, programs.ip).catch(() => undefined);
      if (swUp) out.switchPort = await switchPort(runner, plan, a, programs.ip).catch(() => undefined);
      return out;
    }),
  );
  const up = namespaces.every((n) => n.present);
  const hook = manifest && up ? stackStatusHooks[manifest.stack] : undefined;
  const [stackLines, coordinators] = await Promise.all([
    hook && manifest ? hook(manifest).catch((e: unknown) => [`status hook failed: ${String(e)}`]) : Promise.resolve([]),
    manifest?.ha && up ? replicaRoles(prefix) : Promise.resolve(undefined),
  ]);
  return {
    prefix,
    dir: paths.dir,
    up,
    namespaces,
    manifest,
    processes,
    vipHolders: await vipHolderHosts(runner, prefix, programs.ip),
    ports,
    stackLines,
    ...(coordinators ? { coordinators } : {}),
  };
}

/**
 * Each replica's role, from the CLI's `status --json` (it asks every replica, and lists them
 * even while none leads). A replica whose answer is missing is "unreachable".
 */
async function replicaRoles(prefix: string): Promise<NonNullable<LabStatus["coordinators"]>> {
  const s = await adminStatusJson(prefix, 8000).catch(() => undefined);
  const byAddress = new Map((s?.coordinators ?? []).map((c) => [c.address, c]));
  return REPLICA_HOSTS.map((host) => {
    const address = `${ADDRESSES.ctl[host]}:${COORDINATOR_PORT}`;
    const c = byAddress.get(address);
    return { name: host, address, role: c?.role ?? "unreachable", term: c?.term ?? 0 };
  });
}

function portLine(p: PortStatus): string {
  const link = p.link ? `${p.link.adminUp ? "up" : "DOWN"}${p.link.carrier ? "" : " no-carrier"}` : "absent";
  const sw = p.switchPort ? (p.switchPort.attached ? "connected" : "PARTITIONED") : "absent";
  return `  ${`${p.host}`.padEnd(7)}${p.ifname.padEnd(6)}link ${link.padEnd(16)}switch port ${p.port.padEnd(11)}${sw}`;
}

export function formatStatus(s: LabStatus): string {
  const lines: string[] = [];
  const present = s.namespaces.filter((n) => n.present).map((n) => n.name);
  lines.push(
    `lab ${s.prefix}: ${s.up ? "up" : present.length === 0 ? "down" : "PARTLY UP"}${s.manifest ? ` (stack ${s.manifest.stack}, timing ${s.manifest.timing}, advert ${s.manifest.advertSec}s, up since ${s.manifest.createdAt})` : ""}`,
  );
  lines.push(`dir: ${s.dir}`);
  lines.push(`namespaces: ${s.namespaces.map((n) => `${n.name}${n.present ? "" : " (missing)"}`).join(" ")}`);
  if (s.processes.length > 0) {
    lines.push("processes:");
    for (const p of s.processes) {
      const state = p.alive ? "running" : p.pid !== undefined ? "dead (stale pid file)" : "not running";
      lines.push(
        `  ${p.host.padEnd(7)}${p.name.padEnd(12)}${String(p.pid ?? "-").padEnd(9)}${state}${p.startedBy === "agent" ? " (supervised by the agent)" : ""}`,
      );
    }
  }
  lines.push(`VIP 198.18.0.100 on: ${s.vipHolders.length === 0 ? "nobody" : s.vipHolders.join(", ")}${s.vipHolders.length > 1 ? "  <-- ON BOTH" : ""}`);
  if (s.ports.some((p) => p.link || p.switchPort)) {
    lines.push("links:");
    for (const p of s.ports) lines.push(portLine(p));
  }
  if (s.coordinators) {
    lines.push("coordinators:");
    for (const c of s.coordinators) lines.push(`  ${c.name.padEnd(8)}${c.address.padEnd(18)}${c.role.padEnd(12)}term ${c.term || "-"}`);
  }
  for (const l of s.stackLines) lines.push(l);
  return lines.join("\n");
}
