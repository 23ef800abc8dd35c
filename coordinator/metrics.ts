/**
 * The coordinator's Prometheus metrics. State (holders, epochs, sessions,
 * upstream health and versions) is read from the engine at scrape time;
 * happenings (elections, moves, their durations, agent events) are counted
 * from the engine's event stream (EventLog.subscribe), so the engine knows
 * nothing about metrics (hooks keep metrics out of the core).
 *
 * Every label value comes from a bounded set: group and node names from the
 * config, rules from the election's Rule type, event kinds from fixed lists
 * ("other" for anything an agent makes up), upstream servers as the config
 * writes them ("198.18.0.21:80", "[2001:db8::21]:80": a label value may hold
 * any text, so nothing is rewritten). No label carries a VIP address: VIPs,
 * IPv4 or IPv6, are per group.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { VERSION } from "../shared/version.js";
import { EVENT_LOOP_SAMPLE_MS } from "../shared/metrics-server.js";
import type { Engine } from "./cluster/engine.js";
import { groupStatuses } from "./cluster/status.js";
import type { Rule } from "./election/elect.js";
import type { DomainEvent } from "./cluster/events.js";
import { AGENT_EVENT_KINDS } from "../shared/protocol.js";

const RULES: ReadonlySet<string> = new Set<Rule>([
  "initial-election",
  "kept-holder",
  "kept-holder-nopreempt",
  "kept-holder-pinned",
  "preempt-pending",
  "preempted",
  "holder-ineligible",
  "holder-lost",
  "holder-unreachable",
  "switchover",
  "no-eligible",
]);

const PLANNER_KINDS: ReadonlySet<string> = new Set(["election", "move", "verify", "fault", "conflict"]);
const EVENT_KINDS: ReadonlySet<string> = new Set(["election", "move", "verify", "fault", "conflict", "session", "admin", "push", "config", "agent"]);

/** Planned moves take tens of ms, takeovers a few hundred; the tail is a slow or absent ack. */
export const MOVE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const ruleLabel = (rule: string | undefined): string => (rule !== undefined && RULES.has(rule) ? rule : "unknown");

/** How the coordinator's listener is secured, for the metrics (read at scrape time). */
export interface SecurityView {
  /** insecure: true (no TLS: anyone who reaches the listener can act). */
  insecure: boolean;
  /** When the serving certificate expires (ms since the epoch; follows reloads); absent without TLS. */
  certNotAfterMs?: () => number;
}

/**
 * keepvip_coordinator_insecure and keepvip_tls_cert_expiry_timestamp_seconds: a process-level
 * pair (a replica registers them once, whatever it leads), so an alert can say "running
 * without TLS" or "the certificate ends in 14 days".
 */
export function registerSecurityMetrics(registry: Registry, view: SecurityView): void {
  new Gauge({
    name: "keepvip_coordinator_insecure",
    help: "1 when the coordinator runs without TLS (insecure: true): anyone who reaches its listener can join as an agent or move a VIP",
    registers: [registry],
    collect() {
      this.set(view.insecure ? 1 : 0);
    },
  });
  const notAfter = view.certNotAfterMs;
  if (!notAfter) return;
  new Gauge({
    name: "keepvip_tls_cert_expiry_timestamp_seconds",
    help: "When the coordinator's serving certificate expires (Unix time; the file as last (re)loaded); absent without TLS",
    registers: [registry],
    collect() {
      this.set(Math.floor(notAfter() / 1000));
    },
  });
}

export class CoordinatorMetrics {
  readonly registry: Registry;
  private readonly unsubscribe: () => void;
  /** Per unit: the election's rule after the last event we saw for it (a move's reason is the rule that started it). */
  private readonly ruleSeen = new Map<string, string | undefined>();
  /** Per unit: rule and winner last counted as an election outcome. */
  private readonly outcomeSeen = new Map<string, string>();
  private readonly elections: Counter<"group" | "rule">;
  private readonly moves: Counter<"group" | "reason" | "outcome">;
  private readonly moveSeconds: Histogram<"group" | "reason">;
  private readonly events: Counter<"kind">;
  private readonly agentEvents: Counter<"node" | "kind">;

  constructor(
    private readonly engine: Engine,
    options: { registry?: Registry; processMetrics?: boolean; security?: SecurityView } = {},
  ) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    if (options.security) registerSecurityMetrics(registry, options.security);

    const scrape = new ScrapeCache();
    const info = new Gauge({
      name: "keepvip_coordinator_info",
      help: "keepvip coordinator version (always 1)",
      labelNames: ["version"],
      registers,
      // Registered before every collector below: a scrape starts here.
      collect: () => {
        scrape.next();
        info.set({ version: VERSION }, 1);
      },
    });

    // ---------------------------------------------------------------- happenings
    this.elections = new Counter({
      name: "keepvip_election_outcomes_total",
      help: "Election outcomes that changed (rule or winner), by the rule that decided; a sync group counts under its own name",
      labelNames: ["group", "rule"],
      registers,
    });
    this.moves = new Counter({
      name: "keepvip_moves_total",
      help: "VIP moves by the rule that started them (switchover, preempted, holder-lost, holder-ineligible, holder-unreachable, initial-election) and outcome (completed, failed)",
      labelNames: ["group", "reason", "outcome"],
      registers,
    });
    this.moveSeconds = new Histogram({
      name: "keepvip_failover_duration_seconds",
      help: "Completed moves: from the acquire command to the new holder's ack (every group of the unit), by the rule that started them",
      labelNames: ["group", "reason"],
      buckets: MOVE_BUCKETS_S,
      registers,
    });
    this.events = new Counter({
      name: "keepvip_events_total",
      help: "Events in the coordinator's history (keepvip events), by kind",
      labelNames: ["kind"],
      registers,
    });
    this.agentEvents = new Counter({
      name: "keepvip_agent_events_total",
      help: "Events agents reported (drift repaired, GARP failed, takeover unconfirmed, ...)",
      labelNames: ["node", "kind"],
      registers,
    });
    this.unsubscribe = engine.events.subscribe((e) => this.onEvent(e));

    // ---------------------------------------------------------------- state, read at scrape time
    const holder = new Gauge({
      name: "keepvip_holder",
      help: "1 for the node holding the group's VIPs (as the coordinator knows it), 0 for the other members",
      labelNames: ["group", "node"],
      registers,
      collect: () => {
        holder.reset();
        for (const u of engine.units) {
          const rt = engine.runtimes.get(u.name);
          for (const g of u.groups) for (const m of u.members) holder.set({ group: g, node: m.node }, rt?.holder === m.node ? 1 : 0);
        }
      },
    });
    const epoch = new Gauge({
      name: "keepvip_epoch",
      help: "The group's epoch: it grows by one with every change of holder",
      labelNames: ["group"],
      registers,
      collect: () => {
        for (const u of engine.units) for (const g of u.groups) epoch.set({ group: g }, engine.runtimes.get(u.name)?.epoch ?? 0);
      },
    });
    const phase = new Gauge({
      name: "keepvip_group_phase",
      help: "1 for the group's current phase (steady, acquiring, verifying, cut-off)",
      labelNames: ["group", "phase"],
      registers,
      collect: () => {
        phase.reset();
        for (const u of engine.units) for (const g of u.groups) phase.set({ group: g, phase: engine.runtimes.get(u.name)?.phase.kind ?? "steady" }, 1);
      },
    });
    const statuses = scrape.memo(() => groupStatuses(engine.statusInput()));
    const memberState = new Gauge({
      name: "keepvip_member_state",
      help: "1 for each member's state in the group (MASTER, BACKUP, FAULT, MAINTENANCE, DISCONNECTED, MASTER? = holder not heard from)",
      labelNames: ["group", "node", "state"],
      registers,
      collect: () => {
        memberState.reset();
        for (const g of statuses()) for (const m of g.members) memberState.set({ group: g.name, node: m.nodeId, state: m.state }, 1);
      },
    });
    const priority = new Gauge({
      name: "keepvip_member_priority",
      help: "Each member's effective priority in the group (base + track weights)",
      labelNames: ["group", "node"],
      registers,
      collect: () => {
        priority.reset();
        for (const g of statuses()) for (const m of g.members) priority.set({ group: g.name, node: m.nodeId }, m.effectivePriority);
      },
    });
    const sessions = new Gauge({
      name: "keepvip_sessions_connected",
      help: "Agent sessions that are live (reports within the dead interval)",
      registers,
      collect: () => {
        sessions.set([...engine.nodes.views.values()].filter((v) => v.session === "live").length);
      },
    });
    const reports = new Counter({
      name: "keepvip_agent_reports_total",
      help: "Agent reports received: repeat (the same as its session's last: liveness only, nearly free) or change (folded in, its node's groups looked at)",
      labelNames: ["kind"],
      registers,
      collect: () => {
        reports.reset();
        reports.inc({ kind: "repeat" }, engine.reportCounts.repeated);
        reports.inc({ kind: "change" }, engine.reportCounts.changed);
      },
    });
    const session = new Gauge({
      name: "keepvip_node_session",
      help: "1 for each node's session state (live, silent, closed, never)",
      labelNames: ["node", "state"],
      registers,
      collect: () => {
        session.reset();
        for (const v of engine.nodes.views.values()) session.set({ node: v.node, state: v.session }, 1);
      },
    });

    // ---------------------------------------------------------------- upstreams
    // status() computes weights: once per scrape, shared by the gauges below
    // (prom-client collects each metric on its own, in registration order).
    const upstreams = scrape.memo(() => ({
      status: engine.upstreams?.status() ?? [],
      current: engine.upstreams?.current().version ?? 0,
      applied: [...(engine.upstreams?.applied ?? [])],
    }));
    const serverGauge = (name: string, help: string, pick: (s: { up: boolean; weight: number }) => number) => {
      const g: Gauge<"upstream" | "server"> = new Gauge({
        name,
        help,
        labelNames: ["upstream", "server"],
        registers,
        collect: () => {
          g.reset();
          for (const u of upstreams().status) for (const s of u.servers) g.set({ upstream: u.name, server: s.address }, pick(s));
        },
      });
    };
    serverGauge("keepvip_upstream_server_up", "Aggregated health of each upstream server (1 up, 0 down), as pushed to nginx", (s) => (s.up ? 1 : 0));
    serverGauge("keepvip_upstream_server_weight", "Weight pushed for each upstream server (0: drained or down)", (s) => s.weight);
    const observed = new Gauge({
      name: "keepvip_upstream_server_observed_up",
      help: "Each agent's own probe result per upstream server (1 up, 0 down)",
      labelNames: ["upstream", "server", "node"],
      registers,
      collect: () => {
        observed.reset();
        for (const u of upstreams().status)
          for (const s of u.servers)
            for (const seen of s.seenBy) {
              if (engine.nodes.knows(seen.nodeId)) observed.set({ upstream: u.name, server: s.address, node: seen.nodeId }, seen.up ? 1 : 0);
            }
      },
    });
    const published = new Gauge({
      name: "keepvip_upstream_version_published",
      help: "Upstream config version the coordinator publishes",
      registers,
      collect: () => {
        published.set(upstreams().current);
      },
    });
    const applied = new Gauge({
      name: "keepvip_upstream_version_applied",
      help: "Upstream config version each agent reports applied",
      labelNames: ["node"],
      registers,
      collect: () => {
        applied.reset();
        for (const [node, a] of upstreams().applied) applied.set({ node }, a.version);
      },
    });
    const applyFailing = new Gauge({
      name: "keepvip_upstream_apply_failing",
      help: "1 while an agent reports that the newest version failed to apply (nginx -t)",
      labelNames: ["node"],
      registers,
      collect: () => {
        applyFailing.reset();
        for (const [node, a] of upstreams().applied) applyFailing.set({ node }, a.error ? 1 : 0);
      },
    });
  }

  /** Stops counting (the registry keeps what it has). */
  close(): void {
    this.unsubscribe();
  }

  private onEvent(e: DomainEvent): void {
    this.events.inc({ kind: EVENT_KINDS.has(e.kind) ? e.kind : "other" });
    if (e.kind === "agent") {
      const node = e.node ?? "";
      if (this.engine.nodes.knows(node)) this.agentEvents.inc({ node, kind: AGENT_EVENT_KINDS.has(e.agentKind) ? e.agentKind : "other" });
      return;
    }
    // Only the planner's notes: they are dispatched in order after the step that
    // made them; admin and config events may arrive between a step and its notes.
    if (!PLANNER_KINDS.has(e.kind) || e.group === undefined) return;
    const group = e.group;
    const rt = this.engine.runtimes.get(group);
    if (!rt) return;
    // The runtime is already the state after the step that emitted this event.
    // A move's note comes first in its step (planner.handleAck), before the
    // decision that follows it, so the rule seen after earlier events is the
    // one that started the move; a rule change always comes with an election note.
    if (e.kind === "move") {
      const reason = ruleLabel(this.ruleSeen.get(group));
      const ms = e.durationMs;
      const completed = ms !== undefined && Number.isFinite(ms);
      this.moves.inc({ group, reason, outcome: completed ? "completed" : "failed" });
      if (completed) this.moveSeconds.observe({ group, reason }, ms / 1000);
    }
    if (e.kind === "election" && rt.last) {
      const outcome = `${rt.last.rule}/${rt.last.winner ?? ""}`;
      if (this.outcomeSeen.get(group) !== outcome) {
        this.outcomeSeen.set(group, outcome);
        this.elections.inc({ group, rule: ruleLabel(rt.last.rule) });
      }
    }
    this.ruleSeen.set(group, rt.last?.rule);
  }
}

/**
 * Values computed once per scrape and shared by several collectors.
 * prom-client runs the collectors of one scrape in registration order, so a
 * collector registered before every user calls next() to start a new scrape.
 */
export class ScrapeCache {
  private generation = 0;

  next(): void {
    this.generation++;
  }

  memo<T>(compute: () => T): () => T {
    let cached: { generation: number; value: T } | undefined;
    return () => {
      if (cached?.generation !== this.generation) cached = { generation: this.generation, value: compute() };
      return cached.value;
    };
  }
}
