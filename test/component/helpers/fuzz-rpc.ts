/**
 * The RPC fuzz's world: a real coordinator over mutual TLS on 127.0.0.1 with a
 * legitimate stand-in pair (lb1, lb2) electing VI_1, and a hostile side that
 * holds certificates of its own: fz1 (a member of another group, VI_F, so its
 * sessions get past hello), mallory (an agent of no group: closed after the handshake), an admin, a
 * read-only admin, and a client with no certificate. Sessions are driven with
 * typed AgentMessages or with raw bytes (garbage, mutated encodings, varints
 * no JavaScript number holds); every call ends in a gRPC status the fuzz
 * checks. Everything the coordinator logs at warn or above is kept.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Client, credentials, Metadata, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { createCommandRunner } from "../../../shared/exec/runner.js";
import { adminSpec, agentSpec, coordinatorSpec, initCa, issue } from "../../../cli/certs.js";
import { Engine } from "../../../coordinator/cluster/engine.js";
import { startServer, type RunningServer } from "../../../coordinator/grpc/server.js";
import { createFileStore } from "../../../coordinator/state/store.js";
import { coordinatorConfigSchema } from "../../../shared/config/coordinator.js";
import { parseConfigText } from "../../../shared/config/load.js";
import { AdminClient } from "../../../shared/gen/keepvip/v1/admin.js";
import { AgentMessage, CoordinatorMessage } from "../../../shared/gen/keepvip/v1/agent.js";
import { StandinAgent } from "../../support/standin-agent.js";
import { waitFor } from "../../support/wait.js";

export type Identity = "fz1" | "mallory" | "lb1Twin" | "admin" | "admin2" | "reader" | "anonymous";

export interface LogEntry {
  level: number;
  event?: string;
  msg?: string;
}

export interface FuzzCluster {
  address: string;
  engine: Engine;
  /** The legitimate pair. */
  lb1: StandinAgent;
  lb2: StandinAgent;
  /** Channel credentials per hostile identity. */
  creds: Record<Identity, ChannelCredentials>;
  /** Coordinator log entries at warn and above. */
  logs: LogEntry[];
  stop(): Promise<void>;
}

const yaml = (dir: string) => `
tls: { ca: ${dir}/ca.crt, cert: ${dir}/coordinator.crt, key: ${dir}/coordinator.key }
timing:
  heartbeat_interval: 50ms
  # Generous on purpose: a shared 2-core machine under a fuzz barrage must not make lb1 look dead.
  dead_interval: 2s
  startup_grace: 0s
  verify_timeout: 100ms
  planned_overlap: 20ms
  ack_timeout: 500ms
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016, path: /aaa }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }
  - name: VI_F
    vips: ["198.18.0.200/24"]
    service: { port: 10016 }
    members:
      - { node: fz1, priority: 100 }
      - { node: fz2, priority: 90 }
upstreams:
  - name: my10016
    servers: [{ address: "198.18.0.21:10016" }, { address: "198.18.0.22:10016" }]
    check: { type: http, path: /aaa, interval: 100ms, timeout: 50ms }
`;

async function makePki(dir: string): Promise<void> {
  const runner = createCommandRunner();
  await initCa(runner, dir);
  await issue(runner, dir, coordinatorSpec(["127.0.0.1"]));
  for (const n of ["lb1", "lb2", "fz1", "mallory"]) await issue(runner, dir, agentSpec(n));
  await issue(runner, dir, adminSpec("fuzz", false));
  await issue(runner, dir, adminSpec("fuzz2", false));
  await issue(runner, dir, adminSpec("peek", true));
  // Another certificate for lb1 from the same CA: an impersonator with a valid-looking identity.
  const twin = join(dir, "twin");
  mkdirSync(twin, { recursive: true });
  for (const f of ["ca.crt", "ca.key"]) copyFileSync(join(dir, f), join(twin, f));
  await issue(runner, twin, agentSpec("lb1"));
}

export async function startFuzzCluster(): Promise<FuzzCluster> {
  const root = mkdtempSync(join(tmpdir(), "keepvip-fuzz-rpc-"));
  const pki = join(root, "pki");
  await makePki(pki);
  const ca = readFileSync(join(pki, "ca.crt"));
  const cred = (stem: string, dir = pki) => credentials.createSsl(ca, readFileSync(join(dir, `${stem}.key`)), readFileSync(join(dir, `${stem}.crt`)));
  const logs: LogEntry[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) logs.push(JSON.parse(line) as LogEntry);
      done();
    },
  });
  const log = pino({ level: "warn" }, sink);
  const config = parseConfigText(coordinatorConfigSchema, yaml(pki), "fuzz.yaml");
  const stateDir = join(root, "state");
  const engine = new Engine({ ...config, state_dir: stateDir }, createFileStore(stateDir), log);
  await engine.start();
  const server: RunningServer = await startServer(config, engine, log, "127.0.0.1:0");
  const lb1 = new StandinAgent(server.address, { node: "lb1", address: "198.18.0.11", creds: cred("agent-lb1") }).connect();
  const lb2 = new StandinAgent(server.address, { node: "lb2", address: "198.18.0.12", creds: cred("agent-lb2") }).connect();
  await waitFor(
    () =>
      engine.runtimes.get("VI_1")?.holder === "lb1" &&
      engine.runtimes.get("VI_1")?.phase.kind === "steady" &&
      engine.nodes.views.get("lb2")?.session === "live",
    { what: "lb1 holds VI_1 over mutual TLS", timeoutMs: 10_000 },
  );
  // Settled: lb1's move is recorded and the election has said nothing for a while.
  const vi1Events = () => engine.events.all().filter((e) => e.group === "VI_1");
  await waitFor(() => vi1Events().some((e) => e.kind === "move") && Date.now() - vi1Events()[vi1Events().length - 1].atMs > 300, {
    what: "VI_1 settled on lb1",
    timeoutMs: 10_000,
  });
  return {
    address: server.address,
    engine,
    lb1,
    lb2,
    logs,
    creds: {
      fz1: cred("agent-fz1"),
      mallory: cred("agent-mallory"),
      lb1Twin: cred("agent-lb1", join(pki, "twin")),
      admin: cred("admin-fuzz"),
      admin2: cred("admin-fuzz2"),
      reader: cred("reader-peek"),
      anonymous: credentials.createSsl(ca),
    },
    async stop() {
      lb1.destroy();
      lb2.destroy();
      await engine.stop();
      await server.shutdown(500);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** How a session ended, as the client saw it. */
export interface SessionOutcome {
  /** gRPC status code (0 = OK). */
  code: number;
  details: string;
  /** Messages the coordinator sent (bodies' kinds). */
  received: string[];
  /** The client itself cancelled (the status is ours, not the coordinator's). */
  cancelledByUs: boolean;
}

/** One scripted session: each step writes a message (typed or raw bytes); then half-close or cancel. */
export type SessionStep = { typed: AgentMessage } | { raw: Uint8Array } | { echoCommand: boolean };

const clients = new Map<string, Client>();
function clientFor(address: string, identity: Identity, creds: ChannelCredentials): Client {
  const key = `${address}/${identity}`;
  let c = clients.get(key);
  if (!c) {
    // The agent's own limit on what it sends is none: the coordinator's 1 MiB limit is what is tested.
    c = new Client(address, creds, { "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": 8 * 1024 * 1024 });
    clients.set(key, c);
  }
  return c;
}

export function closeClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

const identityBytes = (b: Uint8Array) => Buffer.from(b);

/**
 * Runs a session to its end and resolves with the status; rejects only when
 * nothing ends it within `timeoutMs` (a hang).
 */
export function runSession(
  cluster: FuzzCluster,
  identity: Identity,
  steps: SessionStep[],
  ending: "halfClose" | "cancel",
  timeoutMs = 8000,
): Promise<SessionOutcome> {
  const client = clientFor(cluster.address, identity, cluster.creds[identity]);
  const call = client.makeBidiStreamRequest<Uint8Array, Uint8Array>(
    "/keepvip.v1.Agent/Session",
    identityBytes,
    identityBytes,
    new Metadata(),
    {},
  ) as ClientDuplexStream<Uint8Array, Uint8Array>;
  const received: string[] = [];
  const commandIds: string[] = [];
  let cancelledByUs = false;
  return new Promise<SessionOutcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      call.cancel();
      reject(
        new Error(
          `session as ${identity} did not end within ${timeoutMs} ms (${ending} after ${describeSteps(steps)}; received ${received.join(", ") || "nothing"})`,
        ),
      );
    }, timeoutMs);
    call.on("data", (b: Uint8Array) => {
      const m = CoordinatorMessage.decode(b);
      received.push(m.body?.$case ?? "empty");
      if (m.body?.$case === "command" || m.body?.$case === "verify") commandIds.push(m.body.value.commandId);
    });
    call.on("status", (s: { code: number; details: string }) => {
      clearTimeout(timer);
      resolve({ code: s.code, details: s.details, received, cancelledByUs });
    });
    call.on("error", () => undefined);
    for (const step of steps) {
      if ("typed" in step) call.write(AgentMessage.encode(step.typed).finish());
      else if ("raw" in step) call.write(step.raw);
      else if (commandIds.length > 0) {
        const id = commandIds[commandIds.length - 1];
        // Answers the coordinator's own last command: an ack that claims VI_1 too, or a verdict.
        call.write(
          AgentMessage.encode(
            step.echoCommand
              ? {
                  body: {
                    $case: "ack",
                    value: {
                      commandId: id,
                      ok: true,
                      error: "",
                      held: ["VI_F", "VI_1"].map((group) => ({ group, address: "198.18.0.100/24", interface: "lan0", epoch: 1 })),
                    },
                  },
                }
              : { body: { $case: "verifyResult", value: { commandId: id, group: "VI_F", verdict: 2, detail: "fuzz", tookMs: 1 } } },
          ).finish(),
        );
      }
    }
    if (ending === "halfClose") call.end();
    else {
      cancelledByUs = true;
      call.cancel();
    }
  });
}

/** Steps in a few words, for failure messages (a 1 MiB message is not printed). */
export function describeSteps(steps: SessionStep[]): string {
  return steps
    .map((s) => {
      if ("raw" in s) return `raw[${s.raw.length}]`;
      if ("echoCommand" in s) return s.echoCommand ? "ack-last-command" : "verdict-last-command";
      const body = s.typed.body;
      if (!body) return "empty";
      const json = JSON.stringify(body.value);
      return `${body.$case}${json.length > 300 ? `[${json.length} chars]` : json}`;
    })
    .join(" → ");
}

export interface CallOutcome {
  code: number;
  details: string;
}

type Unary = (req: never, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: unknown) => void) => unknown;

/** One admin call with a deadline; resolves with its status (0 = OK). */
export function adminCall(cluster: FuzzCluster, identity: Identity, rpc: string, request: unknown, timeoutMs = 8000): Promise<CallOutcome> {
  const client = adminClientFor(cluster.address, identity, cluster.creds[identity]);
  return new Promise((resolve) => {
    if (rpc === "watchEvents") {
      const stream = client.watchEvents(request as never, new Metadata(), { deadline: Date.now() + timeoutMs });
      let done = false;
      const finish = (o: CallOutcome) => !done && ((done = true), resolve(o));
      stream.on("data", () => undefined);
      stream.on("error", (e: ServiceError) => finish({ code: e.code, details: e.details }));
      stream.on("status", (s: { code: number; details: string }) => finish({ code: s.code, details: s.details }));
      // A follower is ended by us after a moment: its status is then CANCELLED (ours).
      if ((request as { follow?: boolean }).follow) setTimeout(() => stream.cancel(), 30);
      return;
    }
    const fn = (client as unknown as Record<string, Unary>)[rpc].bind(client);
    fn(request as never, new Metadata(), { deadline: Date.now() + timeoutMs }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" }),
    );
  });
}

const adminClients = new Map<string, AdminClient>();
function adminClientFor(address: string, identity: Identity, creds: ChannelCredentials): AdminClient {
  const key = `${address}/${identity}`;
  let c = adminClients.get(key);
  if (!c) {
    c = new AdminClient(address, creds, { "grpc.max_send_message_length": -1 });
    adminClients.set(key, c);
  }
  return c;
}

export function closeAdminClients(): void {
  for (const c of adminClients.values()) c.close();
  adminClients.clear();
}
