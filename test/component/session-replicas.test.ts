/**
 * The agent's session with replicated coordinators, over real gRPC on
 * loopback: stand-in replicas (a follower that names the leader, a leader of
 * a given term, a closed port) and the real CoordinatorSession. The agent must
 * go straight to the leader a follower names, skip a dead replica fast, and
 * never follow a leader of a term lower than one it followed.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { CoordinatorSession } from "../../agent/session/client.js";
import { TermGuard } from "../../agent/core/memory.js";
import { AgentService, type AgentMessage, type CoordinatorMessage, type Hello, type Welcome } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { waitFor } from "../support/wait.js";

type Role = { kind: "follower"; hint: () => string } | { kind: "leader"; term: number };

interface Replica {
  address: string;
  /** Hellos this replica received. */
  hellos: Hello[];
  role: Role;
  /** Stops at once, ending every stream (a replica that died). */
  kill(): void;
  close(): Promise<void>;
}

const replicas: Replica[] = [];
after(() => {
  for (const r of replicas) r.kill();
});

async function replica(role: Role): Promise<Replica> {
  const server = new Server();
  const r: Replica = {
    address: "",
    hellos: [],
    role,
    kill: () => server.forceShutdown(),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(AgentService, {
    session(call: ServerDuplexStream<AgentMessage, CoordinatorMessage>) {
      call.on("data", (m: AgentMessage) => {
        if (m.body?.$case !== "hello") return;
        r.hellos.push(m.body.value);
        if (r.role.kind === "follower") {
          call.write({ body: { $case: "refused", value: { reason: "not the leader", leaderHint: r.role.hint() } } });
          call.end();
          return;
        }
        const welcome: Welcome = {
          sessionId: `s-${r.address}`,
          heartbeatIntervalMs: 1000,
          deadIntervalMs: 3000,
          reachIntervalMs: 100,
          verifyTimeoutMs: 150,
          reachFall: 3,
          term: r.role.term,
          groups: [],
        };
        call.write({ body: { $case: "welcome", value: welcome } });
      });
      call.on("error", () => undefined);
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  r.address = `127.0.0.1:${port}`;
  replicas.push(r);
  return r;
}

async function closedAddress(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return `127.0.0.1:${port}`;
}

/** A session over `addresses` whose agent follows terms with a TermGuard starting at `term`. */
function agentSession(addresses: string[], term = 0) {
  const terms = new TermGuard(term);
  const seen: { up: boolean; detail: string }[] = [];
  const session = new CoordinatorSession(
    addresses,
    credentials.createInsecure(),
    {
      hello: () => ({ nodeId: "lb1", agentVersion: "test", instanceId: "i1", state: undefined, epochs: [], term: terms.newest }),
      accept: (w) => terms.admit(w.term),
      message: () => undefined,
      connection: (up, detail) => void seen.push({ up, detail }),
    },
    silentLogger,
  );
  return { session, terms, seen };
}

test("a follower's refusal names the leader, and the agent is welcomed there at once", async () => {
  const leader = await replica({ kind: "leader", term: 4 });
  const follower = await replica({ kind: "follower", hint: () => leader.address });
  const other = await replica({ kind: "follower", hint: () => leader.address });
  const { session, terms } = agentSession([follower.address, other.address, leader.address]);
  const t0 = performance.now();
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the leader", timeoutMs: 5000 });
    const ms = performance.now() - t0;
    assert.equal(session.address, leader.address);
    assert.equal(follower.hellos.length, 1);
    assert.equal(other.hellos.length, 0, "the hint skipped the replica in between");
    assert.equal(terms.newest, 4);
    assert.ok(ms < 1000, `welcomed in ${Math.round(ms)} ms`);
  } finally {
    session.stop();
  }
});

test("a dead replica is skipped fast for the next in the list", async () => {
  const leader = await replica({ kind: "leader", term: 1 });
  const { session } = agentSession([await closedAddress(), leader.address]);
  const t0 = performance.now();
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the second replica", timeoutMs: 5000 });
    assert.equal(session.address, leader.address);
    assert.ok(performance.now() - t0 < 1500, `welcomed in ${Math.round(performance.now() - t0)} ms`);
  } finally {
    session.stop();
  }
});

test("a leader of a lower term than one the agent followed is not followed: the agent moves on to the current leader", async () => {
  const deposed = await replica({ kind: "leader", term: 6 });
  const current = await replica({ kind: "leader", term: 7 });
  const { session, terms, seen } = agentSession([deposed.address, current.address], 7);
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the term-7 leader", timeoutMs: 5000 });
    assert.equal(session.address, current.address);
    assert.equal(deposed.hellos.length >= 1, true, "the deposed leader was asked");
    assert.equal(deposed.hellos[0].term, 7, "the hello says the highest term followed");
    assert.equal(terms.newest, 7);
    assert.deepEqual(
      seen.map((s) => s.up),
      [true],
      "never connected to the deposed leader",
    );
  } finally {
    session.stop();
  }
});

test("when the leader goes, the agent finds the new one among the replicas", async () => {
  const first = await replica({ kind: "leader", term: 2 });
  const second = await replica({ kind: "follower", hint: () => "" });
  const { session, seen } = agentSession([first.address, second.address]);
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the first leader", timeoutMs: 5000 });
    // Leadership moves: the second replica leads at term 3, the first goes away.
    second.role = { kind: "leader", term: 3 };
    first.kill();
    await waitFor(() => session.connected && session.address === second.address, { what: "welcomed by the new leader", timeoutMs: 5000 });
    assert.deepEqual(
      seen.map((s) => s.up),
      [true, false, true],
    );
  } finally {
    session.stop();
  }
});
