import { test } from "node:test";
import assert from "node:assert/strict";
import { prettyLine } from "../../shared/log.js";

test("pretty logs: time, level, event, message, then the fields a person needs", () => {
  const line = prettyLine(
    JSON.stringify({
      level: "info",
      time: "2026-11-25T14:03:22.120Z",
      pid: 1,
      service: "keepvip-agent",
      node: "lb1",
      event: "vip.acquire",
      group: "VI_1",
      epoch: 3,
      msg: "acquired VI_1",
    }),
  );
  assert.equal(line, "14:03:22.120  INFO   vip.acquire  acquired VI_1  node=lb1 group=VI_1 epoch=3");
});

test("pretty logs: a line that is not JSON passes through unchanged", () => {
  assert.equal(prettyLine("nginx: [emerg] bind() failed"), "nginx: [emerg] bind() failed");
});
