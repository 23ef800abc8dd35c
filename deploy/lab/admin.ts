/**
 * The cluster as the admin client sees it: `keepvip` run inside a namespace on the
 * control network (it is not reachable from the root namespace, by design): P-coord,
 * or in an `--ha` lab the first replica's namespace still attached to the control
 * switch, with every replica's address (the CLI finds and follows the leader). Used
 * by `lab status`, the demo, the benches and the end-to-end tests.
 */
import { spawn } from "node:child_process";
import type { StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { labRunner, labTopology } from "./lab.js";
import { switchPort } from "./netns.js";
import { readManifest } from "./manifest.js";
import { adminCredentialArgs } from "./pki.js";
import { CLI_BIN, hostPrograms, labPaths } from "./paths.js";
import { REPLICA_HOSTS, coordinatorAddresses, hostNs } from "./topology.js";

export const CLI = CLI_BIN;

/** Where the CLI runs and whom it asks. */
export interface ControlPoint {
  ns: string;
  /** Every coordinator address (one, or the three replicas). */
  addresses: string[];
}

/** The namespace the admin CLI runs in and the coordinator addresses it is given. */
export async function controlPoint(prefix: string): Promise<ControlPoint> {
  const plan = labTopology(prefix);
  if (!plan.ha) return { ns: hostNs(prefix, "coord"), addresses: coordinatorAddresses(false) };
  // A partitioned replica's namespace reaches nobody: ask from one still on the switch.
  const { ip } = hostPrograms();
  for (const host of REPLICA_HOSTS) {
    const a = plan.attachments.find((x) => x.host === host && x.net === "ctl");
    if (!a) continue;
    const port = await switchPort(labRunner(), plan, a, ip).catch(() => undefined);
    if (port?.attached && port.adminUp) return { ns: a.ns, addresses: coordinatorAddresses(true) };
  }
  return { ns: hostNs(prefix, REPLICA_HOSTS[0]), addresses: coordinatorAddresses(true) };
}

/** Runs any `keepvip` admin command on the lab's control network. */
export async function adminCli(prefix: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string; err: string }> {
  const at = await controlPoint(prefix);
  const paths = labPaths(prefix);
  const credentials = adminCredentialArgs(readManifest(paths.manifest), paths);
  return new Promise((resolve) => {
    const child = spawn(hostPrograms().ip, ["netns", "exec", at.ns, process.execPath, CLI, ...credentials, "--coordinator", at.addresses.join(","), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** One replica as `keepvip status --json` lists it. */
export interface ReplicaRole {
  name: string;
  address: string;
  role: "leader" | "follower" | "unreachable";
  term: number;
}

/** `keepvip --json status`, parsed (with `coordinators` in an `--ha` lab); undefined when it fails. */
export async function adminStatusJson(prefix: string, timeoutMs = 5000): Promise<(Partial<StatusReply> & { coordinators?: ReplicaRole[] }) | undefined> {
  const r = await adminCli(prefix, ["--timeout", String(Math.min(timeoutMs, 2000)), "--json", "status"], timeoutMs);
  try {
    return JSON.parse(r.out) as Partial<StatusReply> & { coordinators?: ReplicaRole[] };
  } catch {
    return undefined;
  }
}

/** The cluster's status from the coordinator (the leader), or undefined when none answers. */
export async function adminStatus(prefix: string, timeoutMs = 5000): Promise<StatusReply | undefined> {
  const s = await adminStatusJson(prefix, timeoutMs);
  return s?.groups ? (s as StatusReply) : undefined;
}
