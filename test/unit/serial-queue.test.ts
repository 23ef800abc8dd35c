import { test } from "node:test";
import assert from "node:assert/strict";
import { SerialQueue } from "../../shared/serial-queue.js";

test("tasks run one at a time, in the order queued, each with its own outcome; a failure does not stop the queue", async () => {
  const q = new SerialQueue();
  const log: string[] = [];
  let running = 0;
  const task =
    (name: string, fail = false) =>
    async () => {
      running++;
      assert.equal(running, 1, `${name} overlapped another task`);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, 2));
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(`${name} failed`);
      return name;
    };
  const a = q.run(task("a"));
  const b = q.run(task("b", true));
  const c = q.run(task("c"));
  assert.equal(q.pending, 3);
  assert.equal(await a, "a");
  await assert.rejects(b, /b failed/);
  assert.equal(await c, "c");
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  await q.idle();
  assert.equal(q.pending, 0);
});

test("idle resolves after everything queued so far, even when the last task failed", async () => {
  const q = new SerialQueue();
  let done = false;
  void q.run(async () => {
    await new Promise((r) => setTimeout(r, 2));
    done = true;
  });
  q.run(() => Promise.reject(new Error("late failure"))).catch(() => undefined);
  await q.idle();
  assert.ok(done);
  assert.equal(q.pending, 0);
  assert.equal(await q.run(() => 7), 7, "a synchronous task works too");
});
