import { test } from "node:test";
import assert from "node:assert/strict";
import { HEAP_TRIM_MS, startHeapTrim } from "../../agent/heap-trim.js";
import { ManualScheduler } from "../support/manual-scheduler.js";

test("a full collection every 20 s while it runs, none after the stop", async () => {
  const scheduler = new ManualScheduler();
  let collections = 0;
  const stop = startHeapTrim(scheduler, () => collections++);
  await scheduler.advance(HEAP_TRIM_MS - 1);
  assert.equal(collections, 0);
  await scheduler.advance(1);
  assert.equal(collections, 1);
  await scheduler.advance(HEAP_TRIM_MS * 3);
  assert.equal(collections, 4);
  stop();
  await scheduler.advance(HEAP_TRIM_MS * 3);
  assert.equal(collections, 4);
});

test("without gc() exposed nothing is armed", async () => {
  const scheduler = new ManualScheduler();
  startHeapTrim(scheduler, undefined)();
  assert.equal(scheduler.pending, 0);
});
