import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server, type Socket, type AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { probeService } from "../../agent/probe/service.js";

// Local servers on 127.0.0.1:0, closed after the file; sockets they hold are destroyed too.
const sockets = new Set<Socket>();
const servers: Array<Server | HttpServer> = [];
async function listen<S extends Server | HttpServer>(server: S): Promise<number> {
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const http = createHttpServer((req, res) => {
  if (req.url === "/ok") return res.end('{"msg":"success","status":"1"}');
  if (req.url === "/500") return void res.writeHead(500).end("boom");
  if (req.url === "/slow-body") {
    res.writeHead(200);
    res.write("partial");
    return; // never ends
  }
  if (req.url === "/reset") return req.socket.resetAndDestroy();
  res.writeHead(404).end();
});
const httpPort = await listen(http);
const silent = createTcpServer(() => undefined); // accepts, never answers
const silentPort = await listen(silent);

test("a TCP connect to a listening port is ok", async () => {
  const r = await probeService({ host: "127.0.0.1", port: silentPort, timeoutMs: 500 });
  assert.equal(r.outcome, "ok");
  assert.equal(r.ok, true);
  assert.ok(r.latencyMs < 500);
});

test("a closed port is refused, quickly", async () => {
  const r = await probeService({ host: "127.0.0.1", port: await closedPort(), timeoutMs: 1000 });
  assert.equal(r.outcome, "refused");
  assert.equal(r.ok, false);
  assert.ok(r.latencyMs < 500, `took ${r.latencyMs} ms`);
  assert.match(r.detail, /connection refused/);
});

test("a server that accepts but never answers an HTTP GET times out within the bound", async () => {
  const r = await probeService({ host: "127.0.0.1", port: silentPort, path: "/", timeoutMs: 80 });
  assert.equal(r.outcome, "timeout");
  assert.ok(r.latencyMs >= 75 && r.latencyMs < 300, `took ${r.latencyMs} ms`);
  assert.match(r.detail, /no complete answer within 80 ms/);
});

test("an HTTP 200 within the accepted range is ok", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/ok", timeoutMs: 500 });
  assert.equal(r.outcome, "ok");
  assert.match(r.detail, /HTTP 200/);
});

test("an HTTP 500 is a bad status that names the status and the range", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/500", timeoutMs: 500 });
  assert.equal(r.outcome, "bad-status");
  assert.match(r.detail, /HTTP 500, want 200\.\.399/);
});

test("a custom status range accepts a 404", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/missing", timeoutMs: 500, expectStatus: { min: 404, max: 404 } });
  assert.equal(r.outcome, "ok");
});

test("a body containing the expected text is ok", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/ok", timeoutMs: 500, expectBody: '"msg":"success"' });
  assert.equal(r.outcome, "ok");
});

test("a body lacking the expected text is a bad body", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/ok", timeoutMs: 500, expectBody: "nope" });
  assert.equal(r.outcome, "bad-body");
  assert.match(r.detail, /body lacks "nope"/);
});

test("a body that never ends is a timeout, not a hang", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/slow-body", timeoutMs: 100, expectBody: "never" });
  assert.equal(r.outcome, "timeout");
});

test("a connection reset after accepting is a reset", async () => {
  const r = await probeService({ host: "127.0.0.1", port: httpPort, path: "/reset", timeoutMs: 500 });
  assert.equal(r.outcome, "reset");
});

test("the Host header is sent as asked", async () => {
  let seen = "";
  const s = createHttpServer((req, res) => {
    seen = `${req.headers.host} ${req.headers.connection}`;
    res.end("x");
  });
  const port = await listen(s);
  const r = await probeService({ host: "127.0.0.1", port, path: "/", hostHeader: "www.example.test", timeoutMs: 500 });
  assert.equal(r.outcome, "ok");
  assert.equal(seen, "www.example.test close");
});

test("an abort ends a probe at once", async () => {
  const stop = new AbortController();
  const pending = probeService({ host: "127.0.0.1", port: silentPort, path: "/", timeoutMs: 5000, signal: stop.signal });
  setTimeout(() => stop.abort(), 20);
  const r = await pending;
  assert.equal(r.outcome, "aborted");
  assert.ok(r.latencyMs < 1000);
});

test("an already aborted signal never connects", async () => {
  const r = await probeService({ host: "127.0.0.1", port: silentPort, timeoutMs: 500, signal: AbortSignal.abort() });
  assert.equal(r.outcome, "aborted");
});

/** Blocks this process's event loop for `ms`, as a CPU-starved agent is blocked. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

test("a stall of the prober itself is not the service's timeout: the answer read after the stall counts", async () => {
  const probe = probeService({ host: "127.0.0.1", port: httpPort, path: "/ok", timeoutMs: 50 });
  stall(150);
  const r = await probe;
  assert.equal(r.outcome, "ok", r.detail);
});

test("a connection made while the prober was busy, short of a stall, is read before the timeout is judged", async () => {
  // Timeout 100 ms, stall slack 25 ms: a 110 ms busy stretch makes the timer about 10 ms
  // late, too little to count as a stall, and the timer falls due in the same turn of the
  // loop as the connection's completion. The completion must win.
  const probe = probeService({ host: "127.0.0.1", port: silentPort, timeoutMs: 100 });
  // The connect starts on the next tick (an address needs no lookup); the stall comes after it.
  process.nextTick(() => stall(110));
  const r = await probe;
  assert.equal(r.outcome, "ok", r.detail);
  assert.doesNotMatch(r.detail, /stalled/);
});

test("a silent service still times out after a stall, bounded, and the outcome names the stall", async () => {
  const probe = probeService({ host: "127.0.0.1", port: silentPort, path: "/ok", timeoutMs: 50 });
  stall(150);
  const r = await probe;
  assert.equal(r.outcome, "timeout");
  assert.match(r.detail, /stalled \d+ ms/);
  assert.ok(r.latencyMs < 150 + 3 * 50 + 200, `took ${r.latencyMs} ms`);
});

test("a timer that fires on time is a plain timeout, not a stall", async () => {
  const r = await probeService({ host: "127.0.0.1", port: silentPort, path: "/ok", timeoutMs: 100 });
  assert.equal(r.outcome, "timeout");
  assert.doesNotMatch(r.detail, /stalled/);
});

test("a probe says whether the connection was accepted: yes for a silent server, no for a refusal", async () => {
  const silentHttp = await probeService({ host: "127.0.0.1", port: silentPort, path: "/", timeoutMs: 60 });
  assert.deepEqual([silentHttp.outcome, silentHttp.connected], ["timeout", true]);
  const refused = await probeService({ host: "127.0.0.1", port: await closedPort(), timeoutMs: 500 });
  assert.deepEqual([refused.outcome, refused.connected], ["refused", false]);
});

/** A raw server: answers every connection with `reply` (after reading the request), then does `then`. */
async function rawServer(reply: string, then: "close" | "keep-open"): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const s = createTcpServer((sock) => {
    let got = "";
    sock.on("data", (d) => {
      got += d.toString("latin1");
      if (!got.includes("\r\n\r\n")) return;
      requests.push(got);
      if (then === "close") sock.end(reply);
      else sock.write(reply);
    });
  });
  return { port: await listen(s), requests };
}

test("the probe asks in HTTP/1.0, as keepalived's HTTP_GET and genhash do", async () => {
  const srv = await rawServer("HTTP/1.0 200 OK\r\n\r\nfine", "close");
  const r = await probeService({ host: "127.0.0.1", port: srv.port, path: "/aaa", hostHeader: "svc.test", timeoutMs: 500 });
  assert.equal(r.outcome, "ok");
  assert.match(srv.requests[0] ?? "", /^GET \/aaa HTTP\/1\.0\r\nHost: svc\.test\r\n/);
});

test("a server that closes without answering is a reset; one that answers garbage is an error naming it", async () => {
  const closer = createTcpServer((sock) => sock.once("data", () => sock.end()));
  const quiet = await probeService({ host: "127.0.0.1", port: await listen(closer), path: "/", timeoutMs: 500 });
  assert.equal(quiet.outcome, "reset");
  assert.match(quiet.detail, /closed by the server after no answer/);
  const garbage = await rawServer("SSH-2.0-OpenSSH_9.2\r\n\r\n", "close");
  const r = await probeService({ host: "127.0.0.1", port: garbage.port, path: "/", timeoutMs: 500 });
  assert.equal(r.outcome, "error");
  assert.match(r.detail, /not an HTTP answer: "SSH-2\.0-OpenSSH_9\.2"/);
});

test("a body of announced length is judged when it has arrived, not when the server closes", async () => {
  const srv = await rawServer("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy", "keep-open");
  const r = await probeService({ host: "127.0.0.1", port: srv.port, path: "/", expectBody: "healthy", timeoutMs: 500 });
  assert.equal(r.outcome, "ok", r.detail);
  const short = await probeService({ host: "127.0.0.1", port: srv.port, path: "/", expectBody: "sick", timeoutMs: 500 });
  assert.equal(short.outcome, "bad-body", short.detail);
});

test("a chunked answer (a server that chunks even for HTTP/1.0) is decoded before its text and digest are judged", async () => {
  const srv = await rawServer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nheal\r\n3;x=y\r\nthy\r\n0\r\n\r\n", "keep-open");
  const digest = createHash("md5").update("healthy").digest("hex");
  const r = await probeService({ host: "127.0.0.1", port: srv.port, path: "/", expectBody: "healthy", expectDigest: digest, timeoutMs: 500 });
  assert.equal(r.outcome, "ok", r.detail);
});
