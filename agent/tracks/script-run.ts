/**
 * One bounded run of a user script (track or notify), judged.
 *
 * The verdict is given at the deadline even when the run has not finished
 * returning: CommandRunner.run kills the script itself at its timeout, but a
 * shell script's children (`sleep 3` in nginx_check.sh) keep its output pipes
 * open and the run only resolves when they exit. So the caller gets `outcome`
 * (at completion or at the deadline, whichever is first) and `done` (when the
 * process is really gone), and decides which one it waits for.
 */
import type { CommandRunner, RunResult } from "../../shared/exec/runner.js";
import { STALL_RETRIES, stallSlackMs } from "../probe/service.js";
import type { Credentials } from "./script-user.js";

export interface ScriptOutcome {
  /** Exited 0 within the deadline. */
  ok: boolean;
  /** Short explanation: last output line, exit code, "timed out after 2000ms (killed)". */
  detail: string;
  timedOut: boolean;
}

const DETAIL_MAX = 200;

function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? "").slice(0, DETAIL_MAX);
}

/** Pure: the verdict on a finished run. */
export function judgeRun(r: RunResult, timeoutMs: number): ScriptOutcome {
  if (r.timedOut) return { ok: false, detail: `timed out after ${timeoutMs}ms (killed)`, timedOut: true };
  if (r.spawnError) return { ok: false, detail: `cannot run ${r.argv[0]}: ${r.spawnError}`.slice(0, DETAIL_MAX), timedOut: false };
  if (r.exitCode === 0) return { ok: true, detail: lastLine(r.stdout) || "exit 0", timedOut: false };
  if (r.signal) return { ok: false, detail: `killed by ${r.signal}`, timedOut: false };
  const said = lastLine(r.stderr) || lastLine(r.stdout);
  return { ok: false, detail: `exit code ${r.exitCode}${said ? `: ${said}` : ""}`.slice(0, DETAIL_MAX), timedOut: false };
}

export interface ScriptRun {
  /** The verdict: at completion, or at the deadline (the script is being killed). */
  outcome: Promise<ScriptOutcome>;
  /** Resolves when the run has returned (the process and its output pipes are gone). */
  done: Promise<void>;
}

/** Runs argv with a deadline (as `creds`, never through a shell); `abort` kills it early. */
export function runScript(runner: CommandRunner, argv: string[], timeoutMs: number, creds: Partial<Credentials>, abort?: AbortSignal): ScriptRun {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  abort?.addEventListener("abort", onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  // A deadline timer that fires well after its time means this process stalled (CPU
  // starved, a long GC): the script may have exited in time with its exit not read yet.
  // Such a run gets its time again, at most STALL_RETRIES times, as the service probes do.
  const deadline = new Promise<ScriptOutcome>((resolve) => {
    let retries = 0;
    let due = performance.now() + timeoutMs;
    const onTimer = (): void => {
      const late = performance.now() - due;
      if (late > stallSlackMs(timeoutMs) && retries < STALL_RETRIES) {
        retries += 1;
        due = performance.now() + timeoutMs;
        timer = setTimeout(onTimer, timeoutMs);
        return;
      }
      controller.abort();
      resolve({ ok: false, detail: `timed out after ${timeoutMs}ms (killed)`, timedOut: true });
    };
    timer = setTimeout(onTimer, timeoutMs);
  });
  const finished = runner
    // The deadline above kills the run (through `signal`); the runner's own bound only backs it up.
    .run(argv, { timeoutMs: Math.max(5_000, timeoutMs * (STALL_RETRIES + 2)), signal: controller.signal, ...creds })
    .then(
      (r) => judgeRun(r, timeoutMs),
      // CommandRunner promises not to throw; if it does anyway, that is a failed run, not a crash.
      (err: unknown): ScriptOutcome => ({ ok: false, detail: `cannot run ${argv[0]}: ${(err as Error).message}`.slice(0, DETAIL_MAX), timedOut: false }),
    )
    .finally(() => {
      clearTimeout(timer);
      abort?.removeEventListener("abort", onAbort);
    });
  return { outcome: Promise.race([finished, deadline]), done: finished.then(() => undefined) };
}
