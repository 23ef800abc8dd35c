/**
 * Metrics of one replica of replicated coordinators: its role and term, how
 * often the leadership changed as it saw it, and each etcd member's round trip
 * (asked at scrape time, bounded by the etcd call timeout). While it leads, the
 * engine's own metrics (holders, epochs, moves, upstreams) are served beside
 * them, fresh for each term: a follower has no engine and serves these alone.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Engine } from "../cluster/engine.js";
import { CoordinatorMetrics, registerSecurityMetrics, type SecurityView } from "../metrics.js";
import type { MemberStatus } from "./etcd-client.js";

/** What the metrics read of the replica. */
export interface ReplicaView {
  readonly name: string;
  /** The engine while this replica leads. */
  current(): Engine | undefined;
  /** The term it leads or follows (0: none known yet). */
  termSeen(): number;
  /** Leadership changes it has seen (a new term, led or followed). */
  leaderChanges(): number;
}

export class ReplicaMetrics {
  private readonly own = new Registry();
  private term?: { engine: Engine; metrics: CoordinatorMetrics };

  constructor(
    private readonly replica: ReplicaView,
    etcd: { status(): Promise<MemberStatus[]> },
    options: { processMetrics?: boolean; security?: SecurityView } = {},
  ) {
    const registers = [this.own];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.own });
    if (options.security) registerSecurityMetrics(this.own, options.security);
    const leader = new Gauge({
      name: "keepvip_replica_leader",
      help: "1 while this replica leads (and may command), 0 while it follows",
      labelNames: ["replica"],
      registers,
      collect(): void {
        leader.set({ replica: replica.name }, replica.current() ? 1 : 0);
      },
    });
    const term = new Gauge({
      name: "keepvip_replica_term",
      help: "The leader term this replica leads or follows (the election key's revision; 0 before it knows one)",
      labelNames: ["replica"],
      registers,
      collect(): void {
        term.set({ replica: replica.name }, replica.termSeen());
      },
    });
    const changes = new Counter({
      name: "keepvip_replica_leader_changes_total",
      help: "Leadership changes this replica saw (each new term, whoever leads it)",
      labelNames: ["replica"],
      registers,
      collect(): void {
        changes.reset();
        changes.inc({ replica: replica.name }, replica.leaderChanges());
      },
    });
    const up = new Gauge({
      name: "keepvip_etcd_member_up",
      help: "1 when the etcd member answered its status at this scrape",
      labelNames: ["member"],
      registers,
    });
    const rtt = new Gauge({
      name: "keepvip_etcd_rtt_seconds",
      help: "Round trip of a status call to each etcd member at this scrape (the call timeout when it did not answer)",
      labelNames: ["member"],
      registers,
      // The one collector that does I/O: up is set from the same answers.
      async collect(): Promise<void> {
        up.reset();
        rtt.reset();
        for (const m of await etcd.status()) {
          up.set({ member: m.address }, m.ok ? 1 : 0);
          rtt.set({ member: m.address }, m.rttMs / 1000);
        }
      },
    });
  }

  /** This replica's metrics, with the leading engine's when it leads (a new term gets fresh ones). */
  registry(): Registry {
    const engine = this.replica.current();
    if (this.term?.engine !== engine) {
      this.term?.metrics.close();
      this.term = engine ? { engine, metrics: new CoordinatorMetrics(engine, { processMetrics: false }) } : undefined;
    }
    return this.term ? Registry.merge([this.own, this.term.metrics.registry]) : this.own;
  }
}
