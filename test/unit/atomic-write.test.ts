import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic, writeFileAtomicSync } from "../../shared/atomic-write.js";

const writers = {
  async: writeFileAtomic,
  sync: async (file: string, text: string, options?: { mode?: number; durable?: boolean }) => writeFileAtomicSync(file, text, options),
};

for (const [kind, write] of Object.entries(writers))
  for (const durable of [false, true]) {
    test(`writeFileAtomic (${kind}, durable: ${durable}) replaces the file whole, with its mode, and leaves no temporary file`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), "keepvip-atomic-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, "state.json");
      writeFileSync(file, "old\n");
      await write(file, "new\n", { mode: 0o640, durable });
      assert.equal(readFileSync(file, "utf8"), "new\n");
      assert.equal(statSync(file).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), ["state.json"]);
      await write(join(dir, "fresh"), "x", { durable });
      assert.equal(statSync(join(dir, "fresh")).mode & 0o777, 0o600, "0600 by default");
    });
  }

test("writeFileAtomicSync into a missing directory throws and creates nothing", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-atomic-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.throws(() => writeFileAtomicSync(join(dir, "absent", "f"), "x"), { code: "ENOENT" });
  assert.deepEqual(readdirSync(dir), []);
});

test("writeFileAtomic into a missing directory rejects and creates nothing", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-atomic-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(writeFileAtomic(join(dir, "absent", "f"), "x"), { code: "ENOENT" });
  assert.deepEqual(readdirSync(dir), []);
});
