/**
 * The coordinator's domain events (one typed union) and the event history that
 * fans them out: elections, moves, faults, sessions, admin actions. Subscribers
 * (the journal on disk, the metrics, `keepvip events --follow`) get the typed
 * event; numbers stay numbers. `eventRecord` is the one conversion to the
 * flat record shape that the admin API sends and the journal stores.
 * The history is bounded (oldest dropped first).
 */
import type { Event as EventRecord } from "../../shared/gen/keepvip/v1/admin.js";

export type { EventRecord };

interface Base {
  /** Wall-clock milliseconds since the epoch. */
  atMs: number;
  group?: string;
  node?: string;
  epoch?: number;
  message: string;
}

/** What happened, one variant per kind. */
export type DomainEvent =
  /** The planner's notes (a move carries its duration once completed). */
  | (Base & { kind: "election" | "verify" | "conflict" })
  | (Base & { kind: "move"; durationMs?: number })
  /** A planner note or an upstream server going down or up. */
  | (Base & { kind: "fault" })
  | (Base & { kind: "session" | "admin" | "config" })
  /** An upstream push (with the version it published) or a node's failure to apply one. */
  | (Base & { kind: "push"; version?: number })
  /** What an agent reported, with the agent's own kind ("vip.drift-repaired", ...). */
  | (Base & { kind: "agent"; agentKind: string })
  /** A failover drill (keepvip drill) and what its probes measured. */
  | (Base & { kind: "drill"; figures: DrillFigures });

/** What a drill measured, as the event history keeps it. */
export interface DrillFigures {
  mode: string;
  blackoutMs: number;
  failedProbes: number;
  probes: number;
  onNoneMs: number;
  onBothMs: number;
}

const DRILL_FIELDS: Array<[keyof DrillFigures, string]> = [
  ["blackoutMs", "blackout_ms"],
  ["failedProbes", "failed_probes"],
  ["probes", "probes"],
  ["onNoneMs", "on_none_ms"],
  ["onBothMs", "on_both_ms"],
];

export type EventKind = DomainEvent["kind"];

type WithoutTime<E> = E extends unknown ? Omit<E, "atMs"> : never;
/** A domain event before the history stamps its time. */
export type EventInput = WithoutTime<DomainEvent>;

export type EventListener = (e: DomainEvent) => void;

/** The record shape (admin API, journal): optional fields as "" / 0, typed fields as text. */
export function eventRecord(e: DomainEvent): EventRecord {
  const fields: Record<string, string> = {};
  if (e.kind === "move" && e.durationMs !== undefined) fields.duration_ms = String(e.durationMs);
  if (e.kind === "push" && e.version !== undefined) fields.version = String(e.version);
  if (e.kind === "agent") fields.kind = e.agentKind;
  if (e.kind === "drill") {
    fields.mode = e.figures.mode;
    for (const [k, f] of DRILL_FIELDS) fields[f] = String(e.figures[k]);
  }
  return { atMs: e.atMs, kind: e.kind, group: e.group ?? "", nodeId: e.node ?? "", epoch: e.epoch ?? 0, message: e.message, fields };
}

const KINDS: ReadonlySet<string> = new Set<EventKind>([
  "election",
  "move",
  "verify",
  "fault",
  "conflict",
  "session",
  "admin",
  "push",
  "config",
  "agent",
  "drill",
]);

/** Reads a stored record back (the journal); a record of an unknown kind is skipped. */
export function eventFromRecord(r: EventRecord): DomainEvent | undefined {
  if (!KINDS.has(r.kind)) return undefined;
  const base: Base = {
    atMs: r.atMs,
    message: r.message,
    ...(r.group ? { group: r.group } : {}),
    ...(r.nodeId ? { node: r.nodeId } : {}),
    ...(r.epoch ? { epoch: r.epoch } : {}),
  };
  const fields = r.fields ?? {};
  const kind = r.kind as EventKind;
  switch (kind) {
    case "move":
      return { ...base, kind, ...(fields.duration_ms !== undefined ? { durationMs: Number(fields.duration_ms) } : {}) };
    case "push":
      return { ...base, kind, ...(fields.version !== undefined ? { version: Number(fields.version) } : {}) };
    case "agent":
      return { ...base, kind, agentKind: fields.kind ?? "" };
    case "drill": {
      const figures: DrillFigures = { mode: fields.mode ?? "", blackoutMs: 0, failedProbes: 0, probes: 0, onNoneMs: 0, onBothMs: 0 };
      for (const [k, f] of DRILL_FIELDS) if (k !== "mode") figures[k] = Number(fields[f] ?? 0) || 0;
      return { ...base, kind, figures };
    }
    default:
      return { ...base, kind };
  }
}

export class EventLog {
  private readonly items: DomainEvent[] = [];
  private readonly listeners = new Set<EventListener>();

  /** `now` gives wall-clock milliseconds (Scheduler.wallMs). */
  constructor(
    private readonly capacity = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  add(input: EventInput): DomainEvent {
    const e = { ...input, atMs: this.now() } as DomainEvent;
    this.items.push(e);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    for (const l of this.listeners) l(e);
    return e;
  }

  since(ms: number): DomainEvent[] {
    return this.items.filter((e) => e.atMs >= ms);
  }

  all(): DomainEvent[] {
    return [...this.items];
  }

  /** Replaces the history (restored from the state store). */
  restore(events: DomainEvent[]): void {
    this.items.splice(0, this.items.length, ...events.slice(-this.capacity));
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
