/**
 * Which engine answers a call. A single coordinator has one engine for its
 * whole life. A replica of replicated coordinators has one only while it
 * leads (a new engine per term); while it follows, agent sessions are refused
 * with a hint naming the leader (the agent goes straight there) and admin
 * calls fail UNAVAILABLE with the leader's address in the details and in the
 * `keepvip-leader` trailer (the CLI follows it).
 */
import { Metadata, status as Status, type ServerDuplexStream, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { AdminServer } from "../../shared/gen/keepvip/v1/admin.js";
import type { CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import type { Engine } from "../cluster/engine.js";
import type { EngineRef } from "../cluster/engine-ref.js";

export { fixedEngine, type EngineRef } from "../cluster/engine-ref.js";

import { LEADER_TRAILER, REPLICA_TRAILER, TERM_TRAILER } from "../../shared/protocol.js";

export { LEADER_TRAILER } from "../../shared/protocol.js";

/** Why a follower does not answer, in words. */
export function followerMessage(ref: EngineRef): string {
  const l = ref.leader();
  return l
    ? `coordinator replica ${ref.name} follows: the leader is ${l.name} at ${l.address}`
    : `coordinator replica ${ref.name} follows and knows no leader yet (etcd unreachable or an election under way)`;
}

function leaderTrailer(ref: EngineRef): Metadata {
  const md = new Metadata();
  const l = ref.leader();
  md.set(REPLICA_TRAILER, ref.name);
  if (l) md.set(LEADER_TRAILER, l.address);
  if (l?.term !== undefined) md.set(TERM_TRAILER, String(l.term));
  return md;
}

type Handler = (...args: never[]) => unknown;

/**
 * The admin service of whichever engine leads: handlers are made once per
 * engine; while following, every call fails UNAVAILABLE naming the leader.
 */
export function routedAdmin(ref: EngineRef, make: (engine: Engine) => AdminServer): AdminServer {
  const made = new WeakMap<Engine, AdminServer>();
  const handlersOf = (engine: Engine): AdminServer => {
    let h = made.get(engine);
    if (!h) made.set(engine, (h = make(engine)));
    return h;
  };
  const route = <K extends keyof AdminServer>(name: K, streaming: boolean): AdminServer[K] =>
    ((call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>, callback?: sendUnaryData<unknown>) => {
      const engine = ref.current();
      if (engine) return (handlersOf(engine)[name] as Handler as (c: unknown, cb?: unknown) => void)(call, callback);
      const error = { code: Status.UNAVAILABLE, details: followerMessage(ref), metadata: leaderTrailer(ref) };
      if (streaming) (call as ServerWritableStream<unknown, unknown>).emit("error", error);
      else callback?.(error);
    }) as unknown as AdminServer[K];
  return {
    getStatus: route("getStatus", false),
    why: route("why", false),
    switchover: route("switchover", false),
    setMaintenance: route("setMaintenance", false),
    setServerState: route("setServerState", false),
    validateConfig: route("validateConfig", false),
    watchEvents: route("watchEvents", true),
    drill: route("drill", true),
  };
}

/** The agent session service of whichever engine leads; a follower refuses the session with a hint. */
export function routedAgent(
  ref: EngineRef,
  make: (engine: Engine) => { session(call: ServerDuplexStream<Buffer, CoordinatorMessage>): void },
): { session(call: ServerDuplexStream<Buffer, CoordinatorMessage>): void } {
  const made = new WeakMap<Engine, ReturnType<typeof make>>();
  return {
    session(call) {
      const engine = ref.current();
      if (engine) {
        let h = made.get(engine);
        if (!h) made.set(engine, (h = make(engine)));
        return h.session(call);
      }
      const reason = followerMessage(ref);
      call.on("error", () => undefined);
      call.write({ body: { $case: "refused", value: { reason, leaderHint: ref.leader()?.address ?? "" } } });
      call.emit("error", { code: Status.UNAVAILABLE, details: reason, metadata: leaderTrailer(ref) });
    },
  };
}
