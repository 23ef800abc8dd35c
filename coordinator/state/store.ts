/**
 * What the coordinator must not forget across a restart: per-group epochs (an
 * epoch never repeats, docs/design.md, Invariants, 5), the last holder of each unit, and
 * admin pins. Behind a small interface: the file store (one coordinator),
 * the etcd store (replicated coordinators, etcd-store.ts), and the in-memory
 * twin for tests.
 */
import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomicSync } from "../../shared/atomic-write.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import { EventJournal, type EventHistory } from "./event-journal.js";

export interface PersistedState {
  version: 1;
  /** Group name → highest epoch ever issued. */
  epochs: Record<string, number>;
  /** Unit name → last known holder. */
  holders: Record<string, string>;
  /** Unit name → node an operator's switchover pinned it to. */
  pins: Record<string, string>;
  /** Nodes an operator put in maintenance. */
  maintenance: string[];
  /** Highest upstream config version ever published. */
  upstreamVersion: number;
  /** Upstream admin overrides: "upstream/server" → override. */
  overrides: Record<string, { action: "drain" | "down" | "weight"; weight?: number }>;
}

export interface StateStore {
  /** The saved state, or an empty one on first start. */
  load(): Promise<PersistedState>;
  /** Durably replaces the saved state (atomic: old or new, never half). */
  save(state: PersistedState): Promise<void>;
  /** Where it lives, for logs. */
  describe(): string;
  /** Where the event history lives beside the state (bounded to `capacity`); none: not kept. */
  history?(capacity: number, onError: (err: unknown) => void): EventHistory;
}

export function emptyState(): PersistedState {
  return { version: 1, epochs: {}, holders: {}, pins: {}, maintenance: [], upstreamVersion: 0, overrides: {} };
}

/**
 * Saved state from its JSON. Corrupt state stops the coordinator rather than
 * being replaced by an empty one (epochs would repeat): an operator must look.
 */
export function parseState(text: string, where: string): PersistedState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where} is corrupt (${(err as Error).message}); move it away only if you accept that epochs restart from the agents' reports`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`${where} is corrupt (not a JSON object); move it away only if you accept that epochs restart from the agents' reports`);
  return { ...emptyState(), ...(parsed as Partial<PersistedState>), version: 1 };
}

/** A JSON file in the state dir, written temp → fsync → rename → fsync(dir). */
export function createFileStore(
  stateDir: string,
  /** How the state is written (tests count the writes). */
  write: (stateDir: string, file: string, state: PersistedState) => void = writeAtomically,
): StateStore {
  const file = join(stateDir, "state.json");
  // Saves run one at a time: two in flight would share the temp file.
  const writes = new SerialQueue();
  let lastWriteMs = Number.NEGATIVE_INFINITY;
  return {
    describe: () => file,
    history: (capacity, onError) => new EventJournal(stateDir, capacity, onError),
    async load() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyState();
        throw new Error(`cannot read state file ${file}: ${(err as Error).message}`);
      }
      return parseState(text, `state file ${file}`);
    },
    save(state) {
      return writes.run(async () => {
        // Right after another write (a storm of new epochs), one turn of the event loop first:
        // the saves asked for meanwhile share this write (the engine's BatchedSaves), so the
        // storm costs a few writes, not one each. A lone write (a takeover's new epoch) goes at once.
        if (performance.now() - lastWriteMs < BATCH_AFTER_WRITE_MS) await new Promise<void>((resolve) => setImmediate(resolve));
        try {
          write(stateDir, file, state);
        } finally {
          lastWriteMs = performance.now();
        }
      });
    },
  };
}

/** Writes that follow another this soon wait one turn of the loop, to be batched. */
const BATCH_AFTER_WRITE_MS = 20;

/**
 * Synchronously: about a millisecond for a few hundred KiB on a local disk. The same write as
 * nine asynchronous steps waited for nine turns of a busy event loop, and a takeover waits for
 * its epoch's write: at 5000 agents that was 100–450 ms of each takeover.
 */
function writeAtomically(stateDir: string, file: string, state: PersistedState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, durable: true });
}

/** The in-memory twin (tests, --check). */
export function createMemoryStore(initial: PersistedState = emptyState()): StateStore & { saved: PersistedState } {
  const store = {
    saved: structuredClone(initial),
    describe: () => "memory",
    async load() {
      return structuredClone(store.saved);
    },
    async save(state: PersistedState) {
      store.saved = structuredClone(state);
    },
  };
  return store;
}
