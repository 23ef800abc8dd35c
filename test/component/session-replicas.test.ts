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
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { CoordinatorSession } from "../../agent/session/client.js";
import { ANSWER_TIMEOUT_MS } from "../../agent/session/rotation.js";
import { insecureChannel } from "../../shared/tls-target.js";
import { TermGuard } from "../../agent/core/memory.js";
import { AgentService, type AgentMessage, type CoordinatorMessage, type Hello, type Welcome } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { waitFor } from "../support/wait.js";

/** beatMs: beats every so often after the welcome (none without it), deadMs: the welcome's dead_interval. */
type Role =
  | { kind: "follower"; hint: () => string }
  | { kind: "leader"; term: number; beatMs?: number; deadMs?: number }
  /** Takes the stream and never says a word (an address that swallows what it is sent). */
  | { kind: "mute" };

interface Replica {
  address: string;
  /** Hellos this replica received. */
  hellos: Hello[];
  role: Role;
  /** Stops at once, ending every stream (a replica that died). */
  kill(): void;
  /** Stops beating and answering while every stream stays open (a leader cut off the network). */
  mute(): void;
  close(): Promise<void>;
}

const replicas: Replica[] = [];
after(() => {
  for (const r of replicas) r.kill();
});

async function replica(role: Role): Promise<Replica> {
  const server = new Server();
  const beats: NodeJS.Timeout[] = [];
  const r: Replica = {
    address: "",
    hellos: [],
    role,
    kill: () => {
      for (const t of beats) clearInterval(t);
      server.forceShutdown();
    },
    mute: () => {
      for (const t of beats) clearInterval(t);
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(AgentService, {
    session(call: ServerDuplexStream<AgentMessage, CoordinatorMessage>) {
      call.on("data", (m: AgentMessage) => {
        if (m.body?.$case !== "hello") return;
        r.hellos.push(m.body.value);
        if (r.role.kind === "mute") return;
        if (r.role.kind === "follower") {
          call.write({ body: { $case: "refused", value: { reason: "not the leader", leaderHint: r.role.hint() } } });
          call.end();
          return;
        }
        const welcome: Welcome = {
          sessionId: `s-${r.address}`,
          heartbeatIntervalMs: 1000,
          deadIntervalMs: r.role.deadMs ?? 3000,
          reachIntervalMs: 100,
          verifyTimeoutMs: 150,
          reachFall: 3,
          term: r.role.term,
          groups: [],
        };
        call.write({ body: { $case: "welcome", value: welcome } });
        const { beatMs, term } = r.role;
        if (beatMs) beats.push(setInterval(() => call.write({ body: { $case: "beat", value: { term } } }), beatMs));
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
    () => insecureChannel(),
    {
      hello: () => ({ nodeId: "lb1", agentVersion: "test", instanceId: "i1", state: undefined, epochs: [], term: terms.newest, countsCommands: false }),
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

test("a leader that stops beating with its stream open (cut off) is left within dead_interval for the next replica", async () => {
  const cut = await replica({ kind: "leader", term: 2, beatMs: 100, deadMs: 1000 });
  const next = await replica({ kind: "follower", hint: () => "" });
  const { session, seen } = agentSession([cut.address, next.address]);
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the first leader", timeoutMs: 5000 });
    // Beats keep a quiet session: 1.5 dead intervals later it is still the one.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(session.connected && session.address, cut.address, "a beating leader is kept");
    next.role = { kind: "leader", term: 3, beatMs: 100, deadMs: 1000 };
    const t0 = performance.now();
    cut.mute();
    await waitFor(() => session.connected && session.address === next.address, { what: "welcomed by the next replica", timeoutMs: 5000 });
    const ms = performance.now() - t0;
    // dead_interval 1000 ms + the rotation pause (50 ms) + a welcome; margin for a loaded 2-core machine.
    assert.ok(ms >= 900 && ms < 2500, `left the silent leader after ${Math.round(ms)} ms (dead_interval 1000 ms)`);
    assert.match(seen[1]?.detail ?? "", /no beat from .* a silent coordinator/);
  } finally {
    session.stop();
  }
});

test("a coordinator that never beats is not judged by silence", async () => {
  const quiet = await replica({ kind: "leader", term: 1, deadMs: 1000 });
  const { session, seen } = agentSession([quiet.address]);
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed", timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(session.connected, "still connected after 2.5 dead intervals of silence");
    assert.deepEqual(
      seen.map((s) => s.up),
      [true],
    );
  } finally {
    session.stop();
  }
});

test("a replica that never answers the hello is left after the answer timeout for the next one", async () => {
  const mute = await replica({ kind: "mute" });
  const leader = await replica({ kind: "leader", term: 1 });
  const { session, seen } = agentSession([mute.address, leader.address]);
  const t0 = performance.now();
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed by the second replica", timeoutMs: 10_000 });
    const ms = performance.now() - t0;
    assert.equal(session.address, leader.address);
    assert.equal(mute.hellos.length, 1, "the mute replica got the hello");
    // ANSWER_TIMEOUT_MS (2000) + the rotation pause; margin for a loaded 2-core machine.
    assert.ok(ms >= ANSWER_TIMEOUT_MS - 100 && ms < ANSWER_TIMEOUT_MS + 1500, `welcomed after ${Math.round(ms)} ms`);
    assert.deepEqual(
      seen.map((s) => s.up),
      [true],
    );
  } finally {
    session.stop();
  }
});
