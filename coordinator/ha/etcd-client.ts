/**
 * A thin etcd v3 client on the project's grpc-js: KV (get, put, delete, txn),
 * leases, maintenance status, and the two bidi streams (watch, keep-alive)
 * that etcd-watch.ts and etcd-keepalive.ts drive.
 *
 * Several endpoints, one in use: a call that finds its member unreachable or
 * without a leader moves on to the next one (round robin), within one
 * deadline for the whole call. Every call and stream carries etcd's
 * require-leader metadata, so a member cut off from its quorum answers "no
 * leader" at once instead of holding the call until the deadline (and a
 * watch on it is cancelled instead of going silent).
 *
 * Retries: reads may move on after any failure of one member; writes only
 * after UNAVAILABLE, etcd's "not applied" answer (no leader, connection
 * refused). A write that timed out is NOT retried: it may have been applied.
 * Writes that matter are compare-guarded txns, so a repeat is harmless anyway.
 */
import { readFileSync } from "node:fs";
import { Client, credentials, Metadata, status as Status, type CallOptions, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type { KeyValue } from "../../shared/gen/etcd/v3/kv.js";
import {
  KVClient,
  LeaseClient,
  MaintenanceClient,
  WatchClient,
  type DeleteRangeResponse,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveResponse,
  type PutResponse,
  type RangeResponse,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
} from "../../shared/gen/etcd/v3/rpc.js";
import { bytes, prefixEnd, rangeRequest, type Bytes } from "./etcd-txn.js";

/** PEM contents (not paths): read them at the config edge with readEtcdTls. */
export interface EtcdTls {
  /** The CA that signed etcd's server certificates. */
  ca: Buffer;
  /** This client's certificate and key, for an etcd run with --client-cert-auth. */
  cert?: Buffer;
  key?: Buffer;
}

export interface EtcdClientOptions {
  /** "host:port" (an http:// or https:// prefix is accepted and dropped). */
  endpoints: string[];
  /** Client TLS; absent: plaintext (loopback tests and labs only). */
  tls?: EtcdTls;
  /** Deadline of one call across every endpoint it tries (default 1000 ms). */
  callTimeoutMs?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 1000;

/** etcd's require-leader metadata (rpctypes.MetadataRequireLeaderKey / MetadataHasLeader). */
export const REQUIRE_LEADER: Readonly<[string, string]> = ["hasleader", "true"];

/** A failed etcd call, with a message that names the endpoints and what each said. */
export class EtcdError extends Error {
  constructor(
    message: string,
    /** gRPC status of the last attempt (UNAVAILABLE: unreachable or no leader). */
    readonly code: Status | undefined,
  ) {
    super(message);
    this.name = "EtcdError";
  }
}

export function readEtcdTls(paths: { ca: string; cert?: string; key?: string }): EtcdTls {
  if (!paths.cert !== !paths.key) throw new Error("etcd tls: cert and key go together");
  return { ca: readFileSync(paths.ca), cert: paths.cert ? readFileSync(paths.cert) : undefined, key: paths.key ? readFileSync(paths.key) : undefined };
}

/** One member: one channel shared by the four service stubs. */
interface Endpoint {
  address: string;
  kv: KVClient;
  lease: LeaseClient;
  watch: WatchClient;
  maintenance: MaintenanceClient;
  base: Client;
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Invoke<Res> = (e: Endpoint, md: Metadata, o: Partial<CallOptions>, cb: Callback<Res>) => void;

export interface MemberStatus {
  address: string;
  ok: boolean;
  /** Member id of the raft leader this member follows ("0": none). */
  leader?: string;
  raftTerm?: string;
  version?: string;
  rttMs: number;
  error?: string;
}

export function explainGrpcError(err: ServiceError): string {
  // grpc-js appends its resolver's notes to connection errors; they say nothing here.
  const details = (err.details || err.message).replace(/\.?\s*Resolution note:.*$/s, "");
  if (err.code === Status.UNAVAILABLE && /no leader/.test(details)) return "member has no leader (etcd quorum lost, or this member is cut off)";
  if (err.code === Status.DEADLINE_EXCEEDED) return "no answer before the deadline";
  if (err.code === Status.UNAVAILABLE) return `unreachable (${details})`;
  return `${Status[err.code] ?? err.code}: ${details}`;
}

export class EtcdClient {
  private readonly endpoints: Endpoint[];
  private current = 0;
  readonly callTimeoutMs: number;

  constructor(o: EtcdClientOptions) {
    if (o.endpoints.length === 0) throw new Error("etcd: no endpoints");
    this.callTimeoutMs = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const creds: ChannelCredentials = o.tls ? credentials.createSsl(o.tls.ca, o.tls.key ?? null, o.tls.cert ?? null) : credentials.createInsecure();
    this.endpoints = o.endpoints.map((raw) => {
      const address = raw.replace(/^https?:\/\//, "");
      const base = new Client(address, creds, {
        // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
        "grpc.keepalive_time_ms": 5000,
        "grpc.keepalive_timeout_ms": 2000,
        "grpc.keepalive_permit_without_calls": 1,
        // A member that comes back is used again within a second, not after a long backoff.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
      });
      const shared = { channelOverride: base.getChannel() };
      return {
        address,
        base,
        kv: new KVClient(address, creds, shared),
        lease: new LeaseClient(address, creds, shared),
        watch: new WatchClient(address, creds, shared),
        maintenance: new MaintenanceClient(address, creds, shared),
      };
    });
  }

  /** The member in use (streams open there). */
  get endpoint(): string {
    return this.endpoints[this.current]!.address;
  }

  /** Moves off `address` if it is still the one in use (a stream on it failed). */
  rotateFrom(address: string): void {
    if (this.endpoints[this.current]!.address === address) this.current = (this.current + 1) % this.endpoints.length;
  }

  metadata(): Metadata {
    const md = new Metadata();
    md.set(REQUIRE_LEADER[0], REQUIRE_LEADER[1]);
    return md;
  }

  /** One key (linearizable read) and the store revision it was read at. */
  async get(key: Bytes): Promise<{ kv?: KeyValue; revision: bigint }> {
    const req = rangeRequest(key);
    const res = await this.call<RangeResponse>("get", "read", (e, md, o, cb) => e.kv.range(req, md, o, cb));
    return { kv: res.kvs[0], revision: res.header?.revision ?? 0n };
  }

  /** Every key under a prefix, in key order, and the revision they were read at. */
  async getPrefix(prefix: Bytes): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    const req = rangeRequest(prefix, { prefix: true });
    const res = await this.call<RangeResponse>("get prefix", "read", (e, md, o, cb) => e.kv.range(req, md, o, cb));
    return { kvs: res.kvs, revision: res.header?.revision ?? 0n };
  }

  /** Returns the revision of the put. */
  async put(key: Bytes, value: Bytes, lease = 0n): Promise<bigint> {
    const req = { key: bytes(key), value: bytes(value), lease, prevKv: false, ignoreValue: false, ignoreLease: false };
    const res = await this.call<PutResponse>("put", "write", (e, md, o, cb) => e.kv.put(req, md, o, cb));
    return res.header?.revision ?? 0n;
  }

  async delete(key: Bytes, o: { prefix?: boolean } = {}): Promise<{ deleted: bigint; revision: bigint }> {
    const req = { key: bytes(key), rangeEnd: o.prefix ? prefixEnd(key) : Buffer.alloc(0), prevKv: false };
    const res = await this.call<DeleteRangeResponse>("delete", "write", (e, md, opts, cb) => e.kv.deleteRange(req, md, opts, cb));
    return { deleted: res.deleted, revision: res.header?.revision ?? 0n };
  }

  /** Build the request with etcd-txn.ts (cmp, op, txn). */
  async txn(req: TxnRequest): Promise<TxnResponse> {
    return this.call<TxnResponse>("txn", "write", (e, md, o, cb) => e.kv.txn(req, md, o, cb));
  }

  /** etcd may raise the TTL (to about 1.5 × its election timeout): use the one returned. */
  async leaseGrant(ttlSeconds: number): Promise<{ id: bigint; ttlSeconds: number }> {
    const req = { TTL: BigInt(ttlSeconds), ID: 0n };
    const res = await this.call<LeaseGrantResponse>("lease grant", "write", (e, md, o, cb) => e.lease.leaseGrant(req, md, o, cb));
    if (res.error) throw new EtcdError(`etcd lease grant refused: ${res.error}`, undefined);
    return { id: res.ID, ttlSeconds: Number(res.TTL) };
  }

  /** Revokes (deleting its keys); a lease already gone is not an error. */
  async leaseRevoke(id: bigint): Promise<void> {
    try {
      await this.call<LeaseRevokeResponse>("lease revoke", "write", (e, md, o, cb) => e.lease.leaseRevoke({ ID: id }, md, o, cb));
    } catch (err) {
      if (err instanceof EtcdError && err.code === Status.NOT_FOUND) return;
      throw err;
    }
  }

  /** Remaining seconds, -1 when the lease has expired or never existed. */
  async leaseTimeToLive(id: bigint): Promise<number> {
    const res = await this.call<LeaseTimeToLiveResponse>("lease ttl", "read", (e, md, o, cb) => e.lease.leaseTimeToLive({ ID: id, keys: false }, md, o, cb));
    return Number(res.TTL);
  }

  /** Each member's own view (asked directly, no failover), with its round-trip time. */
  async status(): Promise<MemberStatus[]> {
    return Promise.all(
      this.endpoints.map(async (e) => {
        const started = performance.now();
        try {
          const res = await new Promise<StatusResponse>((resolve, reject) =>
            e.maintenance.status({}, new Metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, r) => (err ? reject(err) : resolve(r))),
          );
          return { address: e.address, ok: true, leader: String(res.leader), raftTerm: String(res.raftTerm), version: res.version, rttMs: performance.now() - started };
        } catch (err) {
          return { address: e.address, ok: false, rttMs: performance.now() - started, error: explainGrpcError(err as ServiceError) };
        }
      }),
    );
  }

  /** A watch stream on the member in use (require-leader, no deadline). */
  openWatchStream(): { address: string; stream: ClientDuplexStream<WatchRequest, WatchResponse> } {
    const e = this.endpoints[this.current]!;
    return { address: e.address, stream: e.watch.watch(this.metadata(), { deadline: Infinity }) };
  }

  /** A keep-alive stream on the member in use (require-leader, no deadline). */
  openKeepAliveStream(): { address: string; stream: ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> } {
    const e = this.endpoints[this.current]!;
    return { address: e.address, stream: e.lease.leaseKeepAlive(this.metadata(), { deadline: Infinity }) };
  }

  close(): void {
    for (const e of this.endpoints) e.base.close();
  }

  /**
   * Runs one call on the member in use, then on the next ones while the error
   * allows a retry (see the header) and the call's deadline has time left.
   * A read's attempt gets its share of the remaining time, so one silent
   * member does not eat the whole budget; a write's attempt gets all of it.
   */
  private async call<Res>(what: string, kind: "read" | "write", invoke: Invoke<Res>): Promise<Res> {
    const deadlineAt = Date.now() + this.callTimeoutMs;
    const tried: string[] = [];
    let lastCode: Status | undefined;
    for (let left = this.endpoints.length; left > 0; left--) {
      const remaining = deadlineAt - Date.now();
      if (remaining <= 0) break;
      const index = this.current;
      const e = this.endpoints[index]!;
      const budget = kind === "read" ? Math.max(remaining / left, Math.min(remaining, 100)) : remaining;
      try {
        return await new Promise<Res>((resolve, reject) => invoke(e, this.metadata(), { deadline: Date.now() + budget }, (err, res) => (err ? reject(err) : resolve(res))));
      } catch (err) {
        const se = err as ServiceError;
        lastCode = se.code;
        tried.push(`${e.address}: ${explainGrpcError(se)}`);
        const retry = se.code === Status.UNAVAILABLE || (kind === "read" && se.code === Status.DEADLINE_EXCEEDED);
        if (!retry) break;
        if (this.current === index) this.current = (index + 1) % this.endpoints.length;
      }
    }
    throw new EtcdError(`etcd ${what} failed within ${this.callTimeoutMs} ms: ${tried.join("; ") || "no time left"}`, lastCode);
  }
}
