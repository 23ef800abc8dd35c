/**
 * Reloadable TLS files (shared/tls-material.ts) with real certificates from the
 * project's `keepvip certs` code: a renewal that writes key and certificate one
 * after the other is picked up once, without an error between the two writes;
 * files that never fit are refused and the running material stays. And the
 * coordinator's connection gate (admitPeer), as a table.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { agentSpec, issue } from "../../cli/certs.js";
import { admitPeer } from "../../coordinator/grpc/tls.js";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { identityOf } from "../../shared/identity.js";
import { fail } from "../../shared/result.js";
import { ReloadableTls } from "../../shared/tls-material.js";
import { makePki, type Pki } from "../support/pki.js";
import { waitFor } from "../support/wait.js";

const root = mkdtempSync(join(tmpdir(), "keepvip-tls-reload-"));
let pki: Pki;
before(async () => {
  pki = await makePki(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A logger that keeps what it was given, by level. */
function recordingLog() {
  const lines: Array<{ level: number; event?: string }> = [];
  const log = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as { level: number; event?: string }) });
  return { log, lines, events: (name: string) => lines.filter((l) => l.event === name) };
}

test("a renewal that writes the key, then (later) the certificate, is reloaded once; the gap between the writes is no error", async () => {
  const dir = join(root, "renew");
  copyFileSync(pki.file("ca", "crt"), join(root, "renew-ca.crt"));
  const paths = { ca: join(root, "renew-ca.crt"), cert: join(root, "renew-agent.crt"), key: join(root, "renew-agent.key") };
  copyFileSync(pki.file("agent-lb1", "crt"), paths.cert);
  copyFileSync(pki.file("agent-lb1", "key"), paths.key);
  const rec = recordingLog();
  const tls = new ReloadableTls(paths, rec.log);
  const changes: string[] = [];
  tls.onChange((m) => changes.push(m.fingerprint));
  tls.watch({ intervalMs: 50, settleMs: 100, retryMs: 300, retries: 5 });
  try {
    // The new pair, in a directory of its own, then copied over key first and the certificate 400 ms later.
    mkdirSync(dir, { recursive: true });
    copyFileSync(pki.file("ca", "crt"), join(dir, "ca.crt"));
    copyFileSync(join(pki.dir, "ca.key"), join(dir, "ca.key"));
    await issue(createCommandRunner(), dir, agentSpec("lb1"));
    writeFileSync(paths.key, readFileSync(join(dir, "agent-lb1.key")));
    await new Promise((r) => setTimeout(r, 400));
    writeFileSync(paths.cert, readFileSync(join(dir, "agent-lb1.crt")));
    const renewed = new X509Certificate(readFileSync(paths.cert)).fingerprint256;
    await waitFor(() => changes.includes(renewed), { what: "the renewed pair loaded", timeoutMs: 5000 });
    assert.deepEqual(changes, [renewed], "one reload, to the renewed pair");
    assert.equal(tls.material.fingerprint, renewed);
    assert.deepEqual(rec.events("tls.reload.rejected"), [], "no error while the files were half written");
  } finally {
    tls.close();
  }
});

test("files that never fit are refused after the retries, as an error; the running certificate stays", async () => {
  const paths = { ca: join(root, "bad-ca.crt"), cert: join(root, "bad.crt"), key: join(root, "bad.key") };
  copyFileSync(pki.file("ca", "crt"), paths.ca);
  copyFileSync(pki.file("agent-lb2", "crt"), paths.cert);
  copyFileSync(pki.file("agent-lb2", "key"), paths.key);
  const rec = recordingLog();
  const tls = new ReloadableTls(paths, rec.log);
  const before = tls.material.fingerprint;
  tls.watch({ intervalMs: 50, settleMs: 50, retryMs: 100, retries: 2 });
  try {
    copyFileSync(pki.file("agent-lb1", "key"), paths.key);
    await waitFor(() => rec.events("tls.reload.rejected").length > 0, { what: "the refusal", timeoutMs: 5000 });
    assert.equal(rec.events("tls.reload.pending").length, 2, "warned at each retry first");
    assert.equal(tls.material.fingerprint, before, "the running certificate stays");
    // SIGHUP's path: an immediate reload says the same at once.
    const r = tls.reload("SIGHUP");
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.error.message, /bad\.key does not match the certificate .*bad\.crt/);
  } finally {
    tls.close();
  }
});

test("the connection gate: an agent certificate for a node no group names is refused; configured agents, admins, readers and identity-less certificates go on", () => {
  const nodes = new Set(["lb1", "lb2"]);
  const id = (san: string) => identityOf({ subjectaltname: san, fingerprint256: "AA" });
  const cases: Array<[string, ReturnType<typeof identityOf>, RegExp | undefined]> = [
    ["a configured agent", id("URI:urn:keepvip:agent:lb1"), undefined],
    ["an agent no group names", id("URI:urn:keepvip:agent:lb9"), /agent certificate for node lb9, which no group in the config names/],
    ["an admin", id("URI:urn:keepvip:admin:alice"), undefined],
    ["a reader", id("URI:urn:keepvip:reader:bob"), undefined],
    ["no keepvip identity (refused per call, with the reason)", id("DNS:example.org"), undefined],
    ["no certificate at all (the handshake already refused it)", fail("unauthenticated", "no client certificate"), undefined],
  ];
  for (const [what, identity, expected] of cases) {
    const got = admitPeer(identity, nodes);
    if (expected) assert.match(got ?? "", expected, what);
    else assert.equal(got, undefined, what);
  }
});

test("keepvip certs: the coordinator's certificate serves (serverAuth) and is a client to etcd (clientAuth); agents and admins are clients only", async () => {
  const usage = async (stem: string) => {
    const r = await createCommandRunner().run(["openssl", "x509", "-in", pki.file(stem, "crt"), "-noout", "-ext", "extendedKeyUsage"], { timeoutMs: 10_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.replace(/\s+/g, " ").trim();
  };
  assert.match(await usage("coordinator"), /TLS Web Server Authentication, TLS Web Client Authentication/);
  for (const stem of ["agent-lb1", "admin-alice"]) {
    const u = await usage(stem);
    assert.match(u, /TLS Web Client Authentication/, stem);
    assert.doesNotMatch(u, /Server Authentication/, stem);
  }
});
