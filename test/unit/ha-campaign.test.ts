import { test } from "node:test";
import assert from "node:assert/strict";
import { campaignTxn, decideCampaign, leaderGuard, leaderValue, parseLeaderValue, type CampaignOutcome } from "../../coordinator/ha/campaign.js";
import { Compare_CompareResult, Compare_CompareTarget, type TxnResponse } from "../../shared/gen/etcd/v3/rpc.js";

const ME = 2n ** 62n + 7n; // lease ids live above 2^53
const OTHER = 2n ** 62n + 9n;

function won(revision: bigint): TxnResponse {
  return { header: { clusterId: 1n, memberId: 1n, revision, raftTerm: 2n }, succeeded: true, responses: [] };
}

function lost(kv?: { lease: bigint; createRevision: bigint; value: string }): TxnResponse {
  const kvs = kv
    ? [
        {
          key: Buffer.from("/kv/leader"),
          createRevision: kv.createRevision,
          modRevision: kv.createRevision,
          version: 1n,
          value: Buffer.from(kv.value),
          lease: kv.lease,
        },
      ]
    : [];
  return {
    header: { clusterId: 1n, memberId: 1n, revision: 50n, raftTerm: 2n },
    succeeded: false,
    responses: [{ response: { $case: "responseRange", value: { header: undefined, kvs, more: false, count: BigInt(kvs.length) } } }],
  };
}

const cases: Array<[string, TxnResponse, CampaignOutcome["role"], bigint | undefined, string | undefined]> = [
  ["the key was free: we lead, the term is the put's revision", won(42n), "leader", 42n, undefined],
  [
    "the key is another replica's: we follow it, with its term",
    lost({ lease: OTHER, createRevision: 17n, value: leaderValue({ name: "coord2", address: "10.0.0.2:7400" }) }),
    "follower",
    17n,
    "coord2",
  ],
  [
    "the key is on our own lease (a retried campaign): we lead with its term",
    lost({ lease: ME, createRevision: 30n, value: leaderValue({ name: "coord1", address: "10.0.0.1:7400" }) }),
    "leader",
    30n,
    undefined,
  ],
  ["a leader value we cannot read still means someone else leads", lost({ lease: OTHER, createRevision: 5n, value: "not json" }), "follower", 5n, undefined],
  ["the key vanished between compare and read: campaign again", lost(), "retry", undefined, undefined],
  ["a success without a revision is not a term: campaign again", { header: undefined, succeeded: true, responses: [] }, "retry", undefined, undefined],
];
for (const [name, res, role, term, leader] of cases) {
  test(`campaign: ${name}`, () => {
    const o = decideCampaign(res, ME);
    assert.equal(o.role, role);
    if (term !== undefined) assert.equal((o as { term: bigint }).term, term);
    if (o.role === "follower") assert.equal(o.leader?.name, leader);
    assert.ok(o.reason.length > 0, "every outcome says why");
  });
}

test("campaign: a lease id 0 (none) never matches the key as ours", () => {
  assert.equal(decideCampaign(lost({ lease: 0n, createRevision: 3n, value: "{}" }), 0n).role, "follower");
});

test("campaign txn: if the key's create_revision is 0, put it on our lease, else read it", () => {
  const t = campaignTxn("/kv/leader", { name: "coord1", address: "10.0.0.1:7400" }, ME);
  assert.equal(t.compare.length, 1);
  assert.equal(t.compare[0]!.target, Compare_CompareTarget.CREATE);
  assert.equal(t.compare[0]!.result, Compare_CompareResult.EQUAL);
  assert.deepEqual(t.compare[0]!.targetUnion, { $case: "createRevision", value: 0n });
  const put = t.success[0]!.request;
  assert.equal(put?.$case, "requestPut");
  if (put?.$case === "requestPut") {
    assert.equal(put.value.lease, ME);
    assert.deepEqual(parseLeaderValue(put.value.value), { name: "coord1", address: "10.0.0.1:7400" });
  }
  assert.equal(t.failure[0]!.request?.$case, "requestRange");
});

test("leader guard: holds only while the leader key's create_revision is the term", () => {
  const [g] = leaderGuard("/kv/leader", 42n);
  assert.equal(g!.target, Compare_CompareTarget.CREATE);
  assert.equal(g!.result, Compare_CompareResult.EQUAL);
  assert.deepEqual(g!.targetUnion, { $case: "createRevision", value: 42n });
  assert.equal(g!.key.toString(), "/kv/leader");
});
