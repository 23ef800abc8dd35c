/** The coordinator's gRPC server options: bounded messages, keepalive, and no per-message channelz bookkeeping. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_MESSAGE_BYTES, SERVER_OPTIONS } from "../../coordinator/grpc/server.js";

test("server options: channelz off (nothing serves it, and it timestamps every message), messages bounded both ways", () => {
  assert.equal(SERVER_OPTIONS["grpc.enable_channelz"], 0);
  assert.equal(SERVER_OPTIONS["grpc.max_receive_message_length"], MAX_MESSAGE_BYTES);
  assert.equal(SERVER_OPTIONS["grpc.max_send_message_length"], MAX_MESSAGE_BYTES);
});
