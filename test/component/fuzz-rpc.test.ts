/**
 * The coordinator's RPC handlers, fuzzed over mutual TLS on 127.0.0.1: random
 * agent sessions and admin calls from hostile identities against a running
 * coordinator with a legitimate stand-in pair. Properties: no crash, every
 * refusal a status with a message, and the pair's election untouched.
 * fast-check with a fixed seed; failing cases found on the way are kept as
 * regression examples (run first on every run).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { status as Status } from "@grpc/grpc-js";
import { NginxState } from "../../shared/gen/keepvip/v1/agent.js";
import { COORDINATOR_TEXTS } from "../fixtures/configs.js";
import { adminPlan, isWrite, sessionPlan, uint64Bomb, type AdminPlan, type SessionPlan } from "./helpers/fuzz-messages.js";
import { adminCall, closeAdminClients, closeClients, runSession, startFuzzCluster } from "./helpers/fuzz-rpc.js";

const runningReport = {
  nginx: NginxState.NGINX_STATE_RUNNING,
  nginxDetail: "",
  tracks: [],
  held: [],
  upstreamVersion: 0,
  upstreamError: "",
  probes: [],
  reach: [],
  draining: [],
  fault: false,
  faultReason: "",
  seq: 0,
  commandsReceived: 0,
};

/** Codes a refusal may carry: never INTERNAL or UNKNOWN (those say the coordinator failed, not the caller). */
const REFUSALS = new Set([
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.PERMISSION_DENIED,
  Status.RESOURCE_EXHAUSTED,
  Status.FAILED_PRECONDITION,
  Status.ABORTED,
  Status.UNAVAILABLE,
  Status.UNAUTHENTICATED,
  Status.DEADLINE_EXCEEDED,
]);

function assertRefusal(what: string, code: number, details: string): void {
  if (code === Status.OK) return;
  assert.ok(REFUSALS.has(code), `${what}: status ${Status[code]} (${details})`);
  assert.ok(details.trim().length > 0, `${what}: status ${Status[code]} without a message`);
}

test("RPC handlers: random agent sessions and admin calls over mutual TLS never crash the coordinator, every refusal has a status and a message, and the legitimate pair's election is untouched", {
  timeout: 120_000,
}, async (t) => {
  const cluster = await startFuzzCluster();
  t.after(async () => {
    closeClients();
    closeAdminClients();
    await cluster.stop();
  });
  const vi1 = () => cluster.engine.runtimes.get("VI_1")!;
  const before = { holder: vi1().holder, epoch: vi1().epoch };
  // Every change to VI_1, however brief: sampled and taken from the event history.
  const seenHolders = new Set<string>([String(before.holder)]);
  const sampler = setInterval(() => seenHolders.add(String(vi1().holder)), 5);
  const vi1Events: string[] = [];
  const unsubscribe = cluster.engine.events.subscribe(
    (e) => e.group === "VI_1" && ["election", "move", "verify", "fault", "conflict"].includes(e.kind) && vi1Events.push(`${e.kind}: ${e.message}`),
  );
  t.after(() => {
    clearInterval(sampler);
    unsubscribe();
  });
  const counts = { sessions: 0, admitted: 0, refused: 0, admin: 0, adminRefused: 0, steps: 0 };
  const codes = new Map<string, number>();
  const tally = (code: number) => codes.set(Status[code], (codes.get(Status[code]) ?? 0) + 1);

  const runSessionPlan = async (p: SessionPlan) => {
    const o = await runSession(cluster, p.identity, p.steps, p.ending);
    counts.sessions++;
    tally(o.code);
    counts.steps += p.steps.length;
    if (o.received.includes("welcome")) counts.admitted++;
    if (o.code !== Status.OK && !(o.cancelledByUs && o.code === Status.CANCELLED)) counts.refused++;
    if (p.identity !== "fz1") assert.ok(!o.received.includes("welcome"), `${p.identity} was welcomed as an agent`);
    if (o.cancelledByUs && o.code === Status.CANCELLED) return;
    assertRefusal(`session as ${p.identity}`, o.code, o.details);
    if (p.identity === "anonymous") assert.equal(o.code, Status.UNAVAILABLE, `a client without a certificate: ${Status[o.code]} ${o.details}`);
    // An agent of no group is closed right after the handshake: no RPC of it runs.
    if (p.identity === "mallory") assert.equal(o.code, Status.UNAVAILABLE, `an agent certificate of no group: ${Status[o.code]} ${o.details}`);
  };
  const runAdminPlan = async (p: AdminPlan) => {
    const o = await adminCall(cluster, p.identity, p.rpc, p.request);
    counts.admin++;
    tally(o.code);
    if (o.code !== Status.OK && o.code !== Status.CANCELLED) counts.adminRefused++;
    if (o.code === Status.CANCELLED) assert.ok(p.rpc === "watchEvents" && p.request.follow, `${p.rpc} cancelled`);
    else assertRefusal(`${p.rpc} as ${p.identity}`, o.code, o.details);
    if (p.identity === "fz1") assert.equal(o.code, Status.PERMISSION_DENIED, `agent certificate calling ${p.rpc}: ${Status[o.code]}`);
    if (p.identity === "mallory") assert.equal(o.code, Status.UNAVAILABLE, `an agent certificate of no group calling ${p.rpc}: ${Status[o.code]}`);
    if (p.identity === "reader" && isWrite(p.rpc)) assert.equal(o.code, Status.PERMISSION_DENIED, `read-only ${p.rpc}: ${Status[o.code]} ${o.details}`);
  };

  const action = fc.oneof(
    { weight: 3, arbitrary: sessionPlan.map((p) => () => runSessionPlan(p)) },
    { weight: 2, arbitrary: adminPlan(COORDINATOR_TEXTS).map((p) => () => runAdminPlan(p)) },
  );
  const claim = (group: string, epoch: number): SessionPlan => ({
    identity: "fz1",
    steps: [
      {
        typed: {
          body: {
            $case: "hello",
            value: {
              nodeId: "fz1",
              agentVersion: "",
              instanceId: "x",
              state: { ...runningReport, seq: 1 },
              epochs: [{ group, epoch }],
              term: 0,
              countsCommands: false,
            },
          },
        },
      },
      { typed: { body: { $case: "report", value: { ...runningReport, seq: 2 } } } },
    ],
    ending: "halfClose",
  });
  const regressions: Array<[Array<() => Promise<void>>]> = [
    // grpc-js decoded sessions itself: an undecodable message right after an admitted hello ended
    // the call with INTERNAL while the welcome burst was still queued; a queued write went out
    // after the status and the stream never closed (the client waited forever).
    [
      [
        () =>
          runSessionPlan({
            identity: "fz1",
            steps: [
              {
                typed: {
                  body: {
                    $case: "hello",
                    value: {
                      nodeId: "fz1",
                      agentVersion: "",
                      instanceId: "i1",
                      state: { ...runningReport, tracks: Array.from({ length: 400 }, (_, i) => ({ name: `t${i}`, passing: true, detail: "ü".repeat(200) })) },
                      epochs: [],
                      term: 0,
                      countsCommands: false,
                    },
                  },
                },
              },
              { raw: Uint8Array.from([0x1a, 0xdd, 0x01, 0x0f]) },
            ],
            ending: "halfClose",
          }),
      ],
    ],
    [[() => runSessionPlan({ identity: "fz1", steps: [{ raw: uint64Bomb() }], ending: "halfClose" })]],
    // A hello from a member of another group claiming a newer epoch of VI_1 raised VI_1's epoch.
    [[() => runSessionPlan(claim("VI_1", 2 ** 52))]],
    // A hello claiming epoch 2^53 - 1 for its own group: the next election made it 2^53, which
    // `keepvip status` could no longer decode (and where +1 no longer changes an epoch).
    [
      [
        async () => {
          await runSessionPlan(claim("VI_F", Number.MAX_SAFE_INTEGER));
          await runAdminPlan({ identity: "reader", rpc: "getStatus", request: {} });
        },
      ],
    ],
  ];
  let rounds = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 4 }), async (batch) => {
      rounds++;
      // Up to four at once: sessions race each other and admin calls.
      await Promise.all(batch.map((run) => run()));
    }),
    { seed: 51, numRuns: 400, endOnFailure: true, includeErrorInReport: true, examples: regressions },
  );

  // After the barrage: status answers, the pair never noticed.
  const status = await adminCall(cluster, "reader", "getStatus", {}, 2000);
  assert.equal(status.code, Status.OK, `status after the barrage: ${status.details}`);
  assert.deepEqual([...seenHolders], [String(before.holder)], "VI_1's holder never changed");
  assert.equal(vi1().holder, before.holder);
  assert.equal(vi1().epoch, before.epoch, "VI_1's epoch unchanged");
  assert.equal(vi1().phase.kind, "steady");
  assert.deepEqual(vi1Events, [], "no election, move, verification or conflict for VI_1");
  assert.equal(cluster.lb1.closedWith, undefined, "lb1's session was never ended");
  assert.equal(cluster.lb2.closedWith, undefined, "lb2's session was never ended");
  for (const n of ["lb1", "lb2"]) assert.equal(cluster.engine.nodes.views.get(n)?.session, "live", `${n} live`);
  const errors = cluster.logs.filter((l) => l.level >= 50);
  assert.deepEqual(errors, [], "the coordinator logged no errors");
  t.diagnostic(
    `RPC barrage: ${rounds} rounds, ${counts.sessions} sessions (${counts.steps} messages, ${counts.admitted} admitted, ${counts.refused} refused), ${counts.admin} admin calls (${counts.adminRefused} refused); statuses ${[...codes].map(([c, n]) => `${c} ${n}`).join(", ")}; VI_1 held by ${before.holder} at epoch ${before.epoch} throughout`,
  );
});
