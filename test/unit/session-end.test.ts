/** How an agent's session ended, from the signals its stream gave: left, lost, or ended by us. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { sessionEnd, type StreamSignal } from "../../coordinator/grpc/session-end.js";

test("a session's end: a half-close alone is a departure; a reset behind it, an error or a close before our end is a loss", () => {
  const reset = "stream reset: the agent's call was cancelled or its connection broke";
  const cases: Array<{ name: string; signals: StreamSignal[]; how: string; abrupt: boolean }> = [
    { name: "the agent half-closed and nothing followed: it left", signals: [{ kind: "half-close" }], how: "agent closed the session", abrupt: false },
    {
      name: "the agent half-closed, then the stream closed after we answered: it left",
      signals: [{ kind: "half-close" }, { kind: "closed" }],
      how: "agent closed the session",
      abrupt: false,
    },
    {
      name: "a cancelled call: grpc-js ends the request side first, then the reset closes the stream",
      signals: [{ kind: "half-close" }, { kind: "reset" }],
      how: reset,
      abrupt: true,
    },
    { name: "a connection reset before any end", signals: [{ kind: "reset" }], how: reset, abrupt: true },
    { name: "a reset then the close that follows it", signals: [{ kind: "reset" }, { kind: "reset" }], how: reset, abrupt: true },
    {
      name: "a stream error wins over the reset it causes",
      signals: [{ kind: "half-close" }, { kind: "reset" }, { kind: "error", message: "read ECONNRESET" }],
      how: "stream error: read ECONNRESET",
      abrupt: true,
    },
    {
      name: "a session we ended (a refusal, a replacement, shutdown) says why, and is no loss",
      signals: [{ kind: "ended", reason: "coordinator shutting down" }, { kind: "error", message: "coordinator shutting down" }, { kind: "closed" }],
      how: "ended by the coordinator: coordinator shutting down",
      abrupt: false,
    },
    { name: "a close after our end, nothing else seen", signals: [{ kind: "closed" }], how: "stream closed", abrupt: false },
  ];
  for (const c of cases) assert.deepEqual(sessionEnd(c.signals), { how: c.how, abrupt: c.abrupt }, c.name);
});
