import { test } from "node:test";
import assert from "node:assert/strict";
import { Compare, Compare_CompareTarget, LeaseGrantResponse, LeaseKeepAliveRequest, PutRequest, WatchRequest } from "../../shared/gen/etcd/v3/rpc.js";

// etcd picks lease ids at random over 63 bits: most are above 2^53, where a JS
// number silently rounds to a neighbouring (non-existent) lease.
const BIG_LEASE = 2n ** 62n + 12_345n;

test("etcd wire: a lease id above 2^53 survives encode and decode exactly", () => {
  const back = LeaseKeepAliveRequest.decode(LeaseKeepAliveRequest.encode({ ID: BIG_LEASE }).finish());
  assert.equal(back.ID, BIG_LEASE);
  assert.equal(typeof back.ID, "bigint");
  assert.notEqual(BigInt(Number(BIG_LEASE)), BIG_LEASE, "the id is one a JS number would have rounded");
});

test("etcd wire: the largest int64 lease id round-trips through a put and a grant response", () => {
  const max = 2n ** 63n - 1n;
  assert.equal(
    PutRequest.decode(
      PutRequest.encode({ key: Buffer.from("k"), value: Buffer.from("v"), lease: max, prevKv: false, ignoreValue: false, ignoreLease: false }).finish(),
    ).lease,
    max,
  );
  const grant = LeaseGrantResponse.decode(LeaseGrantResponse.encode({ ID: max, TTL: 2n, error: "" }).finish());
  assert.deepEqual([grant.ID, grant.TTL], [max, 2n]);
});

test("etcd wire: field numbers are etcd's (bytes checked by hand, not by our own decoder)", () => {
  // LeaseKeepAliveRequest.ID = 1, varint: tag 0x08, then 150 as 0x96 0x01.
  assert.deepEqual([...LeaseKeepAliveRequest.encode({ ID: 150n }).finish()], [0x08, 0x96, 0x01]);
  // PutRequest: key = 1 (0x0a), value = 2 (0x12), lease = 3 (0x18).
  assert.deepEqual(
    [...PutRequest.encode({ key: Buffer.from("a"), value: Buffer.from("b"), lease: 5n, prevKv: false, ignoreValue: false, ignoreLease: false }).finish()],
    [0x0a, 1, 0x61, 0x12, 1, 0x62, 0x18, 5],
  );
  // Compare: target = 2 (0x10), key = 3 (0x1a), create_revision = 5 (0x28), range_end = 64 (0x82 0x04).
  const cmp = Compare.encode({
    result: 0,
    target: Compare_CompareTarget.CREATE,
    key: Buffer.from("k"),
    targetUnion: { $case: "createRevision", value: 0n },
    rangeEnd: Buffer.from("z"),
  }).finish();
  assert.deepEqual([...cmp], [0x10, 1, 0x1a, 1, 0x6b, 0x28, 0, 0x82, 0x04, 1, 0x7a]);
  // WatchRequest.create_request = 1, its start_revision = 3 (0x18).
  const watch = WatchRequest.encode({
    requestUnion: {
      $case: "createRequest",
      value: {
        key: Buffer.from("k"),
        rangeEnd: Buffer.alloc(0),
        startRevision: 7n,
        progressNotify: false,
        filters: [],
        prevKv: false,
        watchId: 0n,
        fragment: false,
      },
    },
  }).finish();
  assert.deepEqual([...watch], [0x0a, 5, 0x0a, 1, 0x6b, 0x18, 7]);
});
