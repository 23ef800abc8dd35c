/**
 * The event history: elections, moves, faults, sessions, admin actions.
 * Bounded (oldest dropped first) and fanned out to watchers (`keepvip events
 * --follow`). A slow watcher is cut loose rather than allowed to grow memory.
 */
import type { Event } from "../../shared/gen/keepvip/v1/admin.js";

export type EventKind = "election" | "move" | "verify" | "fault" | "conflict" | "session" | "admin" | "push" | "config" | "agent";

export interface EventInput {
  kind: EventKind;
  group?: string;
  node?: string;
  epoch?: number;
  message: string;
  fields?: Record<string, string>;
}

export type EventListener = (e: Event) => void;

export class EventLog {
  private readonly items: Event[] = [];
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly capacity = 2000, private readonly now: () => number = Date.now) {}

  add(input: EventInput): Event {
    const e: Event = {
      atMs: this.now(),
      kind: input.kind,
      group: input.group ?? "",
      nodeId: input.node ?? "",
      epoch: input.epoch ?? 0,
      message: input.message,
      fields: input.fields ?? {},
    };
    this.items.push(e);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    for (const l of this.listeners) l(e);
    return e;
  }

  since(ms: number): Event[] {
    return this.items.filter((e) => e.atMs >= ms);
  }

  all(): Event[] {
    return [...this.items];
  }

  /** Replaces the history (restored from the state store). */
  restore(events: Event[]): void {
    this.items.splice(0, this.items.length, ...events.slice(-this.capacity));
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
