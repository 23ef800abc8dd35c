/**
 * One replica of replicated coordinators (docs/design.md, Replicated
 * coordinators): it campaigns through etcd (leader.ts) and runs an engine only
 * while it leads, a new one per term, with its state in etcd (etcd-store.ts)
 * and its term on every welcome and command. The engine sends a command only
 * while the lease is certainly alive (fencing.ts); on losing the lead it stops
 * at once (its agent sessions end, and the agents find the new leader). It is
 * the gRPC server's EngineRef: while following, sessions and admin calls are
 * refused naming the leader.
 */
import type { Logger } from "pino";
import { SerialQueue } from "../../shared/serial-queue.js";
import type { Engine } from "../cluster/engine.js";
import type { EngineRef } from "../cluster/engine-ref.js";
import type { Candidate } from "./campaign.js";
import type { LeaderElection, LeaderState } from "./leader.js";

export interface ReplicaOptions {
  name: string;
  election: Pick<LeaderElection, "start" | "stop" | "canCommand" | "state">;
  /** A fresh engine for a term (its store guarded by the election). */
  makeEngine(term: number): Engine;
  log: Logger;
  /** Leading or not (the server's health follows). */
  onLeading?(on: boolean): void;
}

export class Replica implements EngineRef {
  readonly name: string;
  private engine?: Engine;
  private term = 0;
  private known?: Candidate & { term?: number };
  /** The newest term seen, led or followed, and how many times it changed. */
  private seenTerm = 0;
  private changes = 0;
  /** Role changes are applied one at a time: an engine starts fully before it can be stopped. */
  private readonly transitions = new SerialQueue();

  constructor(private readonly o: ReplicaOptions) {
    this.name = o.name;
  }

  current(): Engine | undefined {
    return this.engine;
  }

  leader(): (Candidate & { term?: number }) | undefined {
    return this.engine ? undefined : this.known;
  }

  /** The term this replica leads or follows (0: none known yet). */
  termSeen(): number {
    return this.seenTerm;
  }

  /** Leadership changes seen since start (each new term, whoever leads it). */
  leaderChanges(): number {
    return this.changes;
  }

  private see(term: number | undefined): void {
    if (term === undefined || !Number.isFinite(term) || term <= this.seenTerm) return;
    this.seenTerm = term;
    this.changes++;
  }

  /** The election's onChange: feeds role changes in order. */
  onChange(state: LeaderState): void {
    void this.transitions
      .run(() => this.apply(state))
      .catch((err: unknown) => this.o.log.error({ event: "ha.transition.error", err }, `replica ${this.name}: role change failed: ${(err as Error).message}`));
  }

  start(): void {
    this.o.election.start();
  }

  /** Resigns (a follower takes over within one etcd round trip) and stops the engine. */
  async stop(): Promise<void> {
    await this.o.election.stop();
    await this.transitions.run(() => this.stopEngine("stopping"));
  }

  private async apply(state: LeaderState): Promise<void> {
    if (state.kind === "leader") {
      const term = Number(state.term);
      this.see(term);
      if (this.engine && this.term === term) return;
      await this.stopEngine(`term ${term} begins`);
      // The election may have moved on while we waited for the queue.
      const now = this.o.election.state;
      if (now.kind !== "leader" || Number(now.term) !== term) return;
      const engine = this.o.makeEngine(term);
      engine.term = term;
      engine.replica = this.name;
      engine.fence = () => this.o.election.canCommand();
      engine.takeover = true;
      await engine.start();
      const still = this.o.election.state;
      if (still.kind !== "leader" || Number(still.term) !== term) {
        await engine.stop();
        return;
      }
      this.engine = engine;
      this.term = term;
      this.o.log.warn({ event: "ha.leading", term, replica: this.name }, `replica ${this.name} leads (term ${term})`);
      this.o.onLeading?.(true);
      return;
    }
    if (state.kind === "follower") {
      this.known = state.leader ? { ...state.leader, term: state.term === undefined ? undefined : Number(state.term) } : undefined;
      this.see(state.term === undefined ? undefined : Number(state.term));
    }
    await this.stopEngine(state.kind === "follower" ? `following ${state.leader?.name ?? "an unknown leader"} (term ${state.term ?? "?"})` : state.kind);
  }

  private async stopEngine(why: string): Promise<void> {
    const engine = this.engine;
    if (!engine) return;
    this.engine = undefined;
    this.o.onLeading?.(false);
    this.o.log.warn({ event: "ha.stepped_down", term: this.term, replica: this.name, why }, `replica ${this.name} no longer leads term ${this.term}: ${why}`);
    await engine.stop();
  }
}
