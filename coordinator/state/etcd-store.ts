/**
 * The coordinator's durable state in etcd, for replicated coordinators: the
 * same PersistedState the file store keeps (epochs, holders, pins,
 * maintenance, upstream version and overrides), as one JSON value under
 * `<prefix>/state`. Every save is a transaction guarded by the leader's term
 * (LeaderElection.guardedTxn): a deposed leader's save fails with
 * NotLeaderError and it steps down, so its epochs can never overwrite the new
 * leader's. A new leader loads what the last one saved; since a leader saves
 * an epoch before any command carries it, epochs never repeat across replicas.
 */
import type { TxnResponse, RequestOp } from "../../shared/gen/etcd/v3/rpc.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import type { EtcdClient } from "../ha/etcd-client.js";
import { op } from "../ha/etcd-txn.js";
import { emptyState, parseState, type StateStore } from "./store.js";

/** What the store needs of the leader election: a write that applies only while this replica's term stands. */
export interface GuardedWriter {
  guardedTxn(success: RequestOp[]): Promise<TxnResponse>;
}

export interface EtcdStoreOptions {
  client: Pick<EtcdClient, "get">;
  guard: GuardedWriter;
  /** Key prefix of this cluster, e.g. "/keepvip/prod". */
  prefix: string;
  /** For logs: where etcd is. */
  endpoints: readonly string[];
}

export const stateKey = (prefix: string) => `${prefix.replace(/\/+$/, "")}/state`;

export function createEtcdStore(o: EtcdStoreOptions): StateStore {
  const key = stateKey(o.prefix);
  // One save at a time, in order: a later state never lands before an earlier one.
  const writes = new SerialQueue();
  return {
    describe: () => `etcd ${o.endpoints.join(",")} key ${key}`,
    async load() {
      const { kv } = await o.client.get(key);
      if (!kv || kv.value.length === 0) return emptyState();
      return parseState(kv.value.toString("utf8"), `coordinator state in etcd key ${key}`);
    },
    save(state) {
      return writes.run(async () => {
        await o.guard.guardedTxn([op.put(key, JSON.stringify(state))]);
      });
    },
  };
}
