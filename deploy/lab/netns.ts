/**
 * Applies the topology plan with real `ip` commands (through the CommandRunner) and reads
 * back what the kernel says: namespaces present, links, switch ports, who holds the VIP.
 */
import type { CommandRunner, RunResult } from "../../shared/exec/runner.js";
import { netnsInode } from "./procfs.js";
import { LB_HOSTS, VIP, planHeal, planLink, planPartition, planUpCommands, type Attachment, type LbHost, type TopologyPlan } from "./topology.js";

const STEP_TIMEOUT_MS = 10_000;

export class LabCommandError extends Error {
  constructor(readonly result: RunResult) {
    super(
      `${result.argv.join(" ")} failed (exit ${result.exitCode}${result.timedOut ? ", timed out" : ""}): ${result.stderr.trim() || result.spawnError || "no output"}`,
    );
    this.name = "LabCommandError";
  }
}

/** Runs argv; throws LabCommandError when it fails. */
export async function mustRun(runner: CommandRunner, argv: string[]): Promise<RunResult> {
  const r = await runner.run(argv, { timeoutMs: STEP_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new LabCommandError(r);
  return r;
}

/** The lab's namespaces that exist now (only the exact names of this prefix, never a glob). */
export function presentNamespaces(plan: TopologyPlan): string[] {
  return plan.namespaces.filter((ns) => netnsInode(ns) !== undefined);
}

/** Builds every namespace, bridge and link of the plan. The caller tears down on failure. */
export async function applyTopology(runner: CommandRunner, plan: TopologyPlan, ip: string): Promise<void> {
  for (const argv of planUpCommands(plan, ip)) await mustRun(runner, argv);
}

/** Deletes the lab's namespaces (bridges and veths go with them). Safe when some or all are gone. */
export async function deleteNamespaces(runner: CommandRunner, plan: TopologyPlan, ip: string): Promise<string[]> {
  const deleted: string[] = [];
  // Hosts first, switch last: a half-built lab may have a host without its switch or the reverse.
  for (const ns of [...plan.namespaces].reverse()) {
    if (netnsInode(ns) === undefined) continue;
    await mustRun(runner, [ip, "netns", "del", ns]);
    deleted.push(ns);
  }
  return deleted;
}

/** Pids of every process in the namespace (`ip netns pids`), [] when it does not exist. */
export async function namespacePids(runner: CommandRunner, ns: string, ip: string): Promise<number[]> {
  if (netnsInode(ns) === undefined) return [];
  const r = await runner.run([ip, "netns", "pids", ns], { timeoutMs: STEP_TIMEOUT_MS });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

export async function setLink(runner: CommandRunner, a: Attachment, state: "up" | "down", ip: string): Promise<void> {
  await mustRun(runner, planLink(a, state, ip));
}

export async function partitionPort(runner: CommandRunner, plan: TopologyPlan, a: Attachment, ip: string): Promise<void> {
  const port = await switchPort(runner, plan, a, ip);
  if (!port.attached) return;
  await mustRun(runner, planPartition(plan, a, ip));
}

export async function healPort(runner: CommandRunner, plan: TopologyPlan, a: Attachment, ip: string): Promise<void> {
  const port = await switchPort(runner, plan, a, ip);
  if (port.attached) return;
  await mustRun(runner, planHeal(plan, a, ip));
}

interface IpLink {
  ifname: string;
  flags?: string[];
  operstate?: string;
  master?: string;
}

/** A host's interface as the host sees it. */
export interface LinkState {
  /** Administratively up (`ip link set … up`). */
  adminUp: boolean;
  /** LOWER_UP: the carrier is there (the peer end is up). */
  carrier: boolean;
  operstate: string;
}

/** The switch side of a host's link. */
export interface PortState {
  /** In its bridge; false = partitioned (the port is detached, its link still up). */
  attached: boolean;
  adminUp: boolean;
}

async function links(runner: CommandRunner, ns: string, ip: string, dev?: string): Promise<IpLink[]> {
  const r = await mustRun(runner, [ip, "-n", ns, "-j", "link", "show", ...(dev ? ["dev", dev] : [])]);
  return JSON.parse(r.stdout || "[]") as IpLink[];
}

export async function hostLink(runner: CommandRunner, a: Attachment, ip: string): Promise<LinkState> {
  const [l] = await links(runner, a.ns, ip, a.ifname);
  const flags = l?.flags ?? [];
  return { adminUp: flags.includes("UP"), carrier: flags.includes("LOWER_UP"), operstate: l?.operstate ?? "ABSENT" };
}

export async function switchPort(runner: CommandRunner, plan: TopologyPlan, a: Attachment, ip: string): Promise<PortState> {
  const [l] = await links(runner, plan.switchNs, ip, a.port);
  return { attached: l?.master === a.net, adminUp: (l?.flags ?? []).includes("UP") };
}

interface IpAddr {
  ifname: string;
  addr_info?: Array<{ local?: string; prefixlen?: number }>;
}

/** Whether the LB namespace has the VIP on lan0 (false when the namespace is gone). */
export async function holdsVip(runner: CommandRunner, ns: string, ip: string): Promise<boolean> {
  if (netnsInode(ns) === undefined) return false;
  const r = await runner.run([ip, "-n", ns, "-j", "addr", "show", "dev", "lan0"], { timeoutMs: STEP_TIMEOUT_MS });
  if (r.exitCode !== 0) return false;
  const addrs = JSON.parse(r.stdout || "[]") as IpAddr[];
  return addrs.some((a) => (a.addr_info ?? []).some((i) => i.local === VIP));
}

/** The LB hosts ("lb1", "lb2") whose lan0 carries the VIP now. */
export async function vipHolderHosts(runner: CommandRunner, prefix: string, ip: string): Promise<LbHost[]> {
  const held = await Promise.all(LB_HOSTS.map((h) => holdsVip(runner, `${prefix}-${h}`, ip)));
  return LB_HOSTS.filter((_, i) => held[i]);
}
