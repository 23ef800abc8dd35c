/** The coordinator's saved state: parsing (shared by the file and etcd stores) and the file store's refusals. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileStore, emptyState, parseState } from "../../coordinator/state/store.js";
import { BatchedSaves } from "../../coordinator/state/batched-saves.js";

test("parseState: a partial saved state is filled with the defaults; the version is the current one", () => {
  assert.deepEqual(parseState('{"epochs":{"VI_1":7},"version":0}', "here"), { ...emptyState(), epochs: { VI_1: 7 } });
});

test("parseState: corrupt or non-object state is refused, naming where it came from, never read as empty", () => {
  for (const text of ["{", "[]", "null", '"x"', "3"]) {
    assert.throws(
      () => parseState(text, "state file /x/state.json"),
      (err: Error) => /^state file \/x\/state\.json is corrupt \(.+\); move it away only if you accept that epochs restart/.test(err.message),
      text,
    );
  }
});

test("file store: a corrupt state file stops the load with its path; a missing one is a first start", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createFileStore(dir);
  assert.deepEqual(await store.load(), emptyState());
  await store.save({ ...emptyState(), epochs: { VI_1: 4 } });
  assert.deepEqual((await store.load()).epochs, { VI_1: 4 });
  writeFileSync(join(dir, "state.json"), "{ half");
  await assert.rejects(store.load(), new RegExp(`state file ${join(dir, "state.json")} is corrupt`));
});

test("file store: saves asked for in one turn are written in order, each resolving once what it was given is on disk; the state dir is made when missing", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "keepvip-store-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, "state", "deeper");
  const store = createFileStore(dir);
  const saves = [1, 2, 3, 4, 5].map((epoch) => store.save({ ...emptyState(), epochs: { VI_1: epoch } }));
  await saves[2];
  assert.ok((await store.load()).epochs.VI_1 >= 3, "the third save's state (or a later one) is on disk when it resolves");
  await Promise.all(saves);
  assert.deepEqual((await store.load()).epochs, { VI_1: 5 }, "the last one wins");
  assert.equal(statSync(join(dir, "state.json")).mode & 0o777, 0o600);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith(".tmp")),
    [],
    "no temporary file left",
  );
});

test("file store: a lone save is written at once; a storm of saves through the engine's batching costs a few writes, the last with the latest state", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const written: number[] = [];
  const store = createFileStore(dir, (_d, _f, s) => written.push(s.epochs.VI_1 ?? 0));
  // A lone save (a takeover's epoch): on disk before the loop turns once.
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  await store.save({ ...emptyState(), epochs: { VI_1: 1 } });
  assert.equal(turned, false, "written without waiting for a turn of the loop");
  assert.deepEqual(written, [1]);
  // A storm right after: 1000 new epochs in one turn, saved as the engine does (BatchedSaves).
  const state = { ...emptyState(), epochs: { VI_1: 1 } };
  const saves = new BatchedSaves(() => store.save(state));
  const all: Promise<void>[] = [];
  for (let e = 2; e <= 1001; e++) {
    state.epochs.VI_1 = e;
    all.push(saves.save());
    if (e % 100 === 0) await Promise.resolve();
  }
  await Promise.all(all);
  assert.ok(written.length - 1 <= 3, `${written.length - 1} writes for 1000 saves`);
  assert.equal(written.at(-1), 1001, "the last write has the latest state");
});
