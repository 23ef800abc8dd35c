/** Test PKI: the real `keepvip certs` code for the good certificates, openssl directly for the bad ones. */
import { mkdirSync, writeFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { adminSpec, agentSpec, coordinatorSpec, extensions, initCa, issue } from "../../cli/certs.js";

const runner = createCommandRunner();

async function ok(argv: string[]): Promise<void> {
  const r = await runner.run(argv, { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

export interface Pki {
  dir: string;
  /** A second CA's directory with its own agent-lb1 certificate. */
  rogue: string;
  /** Same CA, another certificate for lb1. */
  twin: string;
  file(stem: string, ext: "crt" | "key"): string;
}

export async function makePki(root: string): Promise<Pki> {
  const dir = join(root, "pki");
  await initCa(runner, dir);
  await issue(runner, dir, coordinatorSpec(["127.0.0.1"]));
  for (const n of ["lb1", "lb2"]) await issue(runner, dir, agentSpec(n));
  await issue(runner, dir, adminSpec("alice", false));
  await issue(runner, dir, adminSpec("bob", true));

  const rogue = join(root, "rogue");
  await initCa(runner, rogue);
  await issue(runner, rogue, agentSpec("lb1"));

  const twin = join(root, "twin");
  mkdirSync(twin, { recursive: true });
  for (const f of ["ca.crt", "ca.key"]) copyFileSync(join(dir, f), join(twin, f));
  await issue(runner, twin, agentSpec("lb1"));

  // Expired: openssl ca can set past dates.
  const ca = join(root, "expired-ca");
  mkdirSync(join(ca, "new"), { recursive: true });
  writeFileSync(join(ca, "index.txt"), "");
  writeFileSync(join(ca, "serial"), "1000\n");
  writeFileSync(
    join(ca, "ca.cnf"),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${ca}/index.txt\nnew_certs_dir = ${ca}/new\nserial = ${ca}/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n`,
  );
  const spec = agentSpec("lb2");
  writeFileSync(join(ca, "ext"), extensions(spec));
  await ok([
    "openssl",
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "expired-lb2.key"),
    "-out",
    join(ca, "x.csr"),
    "-subj",
    spec.subject,
  ]);
  await ok([
    "openssl",
    "ca",
    "-batch",
    "-notext",
    "-config",
    join(ca, "ca.cnf"),
    "-cert",
    join(dir, "ca.crt"),
    "-keyfile",
    join(dir, "ca.key"),
    "-in",
    join(ca, "x.csr"),
    "-out",
    join(dir, "expired-lb2.crt"),
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
    "-extfile",
    join(ca, "ext"),
  ]);

  // No keepvip identity: a client certificate from the right CA without the SAN URI.
  writeFileSync(join(ca, "plain.ext"), "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n");
  await ok([
    "openssl",
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "plain.key"),
    "-out",
    join(ca, "p.csr"),
    "-subj",
    "/CN=someone",
  ]);
  await ok([
    "openssl",
    "x509",
    "-req",
    "-in",
    join(ca, "p.csr"),
    "-CA",
    join(dir, "ca.crt"),
    "-CAkey",
    join(dir, "ca.key"),
    "-CAcreateserial",
    "-out",
    join(dir, "plain.crt"),
    "-days",
    "30",
    "-extfile",
    join(ca, "plain.ext"),
  ]);

  return { dir, rogue, twin, file: (stem, ext) => join(dir, `${stem}.${ext}`) };
}

/**
 * A self-signed server certificate for `name` (SAN DNS:name), as a backend that nobody
 * vouches for has: what keepalived's SSL_GET and keepvip's https checks must accept.
 */
export async function selfSignedServer(dir: string, name: string): Promise<{ cert: string; key: string }> {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await ok([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    `subjectAltName=DNS:${name}`,
  ]);
  return { cert, key };
}
