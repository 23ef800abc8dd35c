/**
 * `keepvip certs init | issue-coordinator | issue-agent NODE | issue-admin NAME
 * [--read-only]`: a small CA and the certificates keepvip's mutual TLS needs,
 * made with the openssl CLI (argv lists, no shell). Identities ride in a SAN
 * URI (shared/identity.ts). Keys are written 0600; nothing existing is
 * overwritten without --force.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandRunner } from "../shared/exec/runner.js";
import { sanUri, type Role } from "../shared/identity.js";

export interface IssueSpec {
  /** File stem: "ca", "coordinator", "agent-lb1", "admin-alice". */
  stem: string;
  subject: string;
  /** subjectAltName entries: "URI:urn:keepvip:agent:lb1", "IP:198.19.0.1", "DNS:coord". */
  san: string[];
  days: number;
  usage: "server" | "client" | "both";
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function agentSpec(node: string, days = 365): IssueSpec {
  if (!NAME.test(node)) throw new Error(`node id "${node}" must be 1-63 letters, digits, '_', '.', '-'`);
  return { stem: `agent-${node}`, subject: `/CN=${node}/OU=keepvip-agent`, san: [`URI:${sanUri("agent", node)}`, `DNS:${node}`], days, usage: "client" };
}

export function adminSpec(name: string, readOnly: boolean, days = 365): IssueSpec {
  if (!NAME.test(name)) throw new Error(`admin name "${name}" must be 1-63 letters, digits, '_', '.', '-'`);
  const role: Role = readOnly ? "reader" : "admin";
  return {
    stem: `${readOnly ? "reader" : "admin"}-${name}`,
    subject: `/CN=${name}/OU=keepvip-${role}`,
    san: [`URI:${sanUri(role, name)}`],
    days,
    usage: "client",
  };
}

/**
 * The coordinator's certificate: SANs are the addresses agents and admins dial. It serves
 * them (serverAuth) and is the replicas' client certificate to etcd (clientAuth: etcd's
 * --client-cert-auth checks it).
 */
export function coordinatorSpec(sans: string[], days = 365): IssueSpec {
  const out = sans.map((s) => {
    if (/^(IP|DNS):/.test(s)) return s;
    return /^[\d.]+$|:/.test(s) ? `IP:${s}` : `DNS:${s}`;
  });
  if (out.length === 0) throw new Error("issue-coordinator needs --san with the addresses agents dial (e.g. --san 198.19.0.1,coordinator.example)");
  return { stem: "coordinator", subject: "/CN=keepvip-coordinator", san: out, days, usage: "both" };
}

/** argv for the CA. */
export function planCa(openssl: string, dir: string, days: number): string[] {
  return [
    openssl,
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "ca.key"),
    "-out",
    join(dir, "ca.crt"),
    "-days",
    String(days),
    "-subj",
    "/CN=keepvip CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ];
}

/** argv for a key + CSR, then for signing it with the extensions file. */
export function planIssue(openssl: string, dir: string, spec: IssueSpec, extFile: string): string[][] {
  const key = join(dir, `${spec.stem}.key`);
  const csr = join(dir, `${spec.stem}.csr`);
  return [
    [openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", spec.subject],
    [
      openssl,
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      join(dir, "ca.crt"),
      "-CAkey",
      join(dir, "ca.key"),
      "-CAcreateserial",
      "-out",
      join(dir, `${spec.stem}.crt`),
      "-days",
      String(spec.days),
      "-extfile",
      extFile,
    ],
  ];
}

export function extensions(spec: IssueSpec): string {
  const eku = spec.usage === "server" ? "serverAuth" : spec.usage === "client" ? "clientAuth" : "serverAuth,clientAuth";
  return (
    [`basicConstraints=critical,CA:FALSE`, `keyUsage=critical,digitalSignature`, `extendedKeyUsage=${eku}`, `subjectAltName=${spec.san.join(",")}`].join("\n") +
    "\n"
  );
}

async function run(runner: CommandRunner, argv: string[]): Promise<void> {
  const r = await runner.run(argv, { timeoutMs: 30_000 });
  if (r.exitCode !== 0)
    throw new Error(`${argv.slice(0, 3).join(" ")} … failed: ${(r.stderr || r.spawnError || r.stdout).trim().split("\n").slice(-2).join(" ")}`);
}

export async function initCa(runner: CommandRunner, dir: string, opts: { days?: number; force?: boolean; openssl?: string } = {}): Promise<string[]> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = [join(dir, "ca.key"), join(dir, "ca.crt")];
  if (!opts.force && files.some(existsSync))
    throw new Error(
      `${files.filter(existsSync).join(", ")} already exist: not overwriting a CA (use --force if you mean it; every certificate it signed stops being trusted)`,
    );
  await run(runner, planCa(opts.openssl ?? "openssl", dir, opts.days ?? 3650));
  chmodSync(files[0], 0o600);
  return files;
}

export async function issue(runner: CommandRunner, dir: string, spec: IssueSpec, opts: { force?: boolean; openssl?: string } = {}): Promise<string[]> {
  if (!existsSync(join(dir, "ca.key"))) throw new Error(`no CA in ${dir}: run \`keepvip certs init --dir ${dir}\` first`);
  const files = [join(dir, `${spec.stem}.key`), join(dir, `${spec.stem}.crt`)];
  if (!opts.force && files.some(existsSync)) throw new Error(`${files.filter(existsSync).join(", ")} already exist (use --force to replace)`);
  const ext = join(dir, `${spec.stem}.ext`);
  writeFileSync(ext, extensions(spec), { mode: 0o600 });
  try {
    for (const argv of planIssue(opts.openssl ?? "openssl", dir, spec, ext)) await run(runner, argv);
  } finally {
    rmSync(ext, { force: true });
    rmSync(join(dir, `${spec.stem}.csr`), { force: true });
  }
  chmodSync(files[0], 0o600);
  return files;
}
