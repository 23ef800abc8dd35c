/**
 * Fault drills on a running lab: start/stop/kill a process, take a host's link down,
 * partition a host at the switch (its link stays up), make nginx unable to start.
 */
import { existsSync, writeFileSync } from "node:fs";
import { BROKEN_DIRECTIVE, FIXED_BREAK_FILE } from "./configs.js";
import { labRunner, labTopology, mustManifest, mustPrefix } from "./lab.js";
import { healPort, hostLink, partitionPort, setLink as applyLink, switchPort, type LinkState, type PortState } from "./netns.js";
import { hostPrograms, labPaths } from "./paths.js";
import { endProcess, startProcess, type EndHow } from "./processes.js";
import { findSpec, processSpecs, type ProcessSpec } from "./stacks.js";
import { findAttachment, isLbHost, type Attachment, type LbHost, type Net, type TopologyPlan } from "./topology.js";

function specFor(prefixArg: string | undefined, host: string, name: string): ProcessSpec {
  const prefix = mustPrefix(prefixArg);
  const m = mustManifest(prefix);
  const spec = findSpec(processSpecs(m, labPaths(prefix), hostPrograms()), m.stack, host, name);
  if (typeof spec === "string") throw new Error(spec);
  return spec;
}

/** Starts HOST PROCESS again as `up` did; resolves to its pid once it is ready. */
export async function startLabProcess(prefix: string | undefined, host: string, name: string): Promise<number> {
  return startProcess(specFor(prefix, host, name), hostPrograms().ip);
}

/** stop = SIGTERM, kill = SIGKILL (nginx: its workers too); resolves to the ended pid once it is gone. */
export async function endLabProcess(prefix: string | undefined, host: string, name: string, how: EndHow): Promise<number> {
  return endProcess(specFor(prefix, host, name), how);
}

export const stopLabProcess = (prefix: string | undefined, host: string, name: string) => endLabProcess(prefix, host, name, "stop");

/**
 * What `systemctl restart keepvip-agent` does in production: the agent exits keeping its VIPs
 * and nginx (SIGUSR2 here, where no systemd job says "restart"), then starts again and adopts
 * them. Agents only. Resolves to the new pid.
 */
export async function restartLabProcess(prefix: string | undefined, host: string, name: string): Promise<number> {
  if (name !== "agent") throw new Error(`restart is for the keepvip agent (it moves nothing); for ${name} use stop and start`);
  await endLabProcess(prefix, host, name, "restart");
  return startLabProcess(prefix, host, name);
}
export const killLabProcess = (prefix: string | undefined, host: string, name: string) => endLabProcess(prefix, host, name, "kill");

function attachment(prefixArg: string | undefined, host: string, net: string): { a: Attachment; plan: TopologyPlan } {
  const plan = labTopology(mustPrefix(prefixArg));
  const a = findAttachment(plan, host, net);
  if (typeof a === "string") throw new Error(a);
  return { a, plan };
}

/** The host's own interface (lan0/ctl0) up or down; resolves to its state after. */
export async function setLink(prefix: string | undefined, host: string, net: Net, state: "up" | "down"): Promise<LinkState> {
  const { a } = attachment(prefix, host, net);
  const ip = hostPrograms().ip;
  await applyLink(labRunner(), a, state, ip);
  return hostLink(labRunner(), a, ip);
}

/** What a partition drill left: the switch port and the host's own link. */
export interface PartitionState {
  port: PortState;
  link: LinkState;
}

/**
 * Blocks the host's switch port on NET both ways while the host's link stays up; verifies
 * the port is detached and the host still sees its carrier, and throws if not.
 */
export async function partition(prefix: string | undefined, host: string, net: Net): Promise<PartitionState> {
  const { a, plan } = attachment(prefix, host, net);
  const ip = hostPrograms().ip;
  await partitionPort(labRunner(), plan, a, ip);
  const state = { port: await switchPort(labRunner(), plan, a, ip), link: await hostLink(labRunner(), a, ip) };
  if (state.port.attached || !state.port.adminUp)
    throw new Error(`partition ${host} ${net}: port ${a.port} should be up and out of bridge ${net}, is ${JSON.stringify(state.port)}`);
  if (state.link.adminUp && !state.link.carrier) throw new Error(`partition ${host} ${net}: ${a.ifname} lost its carrier`);
  return state;
}

/** Puts the host's switch port back into its bridge. */
export async function heal(prefix: string | undefined, host: string, net: Net): Promise<PartitionState> {
  const { a, plan } = attachment(prefix, host, net);
  const ip = hostPrograms().ip;
  await healPort(labRunner(), plan, a, ip);
  const state = { port: await switchPort(labRunner(), plan, a, ip), link: await hostLink(labRunner(), a, ip) };
  if (!state.port.attached) throw new Error(`heal ${host} ${net}: port ${a.port} is still out of bridge ${net}`);
  return state;
}

function breakFileFor(prefixArg: string | undefined, host: string): string {
  const prefix = mustPrefix(prefixArg);
  if (!isLbHost(host)) throw new Error(`only the LBs run nginx (lb1, lb2), not "${host}"`);
  mustManifest(prefix);
  const file = labPaths(prefix).breakFile(host as LbHost);
  if (!existsSync(file)) throw new Error(`lab "${prefix}" has no ${file}; is it up?`);
  return file;
}

/** Makes HOST's nginx unable to start (an invalid directive in the lab's include); the running nginx is untouched. */
export function breakNginx(prefix: string | undefined, host: string): void {
  writeFileSync(breakFileFor(prefix, host), BROKEN_DIRECTIVE);
}

/** Undoes breakNginx; nothing is restarted. */
export function fixNginx(prefix: string | undefined, host: string): void {
  writeFileSync(breakFileFor(prefix, host), FIXED_BREAK_FILE);
}
