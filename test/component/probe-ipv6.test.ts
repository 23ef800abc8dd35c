/**
 * Upstream health checks of IPv6 servers, the whole path but the wire: the
 * coordinator's config ("[::1]:PORT" servers) → UpstreamManager.probePlan →
 * ProbePlan encoded and decoded → the agent's BackendProber with the real
 * probeService → real sockets on ::1 → the results folded back into the
 * manager, keyed by the address as configured. A TCP check, an HTTP check
 * (Host header bracketed), a port nothing listens on, and a server written in
 * a long IPv6 spelling.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { probeService } from "../../agent/probe/service.js";
import { BackendProber } from "../../agent/upstreams/prober.js";
import { UpstreamManager } from "../../coordinator/upstreams/manager.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { ProbePlan } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { waitFor } from "../support/wait.js";

const sockets = new Set<Socket>();
const servers: Server[] = [];
let tcpPort = 0;
let httpPort = 0;
let closedPort = 0;
/** The Host header and the peer address of the last HTTP request. */
let seen: { host: string | undefined; remote: string | undefined } | undefined;

function listen(server: Server): Promise<number> {
  servers.push(server);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "::1", () => resolve((server.address() as AddressInfo).port));
  });
}

before(async () => {
  tcpPort = await listen(createServer((s) => s.end()));
  httpPort = await listen(
    createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      seen = { host: req.headers.host, remote: req.socket.remoteAddress };
      if (req.url === "/health") return void res.end("ok");
      res.writeHead(404).end();
    }),
  );
  // A port on ::1 that nothing listens on: taken, then given back.
  const probe = createServer();
  closedPort = await new Promise<number>((resolve) => probe.listen(0, "::1", () => resolve((probe.address() as AddressInfo).port)));
  await new Promise((resolve) => probe.close(resolve));
});

after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

test("the coordinator's probe plan carries IPv6 servers and the agent's prober probes them on ::1", async () => {
  const check = "interval: 200ms, timeout: 150ms, rise: 1, fall: 1";
  const cfg = parseConfigText(
    coordinatorConfigSchema,
    `
insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24", "2001:db8::100/64"]
    service: { port: 10016 }
    members: [{ node: lb1, priority: 100 }]
upstreams:
  - name: v6tcp
    servers: [{ address: "[::1]:${tcpPort}" }, { address: "[::1]:${closedPort}" }]
    check: { type: tcp, ${check} }
  - name: v6http
    servers: [{ address: "[0:0:0:0:0:0:0:1]:${httpPort}" }]
    check: { type: http, path: /health, ${check} }
`,
    "c.yaml",
  );
  const manager = new UpstreamManager(cfg, 0, {}, { send: () => true, persist: async () => {}, event: () => {} }, silentLogger);
  const plan = ProbePlan.decode(ProbePlan.encode(manager.probePlan()).finish());
  assert.deepEqual(
    plan.checks.map((c) => [c.upstream, c.type, c.servers]),
    [
      ["v6tcp", "tcp", [`[::1]:${tcpPort}`, `[::1]:${closedPort}`]],
      ["v6http", "http", [`[0:0:0:0:0:0:0:1]:${httpPort}`]],
    ],
    "servers go out bracketed, as configured",
  );

  const prober = new BackendProber(probeService, () => {});
  try {
    prober.setPlan(plan);
    await waitFor(
      () => {
        const r = prober.current();
        return r.length === 3 && r.every((x) => x.detail !== "not probed yet") && r.some((x) => !x.up);
      },
      { what: "every IPv6 server probed, the closed port down", timeoutMs: 5000 },
    );
    const by = new Map(prober.current().map((r) => [r.server, r]));
    const open = by.get(`[::1]:${tcpPort}`);
    assert.equal(open?.up, true, open?.detail);
    assert.match(open?.detail ?? "", new RegExp(`^\\[::1\\]:${tcpPort}: connected`));
    const closed = by.get(`[::1]:${closedPort}`);
    assert.equal(closed?.up, false);
    assert.match(closed?.detail ?? "", new RegExp(`^\\[::1\\]:${closedPort}: connection refused`));
    const http = by.get(`[0:0:0:0:0:0:0:1]:${httpPort}`);
    assert.equal(http?.up, true, http?.detail);
    assert.match(http?.detail ?? "", /: HTTP 200$|: HTTP 200 after/);
    assert.equal(seen?.host, `[0:0:0:0:0:0:0:1]:${httpPort}`, "the Host header brackets the IPv6 host");
    assert.equal(seen?.remote, "::1", "the probe went over IPv6");

    // Back at the coordinator: the results key on the servers as configured.
    manager.report("lb1", prober.current(), 0, "");
    const status = new Map(manager.status().flatMap((u) => u.servers.map((s) => [`${u.name} ${s.address}`, s])));
    assert.equal(status.get(`v6tcp [::1]:${tcpPort}`)?.up, true);
    assert.equal(status.get(`v6tcp [::1]:${closedPort}`)?.up, false);
    assert.deepEqual(
      status.get(`v6tcp [::1]:${closedPort}`)?.seenBy.map((s) => [s.nodeId, s.up]),
      [["lb1", false]],
    );
    assert.equal(status.get(`v6http [0:0:0:0:0:0:0:1]:${httpPort}`)?.up, true);

    // An operator may write the server in another spelling: the override lands on the configured one.
    const r = manager.setOverride("v6http", `[::1]:${httpPort}`, "drain");
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const drained = manager.status().find((u) => u.name === "v6http")?.servers[0];
    assert.deepEqual([drained?.address, drained?.override], [`[0:0:0:0:0:0:0:1]:${httpPort}`, "drain"]);
    assert.equal(manager.setOverride("v6http", `[::2]:${httpPort}`, "drain").ok, false, "another address is still unknown");
  } finally {
    prober.stop();
    manager.stop();
  }
});
