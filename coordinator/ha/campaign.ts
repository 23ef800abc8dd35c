/**
 * The leader campaign as data (docs/design.md, Election): one etcd txn
 * "if the leader key does not exist, put it with my lease, else read it",
 * and the pure decision from its result. The term is the revision of the
 * winning put, which is the leader key's create_revision: unique and
 * increasing across every replica, because etcd's revisions are.
 */
import type { KeyValue } from "../../shared/gen/etcd/v3/kv.js";
import type { Compare, TxnRequest, TxnResponse } from "../../shared/gen/etcd/v3/rpc.js";
import { cmp, op, txn } from "./etcd-txn.js";

/** Who a replica is, as stored in the leader key's value. */
export interface Candidate {
  name: string;
  /** Where agents and the CLI reach it ("host:port"). */
  address: string;
}

export type CampaignOutcome =
  | { role: "leader"; term: bigint; reason: string }
  | { role: "follower"; term: bigint; leader?: Candidate; reason: string }
  | { role: "retry"; reason: string };

export function leaderValue(me: Candidate): string {
  return JSON.stringify({ name: me.name, address: me.address });
}

export function parseLeaderValue(value: Buffer): Candidate | undefined {
  try {
    const o = JSON.parse(value.toString("utf8")) as Partial<Candidate>;
    return typeof o.name === "string" && typeof o.address === "string" ? { name: o.name, address: o.address } : undefined;
  } catch {
    return undefined;
  }
}

export function campaignTxn(key: string, me: Candidate, lease: bigint): TxnRequest {
  return txn([cmp.createRevision(key, "=", 0n)], [op.put(key, leaderValue(me), lease)], [op.get(key)]);
}

/**
 * What a campaign's answer means for the replica holding `myLease`. A failed
 * compare that finds the key on our own lease is our earlier put (a retried
 * campaign whose first answer was lost): we lead, with that put's term.
 */
export function decideCampaign(res: TxnResponse, myLease: bigint): CampaignOutcome {
  if (res.succeeded) {
    const term = res.header?.revision ?? 0n;
    return term > 0n
      ? { role: "leader", term, reason: "the leader key was free: we put it" }
      : { role: "retry", reason: "etcd answered the campaign without a revision" };
  }
  const first = res.responses[0]?.response;
  const kv: KeyValue | undefined = first?.$case === "responseRange" ? first.value.kvs[0] : undefined;
  if (!kv) return { role: "retry", reason: "the leader key vanished between compare and read" };
  if (kv.lease === myLease && myLease !== 0n)
    return { role: "leader", term: kv.createRevision, reason: "the leader key is already ours (an earlier campaign of this lease)" };
  const leader = parseLeaderValue(kv.value);
  return { role: "follower", term: kv.createRevision, leader, reason: leader ? `${leader.name} leads` : "another replica leads (unreadable leader value)" };
}

/** Compares that hold only while `term`'s leader key still stands: prefix every leader write with them. */
export function leaderGuard(key: string, term: bigint): Compare[] {
  return [cmp.createRevision(key, "=", term)];
}
