/**
 * What the agent remembers across its own restarts (state_dir/agent.json):
 * the highest epoch seen per group (so a stale command is never obeyed after a
 * restart, docs/design.md, Invariants, 5), the highest leader term it followed
 * (so a deposed coordinator leader never commands it again), and the last
 * group specs the coordinator sent (so a restarted agent knows which VIPs to
 * look for before it reconnects).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../../shared/atomic-write.js";
import type { GroupSpec } from "../../shared/gen/keepvip/v1/agent.js";

export interface AgentMemory {
  epochs: Record<string, number>;
  /** Highest leader term followed (0: only single coordinators so far). */
  term: number;
  groups: GroupSpec[];
}

export function loadMemory(stateDir: string): AgentMemory {
  try {
    const parsed = JSON.parse(readFileSync(join(stateDir, "agent.json"), "utf8")) as Partial<AgentMemory>;
    return { epochs: parsed.epochs ?? {}, term: Number.isSafeInteger(parsed.term) ? (parsed.term as number) : 0, groups: parsed.groups ?? [] };
  } catch {
    return { epochs: {}, term: 0, groups: [] };
  }
}

/** Atomic and durable: temp file, fsync, rename, fsync(dir). Small and rare (epoch or term changes, welcomes). */
export function saveMemory(stateDir: string, memory: AgentMemory): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(join(stateDir, "agent.json"), `${JSON.stringify(memory, null, 2)}\n`, { mode: 0o600, durable: true });
}

/**
 * The term guard: a welcome or command is followed only if its leader term is
 * at least the highest followed; a higher one is remembered (persisted by the
 * caller) before anything else happens. Term 0 is a single coordinator's.
 */
export class TermGuard {
  constructor(
    private highest: number,
    private readonly onRaise: (term: number) => void = () => {},
  ) {}

  /** Returns "" when a message of `term` may be followed, else why not. */
  admit(term: number): string {
    if (term < this.highest)
      return term === 0
        ? `a single coordinator (term 0), but this agent has followed replicated coordinators up to term ${this.highest}`
        : `leader term ${term} is older than term ${this.highest} this agent has followed (a deposed leader)`;
    if (term > this.highest) {
      this.highest = term;
      this.onRaise(term);
    }
    return "";
  }

  get newest(): number {
    return this.highest;
  }
}

/**
 * The epoch guard: a command is obeyed only if its epoch is at least the
 * newest seen for its group. Equal is allowed: one move sends the same epoch
 * to both nodes, and a failed acquire is undone with it.
 */
export class EpochGuard {
  constructor(
    private readonly seen: Record<string, number>,
    private readonly onRaise: (seen: Record<string, number>) => void = () => {},
  ) {}

  /** Returns "" when the command may run, else why it is stale. */
  admit(group: string, epoch: number): string {
    const newest = this.seen[group] ?? 0;
    if (epoch < newest) return `stale epoch ${epoch} for ${group} (newest seen ${newest})`;
    if (epoch > newest) {
      this.seen[group] = epoch;
      this.onRaise({ ...this.seen });
    }
    return "";
  }

  newest(group: string): number {
    return this.seen[group] ?? 0;
  }

  all(): Record<string, number> {
    return { ...this.seen };
  }
}
