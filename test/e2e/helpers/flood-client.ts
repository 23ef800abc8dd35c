/**
 * A hostile client on the lab's control network, run inside an LB's namespace:
 *   ip netns exec P-lb2 node --import tsx test/e2e/helpers/flood-client.ts --target 198.19.0.1:7400 --duration 10000
 * For `duration` ms it opens bogus TCP connections (silent, garbage, a broken
 * HTTP/2 preface, HTTP/1.1), HTTP/2 connections with many streams that never
 * say hello or announce a huge message, gRPC calls over the 1 MiB limit,
 * hellos with unknown node ids, messages before hello, and admin calls with
 * garbage fields — all at bounded concurrency and bounded totals. With --ca,
 * --cert and --key (mutual TLS: the certificate of the host it runs on, what an
 * intruder there holds) the gRPC and HTTP/2 traffic is TLS with that identity,
 * and some of the bogus connections are TLS handshakes without a certificate.
 * It prints
 * one JSON line of figures and exits; SIGTERM ends it early. The target must
 * be in 198.18.0.0/15 (the lab's own range): it refuses anything else.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import http2 from "node:http2";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { AdminClient } from "../../../shared/gen/keepvip/v1/admin.js";
import { AgentClient, NginxState, type AgentMessage } from "../../../shared/gen/keepvip/v1/agent.js";
import { insecureChannel, tlsChannel } from "../../../shared/tls-target.js";

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    duration: { type: "string", default: "10000" },
    ca: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
  },
});
const tls =
  values.ca && values.cert && values.key ? { ca: readFileSync(values.ca), cert: readFileSync(values.cert), key: readFileSync(values.key) } : undefined;
const target = values.target ?? "";
const m = /^(198\.(?:18|19)\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(target);
if (!m) {
  process.stderr.write(`flood-client: --target must be an address of the lab (198.18.0.0/15) with a port, got "${target}"\n`);
  process.exit(2);
}
const [host, port] = [m[1], Number(m[2])];
const durationMs = Math.min(Number(values.duration), 60_000);
const deadline = Date.now() + durationMs;
const live = () => Date.now() < deadline && !stopping;
let stopping = false;

/** Hard bounds: totals per kind and how many run at once. */
const LIMITS = {
  tcp: 3000,
  tcpAtOnce: 120,
  tlsNoCert: 1000,
  tlsAtOnce: 8,
  h2Connections: 40,
  h2StreamsEach: 100,
  oversized: 100,
  hellos: 2000,
  admin: 2000,
  grpcAtOnce: 16,
};

const figures = {
  tcp: { attempted: 0, connected: 0, refused: 0, closedByServer: 0, errors: 0 },
  /** TLS handshakes without a client certificate (mutual TLS only); `completed`: the server let one send a request. */
  tlsNoCert: { attempted: 0, refused: 0, completed: 0 },
  h2: { connections: 0, streams: 0, reset: 0, answered: 0, sessionErrors: 0 },
  oversized: { sent: 0, codes: {} as Record<string, number> },
  hellos: { sent: 0, codes: {} as Record<string, number> },
  admin: { sent: 0, codes: {} as Record<string, number> },
};
const count = (codes: Record<string, number>, code: number | string) => (codes[String(code)] = (codes[String(code)] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const openSockets = new Set<Socket>();

/** Runs `task` up to `atOnce` at a time until `total` ran or the flood is over. */
async function pool(atOnce: number, total: number, task: (i: number) => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (live() && started < total) await task(started++).catch(() => undefined);
  };
  await Promise.all(Array.from({ length: atOnce }, worker));
}

let silent = 0;

function tcpOnce(i: number): Promise<void> {
  figures.tcp.attempted++;
  // A quarter stay silent and are held open (at most 100 at once) until the flood ends.
  const hold = i % 4 === 0 && silent < 100;
  return new Promise((resolve) => {
    const s = connect({ host, port });
    openSockets.add(s);
    let connected = false;
    s.setTimeout(hold ? durationMs : 3000, () => s.destroy());
    s.on("connect", () => {
      connected = true;
      figures.tcp.connected++;
      if (hold) {
        silent++;
        return resolve();
      }
      const kind = i % 3;
      if (kind === 0) s.end(randomBytes(1 + (i % 4096)));
      if (kind === 1) s.end(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(64)]));
      if (kind === 2) s.end(`POST /keepvip.v1.Admin/GetStatus HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\n\r\nhello`);
    });
    s.on("data", () => undefined);
    s.on("end", () => connected && figures.tcp.closedByServer++);
    s.on("error", () => (connected ? figures.tcp.errors++ : figures.tcp.refused++));
    s.on("close", () => {
      openSockets.delete(s);
      if (hold && connected) silent--;
      resolve();
    });
  });
}

/** A TLS handshake without a client certificate, then an HTTP/2 preface: the coordinator must never answer it. */
function tlsNoCertOnce(): Promise<void> {
  figures.tlsNoCert.attempted++;
  return new Promise((resolve) => {
    const s = tlsConnect({ host, port, ca: tls?.ca, ALPNProtocols: ["h2"], checkServerIdentity: () => undefined });
    let answered = false;
    s.setTimeout(3000, () => s.destroy());
    s.on("secureConnect", () => s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"));
    s.on("data", () => (answered = true));
    s.on("error", () => undefined);
    s.on("close", () => {
      if (answered) figures.tlsNoCert.completed++;
      else figures.tlsNoCert.refused++;
      resolve();
    });
  });
}

async function h2Once(i: number): Promise<void> {
  figures.h2.connections++;
  const session = tls
    ? http2.connect(`https://${host}:${port}`, { ca: tls.ca, cert: tls.cert, key: tls.key, checkServerIdentity: () => undefined })
    : http2.connect(`http://${host}:${port}`);
  session.on("error", () => figures.h2.sessionErrors++);
  const streams: Promise<void>[] = [];
  for (let n = 0; n < LIMITS.h2StreamsEach && live() && !session.destroyed; n++) {
    figures.h2.streams++;
    const path = n % 5 === 4 ? "/no.such.Service/Method" : "/keepvip.v1.Agent/Session";
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    streams.push(
      new Promise((resolve) => {
        stream.on("response", () => figures.h2.answered++);
        stream.on("data", () => undefined);
        stream.on("error", () => undefined);
        stream.on("close", () => {
          if (stream.rstCode !== 0) figures.h2.reset++;
          resolve();
        });
      }),
    );
    // Nothing (waits for the hello timeout), garbage, or a frame announcing a 100 MiB message.
    if (n % 3 === 1) stream.write(randomBytes(32));
    if (n % 3 === 2) stream.write(Buffer.from([0, 0x06, 0x40, 0, 0, 1, 2, 3]));
    if (n % 2 === 0) setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 50 + ((i * n) % 500));
    await sleep(5);
  }
  // Then the connection is dropped with whatever is still open (at most 2 s later).
  await Promise.race([Promise.all(streams), sleep(Math.min(2000, Math.max(0, deadline - Date.now())))]);
  session.destroy();
}

const channel = tls ? tlsChannel(`${host}:${port}`, tls) : insecureChannel();
const agent = new AgentClient(`${host}:${port}`, channel.credentials, { ...channel.options, "grpc.max_send_message_length": -1 });
const admin = new AdminClient(`${host}:${port}`, channel.credentials, { ...channel.options, "grpc.max_send_message_length": -1 });
const report = (detail: string) => ({
  nginx: NginxState.NGINX_STATE_RUNNING,
  nginxDetail: detail,
  tracks: [],
  held: [],
  upstreamVersion: 0,
  upstreamError: "",
  probes: [],
  reach: [],
  fault: false,
  faultReason: "",
  seq: 1,
  commandsReceived: 0,
  draining: [],
});

/** One session: write `messages`, half-close, resolve with the status code. */
function session(messages: AgentMessage[]): Promise<number> {
  return new Promise((resolve) => {
    const call = agent.session({ deadline: Date.now() + 5000 });
    call.on("data", () => undefined);
    call.on("error", (e: ServiceError) => resolve(e.code));
    call.on("status", (s: { code: number }) => resolve(s.code));
    for (const msg of messages) call.write(msg);
    call.end();
  });
}

async function oversizedOnce(i: number): Promise<void> {
  figures.oversized.sent++;
  const huge = "x".repeat(1024 * 1024 + 1 + (i % 7) * 100_000);
  if (i % 2 === 0) {
    count(
      figures.oversized.codes,
      await session([
        {
          body: {
            $case: "hello",
            value: { nodeId: "lb9", agentVersion: "flood", instanceId: "f", state: report(huge), epochs: [], term: 0, countsCommands: false },
          },
        },
      ]),
    );
  } else {
    count(
      figures.oversized.codes,
      await new Promise<number>((resolve) =>
        admin.validateConfig({ yaml: huge, kind: "coordinator" }, new Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err ? err.code : 0)),
      ),
    );
  }
}

async function helloOnce(i: number): Promise<void> {
  figures.hellos.sent++;
  const before: AgentMessage[] = i % 3 === 0 ? [{ body: { $case: "report", value: report("before hello") } }] : [];
  count(
    figures.hellos.codes,
    await session([
      ...before,
      {
        body: {
          $case: "hello",
          value: {
            nodeId: `flood-${i}`,
            agentVersion: "flood",
            instanceId: `f${i}`,
            state: report(""),
            epochs: [{ group: "VI_1", epoch: 2 ** 40 }],
            term: 0,
            countsCommands: false,
          },
        },
      },
    ]),
  );
}

async function adminOnce(i: number): Promise<void> {
  figures.admin.sent++;
  const md = new Metadata();
  const opts = { deadline: Date.now() + 5000 };
  const code = await new Promise<number>((resolve) => {
    const cb = (err: ServiceError | null) => resolve(err ? err.code : 0);
    switch (i % 6) {
      case 0:
        return admin.getStatus({}, md, opts, cb);
      case 1:
        return admin.why({ group: `VI_${i}` }, md, opts, cb);
      case 2:
        return admin.switchover({ group: `nope-${i}`, toNode: "lb2" }, md, opts, cb);
      case 3:
        return admin.setServerState({ upstream: "my10016", server: `198.18.0.${i % 250}:1`, action: "down", weight: 0 }, md, opts, cb);
      case 4:
        return admin.validateConfig({ yaml: `groups: [${"{".repeat(i % 50)}`, kind: "agent" }, md, opts, cb);
      default: {
        const w = admin.watchEvents({ sinceMs: -1, follow: true }, md, opts);
        w.on("data", () => undefined);
        w.on("error", (e: ServiceError) => resolve(e.code));
        setTimeout(() => w.cancel(), 200);
      }
    }
  });
  count(figures.admin.codes, code);
}

process.on("SIGTERM", () => (stopping = true));
// However it goes, it is over shortly after the deadline.
setTimeout(() => {
  for (const s of openSockets) s.destroy();
  process.stdout.write(`${JSON.stringify({ ...figures, timedOut: true })}\n`);
  process.exit(1);
}, durationMs + 10_000).unref();

const started = Date.now();
await Promise.all([
  pool(LIMITS.tcpAtOnce, LIMITS.tcp, tcpOnce),
  pool(4, LIMITS.h2Connections, h2Once),
  tls ? pool(LIMITS.tlsAtOnce, LIMITS.tlsNoCert, tlsNoCertOnce) : Promise.resolve(),
  pool(2, LIMITS.oversized, oversizedOnce),
  pool(LIMITS.grpcAtOnce / 2, LIMITS.hellos, helloOnce),
  pool(LIMITS.grpcAtOnce / 2, LIMITS.admin, adminOnce),
]);
for (const s of openSockets) s.destroy();
agent.close();
admin.close();
process.stdout.write(`${JSON.stringify({ ...figures, ms: Date.now() - started })}\n`);
process.exit(0);
