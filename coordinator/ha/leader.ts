/**
 * Leader election among coordinator replicas on etcd (docs/design.md,
 * Election): each replica holds a lease and campaigns with campaign.ts's
 * compare-and-swap on one leader key; the winner's term is that key's
 * create_revision. Followers watch the key and campaign again the moment it
 * goes (lease expired or revoked), with a slow poll as a safety net.
 *
 * The leader commands only while `canCommand()` holds (fencing.ts: until the
 * last acknowledged keep-alive's send time + TTL − margin, on a monotonic
 * clock) and writes only through `guardedTxn` (leaderGuard): a write that
 * finds the key changed means another replica may lead, so it steps down at
 * once. Any step-down abandons the lease (revoked if etcd answers) and
 * campaigns again with a fresh one. `stop()` resigns: revoking deletes the key
 * and wakes the followers' watches, a handover in one etcd round trip.
 */
import type { Logger } from "pino";
import type { TxnResponse, Compare, RequestOp } from "../../shared/gen/etcd/v3/rpc.js";
import { Event_EventType } from "../../shared/gen/etcd/v3/kv.js";
import { campaignTxn, decideCampaign, leaderGuard, parseLeaderValue, type Candidate } from "./campaign.js";
import type { EtcdClient } from "./etcd-client.js";
import { LeaseKeeper, type KeepAliveEvents } from "./etcd-keepalive.js";
import { txn } from "./etcd-txn.js";
import { EtcdWatch } from "./etcd-watch.js";
import { acknowledge, checkFenceTiming, commandDeadlineMs, defaultFenceTiming, mayCommand, type FenceTiming } from "./fencing.js";

export type LeaderState =
  | { kind: "starting" }
  | { kind: "follower"; term?: bigint; leader?: Candidate }
  | { kind: "leader"; term: bigint }
  | { kind: "stopped" };

/** Makes the keep-alive loop for a lease (a port: tests wrap it to silence keep-alives). */
export type KeeperFactory = (client: EtcdClient, leaseId: bigint, everyMs: number, events: KeepAliveEvents) => LeaseKeeper;

export interface LeaderElectionOptions {
  client: EtcdClient;
  /** The leader key, e.g. "<prefix>/leader". */
  key: string;
  me: Candidate;
  /** Lease TTL asked of etcd (it may grant more). */
  ttlSeconds: number;
  /** Fencing margin and keep-alive interval; default from the TTL (fencing.ts). */
  marginMs?: number;
  keepAliveEveryMs?: number;
  /** Pause before trying again after etcd failed a grant or campaign. */
  retryMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  log?: Logger;
  keeper?: KeeperFactory;
  /** Every change of role (and of the leader a follower sees). */
  onChange?: (state: LeaderState) => void;
}

export class NotLeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotLeaderError";
  }
}

interface HeldLease {
  id: bigint;
  timing: FenceTiming;
  /** Send time of the last acknowledged keep-alive or of the grant. */
  basisMs: number;
  keeper?: LeaseKeeper;
}

export class LeaderElection {
  private current: LeaderState = { kind: "starting" };
  private lease?: HeldLease;
  private watch?: EtcdWatch;
  private campaigning = false;
  /** A campaign was asked for while one was in flight: run another after it. */
  private campaignAgain = false;
  private stopped = false;
  private fenceTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  /** Leases we abandoned while etcd did not answer the revoke: revoked before the next campaign. */
  private orphans = new Set<bigint>();
  private readonly now: () => number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.now = o.now ?? (() => performance.now());
    const problem = checkFenceTiming(this.timing(o.ttlSeconds * 1000));
    if (problem) throw new Error(`ha: ${problem}`);
  }

  get state(): LeaderState {
    return this.current;
  }

  /** True only while leader AND the lease is certainly alive (fencing.ts). */
  canCommand(): boolean {
    return this.current.kind === "leader" && this.lease !== undefined && mayCommand(this.now(), this.lease.basisMs, this.lease.timing);
  }

  /** When the leader must have stopped commanding unless a keep-alive is acknowledged (monotonic ms). */
  commandDeadlineMs(): number {
    return this.current.kind === "leader" && this.lease ? commandDeadlineMs(this.lease.basisMs, this.lease.timing) : -Infinity;
  }

  start(): void {
    void this.acquireLease();
  }

  /**
   * A write that applies only while this replica's term stands. Throws
   * NotLeaderError (after stepping down) when the guard fails, or when this
   * replica may not command now; an EtcdError when etcd did not answer.
   */
  async guardedTxn(success: RequestOp[], o: { compare?: Compare[]; failure?: RequestOp[] } = {}): Promise<TxnResponse> {
    const s = this.current;
    if (s.kind !== "leader" || !this.canCommand()) throw new NotLeaderError(`not leader (${s.kind}) or past the fencing deadline`);
    const res = await this.o.client.txn(txn([...leaderGuard(this.o.key, s.term), ...(o.compare ?? [])], success, o.failure ?? []));
    if (!res.succeeded && !(await this.stillLeader(s.term))) {
      this.stepDown(`a guarded write found the leader key changed (term ${s.term})`);
      throw new NotLeaderError(`term ${s.term} is over: another replica may lead`);
    }
    return res;
  }

  /** Resigns: stops commanding at once, then revokes the lease so a follower takes over. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.fenceTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.watch?.stop();
    const lease = this.lease;
    this.lease = undefined;
    this.setState({ kind: "stopped" });
    lease?.keeper?.stop();
    if (lease)
      await this.o.client
        .leaseRevoke(lease.id)
        .catch((err: Error) => this.o.log?.warn({ event: "ha.resign", err: err.message }, "could not revoke the lease; it ends by TTL"));
    await this.revokeOrphans().catch(() => undefined);
  }

  private timing(ttlMs: number): FenceTiming {
    const d = defaultFenceTiming(ttlMs);
    return { ttlMs, marginMs: this.o.marginMs ?? d.marginMs, keepAliveEveryMs: this.o.keepAliveEveryMs ?? d.keepAliveEveryMs };
  }

  private async acquireLease(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.revokeOrphans();
      const sentAt = this.now();
      const granted = await this.o.client.leaseGrant(this.o.ttlSeconds);
      if (this.stopped) return void this.o.client.leaseRevoke(granted.id).catch(() => undefined);
      const lease: HeldLease = { id: granted.id, timing: this.timing(granted.ttlSeconds * 1000), basisMs: sentAt };
      this.lease = lease;
      const make: KeeperFactory = this.o.keeper ?? ((c, id, every, ev) => new LeaseKeeper(c, id, every, ev, this.now));
      lease.keeper = make(this.o.client, lease.id, lease.timing.keepAliveEveryMs, {
        ack: (at) => {
          if (this.lease !== lease) return;
          lease.basisMs = acknowledge(lease.basisMs, at);
          this.armFence();
        },
        lost: (reason) => this.lease === lease && this.abandonLease(`lease lost: ${reason}`),
      });
      lease.keeper.start();
      await this.campaign();
    } catch (err) {
      this.o.log?.warn({ event: "ha.lease", err: (err as Error).message }, `cannot get an etcd lease: ${(err as Error).message}`);
      this.retry(() => this.acquireLease());
    }
  }

  private async campaign(): Promise<void> {
    const lease = this.lease;
    if (this.stopped || !lease || this.current.kind === "leader") return;
    if (this.campaigning) {
      this.campaignAgain = true;
      return;
    }
    this.campaigning = true;
    this.campaignAgain = false;
    try {
      const res = await this.o.client.txn(campaignTxn(this.o.key, this.o.me, lease.id));
      if (this.lease !== lease || this.stopped) return;
      const outcome = decideCampaign(res, lease.id);
      this.o.log?.info({ event: "ha.campaign", outcome: outcome.role, reason: outcome.reason }, `campaign: ${outcome.reason}`);
      if (outcome.role === "leader") {
        this.setState({ kind: "leader", term: outcome.term });
        this.armFence();
      } else if (outcome.role === "follower") {
        this.setState({ kind: "follower", term: outcome.term, leader: outcome.leader });
      } else {
        this.retry(() => this.campaign());
      }
      this.ensureWatch((res.header?.revision ?? 0n) + 1n);
    } catch (err) {
      this.o.log?.warn({ event: "ha.campaign", err: (err as Error).message }, `campaign failed: ${(err as Error).message}`);
      this.retry(() => this.campaign());
    } finally {
      this.campaigning = false;
    }
    // The key changed while we asked (a delete seen mid-campaign): ask again now.
    if (this.campaignAgain) await this.campaign();
  }

  /** One watch on the leader key for this replica's life, and a slow poll behind it. */
  private ensureWatch(fromRevision: bigint): void {
    if (this.watch) return;
    this.watch = new EtcdWatch(
      this.o.client,
      this.o.key,
      {
        events: (events) => {
          for (const e of events) {
            const s = this.current;
            if (e.type === Event_EventType.DELETE) {
              if (s.kind === "leader") this.stepDown(`the leader key of term ${s.term} was deleted`);
              else void this.campaign();
            } else if (e.kv) {
              if (s.kind === "leader" && e.kv.createRevision !== s.term) this.stepDown(`the leader key now belongs to term ${e.kv.createRevision}`);
              else if (s.kind !== "leader") this.setState({ kind: "follower", term: e.kv.createRevision, leader: parseLeaderValue(e.kv.value) });
            }
          }
        },
        compacted: () => {
          this.watch = undefined;
          void this.campaign().then(() => this.ensureWatch(0n));
        },
      },
      { fromRevision },
    );
    this.watch.start();
    const ttlMs = this.lease?.timing.ttlMs ?? this.o.ttlSeconds * 1000;
    this.pollTimer ??= setInterval(() => this.current.kind !== "leader" && void this.campaign(), ttlMs);
  }

  /** Re-armed on every acknowledgement: fires when the fencing deadline passes without one. */
  private armFence(): void {
    clearTimeout(this.fenceTimer);
    if (this.current.kind !== "leader") return;
    const wait = Math.max(0, this.commandDeadlineMs() - this.now());
    // A timer's start is the event loop's cached time, which may lag this clock by the
    // current turn's work: it can fire a little before the deadline. Then it is armed again
    // for the rest, never dropped (the step-down would wait for an event that may not come).
    this.fenceTimer = setTimeout(() => {
      if (this.current.kind !== "leader") return;
      if (this.canCommand()) return this.armFence();
      this.stepDown("no keep-alive acknowledged before the fencing deadline");
    }, wait + 1);
  }

  private stepDown(reason: string): void {
    if (this.current.kind === "leader") {
      this.o.log?.warn({ event: "ha.step_down", term: String(this.current.term), reason }, `stepping down: ${reason}`);
      this.setState({ kind: "follower" });
    }
    this.abandonLease(reason);
  }

  /** Drops the lease (revoked if etcd answers: its key, if still ours, goes at once) and starts over. */
  private abandonLease(reason: string): void {
    if (this.current.kind === "leader") return this.stepDown(reason);
    clearTimeout(this.fenceTimer);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    lease.keeper?.stop();
    this.orphans.add(lease.id);
    void this.revokeOrphans().catch(() => undefined);
    this.retry(() => this.acquireLease());
  }

  /**
   * An abandoned lease may still hold the leader key on etcd (we could not
   * revoke it while cut off, and a new etcd leader extends lease timers):
   * revoking it when etcd answers again frees the key without waiting a TTL.
   */
  private async revokeOrphans(): Promise<void> {
    for (const id of [...this.orphans]) {
      await this.o.client.leaseRevoke(id);
      this.orphans.delete(id);
    }
  }

  private async stillLeader(term: bigint): Promise<boolean> {
    try {
      const { kv } = await this.o.client.get(this.o.key);
      return kv?.createRevision === term;
    } catch {
      return false;
    }
  }

  private retry(fn: () => Promise<void>): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void fn(), this.o.retryMs ?? 200);
  }

  private setState(s: LeaderState): void {
    const before = this.current;
    this.current = s;
    const same = before.kind === s.kind && ("term" in before ? before.term : undefined) === ("term" in s ? s.term : undefined);
    if (!same) this.o.onChange?.(s);
  }
}
