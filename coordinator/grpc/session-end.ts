/**
 * How an agent's session stream ended, from what the handler saw of it: pure, so the
 * wording of "session closed (…)" in events and logs is table-tested.
 *
 * grpc-js reports a reset stream in an order that hides it: an agent that cancels its call
 * (a crash, a killed process) or a connection that breaks first ends the request side, as a
 * clean half-close does, and only then closes the stream. So a half-close is believed only
 * once the stream has not closed under us shortly after (agent-service.ts waits for that).
 */

/** One thing the handler saw of the stream, in the order it saw them. */
export type StreamSignal =
  /** The agent ended its side (END_STREAM): a planned departure, unless a reset follows. */
  | { kind: "half-close" }
  /** The stream closed before we ended our side: RST_STREAM (cancelled) or the connection lost. */
  | { kind: "reset" }
  /** The stream failed. */
  | { kind: "error"; message: string }
  /** We ended it with a status (a refusal, a replaced or dropped session, shutdown). */
  | { kind: "ended"; reason: string }
  /** The stream closed after we ended our side. */
  | { kind: "closed" };

export interface SessionEnd {
  /** For "session closed (…)". */
  how: string;
  /** Lost rather than left: the agent did not close its session. */
  abrupt: boolean;
}

/** The reason a session ended, the strongest signal first: ours, an error, a reset, a half-close, a close. */
export function sessionEnd(signals: readonly StreamSignal[]): SessionEnd {
  const ended = signals.find((s) => s.kind === "ended");
  if (ended) return { how: `ended by the coordinator: ${ended.reason}`, abrupt: false };
  const error = signals.find((s) => s.kind === "error");
  if (error) return { how: `stream error: ${error.message}`, abrupt: true };
  if (signals.some((s) => s.kind === "reset")) return { how: "stream reset: the agent's call was cancelled or its connection broke", abrupt: true };
  if (signals.some((s) => s.kind === "half-close")) return { how: "agent closed the session", abrupt: false };
  return { how: "stream closed", abrupt: false };
}
