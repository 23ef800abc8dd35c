/**
 * keepalived's SSL_GET and `digest`, carried: https checks against a real local HTTPS
 * server with a self-signed certificate (made with the openssl CLI), and body digests,
 * from the probe itself up through the coordinator's plan and the agent's prober.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { probeService } from "../../agent/probe/service.js";
import { BackendProber } from "../../agent/upstreams/prober.js";
import { UpstreamManager } from "../../coordinator/upstreams/manager.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { ProbePlan } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { selfSignedServer } from "../support/pki.js";
import { waitFor } from "../support/wait.js";

/** A body whose MD5 everyone knows (RFC 1321 test suites, Wikipedia): genhash would print this. */
const FOX = "The quick brown fox jumps over the lazy dog";
const FOX_MD5 = "9e107d9d372bb6826bd81d3542a419d6";
const EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e";

const dir = mkdtempSync(join(tmpdir(), "keepvip-https-"));
const sockets = new Set<Socket>();
const servers: HttpServer[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** What the last request arrived with: the SNI name (false: none) and the Host header. */
let seen: { sni: string | false; host: string | undefined } | undefined;

function handler(req: IncomingMessage, res: import("node:http").ServerResponse): void {
  seen = { sni: (req.socket as TLSSocket).servername ?? false, host: req.headers.host };
  if (req.url === "/fox") return void res.end(FOX);
  if (req.url === "/fox-chunked") {
    // Several writes, chunked transfer encoding: the digest is of the decoded body, whole.
    res.write(FOX.slice(0, 10));
    res.write(FOX.slice(10, 30));
    return void res.end(FOX.slice(30));
  }
  if (req.url === "/empty") return void res.end();
  if (req.url === "/slow-body") {
    res.writeHead(200);
    return void res.write("partial"); // never ends
  }
  if (req.url === "/500") return void res.writeHead(500).end(FOX);
  res.writeHead(404).end();
}

async function listen(server: HttpServer): Promise<number> {
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const pem = await selfSignedServer(dir, "backend.test");
const httpsPort = await listen(createHttpsServer({ cert: readFileSync(pem.cert), key: readFileSync(pem.key) }, handler));
const httpPort = await listen(createHttpServer(handler));

test("https: a GET over TLS to a self-signed backend passes, the certificate not verified (keepalived SSL_GET)", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox", tls: true, timeoutMs: 2000 });
  assert.equal(r.outcome, "ok", r.detail);
  assert.equal(r.connected, true);
  assert.match(r.detail, /^https:\/\/127\.0\.0\.1:\d+\/fox: HTTP 200 after/);
  assert.deepEqual(seen, { sni: false, host: `127.0.0.1:${httpsPort}` }, "no SNI for an IP address");
});

test("https: check.host is the SNI name and the Host header", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox", tls: true, hostHeader: "backend.test", timeoutMs: 2000 });
  assert.equal(r.outcome, "ok", r.detail);
  assert.deepEqual(seen, { sni: "backend.test", host: "backend.test" });
  const withPort = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox", tls: true, hostHeader: "backend.test:8443", timeoutMs: 2000 });
  assert.equal(withPort.outcome, "ok", withPort.detail);
  assert.deepEqual(seen, { sni: "backend.test", host: "backend.test:8443" }, "the port is not part of the name");
});

test("https: the status range still applies over TLS", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/500", tls: true, timeoutMs: 2000 });
  assert.equal(r.outcome, "bad-status");
  assert.match(r.detail, /HTTP 500, want 200\.\.399/);
});

test("an http check against the HTTPS port fails", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox", timeoutMs: 2000 });
  assert.equal(r.ok, false, r.detail);
  assert.notEqual(r.outcome, "timeout", `a plain GET to a TLS port is answered at once, not left to time out: ${r.detail}`);
  assert.equal(r.connected, true);
});

test("an https check against a plain HTTP port is a failed TLS handshake, said so", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/fox", tls: true, timeoutMs: 2000 });
  assert.equal(r.ok, false, r.detail);
  assert.equal(r.connected, true);
  assert.match(r.detail, /TLS handshake/);
});

test("digest: the body's MD5 as genhash prints it passes, over https and http", async () => {
  for (const [tls, port] of [
    [true, httpsPort],
    [false, httpPort],
  ] as const) {
    const r = await probeService({ host: "127.0.0.1", port, path: "/fox", tls, expectDigest: FOX_MD5, timeoutMs: 2000 });
    assert.equal(r.outcome, "ok", r.detail);
    assert.match(r.detail, /HTTP 200, body digest matched/);
  }
});

test("digest: a body sent in chunks is hashed whole; an empty body has the empty MD5", async () => {
  const chunked = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox-chunked", tls: true, expectDigest: FOX_MD5, timeoutMs: 2000 });
  assert.equal(chunked.outcome, "ok", chunked.detail);
  const empty = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/empty", tls: true, expectDigest: EMPTY_MD5, timeoutMs: 2000 });
  assert.equal(empty.outcome, "ok", empty.detail);
});

test("digest: a 200 with another body is a failure that says expected vs got", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/fox", tls: true, expectDigest: EMPTY_MD5, timeoutMs: 2000 });
  assert.equal(r.outcome, "bad-body");
  assert.equal(r.ok, false);
  assert.match(r.detail, new RegExp(`HTTP 200, body digest ${FOX_MD5} \\(MD5 of ${FOX.length} bytes\\), want ${EMPTY_MD5}`));
});

test("digest: with expect_body both must hold", async () => {
  const both = await probeService({
    host: "127.0.0.1",
    port: httpsPort,
    path: "/fox",
    tls: true,
    expectBody: "brown fox",
    expectDigest: FOX_MD5,
    timeoutMs: 2000,
  });
  assert.equal(both.outcome, "ok", both.detail);
  assert.match(both.detail, /body matched, digest matched/);
  const text = await probeService({
    host: "127.0.0.1",
    port: httpsPort,
    path: "/fox",
    tls: true,
    expectBody: "red fox",
    expectDigest: FOX_MD5,
    timeoutMs: 2000,
  });
  assert.equal(text.outcome, "bad-body");
  assert.match(text.detail, /body lacks "red fox"/);
  const digest = await probeService({
    host: "127.0.0.1",
    port: httpsPort,
    path: "/fox",
    tls: true,
    expectBody: "brown fox",
    expectDigest: EMPTY_MD5,
    timeoutMs: 2000,
  });
  assert.equal(digest.outcome, "bad-body");
  assert.match(digest.detail, /want d41d8cd98f00b204e9800998ecf8427e/);
});

test("digest: a body that never ends is a timeout within the bound, not a hang", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpsPort, path: "/slow-body", tls: true, expectDigest: FOX_MD5, timeoutMs: 150 });
  assert.equal(r.outcome, "timeout");
  assert.match(r.detail, /no complete answer within 150 ms/);
});

test("the chain: coordinator config → ProbePlan on the wire → the agent's prober, https and digest", async () => {
  const cfg = parseConfigText(
    coordinatorConfigSchema,
    `
insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members: [{ node: lb1, priority: 100 }]
upstreams:
  - name: good
    servers: [{ address: "127.0.0.1:${httpsPort}" }]
    check: { type: https, path: /fox, host: backend.test, expect_digest: "${FOX_MD5.toUpperCase()}", interval: 1s, timeout: 900ms, rise: 1, fall: 1 }
  - name: wrong
    servers: [{ address: "127.0.0.1:${httpsPort}" }]
    check: { type: https, path: /fox, expect_digest: "${EMPTY_MD5}", interval: 1s, timeout: 900ms, rise: 1, fall: 1 }
  - name: plain
    servers: [{ address: "127.0.0.1:${httpsPort}" }]
    check: { type: http, path: /fox, interval: 1s, timeout: 900ms, rise: 1, fall: 1 }
`,
    "c.yaml",
  );
  const manager = new UpstreamManager(cfg, 0, {}, { send: () => true, persist: async () => {}, event: () => {} }, silentLogger);
  const plan = ProbePlan.decode(ProbePlan.encode(manager.probePlan()).finish());
  assert.deepEqual(
    plan.checks.map((c) => [c.upstream, c.type, c.host, c.expectDigest]),
    [
      ["good", "https", "backend.test", FOX_MD5],
      ["wrong", "https", "", EMPTY_MD5],
      ["plain", "http", "", ""],
    ],
  );
  const prober = new BackendProber(probeService, () => {});
  try {
    prober.setPlan(plan);
    await waitFor(
      () => {
        const r = prober.current();
        return (
          r.every((x) => x.detail !== "not probed yet") && r.some((x) => x.upstream === "wrong" && !x.up) && r.some((x) => x.upstream === "plain" && !x.up)
        );
      },
      { what: "every server probed, wrong and plain down", timeoutMs: 5000 },
    );
    const results = prober.current();
    const by = new Map(results.map((r) => [r.upstream, r]));
    assert.equal(by.get("good")?.up, true, by.get("good")?.detail);
    assert.match(by.get("good")?.detail ?? "", /^https:\/\/127\.0\.0\.1:\d+\/fox: HTTP 200, body digest matched/);
    assert.match(by.get("wrong")?.detail ?? "", new RegExp(`body digest ${FOX_MD5} .*want ${EMPTY_MD5}`));
    assert.doesNotMatch(by.get("plain")?.detail ?? "", /^https:/);
    // What the report carries repeats while nothing changes: no timing in the detail (the
    // latency has its own field, which the coordinator does not compare).
    assert.equal(by.get("good")?.detail, `https://127.0.0.1:${httpsPort}/fox: HTTP 200, body digest matched`);
    assert.ok((by.get("good")?.latencyMs ?? 0) > 0, "the latency is still measured");
  } finally {
    prober.stop();
  }
});
