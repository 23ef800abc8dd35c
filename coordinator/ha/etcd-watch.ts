/**
 * One etcd watch (a key or a prefix) that survives its stream: when the
 * stream fails (member down, restarted, or without leader: the require-leader
 * metadata makes etcd cancel it instead of leaving it silent), it reopens on
 * the next endpoint from the revision after the last one delivered, so no
 * event is lost or repeated. A progress request every `progressEveryMs` both
 * advances that revision on a quiet key and proves the stream is alive: no
 * answer within three of them and the stream is reopened.
 *
 * If etcd has compacted past the revision to resume from, the events in
 * between are gone: `compacted` tells the owner to re-read and watch anew.
 */
import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { Event } from "../../shared/gen/etcd/v3/kv.js";
import type { WatchRequest, WatchResponse } from "../../shared/gen/etcd/v3/rpc.js";
import type { EtcdClient } from "./etcd-client.js";
import { bytes, prefixEnd, type Bytes } from "./etcd-txn.js";

export interface WatchHandlers {
  /** Events of one revision or more, in order. */
  events(events: Event[]): void;
  /** The watch stopped for good: etcd compacted past `compactRevision`; re-read, then watch again. */
  compacted?(compactRevision: bigint): void;
  /** Stream state, for logs and metrics (a down watch is reopened by itself). */
  state?(up: boolean, detail: string): void;
}

export interface WatchOptions {
  prefix?: boolean;
  /** First revision wanted (inclusive); absent: from now. */
  fromRevision?: bigint;
  progressEveryMs?: number;
  /** Delay before reopening a failed stream. */
  retryMs?: number;
}

export class EtcdWatch {
  private stream?: ClientDuplexStream<WatchRequest, WatchResponse>;
  private address = "";
  private next: bigint;
  private created = false;
  private lastHeardMs = 0;
  private timer?: NodeJS.Timeout;
  private reopenTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly client: EtcdClient,
    private readonly key: Bytes,
    private readonly handlers: WatchHandlers,
    private readonly o: WatchOptions = {},
  ) {
    this.next = o.fromRevision ?? 0n;
  }

  /** The revision the watch resumes from (0n: not known yet). */
  get nextRevision(): bigint {
    return this.next;
  }

  start(): void {
    this.open();
    const every = this.o.progressEveryMs ?? 1000;
    this.timer = setInterval(() => {
      if (!this.stream) return;
      if (performance.now() - this.lastHeardMs > 3 * every) return this.reset(`no answer to progress requests for ${3 * every} ms`);
      this.stream.write({ requestUnion: { $case: "progressRequest", value: {} } });
    }, every);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.reopenTimer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  private open(): void {
    if (this.stopped) return;
    const { address, stream } = this.client.openWatchStream();
    this.address = address;
    this.stream = stream;
    this.created = false;
    this.lastHeardMs = performance.now();
    stream.on("data", (res: WatchResponse) => stream === this.stream && this.receive(res));
    stream.on("error", (err: Error & { details?: string }) => stream === this.stream && this.reset(err.details || err.message));
    stream.on("end", () => stream === this.stream && this.reset("etcd ended the watch stream"));
    const key = bytes(this.key);
    stream.write({
      requestUnion: {
        $case: "createRequest",
        value: {
          key,
          rangeEnd: this.o.prefix ? prefixEnd(key) : Buffer.alloc(0),
          startRevision: this.next,
          progressNotify: true,
          filters: [],
          prevKv: false,
          watchId: 0n,
          fragment: false,
        },
      },
    });
  }

  private receive(res: WatchResponse): void {
    this.lastHeardMs = performance.now();
    if (res.created) {
      this.created = true;
      // From now: the watch starts after the revision it was created at.
      if (this.next === 0n && res.header) this.next = res.header.revision + 1n;
      this.handlers.state?.(true, `watching from revision ${this.next} on ${this.address}`);
    }
    if (res.canceled) {
      if (res.compactRevision > 0n) {
        this.stop();
        this.handlers.compacted?.(res.compactRevision);
        return;
      }
      return this.reset(`etcd cancelled the watch: ${res.cancelReason || "no reason given"}`);
    }
    if (res.events.length > 0) {
      const last = res.events[res.events.length - 1]!.kv?.modRevision ?? 0n;
      if (last >= this.next) this.next = last + 1n;
      this.handlers.events(res.events);
    } else if (this.created && !res.created && res.header && !res.fragment) {
      // A progress answer: every later event has a higher revision than this.
      if (res.header.revision + 1n > this.next) this.next = res.header.revision + 1n;
    }
  }

  private reset(why: string): void {
    if (this.stopped) return;
    this.stream?.cancel();
    this.stream = undefined;
    this.handlers.state?.(false, `${why} (${this.address}); resuming from revision ${this.next}`);
    this.client.rotateFrom(this.address);
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => this.open(), this.o.retryMs ?? 200);
  }
}
