/**
 * Planned moves under keep-alive clients, for either stack: the holder's agent (or
 * keepalived) stopped cleanly and started again, `moves` times in all, while a client keeps
 * 20 keep-alive connections busy with requests of 0–2 s (deploy/lab/pool-client.ts) and the
 * fresh-connection prober sends a request every 10 ms. keepalived's clean stop and preempt
 * back are its planned moves; keepvip's are the same two, drained (docs/design.md, Lossless
 * planned moves).
 */
import { startPoolClient, startProber, startProcess, stopProcess, vipHolders } from "../lab/api.js";
import { isReset } from "../lab/pool-client.js";
import { analyzeProbes } from "../lab/probe-analysis.js";
import { mustWait, sleep } from "./cluster.js";
import type { StackName } from "./report.js";

export interface KeepAliveMovesResult {
  stack: StackName;
  moves: number;
  /** Keep-alive client: requests, failed, of which resets, and how many went over a reused connection. */
  requests: number;
  failed: number;
  resets: number;
  reused: number;
  fresh: { requests: number; failed: number };
  /** Each move until the VIP was only on its new holder, ms. */
  moveMs: number[];
}

/** After a move, before the next: the old holder's drain (keepvip) or keepalived's own settling. */
const BETWEEN_MS = 4000;

export async function keepAliveMoves(prefix: string, stack: StackName, moves: number, log: (line: string) => void): Promise<KeepAliveMovesResult> {
  const process = stack === "keepvip" ? "agent" : "keepalived";
  const budget = Math.min(590_000, moves * 40_000 + 20_000);
  const pool = startPoolClient(prefix, { connections: 20, maxDelayMs: 2000, timeoutMs: 5000, durationMs: budget });
  const prober = startProber(prefix, { intervalMs: 10, timeoutMs: 1000, durationMs: budget });
  const moveMs: number[] = [];
  try {
    await Promise.all([pool.ready, prober.ready]);
    await sleep(3000);
    for (let i = 0; i < moves; i++) {
      const to = i % 2 === 0 ? "lb2" : "lb1";
      const t0 = Date.now();
      if (to === "lb2") await stopProcess(prefix, "lb1", process);
      else await startProcess(prefix, "lb1", process);
      await mustWait(
        `the VIP only on ${to} (move ${i + 1})`,
        async () => {
          const h = await vipHolders(prefix);
          return h.length === 1 && h[0] === to;
        },
        30_000,
        50,
      );
      moveMs.push(Date.now() - t0);
      log(
        `${stack} keep-alive move ${i + 1}/${moves}: ${to === "lb2" ? `lb1's ${process} stopped` : `lb1's ${process} started (preempt back)`}, VIP only on ${to} after ${Date.now() - t0} ms`,
      );
      await sleep(BETWEEN_MS);
    }
  } finally {
    await Promise.all([pool.stop(), prober.stop()]);
  }
  const failed = pool.records.filter((r) => !r.ok);
  const fresh = analyzeProbes(prober.records, 10);
  return {
    stack,
    moves: moveMs.length,
    requests: pool.records.length,
    failed: failed.length,
    resets: failed.filter((r) => isReset(r.err)).length,
    reused: pool.records.filter((r) => r.reused).length,
    fresh: { requests: fresh.total, failed: fresh.failed },
    moveMs,
  };
}

/** The side-by-side table of the keep-alive runs. */
export function renderKeepAliveMoves(rows: KeepAliveMovesResult[]): string {
  const head = ["stack", "moves", "keep-alive requests", "failed", "resets", "reused conns", "fresh requests", "fresh failed"];
  const body = rows.map((r) => [
    r.stack,
    String(r.moves),
    String(r.requests),
    String(r.failed),
    String(r.resets),
    String(r.reused),
    String(r.fresh.requests),
    String(r.fresh.failed),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
