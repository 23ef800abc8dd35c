/**
 * AgentService over gRPC: translates the bidirectional session into engine
 * calls. It decides nothing: hello admission, reports, acks and leaving all go
 * to the engine; the engine's commands come back through the session's sink.
 */
import { status as Status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AgentMessage, AgentService, type CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import type { Engine, SessionSink } from "../cluster/engine.js";
import { identityOf } from "../../shared/identity.js";
import type { SchedulerTimer } from "../../shared/scheduler.js";
import { sessionEnd, type StreamSignal } from "./session-end.js";
import { grpcStatusOf } from "./status.js";

/** A session must say hello this soon after opening. */
const HELLO_TIMEOUT_MS = 5000;

/**
 * How long after the agent's half-close the stream must stay unreset for the close to count
 * as clean: a cancelled call's reset comes right behind its end (well under a millisecond on
 * loopback), and after the wait the handler gives pending I/O one more turn, for a busy
 * coordinator whose reads lag.
 */
const HALF_CLOSE_SETTLE_MS = 20;

/**
 * AgentService with session requests left as bytes: the handler decodes them.
 * When grpc-js failed to decode a message it ended the call with INTERNAL while
 * writes of ours were still queued; one then went out after the status and the
 * HTTP/2 stream never closed. Decoding here,
 * a bad message is refused with INVALID_ARGUMENT after what was queued.
 */
export const AgentSessionService = {
  ...AgentService,
  session: { ...AgentService.session, requestDeserialize: (value: Buffer): Buffer => value },
} as const;

export function agentService(engine: Engine, log: Logger) {
  return {
    session(call: ServerDuplexStream<Buffer, CoordinatorMessage>) {
      const peer = call.getPeer();
      let sessionId: string | undefined;
      let done = false;
      const signals: StreamSignal[] = [];
      const fail = (code: Status, details: string) => {
        if (done) return;
        signals.push({ kind: "ended", reason: details });
        call.emit("error", { code, details });
      };
      // On the engine's scheduler, like every timer of the coordinator's (tests drive it).
      const helloTimer = engine.scheduler.setTimeout(
        () => sessionId === undefined && fail(Status.DEADLINE_EXCEEDED, `no hello within ${HELLO_TIMEOUT_MS} ms`),
        HELLO_TIMEOUT_MS,
      );
      const sink: SessionSink = {
        send(message) {
          if (done || call.writableEnded || call.destroyed) return;
          // Messages are small and rare; a full buffer only means the agent is slow to read.
          if (!call.write(message)) log.debug({ event: "session.backpressure", session: sessionId }, "agent stream buffer full");
        },
        end(reason) {
          if (done) return;
          log.info({ event: "session.end", session: sessionId, reason }, "ending agent session");
          fail(Status.ABORTED, reason);
        },
      };
      let halfCloseTimer: SchedulerTimer | undefined;
      /** The stream is over: tell the engine how it ended, once, and end our side if still open. */
      const settle = () => {
        if (halfCloseTimer) engine.scheduler.clearTimeout(halfCloseTimer);
        if (!done) {
          done = true;
          engine.scheduler.clearTimeout(helloTimer);
          const end = sessionEnd(signals);
          if (sessionId !== undefined) engine.closed(sessionId, end.how, end.abrupt);
        }
        if (!call.writableEnded && !call.destroyed) call.end();
      };

      call.on("data", (bytes: Buffer) => {
        if (done) return;
        let msg: AgentMessage;
        try {
          msg = AgentMessage.decode(bytes);
        } catch (err) {
          return fail(Status.INVALID_ARGUMENT, `undecodable AgentMessage (${bytes.length} bytes): ${(err as Error).message}`);
        }
        if (sessionId === undefined) {
          if (msg.body?.$case !== "hello") return fail(Status.INVALID_ARGUMENT, "the first message of a session must be hello");
          const claimed = msg.body.value.nodeId;
          let fingerprint = "";
          if (engine.config.tls) {
            // The certificate says who the agent is; the hello must agree.
            const who = identityOf(call.getAuthContext().sslPeerCertificate);
            if (!who.ok) return refuse(Status.UNAUTHENTICATED, `agent session refused: ${who.error.message}`, claimed);
            const id = who.value;
            if (id.role !== "agent")
              return refuse(Status.PERMISSION_DENIED, `agent session refused: a ${id.role} certificate (${id.name}) cannot open an agent session`, claimed);
            if (id.name !== claimed)
              return refuse(
                Status.PERMISSION_DENIED,
                `agent session refused: the certificate is for node ${id.name}, the hello claims node ${claimed}`,
                claimed,
              );
            fingerprint = id.fingerprint;
          }
          const outcome = engine.hello(msg.body.value, peer, sink, fingerprint);
          if (!outcome.ok) {
            const reason = outcome.error.message;
            log.warn({ event: "session.refused", node: msg.body.value.nodeId, peer, reason }, "agent session refused");
            call.write({ body: { $case: "refused", value: { reason, leaderHint: "" } } });
            return fail(grpcStatusOf(outcome.error).code, reason);
          }
          sessionId = outcome.value.sessionId;
          engine.scheduler.clearTimeout(helloTimer);
          return;
        }
        engine.message(sessionId, msg);
      });
      function refuse(code: Status, reason: string, node: string): void {
        log.warn({ event: "session.refused", node, peer, reason }, reason);
        call.write({ body: { $case: "refused", value: { reason, leaderHint: "" } } });
        fail(code, reason);
      }
      // A half-close is believed once the stream has not been reset just after (session-end.ts).
      call.on("end", () => {
        signals.push({ kind: "half-close" });
        // Then one more turn for pending I/O: on a busy coordinator the reset may sit unread behind other sockets.
        halfCloseTimer = engine.scheduler.setTimeout(() => setImmediate(settle), HALF_CLOSE_SETTLE_MS);
      });
      call.on("error", (err: Error & { details?: string }) => {
        signals.push({ kind: "error", message: err.message ?? err.details ?? String(err) });
        settle();
      });
      // grpc-js says "cancelled" whenever the stream closes: a reset only while our side is still open.
      call.on("cancelled", () => {
        signals.push(call.writableEnded ? { kind: "closed" } : { kind: "reset" });
        settle();
      });
      call.on("close", () => {
        signals.push(call.writableEnded ? { kind: "closed" } : { kind: "reset" });
        settle();
      });
    },
  };
}
