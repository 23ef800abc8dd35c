/** Batched state writes: saves asked for during a write share the next one; none is answered before its change is written. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchedSaves } from "../../coordinator/state/batched-saves.js";

/** A write the test finishes by hand; it records the state it wrote (the counter when it began). */
function harness() {
  let state = 0;
  const writes: Array<{ wrote: number; finish: (err?: Error) => void }> = [];
  const saves = new BatchedSaves(
    () =>
      new Promise<void>((resolve, reject) => {
        writes.push({ wrote: state, finish: (err) => (err ? reject(err) : resolve()) });
      }),
  );
  const change = () => ++state;
  return { saves, writes, change };
}

const settled = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test("batched saves: the first save writes at once; saves during that write share one next write of the latest state", async () => {
  const { saves, writes, change } = harness();
  const done: string[] = [];
  change();
  const first = saves.save().then(() => done.push("first"));
  assert.equal(writes.length, 1, "written at once");
  assert.equal(writes[0].wrote, 1);
  // Three changes while it is written: none of them may be answered by the first write.
  const later = [1, 2, 3].map((i) => {
    change();
    return saves.save().then(() => done.push(`later ${i}`));
  });
  assert.equal(writes.length, 1, "no second write while the first runs");
  writes[0].finish();
  await first;
  await settled();
  assert.deepEqual(done, ["first"], "the later saves wait for a write that began after them");
  assert.equal(writes.length, 2, "one more write for the three of them");
  assert.equal(writes[1].wrote, 4, "it writes every change so far");
  writes[1].finish();
  await Promise.all(later);
  assert.deepEqual(done, ["first", "later 1", "later 2", "later 3"]);
  assert.equal(writes.length, 2);
});

test("batched saves: a failed write fails the saves that share it, and the next save writes again", async () => {
  const { saves, writes, change } = harness();
  change();
  const first = saves.save();
  change();
  const second = saves.save();
  const third = saves.save();
  writes[0].finish(new Error("disk full"));
  await assert.rejects(first, /disk full/);
  await settled();
  assert.equal(writes.length, 2);
  writes[1].finish(new Error("still full"));
  await assert.rejects(second, /still full/);
  await assert.rejects(third, /still full/, "it shared the failed write");
  const fourth = saves.save();
  assert.equal(writes.length, 3, "a save after the failures writes again");
  writes[2].finish();
  await fourth;
  await saves.idle();
});
