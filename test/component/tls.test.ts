/**
 * Mutual TLS with identities bound to certificates, against the real
 * coordinator on 127.0.0.1: who may open an agent session as which node, who
 * may call the admin API, and that every refusal leaves the cluster as it was.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, Server, ServerCredentials, type ServiceError } from "@grpc/grpc-js";
import { AdminClient, AdminService } from "../../shared/gen/keepvip/v1/admin.js";
import { agentSpec, coordinatorSpec, issue } from "../../cli/certs.js";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { tlsChannel } from "../../shared/tls-target.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { removeDir, startCoordinator, type TestCoordinator, tlsClusterYaml } from "./helpers/coordinator.js";
import { makePki, type Pki } from "../support/pki.js";

const root = mkdtempSync(join(tmpdir(), "keepvip-tls-"));
let pki: Pki;
let coord: TestCoordinator;
const agents: StandinAgent[] = [];

const creds = (dir: string, stem: string) =>
  credentials.createSsl(readFileSync(join(dir, "ca.crt")), readFileSync(join(dir, `${stem}.key`)), readFileSync(join(dir, `${stem}.crt`)));
const holder = () => coord.engine.runtimes.get("VI_1")!.holder;
const epoch = () => coord.engine.runtimes.get("VI_1")!.epoch;

function agent(node: string, dir: string, stem: string) {
  const a = new StandinAgent(coord.address, { node, address: node === "lb1" ? "198.18.0.11" : "198.18.0.12", creds: creds(dir, stem) });
  agents.push(a);
  return a.connect();
}

function admin(stem: string, dir = pki.dir): AdminClient {
  return new AdminClient(coord.address, creds(dir, stem));
}

function call<T>(fn: (cb: (err: ServiceError | null, res?: T) => void) => void): Promise<{ err: ServiceError | null; res?: T }> {
  return new Promise((resolve) => fn((err, res) => resolve({ err, res })));
}
const deadline = () => ({ deadline: Date.now() + 5000 });

before(async () => {
  pki = await makePki(root);
  coord = await startCoordinator(tlsClusterYaml(pki, { startupGrace: "0s" }));
  agent("lb1", pki.dir, "agent-lb1");
  agent("lb2", pki.dir, "agent-lb2");
  await waitFor(() => holder() === "lb1" && coord.engine.nodes.views.get("lb2")?.session === "live", { what: "lb1 holds over mutual TLS", timeoutMs: 5000 });
});

after(async () => {
  for (const a of agents) a.destroy();
  await coord.stop();
  removeDir(coord.stateDir);
  rmSync(root, { recursive: true, force: true });
});

test("agents with their own certificates elect over mutual TLS; key files are 0600", () => {
  assert.equal(holder(), "lb1");
  for (const k of ["ca", "coordinator", "agent-lb1", "admin-alice"]) assert.equal(statSync(pki.file(k, "key")).mode & 0o777, 0o600, `${k}.key`);
});

const untouched = (before: { holder: string | null; epoch: number }) => {
  assert.equal(holder(), before.holder, "holder unchanged");
  assert.equal(epoch(), before.epoch, "epoch unchanged");
};

test("a client without a certificate, with another CA's, or with an expired one is refused at the handshake; the cluster is untouched", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const none = new AdminClient(coord.address, credentials.createSsl(readFileSync(pki.file("ca", "crt"))));
  const r1 = await call((cb) => none.getStatus({}, new Metadata(), deadline(), cb));
  assert.equal(r1.err?.code, 14, `no certificate: ${r1.err?.details}`);
  const rogue = new StandinAgent(coord.address, { node: "lb1", address: "198.18.0.11", creds: creds(pki.rogue, "agent-lb1") });
  agents.push(rogue);
  rogue.connect();
  await waitFor(() => rogue.closedWith !== undefined, { what: "rogue CA refused", timeoutMs: 5000 });
  assert.equal(rogue.received.length, 0, "no welcome");
  const expired = new StandinAgent(coord.address, {
    node: "lb2",
    address: "198.18.0.12",
    creds: credentials.createSsl(
      readFileSync(pki.file("ca", "crt")),
      readFileSync(pki.file("expired-lb2", "key")),
      readFileSync(pki.file("expired-lb2", "crt")),
    ),
  });
  agents.push(expired);
  expired.connect();
  await waitFor(() => expired.closedWith !== undefined, { what: "expired certificate refused", timeoutMs: 5000 });
  assert.equal(expired.received.length, 0);
  untouched(before);
  none.close();
});

test("an agent certificate for lb2 cannot open a session as lb1", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const impostor = new StandinAgent(coord.address, { node: "lb1", address: "198.18.0.11", creds: creds(pki.dir, "agent-lb2") });
  agents.push(impostor);
  impostor.connect();
  await waitFor(() => impostor.closedWith !== undefined, { what: "refused", timeoutMs: 5000 });
  assert.match(impostor.closedWith!, /the certificate is for node lb2, the hello claims node lb1/);
  untouched(before);
  assert.equal(coord.engine.nodes.views.get("lb1")?.session, "live", "the real lb1 keeps its session");
});

test("a second certificate for a connected node id is refused and the live session is not kicked", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const twin = new StandinAgent(coord.address, { node: "lb1", address: "198.18.0.11", creds: creds(pki.twin, "agent-lb1") });
  agents.push(twin);
  twin.connect();
  await waitFor(() => twin.closedWith !== undefined, { what: "refused", timeoutMs: 5000 });
  assert.match(twin.closedWith!, /node lb1 is already connected from .* with another certificate/);
  assert.equal(agents[0].closedWith, undefined, "the original lb1 is still connected");
  untouched(before);
});

test("a certificate without a keepvip identity is refused with the reason", async () => {
  const plain = new AdminClient(
    coord.address,
    credentials.createSsl(readFileSync(pki.file("ca", "crt")), readFileSync(pki.file("plain", "key")), readFileSync(pki.file("plain", "crt"))),
  );
  const r = await call((cb) => plain.getStatus({}, new Metadata(), deadline(), cb));
  assert.equal(r.err?.code, 16);
  assert.match(r.err!.details, /the certificate carries no keepvip identity/);
  plain.close();
});

test("an agent certificate cannot call the admin API", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const c = admin("agent-lb2");
  const r = await call((cb) => c.switchover({ group: "VI_1", toNode: "lb2" }, new Metadata(), deadline(), cb));
  assert.equal(r.err?.code, 7);
  assert.match(r.err!.details, /Switchover refused: agent certificates \(lb2\) cannot call the admin API/);
  const s = await call((cb) => c.getStatus({}, new Metadata(), deadline(), cb));
  assert.equal(s.err?.code, 7);
  untouched(before);
  c.close();
});

test("a read-only admin can read but not change anything", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const bob = admin("reader-bob");
  const s = await call<{ groups: Array<{ holder: string }> }>((cb) => bob.getStatus({}, new Metadata(), deadline(), cb as never));
  assert.equal(s.err, null);
  assert.equal(s.res?.groups[0].holder, "lb1");
  for (const [name, r] of [
    ["Switchover", await call((cb) => bob.switchover({ group: "VI_1", toNode: "lb2" }, new Metadata(), deadline(), cb))],
    ["SetMaintenance", await call((cb) => bob.setMaintenance({ nodeId: "lb1", on: true }, new Metadata(), deadline(), cb))],
  ] as const) {
    assert.equal(r.err?.code, 7, name);
    assert.match(r.err!.details, new RegExp(`${name} refused: bob has a read-only certificate`));
  }
  untouched(before);
  assert.equal(coord.engine.nodes.views.get("lb1")?.maintenance, false);
  bob.close();
});

test("an admin certificate may act, and the event history says who did it", async () => {
  const alice = admin("admin-alice");
  const r = await call<{ message: string }>((cb) => alice.switchover({ group: "VI_1", toNode: "lb2" }, new Metadata(), deadline(), cb as never));
  assert.equal(r.err, null, r.err?.details);
  assert.equal(holder(), "lb2");
  assert.ok(coord.engine.events.all().some((e) => e.kind === "admin" && /switchover of VI_1 to lb2 requested by admin alice/.test(e.message)));
  alice.close();
});

test("the keepvip CLI speaks mutual TLS with --ca/--cert/--key, and refuses to run without credentials unless told --insecure", async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, ["dist/cli/keepvip.js", "--coordinator", coord.address, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      c.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      c.on("close", (code) => resolve({ code, out, err }));
    });
  const ok = await run(["--ca", pki.file("ca", "crt"), "--cert", pki.file("reader-bob", "crt"), "--key", pki.file("reader-bob", "key"), "status"]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /holder lb2/);
  assert.doesNotMatch(ok.out, /without TLS/);
  // Dialled by IP: no "TLS ServerName set to an IP address" (DEP0123) on stderr.
  assert.equal(ok.err, "", "the CLI over mutual TLS says nothing on stderr");
  const denied = await run([
    "--ca",
    pki.file("ca", "crt"),
    "--cert",
    pki.file("reader-bob", "crt"),
    "--key",
    pki.file("reader-bob", "key"),
    "maintenance",
    "lb1",
    "on",
  ]);
  assert.equal(denied.code, 4);
  assert.match(denied.err, /refused these credentials: SetMaintenance refused: bob has a read-only certificate/);
  const bare = await run(["status"]);
  assert.equal(bare.code, 2);
  assert.match(bare.err, /no credentials: pass --ca, --cert and --key \(mutual TLS\), or --insecure/);
});

test("dialled by IP, the coordinator's certificate must name that IP: one issued for another address is refused", async () => {
  const elsewhere = { ...coordinatorSpec(["127.0.0.9"]), stem: "coordinator-elsewhere" };
  await issue(createCommandRunner(), pki.dir, elsewhere);
  const server = new Server();
  server.addService(AdminService, {});
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      ServerCredentials.createSsl(
        readFileSync(pki.file("ca", "crt")),
        [{ cert_chain: readFileSync(pki.file("coordinator-elsewhere", "crt")), private_key: readFileSync(pki.file("coordinator-elsewhere", "key")) }],
        true,
      ),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  const tls = {
    ca: readFileSync(pki.file("ca", "crt")),
    key: readFileSync(pki.file("admin-alice", "key")),
    cert: readFileSync(pki.file("admin-alice", "crt")),
  };
  try {
    for (const [address, target] of [
      [`127.0.0.1:${port}`, "the listener, whose certificate names 127.0.0.9"],
      [coord.address, "the coordinator, whose certificate names 127.0.0.1"],
    ] as const) {
      const ch = tlsChannel(address, tls);
      const client = new AdminClient(address, ch.credentials, ch.options);
      const r = await call((cb) => client.getStatus({}, new Metadata(), deadline(), cb));
      client.close();
      if (address === coord.address) assert.equal(r.err, null, `${target}: ${r.err?.details}`);
      else assert.match(r.err?.details ?? "", /IP: 127\.0\.0\.1 is not in the cert's list/, `${target}: ${r.err?.details}`);
    }
  } finally {
    server.forceShutdown();
  }
});

/** The certificate a fresh TLS connection to the coordinator is shown (its SHA-256 fingerprint). */
function servedFingerprint(stem = "admin-alice"): Promise<string> {
  return new Promise((resolve, reject) => {
    const [host, port] = [coord.address.slice(0, coord.address.lastIndexOf(":")), Number(coord.address.slice(coord.address.lastIndexOf(":") + 1))];
    const s = tlsConnect(
      {
        host,
        port,
        ca: readFileSync(pki.file("ca", "crt")),
        key: readFileSync(pki.file(stem, "key")),
        cert: readFileSync(pki.file(stem, "crt")),
        ALPNProtocols: ["h2"],
        checkServerIdentity: () => undefined,
      },
      () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(fp);
      },
    );
    s.on("error", reject);
  });
}

test("an agent certificate for a node no group names is closed right after the handshake, before any RPC; the cluster is untouched", async () => {
  await issue(createCommandRunner(), pki.dir, agentSpec("lb9"));
  const before = { holder: holder(), epoch: epoch(), sessions: coord.engine.nodes.views.size };
  const stranger = new StandinAgent(coord.address, { node: "lb9", address: "198.18.0.19", creds: creds(pki.dir, "agent-lb9") });
  agents.push(stranger);
  stranger.connect();
  await waitFor(() => stranger.closedWith !== undefined, { what: "lb9 refused", timeoutMs: 5000 });
  assert.match(stranger.closedWith!, /^14 UNAVAILABLE/, `closed at the connection, not by an RPC status: ${stranger.closedWith}`);
  assert.equal(stranger.received.length, 0, "no welcome");
  assert.equal(coord.engine.nodes.views.has("lb9"), false, "lb9 never reached the engine");
  untouched(before);
  // The same CA's admin and configured agents still connect.
  const r = await call((cb) => admin("admin-alice").getStatus({}, new Metadata(), deadline(), cb));
  assert.equal(r.err, null, r.err?.details);
});

test("a certificate rotation: new connections get the new certificate, open agent sessions stay; files that do not fit are refused and the old stay", async () => {
  const before = { holder: holder(), epoch: epoch() };
  const welcomes = agents.slice(0, 2).map((a) => a.received.filter((m) => m.body?.$case === "welcome").length);
  const old = await servedFingerprint();
  const tls = coord.server.tls!;

  // A new key and certificate for the same addresses, as a renewal writes them.
  await issue(createCommandRunner(), pki.dir, coordinatorSpec(["127.0.0.1"]), { force: true });
  assert.equal(tls.files.reload("test").ok, true);
  const renewed = await servedFingerprint();
  assert.notEqual(renewed, old, "a new connection sees the renewed certificate");
  assert.equal(renewed, new X509Certificate(readFileSync(pki.file("coordinator", "crt"))).fingerprint256);

  // A key that is not the certificate's: refused, naming the files; the listener keeps serving the renewed one.
  copyFileSync(pki.file("agent-lb1", "key"), pki.file("coordinator", "key"));
  const bad = tls.files.reload("test");
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? "" : bad.error.message, /.*coordinator\.key does not match the certificate .*coordinator\.crt/);
  assert.equal(await servedFingerprint(), renewed);
  const r = await call((cb) => admin("admin-alice").getStatus({}, new Metadata(), deadline(), cb));
  assert.equal(r.err, null, r.err?.details);

  // Neither agent reconnected: no second welcome, no close, the holder and epoch as they were.
  for (const [i, a] of agents.slice(0, 2).entries()) {
    assert.equal(a.closedWith, undefined, `${a.opts.node} kept its session`);
    assert.equal(a.received.filter((m) => m.body?.$case === "welcome").length, welcomes[i], `${a.opts.node}: no new welcome`);
  }
  untouched(before);
});
