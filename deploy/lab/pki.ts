/**
 * The lab's mutual TLS, as production runs it: at every `up` of the keepvip stack a
 * fresh CA and certificates are issued into LAB/pki by `keepvip certs` itself (the
 * built CLI, the commands the README's install section shows): one coordinator
 * certificate naming every control-network address a coordinator or etcd member
 * has (the lab's etcd serves and checks clients with the same CA), one per agent,
 * and an admin certificate for the CLI runs of `lab status`, the demo, the benches
 * and the tests. `up --insecure` skips all of it and runs the old plaintext mode.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CommandRunner } from "../../shared/exec/runner.js";
import type { LabManifest } from "./manifest.js";
import type { LabPaths } from "./paths.js";
import { ADDRESSES, ETCD_HOSTS, LB_HOSTS, REPLICA_HOSTS, type LbHost } from "./topology.js";

/** The admin certificate the lab's own CLI runs use (`admin-lab`). */
export const LAB_ADMIN = "lab";
/** The read-only certificate for the status page (`reader-page`), issued on demand (issueLabReader). */
export const LAB_READER = "page";

export interface KeyPair {
  cert: string;
  key: string;
}

export interface LabPkiFiles {
  dir: string;
  ca: string;
  coordinator: KeyPair;
  agent(host: LbHost): KeyPair;
  admin: KeyPair;
  /** A reader (read-only admin): what a person opening the status page holds. */
  reader: KeyPair;
}

export function labPki(paths: LabPaths): LabPkiFiles {
  const dir = join(paths.dir, "pki");
  const pair = (stem: string): KeyPair => ({ cert: join(dir, `${stem}.crt`), key: join(dir, `${stem}.key`) });
  return {
    dir,
    ca: join(dir, "ca.crt"),
    coordinator: pair("coordinator"),
    agent: (h) => pair(`agent-${h}`),
    admin: pair(`admin-${LAB_ADMIN}`),
    reader: pair(`reader-${LAB_READER}`),
  };
}

/** Every address a coordinator certificate must name in either layout (coordinators and etcd). */
export function coordinatorSans(): string[] {
  const hosts = ["coord", ...REPLICA_HOSTS, ...ETCD_HOSTS] as const;
  return [...new Set(hosts.map((h) => ADDRESSES.ctl[h]).filter((a): a is string => a !== undefined))];
}

/** The `keepvip certs` runs that make the lab's PKI, in order (argv after the CLI). */
export function pkiCommands(files: LabPkiFiles): string[][] {
  const dir = ["--dir", files.dir];
  return [
    ["certs", "init", ...dir, "--force"],
    ["certs", "issue-coordinator", ...dir, "--san", coordinatorSans().join(","), "--force"],
    ...LB_HOSTS.map((h) => ["certs", "issue-agent", h, ...dir, "--force"]),
    ["certs", "issue-admin", LAB_ADMIN, ...dir, "--force"],
  ];
}

/** Issues the lab's PKI with the built CLI; throws with the command and its output on a failure. */
export async function issueLabPki(runner: CommandRunner, paths: LabPaths, cli: string): Promise<LabPkiFiles> {
  const files = labPki(paths);
  for (const args of pkiCommands(files)) {
    const r = await runner.run([process.execPath, cli, ...args], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new Error(`keepvip ${args.join(" ")} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }
  return files;
}

/**
 * The lab's reader certificate (`keepvip certs issue-admin page --read-only`), issued with the
 * lab's CA when it has none yet; the status page's browser test presents it.
 */
export async function issueLabReader(runner: CommandRunner, paths: LabPaths, cli: string): Promise<KeyPair> {
  const files = labPki(paths);
  if (existsSync(files.reader.cert) && existsSync(files.reader.key)) return files.reader;
  const args = ["certs", "issue-admin", LAB_READER, "--read-only", "--dir", files.dir, "--force"];
  const r = await runner.run([process.execPath, cli, ...args], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`keepvip ${args.join(" ")} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  return files.reader;
}

/** How the lab's CLI runs authenticate: the admin certificate, or --insecure for an `up --insecure` lab. */
export function adminCredentialArgs(m: Pick<LabManifest, "insecure"> | undefined, paths: LabPaths): string[] {
  if (m?.insecure) return ["--insecure"];
  const f = labPki(paths);
  return ["--ca", f.ca, "--cert", f.admin.cert, "--key", f.admin.key];
}
