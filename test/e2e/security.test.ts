/**
 * Mutual TLS in the lab, checked from outside the project's own code: from lb2's
 * namespace on the control network, openssl and bash's /dev/tcp knock on every TCP
 * port the coordinator listens on. Only a certificate of the lab's CA that names a
 * configured node or an admin gets an HTTP/2 answer; no certificate, another CA's,
 * a valid one for a node no group names, and a plaintext HTTP/2 preface get none. The
 * status page's listener (HTTPS/1.1, the same TLS) answers the admin; the agent-role
 * certificate gets the page's 403, the others nothing.
 * Then a certificate rotation (new coordinator, agent and admin certificates, picked
 * up on SIGHUP and by the coordinator's file watch) under the 10 ms prober: no
 * failed request, no move, no session lost, and new connections see the new files.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { adminCli, CLI } from "../../deploy/lab/admin.js";
import { hostNs, labPaths } from "../../deploy/lab/api.js";
import { hostPrograms } from "../../deploy/lab/paths.js";
import { labPki, pkiCommands } from "../../deploy/lab/pki.js";
import { readPidFile } from "../../deploy/lab/procfs.js";
import { ADDRESSES, COORDINATOR_PORT, STATUS_PAGE_PORT } from "../../deploy/lab/topology.js";
import { clusterStatus, drill, figures, steady, useLab, waitFor } from "./helpers/drill.js";

const P = "kvs";
useLab(P);

/** Runs argv, writes `input` to its stdin, and collects its output as bytes; killed after `timeoutMs`. */
function run(argv: string[], input: Buffer | string, timeoutMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

const inNs = (ns: string, argv: string[]) => [hostPrograms().ip, "netns", "exec", ns, ...argv];

/** The client connection preface and an empty SETTINGS frame. */
const PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** Whether `bytes` start with an HTTP/2 SETTINGS frame (what a server sends first). */
const isSettingsFrame = (bytes: Buffer) => bytes.length >= 9 && bytes[3] === 0x04 && (bytes[4] & 0x01) === 0;

/**
 * What a port speaks: the gRPC listener HTTP/2; the status page (a listener of its own with the
 * same TLS) HTTPS/1.1, where a certificate of the lab's CA without a reading role gets a 403.
 */
function protocolOf(address: string) {
  if (address.endsWith(`:${STATUS_PAGE_PORT}`))
    return {
      alpn: "http/1.1",
      request: "GET /api/status HTTP/1.1\r\nHost: coordinator\r\nConnection: close\r\n\r\n",
      answered: (b: Buffer) => b.toString("latin1").startsWith("HTTP/1.1 200 "),
      // Past the handshake only with the lab's CA: then the page's own refusal.
      refused: (b: Buffer, labCa: boolean) => b.length === 0 || (labCa && b.toString("latin1").startsWith("HTTP/1.1 403 ")),
    };
  return { alpn: "h2", request: PREFACE, answered: isSettingsFrame, refused: (b: Buffer, _labCa: boolean) => b.length === 0 };
}

/** Every TCP port the coordinator process listens on, outside loopback. */
async function coordinatorPorts(): Promise<string[]> {
  const pid = readPidFile(labPaths(P).pidFile("coord", "coordinator"));
  assert.ok(pid, "the coordinator's pid file");
  const r = await run(inNs(hostNs(P, "coord"), ["ss", "-Hltnp"]), "", 5000);
  const ports = r.stdout
    .toString()
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => l.trim().split(/\s+/)[3])
    .filter((local) => local !== undefined && !/^(127\.|\[::1\]|::1)/.test(local));
  return [...new Set(ports)];
}

/** openssl s_client from lb2 to `address` with the given client certificate (or none), sending the port's first request (the HTTP/2 preface, or a GET). */
function sClient(address: string, ca: string, pair?: { cert: string; key: string }) {
  const creds = pair ? ["-cert", pair.cert, "-key", pair.key] : [];
  const { alpn, request } = protocolOf(address);
  return run(inNs(hostNs(P, "lb2"), ["openssl", "s_client", "-quiet", "-connect", address, "-alpn", alpn, "-CAfile", ca, ...creds]), request, 3000);
}

test("from the control network, only a configured identity of the lab's CA gets an answer on any coordinator port; openssl and a plaintext preface are refused", async (t) => {
  const paths = labPaths(P);
  const pki = labPki(paths);
  // A second CA with its own admin, and the lab CA's certificate for a node no group names.
  const foreign = join(paths.dir, "pki-foreign");
  const stranger = join(paths.dir, "pki-stranger");
  mkdirSync(stranger, { recursive: true });
  cpSync(pki.ca, join(stranger, "ca.crt"));
  cpSync(join(pki.dir, "ca.key"), join(stranger, "ca.key"));
  for (const args of [
    ["certs", "init", "--dir", foreign, "--force"],
    ["certs", "issue-admin", "eve", "--dir", foreign, "--force"],
    ["certs", "issue-agent", "lb9", "--dir", stranger, "--force"],
  ]) {
    const r = await run([process.execPath, CLI, ...args], "", 30_000);
    assert.equal(r.code, 0, `keepvip ${args.join(" ")}: ${r.stderr}`);
  }

  const ports = await coordinatorPorts();
  assert.ok(ports.length >= 1, "the coordinator listens somewhere off loopback");
  assert.ok(
    ports.some((a) => a.endsWith(`:${STATUS_PAGE_PORT}`)),
    `the status page listens on the control network too: ${ports.join(", ")}`,
  );
  for (const address of ports) {
    const speaks = protocolOf(address);
    // The control: the lab's admin certificate gets the server's SETTINGS frame (the status page: a 200).
    const good = await sClient(address, pki.ca, pki.admin);
    assert.ok(speaks.answered(good.stdout), `${address}: the admin certificate is answered (got ${good.stdout.length} bytes; ${good.stderr.trim()})`);

    const cases: Array<[string, Promise<{ stdout: Buffer; stderr: string }>]> = [
      ["no client certificate", sClient(address, pki.ca)],
      ["a foreign CA's certificate", sClient(address, pki.ca, { cert: join(foreign, "admin-eve.crt"), key: join(foreign, "admin-eve.key") })],
      [
        "the lab CA's certificate for node lb9, which no group names",
        sClient(address, pki.ca, { cert: join(stranger, "agent-lb9.crt"), key: join(stranger, "agent-lb9.key") }),
      ],
    ];
    for (const [what, pending] of cases) {
      const r = await pending;
      assert.ok(
        speaks.refused(r.stdout, what.startsWith("the lab CA's")),
        `${address}, ${what}: the coordinator answered ${r.stdout.length} bytes: ${r.stdout.toString("latin1").slice(0, 200)}`,
      );
      const forbidden = r.stdout.toString("latin1").split("\r\n\r\n")[1]?.trim();
      t.diagnostic(
        `${address}, ${what}: refused (${
          forbidden
            ? `HTTP 403: ${forbidden}`
            : (r.stderr
                .trim()
                .split("\n")
                .filter((l) => /error|alert|errno/i.test(l))[0] ?? "closed")
        })`,
      );
    }
    // A plaintext HTTP/2 preface, as a client that does not speak TLS sends it.
    const [host, port] = [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
    const plain = await run(
      inNs(hostNs(P, "lb2"), [
        "timeout",
        "2",
        "bash",
        "-c",
        `exec 3<>/dev/tcp/${host}/${port}; printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\\0\\0\\0\\4\\0\\0\\0\\0\\0' >&3; cat <&3`,
      ]),
      "",
      4000,
    );
    assert.ok(!isSettingsFrame(plain.stdout), `${address}, plaintext preface: answered with HTTP/2`);
    assert.ok(
      plain.stdout.length === 0 || plain.stdout[0] === 0x15,
      `${address}, plaintext preface: got ${plain.stdout.toString("hex").slice(0, 40)} (nothing or a TLS alert expected)`,
    );
    t.diagnostic(`${address}, plaintext HTTP/2 preface: refused (${plain.stdout.length === 0 ? "closed" : "TLS alert"})`);
  }
});

test("a certificate rotation under the 10 ms prober: 0 failed requests, no move, no session lost; new connections use the new certificates", async (t) => {
  const paths = labPaths(P);
  const pki = labPki(paths);
  const before = await steady(P);
  const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
  const old = { coordinator: fingerprint(pki.coordinator.cert), admin: fingerprint(pki.admin.cert) };
  const logs = () => ({
    coord: readFileSync(paths.logFile("coord", "coordinator"), "utf8"),
    lb1: readFileSync(paths.logFile("lb1", "agent"), "utf8"),
    lb2: readFileSync(paths.logFile("lb2", "agent"), "utf8"),
  });
  const opened = (log: string) => log.split("\n").filter((l) => l.includes('"event":"session.open"')).length;
  const sessionsBefore = opened(logs().coord);

  const r = await drill(
    P,
    async () => {
      // Every certificate but the CA is issued again, in place, as a renewal does.
      for (const args of pkiCommands(pki).filter((a) => a[1] !== "init")) {
        const issued = await run([process.execPath, CLI, ...args], "", 30_000);
        assert.equal(issued.code, 0, `keepvip ${args.join(" ")}: ${issued.stderr}`);
      }
      // The agents on SIGHUP; the coordinator notices the files itself (it watches them).
      for (const h of ["lb1", "lb2"] as const) {
        const pid = readPidFile(paths.pidFile(h, "agent"));
        assert.ok(pid, `${h}'s agent pid`);
        process.kill(pid, "SIGHUP");
      }
    },
    {
      until: async () => {
        const l = logs();
        return [l.coord, l.lb1, l.lb2].every((x) => x.includes('"event":"tls.reloaded"'));
      },
      afterMs: 2000,
    },
  );
  t.diagnostic(figures("certificate rotation", r));
  assert.equal(r.probes.failed, 0, `failed requests: ${JSON.stringify(r.probes.errors)}`);
  assert.ok(r.probes.total > 200, `the prober ran (${r.probes.total} requests)`);
  assert.deepEqual(
    r.vip.changes.map((c) => c.holders.join(",")),
    ["lb1"],
    `the VIP moved: ${JSON.stringify(r.vip.changes)}`,
  );
  const after = await clusterStatus(P);
  assert.equal(after?.epoch, before.epoch, "no new epoch");
  assert.ok(after?.members.every((m) => m.connected));
  assert.equal(opened(logs().coord), sessionsBefore, "no agent session was opened again: none was lost");
  for (const [who, log] of Object.entries(logs())) assert.ok(!log.includes('"event":"tls.reload.rejected"'), `${who} rejected the new files`);

  // New connections: the coordinator shows its new certificate and accepts the new admin one.
  assert.notEqual(fingerprint(pki.coordinator.cert), old.coordinator);
  assert.notEqual(fingerprint(pki.admin.cert), old.admin);
  const shown = await run(
    inNs(hostNs(P, "lb2"), [
      "openssl",
      "s_client",
      "-connect",
      `${ADDRESSES.ctl.coord}:${COORDINATOR_PORT}`,
      "-CAfile",
      pki.ca,
      "-cert",
      pki.admin.cert,
      "-key",
      pki.admin.key,
    ]),
    "",
    3000,
  );
  const served = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(shown.stdout.toString())?.[0];
  assert.ok(served, `openssl showed the served certificate: ${shown.stderr}`);
  assert.equal(new X509Certificate(served).fingerprint256, fingerprint(pki.coordinator.cert), "a new connection is served the renewed certificate");
  const status = await waitFor("keepvip status with the renewed admin certificate", 10_000, async () => {
    const s = await adminCli(P, ["--json", "status"], 5000);
    return s.code === 0 ? s : undefined;
  });
  assert.equal(status.code, 0);
});
