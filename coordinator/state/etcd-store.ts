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
import { eventFromRecord, eventRecord, type DomainEvent, type EventRecord } from "../cluster/events.js";
import type { EtcdClient } from "../ha/etcd-client.js";
import { op } from "../ha/etcd-txn.js";
import type { EventHistory } from "./event-journal.js";
import { emptyState, parseState, type StateStore } from "./store.js";

/** What the store needs of the leader election: a write that applies only while this replica's term stands. */
export interface GuardedWriter {
  guardedTxn(success: RequestOp[]): Promise<TxnResponse>;
}

export interface EtcdStoreOptions {
  client: Pick<EtcdClient, "get" | "getPrefix">;
  guard: GuardedWriter;
  /** Key prefix of this cluster, e.g. "/keepvip/prod". */
  prefix: string;
  /** For logs: where etcd is. */
  endpoints: readonly string[];
}

export const stateKey = (prefix: string) => `${prefix.replace(/\/+$/, "")}/state`;
export const eventsPrefix = (prefix: string) => `${prefix.replace(/\/+$/, "")}/events/`;
/** Event keys sort as numbers: the sequence zero-padded to 16 digits. */
export const eventKey = (prefix: string, seq: number) => `${eventsPrefix(prefix)}${String(seq).padStart(16, "0")}`;

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
    history: (capacity, onError) => etcdEventHistory(o, capacity, onError),
  };
}

/**
 * The event history in etcd: one key per event, numbered on from the newest
 * key found at load, each put guarded by the leader's term (a deposed leader
 * adds nothing). Once it holds twice `capacity`, the oldest are deleted in one
 * guarded range delete. A failed write is reported, never fatal: history is
 * for people, epochs are what must persist.
 */
export function etcdEventHistory(o: Pick<EtcdStoreOptions, "client" | "guard" | "prefix">, capacity: number, onError: (err: unknown) => void): EventHistory {
  const writes = new SerialQueue();
  let next = 1;
  let first = 1;
  return {
    async load(): Promise<DomainEvent[]> {
      const { kvs } = await o.client.getPrefix(eventsPrefix(o.prefix));
      const events: DomainEvent[] = [];
      for (const kv of kvs) {
        const seq = Number(kv.key.toString("utf8").slice(eventsPrefix(o.prefix).length));
        if (!Number.isSafeInteger(seq)) continue;
        if (events.length === 0) first = seq;
        next = Math.max(next, seq + 1);
        try {
          const e = eventFromRecord(JSON.parse(kv.value.toString("utf8")) as EventRecord);
          if (e) events.push(e);
        } catch {
          // An unreadable record is skipped, as a torn line of the file journal is.
        }
      }
      return events.slice(-capacity);
    },
    append(e: DomainEvent): void {
      const seq = next++;
      void writes
        .run(async () => {
          await o.guard.guardedTxn([op.put(eventKey(o.prefix, seq), JSON.stringify(eventRecord(e)))]);
          if (seq - first + 1 > capacity * 2) {
            const keepFrom = seq - capacity + 1;
            await o.guard.guardedTxn([op.deleteRange(eventKey(o.prefix, first), eventKey(o.prefix, keepFrom))]);
            first = keepFrom;
          }
        })
        .catch(onError);
    },
    flush: () => writes.idle(),
  };
}
