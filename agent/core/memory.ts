/**
 * What the agent remembers across its own restarts (state_dir/agent.json):
 * the highest epoch seen per group (so a stale command is never obeyed after a
 * restart, docs/design.md, Invariants, 5) and the last group specs the coordinator sent (so a
 * restarted agent knows which VIPs to look for before it reconnects).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import { join } from "node:path";
import type { GroupSpec } from "../../shared/gen/keepvip/v1/agent.js";

export interface AgentMemory {
  epochs: Record<string, number>;
  groups: GroupSpec[];
}

export function loadMemory(stateDir: string): AgentMemory {
  try {
    const parsed = JSON.parse(readFileSync(join(stateDir, "agent.json"), "utf8")) as Partial<AgentMemory>;
    return { epochs: parsed.epochs ?? {}, groups: parsed.groups ?? [] };
  } catch {
    return { epochs: {}, groups: [] };
  }
}

/** Atomic: temp file, fsync, rename. Small and rare (epoch changes, welcomes). */
export function saveMemory(stateDir: string, memory: AgentMemory): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, "agent.json");
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(memory, null, 2)}\n`, { mode: 0o600 });
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
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
