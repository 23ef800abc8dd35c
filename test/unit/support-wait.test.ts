import { test } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../support/wait.js";

test("waitFor resolves with the condition's first truthy value, sync or async", async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? `after ${n}` : undefined), { what: "three polls", intervalMs: 1 }), "after 3");
  assert.equal(await waitFor(async () => 42, { what: "an async answer" }), 42);
});

test("waitFor throws naming what it waited for, after checking once more at the deadline", async () => {
  let checks = 0;
  const started = Date.now();
  await assert.rejects(
    waitFor(() => (checks++, false), { what: "lb1 holds VI_1", timeoutMs: 30, intervalMs: 5 }),
    {
      message: "timed out after 30 ms waiting for: lb1 holds VI_1",
    },
  );
  assert.ok(Date.now() - started >= 30, "not before the deadline");
  assert.ok(checks >= 2, `polled ${checks} times`);
});
