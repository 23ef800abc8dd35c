/**
 * The event history on disk (state_dir/events.jsonl), so `keepvip events`
 * survives a coordinator restart. Appends one JSON line per event; at start
 * the newest `capacity` are read back; the file is rewritten with only those
 * once it holds twice as many (bounded, oldest dropped first). A write error
 * is logged, never fatal: history is for people, epochs are what must persist.
 */
import { appendFile, readFile } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { eventFromRecord, eventRecord, type DomainEvent, type EventRecord } from "../cluster/events.js";
import { writeFileAtomic } from "../../shared/atomic-write.js";
import { SerialQueue } from "../../shared/serial-queue.js";

/** Where the event history is kept: a file (one coordinator) or etcd (replicas). */
export interface EventHistory {
  /** The newest events saved (oldest first). */
  load(): Promise<DomainEvent[]>;
  /** Saves one more event; `all` is the in-memory history (for a rewrite that drops the oldest). */
  append(e: DomainEvent, all: () => DomainEvent[]): void;
  /** Resolves when every append so far is saved (or failed). */
  flush(): Promise<void>;
}

export class EventJournal implements EventHistory {
  private readonly file: string;
  private lines = 0;
  /** Lines not yet handed to a write. */
  private readonly pending: string[] = [];
  private readonly writes = new SerialQueue();

  constructor(
    stateDir: string,
    private readonly capacity: number,
    private readonly onError: (err: unknown) => void,
  ) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.file = join(stateDir, "events.jsonl");
  }

  /** The newest events saved (oldest first); unreadable lines are skipped. */
  async load(): Promise<DomainEvent[]> {
    let text = "";
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.onError(err);
      return [];
    }
    const events: DomainEvent[] = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const e = eventFromRecord(JSON.parse(line) as EventRecord);
        if (e) events.push(e);
      } catch {
        // A torn last line after a crash: skip it.
      }
    }
    this.lines = events.length;
    return events.slice(-this.capacity);
  }

  append(e: DomainEvent, all: () => DomainEvent[]): void {
    // Events that come while a write is in flight go out together in the next one (a
    // storm of thousands of session events is a few appends, not one each).
    this.pending.push(`${JSON.stringify(eventRecord(e))}\n`);
    if (this.pending.length > 1) return;
    void this.writes
      .run(async () => {
        const lines = this.pending.splice(0);
        await appendFile(this.file, lines.join(""), { mode: 0o600 });
        this.lines += lines.length;
        if (this.lines > this.capacity * 2) {
          const keep = all().slice(-this.capacity);
          await writeFileAtomic(this.file, `${keep.map((x) => JSON.stringify(eventRecord(x))).join("\n")}\n`, { mode: 0o600 });
          this.lines = keep.length;
        }
      })
      .catch(this.onError);
  }

  /** Resolves when every append so far is on disk (tests, shutdown). */
  flush(): Promise<void> {
    return this.writes.idle();
  }
}
