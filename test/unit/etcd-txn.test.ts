import { test } from "node:test";
import assert from "node:assert/strict";
import { prefixEnd } from "../../coordinator/ha/etcd-txn.js";

const cases: Array<[string, Buffer, number[]]> = [
  ["a plain prefix: its last byte plus one", Buffer.from("/kv/"), [...Buffer.from("/kv0")]],
  ["trailing 0xff bytes are dropped, the byte before them incremented", Buffer.from([0x61, 0xff, 0xff]), [0x62]],
  ["an all-0xff prefix means every key (\\0)", Buffer.from([0xff, 0xff]), [0]],
  ["an empty prefix means every key (\\0)", Buffer.alloc(0), [0]],
];
for (const [name, prefix, want] of cases) {
  test(`prefix end: ${name}`, () => assert.deepEqual([...prefixEnd(prefix)], want));
}

test("prefix end: does not modify the caller's buffer", () => {
  const b = Buffer.from("ab");
  prefixEnd(b);
  assert.equal(b.toString(), "ab");
});
