/**
 * The status page against a real coordinator on 127.0.0.1 over mutual TLS:
 * who may read it (reader and admin certificates; not an agent's, not one
 * without a keepvip identity, not a client without a certificate), that
 * /api/status is the status `keepvip status --json` shows, that the live
 * stream pushes a new status when an agent joins, that streams are bounded
 * and cleaned up, and that nothing but GET is served.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AdminClient, type Event, type StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { silentLogger } from "../../shared/log.js";
import { fixedEngine } from "../../coordinator/cluster/engine-ref.js";
import { startStatusPage, type RunningStatusPage } from "../../coordinator/status-page/server.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { makePki, type Pki } from "../support/pki.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator, tlsClusterYaml } from "./helpers/coordinator.js";

const root = mkdtempSync(join(tmpdir(), "keepvip-status-page-"));
let pki: Pki;
let coord: TestCoordinator;
let page: RunningStatusPage;
const agents: StandinAgent[] = [];
const MAX_STREAMS = 2;

const creds = (dir: string, stem: string) =>
  credentials.createSsl(readFileSync(join(dir, "ca.crt")), readFileSync(join(dir, `${stem}.key`)), readFileSync(join(dir, `${stem}.crt`)));

function agent(node: string) {
  const a = new StandinAgent(coord.address, { node, address: node === "lb1" ? "198.18.0.11" : "198.18.0.12", creds: creds(pki.dir, `agent-${node}`) });
  agents.push(a);
  a.connect();
  return a;
}

/** TLS options for a client presenting `stem`'s certificate (undefined: none), from `dir`'s files. */
function tlsAs(stem: string | undefined, dir = pki.dir): RequestOptions {
  const [host, port] = [page.address.slice(0, page.address.lastIndexOf(":")), Number(page.address.slice(page.address.lastIndexOf(":") + 1))];
  return {
    host,
    port,
    ca: readFileSync(pki.file("ca", "crt")),
    ...(stem ? { cert: readFileSync(join(dir, `${stem}.crt`)), key: readFileSync(join(dir, `${stem}.key`)) } : {}),
    agent: false,
  };
}

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

function get(path: string, stem: string | undefined, method = "GET", dir?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ ...tlsAs(stem, dir), path, method, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

interface Sse {
  status: number;
  messages: Array<{ event: string; data: string }>;
  comments: string[];
  body: string;
  close(): void;
}

/** Opens /api/stream and collects its messages as they come. */
function stream(stem: string): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...tlsAs(stem), path: "/api/stream", method: "GET" }, (res) => {
      const sse: Sse = { status: res.statusCode ?? 0, messages: [], comments: [], body: "", close: () => req.destroy() };
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        sse.body += chunk;
        buf += chunk;
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) sse.comments.push(line);
            else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length > 0) sse.messages.push({ event, data: data.join("\n") });
        }
      });
      res.on("error", () => undefined);
      resolve(sse);
    });
    req.on("error", reject);
    req.end();
  });
}

const statuses = (s: Sse) =>
  s.messages.filter((m) => m.event === "status").map((m) => JSON.parse(m.data) as { status: StatusReply; html: Record<string, string> });

before(async () => {
  pki = await makePki(root);
  coord = await startCoordinator(tlsClusterYaml(pki, { startupGrace: "0s" }));
  page = await startStatusPage({
    listen: "127.0.0.1:0",
    engines: fixedEngine(coord.engine),
    tls: coord.server.tls?.files,
    log: silentLogger,
    maxStreams: MAX_STREAMS,
  });
  agent("lb1");
  await waitFor(() => coord.engine.runtimes.get("VI_1")!.holder === "lb1", { what: "lb1 holds VI_1 over mutual TLS", timeoutMs: 5000 });
});

after(async () => {
  for (const a of agents) a.destroy();
  await page?.close();
  await coord?.stop();
  if (coord) removeDir(coord.stateDir);
  rmSync(root, { recursive: true, force: true });
});

test("a reader certificate gets the status as `keepvip status --json` shows it", async () => {
  const r = await get("/api/status", "reader-bob");
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers["content-type"]), /^application\/json/);
  const s = JSON.parse(r.body) as StatusReply;
  assert.equal(s.groups[0].name, "VI_1");
  assert.equal(s.groups[0].holder, "lb1");

  // The CLI's path: GetStatus over gRPC, printed with JSON.stringify. Same fields, same values
  // but for what moves by itself between two calls (uptime, report ages).
  const admin = new AdminClient(coord.address, creds(pki.dir, "admin-alice"));
  const cli = await new Promise<StatusReply>((resolve, reject) =>
    admin.getStatus({}, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!))),
  );
  admin.close();
  const steady = (x: StatusReply) =>
    JSON.stringify({
      ...x,
      uptimeMs: 0,
      groups: x.groups.map((g) => ({ ...g, members: g.members.map((m) => ({ ...m, reportAgeMs: m.reportAgeMs < 0 ? -1 : 0 })) })),
    });
  assert.equal(steady(s), steady(JSON.parse(JSON.stringify(cli)) as StatusReply));
});

test("an admin certificate gets the page: HTML with the groups, locked down by its headers", async () => {
  const r = await get("/", "admin-alice");
  assert.equal(r.status, 200);
  assert.match(String(r.headers["content-type"]), /^text\/html/);
  assert.match(String(r.headers["content-security-policy"]), /default-src 'none'/);
  assert.equal(r.headers["cache-control"], "no-store");
  assert.match(r.body, /<h3>VI_1<\/h3>/);
  assert.match(r.body, /held by <strong>lb1<\/strong>/);
});

test("an agent certificate gets 403 with a sentence; one without a keepvip identity too", async () => {
  const a = await get("/api/status", "agent-lb1");
  assert.equal(a.status, 403);
  assert.match(a.body, /agent certificates \(lb1\) cannot read the status page; use an admin or read-only certificate/);
  const plain = await get("/", "plain");
  assert.equal(plain.status, 403);
  assert.match(plain.body, /the certificate carries no keepvip identity/);
});

test("a client without a certificate, or with another CA's, is refused at the handshake", async () => {
  await assert.rejects(get("/api/status", undefined), (err: Error & { code?: string }) => {
    assert.match(`${err.code} ${err.message}`, /certificate|ECONNRESET|socket hang up|EPIPE/i);
    return true;
  });
  await assert.rejects(get("/api/status", "agent-lb1", "GET", pki.rogue));
});

test("anything but GET gets 405: the page is read-only", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const r = await get("/api/status", "admin-alice", method);
    assert.equal(r.status, 405, method);
    assert.match(String(r.headers.allow), /GET/);
  }
  assert.equal((await get("/nothing-here", "reader-bob")).status, 404);
});

test("/api/events gives the last N events, newest last; a bad limit is refused", async () => {
  const r = await get("/api/events?limit=2", "reader-bob");
  assert.equal(r.status, 200);
  const events = JSON.parse(r.body) as Event[];
  assert.equal(events.length, 2);
  assert.ok(events[0].atMs <= events[1].atMs);
  const all = coord.engine.events.all();
  assert.equal(events[1].message, all.at(-1)?.message);
  const bad = await get("/api/events?limit=lots", "reader-bob");
  assert.equal(bad.status, 400);
  assert.match(bad.body, /limit must be a whole number from 1 to 2000/);
});

test("the stream sends the status at once, then a new one when an agent joins, and each new event", async () => {
  const s = await stream("reader-bob");
  try {
    assert.equal(s.status, 200);
    const first = await waitFor(() => statuses(s)[0], { what: "the first status", timeoutMs: 3000 });
    assert.equal(first.status.groups[0].holder, "lb1");
    assert.equal(first.status.groups[0].members.find((m) => m.nodeId === "lb2")?.state, "DISCONNECTED");
    assert.match(first.html.groups, /VI_1/);

    agent("lb2");
    const joined = await waitFor(() => statuses(s).find((x) => x.status.groups[0].members.find((m) => m.nodeId === "lb2")?.connected), {
      what: "a status with lb2 connected",
      timeoutMs: 3000,
    });
    assert.equal(joined.status.groups[0].members.find((m) => m.nodeId === "lb2")?.state, "BACKUP");
    await waitFor(() => s.messages.some((m) => m.event === "event" && /lb2/.test((JSON.parse(m.data) as Event).message)), {
      what: "lb2's session event on the stream",
    });
  } finally {
    s.close();
  }
  await waitFor(() => page.streams() === 0, { what: "the closed stream cleaned up" });
});

test("streams are bounded: one too many gets 503 with a sentence; closing them frees their places", async () => {
  const open = [await stream("reader-bob"), await stream("admin-alice")];
  try {
    await waitFor(() => page.streams() === MAX_STREAMS, { what: "two streams open" });
    const extra = await get("/api/stream", "reader-bob");
    assert.equal(extra.status, 503);
    assert.match(extra.body, /too many live status streams: 2 are open/);
  } finally {
    for (const s of open) s.close();
  }
  await waitFor(() => page.streams() === 0, { what: "both streams cleaned up" });
  const again = await stream("reader-bob");
  assert.equal(again.status, 200);
  again.close();
});

/** A plain-HTTP GET (insecure coordinators). */
function plainGet(address: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: Number(address.slice(address.lastIndexOf(":") + 1)), path, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("insecure: plain HTTP on loopback, no certificate asked", async () => {
  const plain = await startCoordinator(clusterYaml({ startupGrace: "0s" }));
  const p = await startStatusPage({ listen: "127.0.0.1:0", engines: fixedEngine(plain.engine), log: silentLogger });
  try {
    assert.match(p.url, /^http:\/\//);
    const r = await plainGet(p.address, "/api/status");
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as StatusReply).insecure, true);
    const html = await plainGet(p.address, "/");
    assert.match(html.body, /runs without TLS \(insecure\)/);
  } finally {
    await p.close();
    await plain.stop();
    removeDir(plain.stateDir);
  }
});

test("a follower replica has no status: it says so and names the leader", async () => {
  const follower = { name: "coord2", current: () => undefined, leader: () => ({ name: "coord1", address: "10.0.0.21:7400", term: 7 }) };
  const p = await startStatusPage({ listen: "127.0.0.1:0", engines: follower, log: silentLogger });
  try {
    const s = await plainGet(p.address, "/api/status");
    assert.equal(s.status, 503);
    assert.deepEqual(JSON.parse(s.body), {
      error: "coordinator replica coord2 follows: the leader is coord1 at 10.0.0.21:7400",
      replica: "coord2",
      role: "follower",
      leader: { name: "coord1", address: "10.0.0.21:7400", term: 7 },
    });
    const html = await plainGet(p.address, "/");
    assert.equal(html.status, 200);
    assert.match(html.body, /This replica \(coord2\) follows and keeps no status: the leader is coord1 at 10\.0\.0\.21:7400 \(term 7\)/);
    assert.equal((await plainGet(p.address, "/api/events")).status, 503);
  } finally {
    await p.close();
  }
});
