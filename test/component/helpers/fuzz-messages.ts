/**
 * What a hostile client sends the coordinator, as fast-check arbitraries:
 * AgentMessages with random oneof bodies, strings and numbers (hellos with
 * random node ids and epochs, reports with huge and garbage fields, acks for
 * unknown commands), raw bytes (garbage, mutated encodings, a uint64 no
 * JavaScript number holds, messages over the 1 MiB limit) and admin calls
 * with random fields.
 */
import fc from "fast-check";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { AgentMessage, type HeldVip, type Report } from "../../../shared/gen/keepvip/v1/agent.js";
import { HOSTILE_FRAGMENTS, mutatedText, randomText } from "../../unit/fuzz-mutate.js";
import type { Identity, SessionStep } from "./fuzz-rpc.js";

const KNOWN = ["", "VI_1", "VI_F", "lb1", "lb2", "fz1", "fz2", "mallory", "my10016", "198.18.0.21:10016", "198.18.0.100/24", "chk_nginx", "nginx"];

export const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_FRAGMENTS) },
);
/** Long texts, well under the message limit (the limit has its own cases). */
const longText = fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 100_000 }).map((n) => "ü".repeat(n)) });
const u32 = fc.oneof(fc.nat(10), fc.constantFrom(2 ** 32 - 1, 2 ** 31), fc.nat());
const u64 = fc.oneof(fc.nat(10), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 53 - 2), fc.maxSafeNat());
const enumValue = fc.oneof(fc.nat(5), fc.integer());

const held: fc.Arbitrary<HeldVip> = fc.record({ group: text, address: text, interface: text, epoch: u64 });

export const report: fc.Arbitrary<Report> = fc.record({
  nginx: enumValue,
  nginxDetail: longText,
  tracks: fc.oneof(
    { weight: 9, arbitrary: fc.array(fc.record({ name: text, passing: fc.boolean(), detail: longText }), { maxLength: 8 }) },
    // Far more tracks than the coordinator keeps (sanitize.ts MAX_TRACKS).
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 500 }, (_, i) => ({ name: `t${i}`, passing: i % 2 === 0, detail: "" }))) },
  ),
  held: fc.array(held, { maxLength: 4 }),
  upstreamVersion: u64,
  upstreamError: longText,
  probes: fc.array(fc.record({ upstream: text, server: text, up: fc.boolean(), detail: longText, latencyMs: u32 }), { maxLength: 6 }),
  reach: fc.array(
    fc.record({ group: text, address: text, reachable: fc.boolean(), lanOk: fc.boolean(), lanFresh: fc.boolean(), observedMs: u64, consecutiveFailures: u32 }),
    { maxLength: 4 },
  ),
  fault: fc.boolean(),
  faultReason: longText,
  seq: u64,
  commandsReceived: u64,
  draining: fc.array(fc.record({ group: text, address: text, connections: u32, elapsedMs: u32, timeoutMs: u32 }), { maxLength: 4 }),
});

const nodeId = fc.oneof(
  { weight: 8, arbitrary: fc.constant("fz1") },
  { weight: 1, arbitrary: fc.constantFrom("lb1", "lb2", "fz2", "mallory") },
  { weight: 1, arbitrary: text },
);

export const hello: fc.Arbitrary<AgentMessage> = fc
  .record({
    nodeId,
    agentVersion: text,
    // Mostly the same instance: a reconnect replaces the live session instead of being refused.
    instanceId: fc.oneof({ weight: 4, arbitrary: fc.constant("i1") }, { weight: 1, arbitrary: text }),
    state: fc.option(report, { nil: undefined }),
    epochs: fc.array(fc.record({ group: fc.oneof(fc.constantFrom("VI_1", "VI_F"), text), epoch: u64 }), { maxLength: 3 }),
    term: u64,
    countsCommands: fc.boolean(),
  })
  .map((value) => ({ body: { $case: "hello", value } }));

export const agentMessage: fc.Arbitrary<AgentMessage> = fc.oneof(
  hello,
  { weight: 3, arbitrary: report.map((value): AgentMessage => ({ body: { $case: "report", value } })) },
  fc
    .record({ commandId: text, ok: fc.boolean(), error: text, held: fc.array(held, { maxLength: 3 }) })
    .map((value): AgentMessage => ({ body: { $case: "ack", value } })),
  fc
    .record({ commandId: text, group: text, verdict: enumValue, detail: longText, tookMs: u32 })
    .map((value): AgentMessage => ({ body: { $case: "verifyResult", value } })),
  fc.record({ handover: fc.boolean(), reason: text, restartMs: u32 }).map((value): AgentMessage => ({ body: { $case: "leaving", value } })),
  fc.record({ kind: text, group: text, detail: longText, atMs: u64 }).map((value): AgentMessage => ({ body: { $case: "event", value } })),
  fc.constant<AgentMessage>({ body: undefined }),
);

/** A hello whose epoch is 2^64 - 1: decoding it into a JavaScript number fails. */
export function uint64Bomb(): Uint8Array {
  const epoch = new BinaryWriter().uint32(10).string("VI_1").uint32(16).uint64("18446744073709551615").finish();
  const h = new BinaryWriter().uint32(10).string("fz1").uint32(42).bytes(epoch).finish();
  return new BinaryWriter().uint32(10).bytes(h).finish();
}

/** Raw bytes on the session: garbage, a valid message with bytes flipped, cut or inserted, or too big. */
export const rawBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(agentMessage, fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom("flip", "cut", "insert")), { minLength: 1, maxLength: 4 }))
      .map(([m, edits]) => {
        let b = Array.from(AgentMessage.encode(m).finish());
        for (const [at, byte, how] of edits) {
          const i = b.length === 0 ? 0 : at % b.length;
          if (how === "flip") b[i] = (b[i] ?? 0) ^ byte;
          else if (how === "cut") b = b.slice(0, i);
          else b.splice(i, 0, byte);
        }
        return Uint8Array.from(b);
      }),
  },
  { weight: 1, arbitrary: fc.constant(0).map(uint64Bomb) },
  // Over the coordinator's 1 MiB limit (grpc.max_receive_message_length).
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 512 * 1024 }).map((extra) => new Uint8Array(1024 * 1024 + extra).fill(0x0a)) },
);

export const sessionStep: fc.Arbitrary<SessionStep> = fc.oneof(
  { weight: 6, arbitrary: agentMessage.map((typed) => ({ typed })) },
  { weight: 2, arbitrary: rawBytes.map((raw) => ({ raw })) },
  { weight: 1, arbitrary: fc.boolean().map((echoCommand) => ({ echoCommand })) },
);

export interface SessionPlan {
  identity: Identity;
  steps: SessionStep[];
  ending: "halfClose" | "cancel";
}

export const sessionPlan: fc.Arbitrary<SessionPlan> = fc
  .record({
    identity: fc.oneof(
      { weight: 6, arbitrary: fc.constant<Identity>("fz1") },
      { weight: 1, arbitrary: fc.constantFrom<Identity>("mallory", "lb1Twin", "admin", "reader", "anonymous") },
    ),
    // Most sessions open with a hello so the rest reaches the engine; some start with anything.
    opener: fc.oneof({ weight: 3, arbitrary: hello.map((typed): SessionStep[] => [{ typed }]) }, { weight: 1, arbitrary: fc.constant<SessionStep[]>([]) }),
    steps: fc.array(sessionStep, { maxLength: 10 }),
    ending: fc.constantFrom<"halfClose" | "cancel">("halfClose", "halfClose", "cancel"),
  })
  .map(({ identity, opener, steps, ending }) => ({ identity, steps: [...opener, ...steps], ending }));

export interface AdminPlan {
  identity: Identity;
  rpc: "getStatus" | "why" | "switchover" | "setMaintenance" | "setServerState" | "validateConfig" | "watchEvents";
  request: Record<string, unknown>;
}

const WRITES = new Set(["switchover", "setMaintenance", "setServerState"]);

export function isWrite(rpc: string): boolean {
  return WRITES.has(rpc);
}

export function adminPlan(configTexts: readonly string[]): fc.Arbitrary<AdminPlan> {
  const yamlText = fc.oneof(
    mutatedText(configTexts, 4),
    randomText,
    fc.constantFrom("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", "groups: *x\n"),
  );
  const call = fc.oneof(
    fc.constant({ rpc: "getStatus" as const, request: {} }),
    fc.record({ group: text }).map((request) => ({ rpc: "why" as const, request })),
    fc.record({ group: text, toNode: text }).map((request) => ({ rpc: "switchover" as const, request })),
    fc.record({ nodeId: text, on: fc.boolean() }).map((request) => ({ rpc: "setMaintenance" as const, request })),
    fc
      .record({ upstream: text, server: text, action: fc.oneof(fc.constantFrom("drain", "down", "up", "weight"), text), weight: u32 })
      .map((request) => ({ rpc: "setServerState" as const, request })),
    fc
      .record({
        yaml: fc.oneof({ weight: 9, arbitrary: yamlText }, { weight: 1, arbitrary: fc.constant("x: ".padEnd(1100 * 1024, "y")) }),
        kind: fc.oneof(fc.constantFrom("coordinator", "agent"), text),
      })
      .map((request) => ({ rpc: "validateConfig" as const, request })),
    fc
      .record({ sinceMs: fc.oneof(fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER), fc.integer()), follow: fc.boolean() })
      .map((request) => ({ rpc: "watchEvents" as const, request })),
  );
  const identity = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<Identity>("admin", "admin2") },
    { weight: 2, arbitrary: fc.constant<Identity>("reader") },
    { weight: 1, arbitrary: fc.constantFrom<Identity>("fz1", "mallory", "anonymous") },
  );
  return fc.tuple(identity, call).map(([id, c]) => {
    // A real admin may legitimately move VI_1 or drain lb1: those stay with the read-only identity,
    // whose refusal is the property; the election of the legitimate pair must not move.
    const touchesPair =
      (c.rpc === "switchover" && (c.request.group === "VI_1" || ["lb1", "lb2"].includes(c.request.toNode as string))) ||
      (c.rpc === "setMaintenance" && ["lb1", "lb2"].includes(c.request.nodeId as string));
    return { identity: touchesPair && (id === "admin" || id === "admin2") ? "reader" : id, ...c };
  });
}
