/**
 * The one fake CommandRunner for tests: records every run (argv, options,
 * when it started and ended, how many ran at once) and answers with what the
 * test's reply function says, when the test says.
 *
 * - A reply is part of a RunResult (exit 0, empty output by default), plus an
 *   optional `delayMs` (finish after a timer, so mocked timers drive it);
 *   `{ hang: true }` (never finishes by itself: an abort kills it, after
 *   `lingerMs` if given, like a script whose pipes close late); or
 *   `{ throws: message }` (the runner itself breaks).
 * - A reply without a delay finishes as `finish` says: "now" (the next
 *   microtask, the default), "immediate" (setImmediate) or "manual"
 *   (when the test calls finishOne()).
 * - `users` answers `id -u NAME` / `id -g NAME` (script_user lookups); those
 *   runs are not recorded.
 */
import type { CommandRunner, RunOptions, RunResult } from "../../shared/exec/runner.js";

export type FakeReply = (Partial<RunResult> & { delayMs?: number }) | { hang: true; lingerMs?: number } | { throws: string };

export interface FakeCall {
  argv: string[];
  options: RunOptions;
  startedAt: number;
  endedAt?: number;
}

export interface FakeRunnerOptions {
  /** The answer for the nth recorded run (0-based). Default: exit 0 at once. */
  reply?: (argv: string[], n: number, options: RunOptions) => FakeReply;
  finish?: "now" | "immediate" | "manual";
  /** User name → [uid, gid], for `id -u` / `id -g`; any other name is unknown. */
  users?: Record<string, [number, number]>;
}

export function runResult(argv: string[], result: Partial<RunResult> = {}): RunResult {
  return { argv, exitCode: 0, stdout: "", stderr: "", timedOut: false, spawnError: "", signal: "", durationMs: 1, ...result };
}

export class FakeRunner implements CommandRunner {
  readonly calls: FakeCall[] = [];
  inFlight = 0;
  maxInFlight = 0;
  users: Record<string, [number, number]>;
  private readonly pending: Array<() => void> = [];

  constructor(private readonly options: FakeRunnerOptions = {}) {
    this.users = options.users ?? {};
  }

  /** The argv of every recorded run, in order. */
  get argvs(): string[][] {
    return this.calls.map((c) => c.argv);
  }

  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv[0] === "id" && (argv[1] === "-u" || argv[1] === "-g")) {
      const ids = this.users[argv[2]];
      if (!ids) return Promise.resolve(runResult(argv, { exitCode: 1, stderr: `id: '${argv[2]}': no such user` }));
      return Promise.resolve(runResult(argv, { stdout: String(argv[1] === "-u" ? ids[0] : ids[1]) }));
    }
    const call: FakeCall = { argv, options, startedAt: Date.now() };
    const n = this.calls.push(call) - 1;
    const reply = this.options.reply?.(argv, n, options) ?? {};
    if ("throws" in reply) return Promise.reject(new Error(reply.throws));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) => {
      const end = (r: RunResult) => {
        this.inFlight--;
        call.endedAt = Date.now();
        resolve(r);
      };
      if ("hang" in reply) {
        const killed = () => end(runResult(argv, { exitCode: -1, signal: "SIGKILL" }));
        options.signal?.addEventListener("abort", () => (reply.lingerMs === undefined ? killed() : setTimeout(killed, reply.lingerMs)), { once: true });
        return;
      }
      const { delayMs, ...result } = reply;
      const done = () => end(runResult(argv, result));
      if (delayMs !== undefined) setTimeout(done, delayMs);
      else if (this.options.finish === "immediate") setImmediate(done);
      else if (this.options.finish === "manual") this.pending.push(done);
      else done();
    });
  }

  /** Finishes the oldest run still waiting (finish: "manual"). */
  finishOne(): void {
    this.pending.shift()?.();
  }

  start(): never {
    throw new Error("FakeRunner: start() is not faked");
  }
}
