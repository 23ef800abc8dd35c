/**
 * keepvip-coordinator as a subprocess: --check accepts the seed's config with
 * its certificates in place, names each TLS file that is missing or wrong, and
 * rejects a bad config naming the field.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { coordinatorSpec, issue } from "../../cli/certs.js";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { makePki, type Pki } from "../support/pki.js";

const bin = ["dist/coordinator/main.js"];

function run(args: string[]) {
  return spawnSync(process.execPath, [...bin, ...args], { encoding: "utf8", timeout: 20_000 });
}

let scratch = "";
let pki: Pki;
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), "keepvip-coord-cli-"));
  pki = await makePki(scratch);
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The example config with its /etc/keepvip/pki/ files looked for in `dir`, edited by `edit`. */
function example(name: string, dir: string, edit: (text: string) => string = (t) => t): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, edit(readFileSync("deploy/examples/coordinator.yaml", "utf8").replaceAll("/etc/keepvip/pki/", `${dir}/`)));
  return file;
}

test("--check accepts the seed's example config with its certificates in place", () => {
  const r = run(["--config", example("good", pki.dir), "--check"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK — 1 group\(s\), 0 sync group\(s\), 1 upstream\(s\), TLS files usable/);
  assert.equal(r.stderr, "");
});

test("--check names each missing TLS file and the keepvip certs command, and exits 1", () => {
  const nowhere = join(scratch, "empty");
  const file = example("missing", nowhere);
  const r = run(["--config", file, "--check"]);
  assert.equal(r.status, 1, r.stdout);
  for (const f of ["ca.crt", "coordinator.crt", "coordinator.key"]) assert.match(r.stderr, new RegExp(`${nowhere}/${f.replace(".", "\\.")}: missing`));
  assert.match(r.stderr, /keepvip certs issue-coordinator --san ADDRESSES --dir \S+\/empty/);
  assert.match(r.stderr, /the config is valid, but its TLS files are not usable \(1 problem\)/);
});

test("--check refuses a key that is not the certificate's and a certificate from another CA, naming the files", () => {
  const r = run([
    "--config",
    example("wrong", pki.dir, (t) => t.replace(/coordinator\.key/, "agent-lb1.key").replace(/ca: \S+/, `ca: ${join(pki.rogue, "ca.crt")}`)),
    "--check",
  ]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tls: \S+\/agent-lb1\.key does not match the certificate \S+\/coordinator\.crt/);
  assert.match(r.stderr, /tls: \S+\/coordinator\.crt is not signed by the CA in \S+\/rogue\/ca\.crt/);
  assert.match(r.stderr, /\(2 problems\)/);
});

test("--check warns of a certificate ending within 30 days and still exits 0", async () => {
  const dir = join(scratch, "short");
  mkdirSync(dir);
  for (const f of ["ca.crt", "ca.key"]) copyFileSync(join(pki.dir, f), join(dir, f));
  await issue(createCommandRunner(), dir, coordinatorSpec(["127.0.0.1"], 10));
  const r = run(["--config", example("short", dir), "--check"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /tls: warning: \S+\/short\/coordinator\.crt expires on \d{4}-\d\d-\d\d \(in (9|10) days\)/);
  assert.match(r.stdout, /TLS files usable/);
});

test("--check rejects a bad config, naming file, line and field, and exits non-zero", () => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-cli-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      'groups:\n  - name: VI_1\n    vips: ["198.18.0.100/24"]\n    service: { port: 10016 }\n    members:\n      - { node: lb1, priority: 255 }\n',
    );
    const r = run(["--config", file, "--check"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, "\\.")}:6:\\d+ groups\\[0\\]\\.members\\[0\\]\\.priority: must be at most 254, got 255`));
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing config file is a clear error", () => {
  const r = run(["--config", "/nonexistent/keepvip.yaml", "--check"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read \/nonexistent\/keepvip\.yaml: ENOENT/);
});
