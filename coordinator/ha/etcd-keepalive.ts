/**
 * Keeps one etcd lease alive over the LeaseKeepAlive stream and reports each
 * acknowledgement with the monotonic time its request was SENT (the fencing
 * basis, see fencing.ts). Responses on a stream come in request order, so a
 * FIFO of send times pairs them. A broken stream is reopened on the next
 * endpoint; the owner's fence, not this loop, decides when silence is fatal.
 */
import { status as Status, type ClientDuplexStream } from "@grpc/grpc-js";
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../../shared/gen/etcd/v3/rpc.js";
import type { EtcdClient } from "./etcd-client.js";

export interface KeepAliveEvents {
  /** etcd renewed the lease for `ttlSeconds` on a request sent at `sentAtMs`. */
  ack(sentAtMs: number, ttlSeconds: number): void;
  /** The lease is gone on etcd (expired or revoked): no keep-alive can save it. */
  lost(reason: string): void;
}

/** Unanswered keep-alives after which the stream is presumed stuck and reopened. */
const MAX_UNANSWERED = 8;

export class LeaseKeeper {
  private stream?: ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
  private address = "";
  private sent: number[] = [];
  private timer?: NodeJS.Timeout;
  private reopenTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly client: EtcdClient,
    readonly leaseId: bigint,
    private readonly everyMs: number,
    private readonly events: KeepAliveEvents,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    this.open();
    this.timer = setInterval(() => this.send(), this.everyMs);
    this.send();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.reopenTimer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  private send(): void {
    if (!this.stream) return;
    if (this.sent.length >= MAX_UNANSWERED) return this.reset(`${this.sent.length} keep-alives unanswered`);
    this.sent.push(this.now());
    this.stream.write({ ID: this.leaseId });
  }

  private open(): void {
    if (this.stopped) return;
    const { address, stream } = this.client.openKeepAliveStream();
    this.address = address;
    this.stream = stream;
    this.sent = [];
    stream.on("data", (res: LeaseKeepAliveResponse) => {
      if (stream !== this.stream) return;
      const sentAt = this.sent.shift();
      if (res.TTL <= 0n) return this.lose("etcd says the lease has expired or was revoked");
      if (sentAt !== undefined) this.events.ack(sentAt, Number(res.TTL));
    });
    stream.on("error", (err: Error & { code?: number; details?: string }) => {
      if (stream !== this.stream) return;
      if (err.code === Status.NOT_FOUND) return this.lose(`etcd: ${err.details ?? err.message}`);
      this.reset(err.details ?? err.message);
    });
    stream.on("end", () => stream === this.stream && this.reset("etcd ended the keep-alive stream"));
  }

  private reset(_why: string): void {
    if (this.stopped) return;
    this.stream?.cancel();
    this.stream = undefined;
    this.client.rotateFrom(this.address);
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => this.open(), Math.min(100, this.everyMs));
  }

  private lose(reason: string): void {
    this.stop();
    this.events.lost(reason);
  }
}
