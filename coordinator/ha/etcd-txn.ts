/**
 * Pure builders for etcd transactions: compares (the "if"), and ops (the
 * "then"/"else"), with keys and values as strings. A txn is applied
 * atomically at one revision, which is what makes compare-and-swap, leader
 * campaigns and leader-guarded writes possible.
 */
import {
  Compare_CompareResult as Result,
  Compare_CompareTarget as Target,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type Compare,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from "../../shared/gen/etcd/v3/rpc.js";

export type Bytes = string | Buffer;
export type Relation = "=" | "!=" | ">" | "<";

const RESULT: Record<Relation, Result> = { "=": Result.EQUAL, "!=": Result.NOT_EQUAL, ">": Result.GREATER, "<": Result.LESS };

export function bytes(b: Bytes): Buffer {
  return typeof b === "string" ? Buffer.from(b, "utf8") : b;
}

/**
 * The range_end that makes [prefix, end) "every key starting with prefix":
 * the prefix with its last byte below 0xff incremented (trailing 0xff bytes
 * dropped); "\0" (every key) when the prefix is all 0xff or empty.
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const b = Buffer.from(bytes(prefix));
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i] = b[i]! + 1;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function compare(key: Bytes, rel: Relation, target: Target, union: Compare["targetUnion"]): Compare {
  return { key: bytes(key), result: RESULT[rel], target, targetUnion: union, rangeEnd: Buffer.alloc(0) };
}

/** Compares on one key. A key that does not exist has create, mod revision and version 0. */
export const cmp = {
  createRevision: (key: Bytes, rel: Relation, rev: bigint) => compare(key, rel, Target.CREATE, { $case: "createRevision", value: rev }),
  modRevision: (key: Bytes, rel: Relation, rev: bigint) => compare(key, rel, Target.MOD, { $case: "modRevision", value: rev }),
  version: (key: Bytes, rel: Relation, version: bigint) => compare(key, rel, Target.VERSION, { $case: "version", value: version }),
  value: (key: Bytes, rel: Relation, value: Bytes) => compare(key, rel, Target.VALUE, { $case: "value", value: bytes(value) }),
  lease: (key: Bytes, rel: Relation, lease: bigint) => compare(key, rel, Target.LEASE, { $case: "lease", value: lease }),
};

export function rangeRequest(key: Bytes, o: { prefix?: boolean; limit?: number; serializable?: boolean } = {}): RangeRequest {
  return {
    key: bytes(key),
    rangeEnd: o.prefix ? prefixEnd(key) : Buffer.alloc(0),
    limit: BigInt(o.limit ?? 0),
    revision: 0n,
    sortOrder: o.prefix ? RangeRequest_SortOrder.ASCEND : RangeRequest_SortOrder.NONE,
    sortTarget: RangeRequest_SortTarget.KEY,
    serializable: o.serializable ?? false,
    keysOnly: false,
    countOnly: false,
  };
}

/** Operations inside a txn branch. `lease` 0n (the default) attaches none. */
export const op = {
  get: (key: Bytes, o: { prefix?: boolean } = {}): RequestOp => ({ request: { $case: "requestRange", value: rangeRequest(key, o) } }),
  put: (key: Bytes, value: Bytes, lease = 0n): RequestOp => ({
    request: { $case: "requestPut", value: { key: bytes(key), value: bytes(value), lease, prevKv: false, ignoreValue: false, ignoreLease: false } },
  }),
  /** Deletes every key in [from, to). */
  deleteRange: (from: Bytes, to: Bytes): RequestOp => ({
    request: { $case: "requestDeleteRange", value: { key: bytes(from), rangeEnd: bytes(to), prevKv: false } },
  }),
  delete: (key: Bytes, o: { prefix?: boolean } = {}): RequestOp => ({
    request: { $case: "requestDeleteRange", value: { key: bytes(key), rangeEnd: o.prefix ? prefixEnd(key) : Buffer.alloc(0), prevKv: false } },
  }),
};

export function txn(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnRequest {
  return { compare, success, failure };
}
