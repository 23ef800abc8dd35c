/**
 * deploy/install.sh into a scratch DESTDIR: the first run installs units,
 * example configs and state directories with their modes, and notes each
 * certificate the configs name that is missing, with the command that makes
 * it; a second run changes nothing; a config the operator edited survives
 * every run. And the
 * npm package carries what the install needs (dist/, proto/, deploy/, bins).
 */
import { AGENT_NODE_FLAGS } from "../../shared/node-flags.js";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "keepvip-install-"));
  dirs.push(d);
  return d;
}

function install(destdir: string, ...args: string[]): { code: number | null; out: string; err: string } {
  // PATH without the bins: the run must not depend on where this machine keeps things.
  const r = spawnSync("bash", ["deploy/install.sh", "--destdir", destdir, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every path under root with its mode and content hash: a second run must leave this identical. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${relative(root, p)}/ ${mode}`);
        walk(p);
      } else {
        out.push(`${relative(root, p)} ${mode} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`);
      }
    }
  };
  walk(root);
  return out;
}

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

test("first run: units, configs from the examples, state directories, each with its mode; no systemctl under DESTDIR", () => {
  const root = scratch();
  const r = install(root);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^installed +\/etc\/systemd\/system\/keepvip-agent\.service$/m);
  assert.match(r.out, /^installed +\/etc\/keepvip\/agent\.yaml \(from examples\/agent-lb1\.yaml: edit it\)$/m);
  assert.match(r.out, /^skipped +systemctl daemon-reload \(installing into /m);
  assert.equal(
    readFileSync(join(root, "etc/systemd/system/keepvip-agent.service"), "utf8"),
    readFileSync("deploy/systemd/keepvip-agent.service", "utf8"),
    "bins in /usr/local/bin: the unit as shipped",
  );
  assert.equal(readFileSync(join(root, "etc/keepvip/coordinator.yaml"), "utf8"), readFileSync("deploy/examples/coordinator.yaml", "utf8"));
  assert.equal(mode(join(root, "etc/systemd/system/keepvip-coordinator.service")), "644");
  assert.equal(mode(join(root, "etc/keepvip/agent.yaml")), "640");
  assert.equal(mode(join(root, "etc/keepvip/nginx_check.sh")), "755");
  assert.equal(mode(join(root, "var/lib/keepvip")), "700");
  assert.equal(mode(join(root, "var/lib/keepvip-agent")), "700");
  assert.match(r.out, /^created +\/etc\/keepvip\/pki\/ \(700\)$/m);
  assert.equal(mode(join(root, "etc/keepvip/pki")), "700");
});

const PKI_FILES = ["ca.crt", "coordinator.crt", "coordinator.key", "agent-lb1.crt", "agent-lb1.key"];

test("the certificates the configs name: each missing one noted with the keepvip certs command that makes it (exit 0); gone once the files exist", () => {
  const root = scratch();
  const r = install(root);
  assert.equal(r.code, 0, r.err);
  const missing = r.out.split("\n").filter((l) => l.startsWith("missing "));
  assert.deepEqual(missing, [
    "missing    /etc/keepvip/pki/ca.crt: keepvip certs init --dir /etc/keepvip/pki",
    "missing    /etc/keepvip/pki/coordinator.crt: keepvip certs issue-coordinator --san 192.168.177.10 --dir /etc/keepvip/pki",
    "missing    /etc/keepvip/pki/coordinator.key: keepvip certs issue-coordinator --san 192.168.177.10 --dir /etc/keepvip/pki",
    "missing    /etc/keepvip/pki/agent-lb1.crt: keepvip certs issue-agent lb1 --dir /etc/keepvip/pki",
    "missing    /etc/keepvip/pki/agent-lb1.key: keepvip certs issue-agent lb1 --dir /etc/keepvip/pki",
  ]);
  assert.match(r.out, /^note +run keepvip certs on the one host that keeps the CA/m);

  for (const f of PKI_FILES) writeFileSync(join(root, "etc/keepvip/pki", f), "");
  const again = install(root);
  assert.equal(again.code, 0, again.err);
  assert.doesNotMatch(again.out, /^missing /m);
  assert.doesNotMatch(again.out, /^note +run keepvip certs/m);
  for (const f of PKI_FILES) assert.match(again.out, new RegExp(`^found +/etc/keepvip/pki/${f.replace(".", "\\.")}$`, "m"));
});

test("the certificate notes follow the edited configs: another node, flow-style tls, quotes, the coordinator's address as --san", () => {
  const root = scratch();
  install(root);
  writeFileSync(
    join(root, "etc/keepvip/agent.yaml"),
    'node_id: lb2\ncoordinator: "10.0.0.5:7400"   # the coordinator\ntls: { ca: /srv/pki/ca.crt, cert: "/srv/pki/agent-lb2.crt", key: \'/srv/pki/agent-lb2.key\' }  # ours\ngroups: {}\n',
  );
  writeFileSync(
    join(root, "etc/keepvip/coordinator.yaml"),
    "listen: 0.0.0.0:7400\nha:\n  etcd:\n    tls: { ca: /etc/etcd/ca.pem }\ntls:\n  # mutual TLS\n  ca: /srv/pki/ca.crt   # the CA\n  cert: /srv/pki/coordinator.crt\n  key: /srv/pki/coordinator.key\nmetrics: { listen: 127.0.0.1:9740 }\n",
  );
  const r = install(root);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(
    r.out.split("\n").filter((l) => l.startsWith("missing ")),
    [
      "missing    /srv/pki/ca.crt: keepvip certs init --dir /srv/pki",
      "missing    /srv/pki/coordinator.crt: keepvip certs issue-coordinator --san 10.0.0.5 --dir /srv/pki",
      "missing    /srv/pki/coordinator.key: keepvip certs issue-coordinator --san 10.0.0.5 --dir /srv/pki",
      "missing    /srv/pki/agent-lb2.crt: keepvip certs issue-agent lb2 --dir /srv/pki",
      "missing    /srv/pki/agent-lb2.key: keepvip certs issue-agent lb2 --dir /srv/pki",
    ],
    "the etcd CA is not keepvip's to make; the CA is named once",
  );
});

test("second run changes nothing and says so; an edited config survives, the examples beside it stay fresh", () => {
  const root = scratch();
  assert.equal(install(root).code, 0);
  const before = snapshot(root);
  const again = install(root);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(snapshot(root), before, "byte for byte and mode for mode");
  assert.doesNotMatch(again.out, /^(installed|updated|created|mode) /m);
  assert.match(again.out, /^kept +\/etc\/keepvip\/agent\.yaml \(exists; yours, left alone\)$/m);
  assert.match(again.out, /^unchanged +\/etc\/systemd\/system\/keepvip-agent\.service$/m);

  const edited = join(root, "etc/keepvip/agent.yaml");
  writeFileSync(edited, "node_id: lb7 # edited by the operator\n");
  writeFileSync(join(root, "etc/keepvip/examples/agent-lb1.yaml"), "stale example\n");
  const third = install(root);
  assert.equal(third.code, 0, third.err);
  assert.equal(readFileSync(edited, "utf8"), "node_id: lb7 # edited by the operator\n");
  assert.match(third.out, /^updated +\/etc\/keepvip\/examples\/agent-lb1\.yaml$/m);
  assert.equal(readFileSync(join(root, "etc/keepvip/examples/agent-lb1.yaml"), "utf8"), readFileSync("deploy/examples/agent-lb1.yaml", "utf8"));
});

test("a unit changed on disk is put back (units are keepvip's; local changes go in drop-ins)", () => {
  const root = scratch();
  install(root);
  const unit = join(root, "etc/systemd/system/keepvip-agent.service");
  writeFileSync(unit, "[Service]\nExecStart=/bin/false\n");
  const r = install(root);
  assert.match(r.out, /^updated +\/etc\/systemd\/system\/keepvip-agent\.service$/m);
  assert.equal(readFileSync(unit, "utf8"), readFileSync("deploy/systemd/keepvip-agent.service", "utf8"));
});

test("--bindir points the units at the bins' directory; missing bins are noted, not fatal", () => {
  const root = scratch();
  const r = install(root, "--bindir", "/opt/keepvip/bin");
  assert.equal(r.code, 0, r.err);
  const unit = readFileSync(join(root, "etc/systemd/system/keepvip-coordinator.service"), "utf8");
  assert.match(unit, /^ExecStart=\/opt\/keepvip\/bin\/keepvip-coordinator --config \/etc\/keepvip\/coordinator\.yaml$/m);
  assert.doesNotMatch(unit, /\/usr\/local\/bin/);
  assert.match(r.out, /^note +\/opt\/keepvip\/bin\/keepvip-agent not found/m);
});

test("bad arguments are refused before anything is written", () => {
  const root = scratch();
  const r = install(root, "--frobnicate");
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown argument '--frobnicate'/);
  assert.deepEqual(readdirSync(root), []);
});

test("npm pack carries the three bins, dist/, proto/ (reflection) and deploy/ (units, install.sh, examples)", () => {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string; mode: number }> }>;
  const files = new Map(pack.files.map((f) => [f.path, f.mode]));
  const bins = (JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> }).bin;
  assert.deepEqual(Object.keys(bins).sort(), ["keepvip", "keepvip-agent", "keepvip-coordinator"]);
  for (const [name, path] of Object.entries(bins)) {
    assert.ok(files.has(path), `bin ${name} (${path}) is in the package`);
    // The agent's carries its V8 flags (shared/node-flags.ts): `env -S` splits them.
    const shebang = name === "keepvip-agent" ? `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(" ")}\n` : "#!/usr/bin/env node\n";
    assert.ok(readFileSync(path, "utf8").startsWith(shebang), `${path} starts with ${JSON.stringify(shebang)}`);
  }
  for (const p of [
    "proto/keepvip/v1/agent.proto",
    "proto/keepvip/v1/admin.proto",
    "deploy/install.sh",
    "deploy/systemd/keepvip-agent.service",
    "deploy/systemd/keepvip-coordinator.service",
    "deploy/examples/coordinator.yaml",
    "deploy/examples/agent-lb1.yaml",
    "dist/coordinator/grpc/introspection.js",
    "README.md",
  ]) {
    assert.ok(files.has(p), `${p} is in the package`);
  }
  assert.equal((files.get("deploy/install.sh")! & 0o111) !== 0, true, "install.sh stays executable");
  const extra = [...files.keys()].filter((p) => /^(dist\/test|dist\/deploy|deploy\/lab|deploy\/bench|test)\//.test(p));
  assert.deepEqual(extra, [], "no tests, lab or benchmarks in the package");
});
