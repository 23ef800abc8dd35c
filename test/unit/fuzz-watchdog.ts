/**
 * A hang detector for synchronous fuzz cases. A parser stuck in a loop blocks
 * the event loop, so no timer of the test itself can fire; this watchdog runs
 * in a worker thread, reads which case is running from shared memory, and
 * when one runs past its limit writes the property and case number to stderr
 * (straight to fd 2: the blocked main thread would never flush a stream) and
 * kills the test process, so a hang fails the run instead of stalling it.
 * Replay a reported case with fc.sample(arb, { seed, numRuns: case + 1 }).
 */
import { Worker } from "node:worker_threads";

const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const state = new BigInt64Array(workerData.buffer);
let name = "?";
parentPort.on("message", (m) => { name = m; });
setInterval(() => {
  if (state[0] === 0n) return;
  const ranMs = Date.now() - Number(state[2]);
  if (ranMs <= workerData.limitMs) return;
  writeSync(2, "fuzz watchdog: case #" + state[1] + " of \\"" + name + "\\" has run for " + ranMs + " ms (limit " + workerData.limitMs + " ms): a hang; killing the test process\\n");
  process.kill(process.pid, "SIGKILL");
}, 100);
`;

export class Watchdog {
  private readonly state = new BigInt64Array(new SharedArrayBuffer(3 * 8));
  private readonly worker: Worker;
  /** Resolves once the worker runs: a case must not block the main thread before (the worker would never start). */
  readonly ready: Promise<void>;

  /** Kills the process when one case runs longer than `limitMs`. */
  constructor(limitMs: number) {
    // execArgv []: the worker needs no TypeScript loader, and must not wait on the main thread's.
    this.worker = new Worker(WORKER, { eval: true, execArgv: [], workerData: { buffer: this.state.buffer, limitMs } });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("online", () => {
        // Started: from now on it must not keep the test process alive.
        this.worker.unref();
        resolve();
      });
      this.worker.once("error", reject);
    });
  }

  /** Names the property whose cases follow (shown if one hangs). */
  property(name: string): void {
    this.worker.postMessage(name);
  }

  /** A case starts. */
  begin(index: number): void {
    Atomics.store(this.state, 1, BigInt(index));
    Atomics.store(this.state, 2, BigInt(Date.now()));
    Atomics.store(this.state, 0, 1n);
  }

  /** The case ended (returned or threw). */
  end(): void {
    Atomics.store(this.state, 0, 0n);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
