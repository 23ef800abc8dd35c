/**
 * The one place keepvip runs programs. Everything else plans argv lists
 * (`["ip", "addr", "add", ...]`) and hands them to a CommandRunner, so tests
 * swap in a fake and nothing is ever run through a shell.
 */
import { execa } from "execa";

export interface RunOptions {
  /** Kill the program (SIGKILL) after this long; the result says timedOut. */
  timeoutMs?: number;
  /** Extra environment variables (merged over the agent's own). */
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this uid/gid (scripts with `script_user`). */
  uid?: number;
  gid?: number;
  /** Abort kills the program; the result says aborted. */
  signal?: AbortSignal;
  /** Written to the program's stdin (`nft -f -`); stdin is closed otherwise. */
  input?: string;
}

export interface RunResult {
  argv: string[];
  /** Exit code; -1 when the program could not be started or was killed. */
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The program could not be started (ENOENT, EACCES): the reason, else "". */
  spawnError: string;
  /** Signal that ended it, if any ("SIGKILL"). */
  signal: string;
  durationMs: number;
}

export interface StartOptions extends Omit<RunOptions, "timeoutMs" | "signal"> {
  /** Called with each line of stdout / stderr as it arrives. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Start in its own process group (detached), so it outlives us if we die (nginx child mode keeps serving). */
  detached?: boolean;
}

export interface RunningProcess {
  pid: number;
  /** Resolves when it ends (never rejects). */
  exited: Promise<RunResult>;
  /** Sends a signal; false if it is already gone. */
  kill(signal?: NodeJS.Signals): boolean;
}

export interface CommandRunner {
  /** Runs argv to completion; never throws for a non-zero exit or a missing program: the result says so. */
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-lived program (nginx in the foreground, `ip monitor`). */
  start(argv: string[], options?: StartOptions): RunningProcess;
}

function toResult(
  argv: string[],
  started: number,
  r: {
    exitCode?: number;
    stdout?: unknown;
    stderr?: unknown;
    timedOut?: boolean;
    signal?: string;
    code?: string;
    originalMessage?: string;
    isCanceled?: boolean;
  },
): RunResult {
  const spawnError =
    r.exitCode === undefined && r.signal === undefined && !r.timedOut && !r.isCanceled ? (r.code ?? r.originalMessage ?? "failed to start") : "";
  return {
    argv,
    exitCode: r.exitCode ?? -1,
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderr: typeof r.stderr === "string" ? r.stderr : spawnError,
    timedOut: r.timedOut ?? false,
    spawnError,
    signal: r.signal ?? "",
    durationMs: Date.now() - started,
  };
}

/** The real runner (execa, no shell). */
export function createCommandRunner(): CommandRunner {
  return {
    async run(argv, options = {}) {
      const started = Date.now();
      const [file, ...args] = argv;
      // Each run leads its own process group, and a timeout kills the whole
      // group: a shell script's children (a hung `curl` in a track script)
      // would otherwise keep its pipes open and the run alive past its deadline.
      const child = execa(file, args, {
        reject: false,
        detached: true,
        env: options.env,
        cwd: options.cwd,
        uid: options.uid,
        gid: options.gid,
        cancelSignal: options.signal,
        ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
        stripFinalNewline: true,
        forceKillAfterDelay: false,
      });
      let timedOut = false;
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              killGroup(child.pid, child);
            }, options.timeoutMs);
      const r = await child;
      clearTimeout(timer);
      const result = toResult(argv, started, r as never);
      return timedOut ? { ...result, timedOut: true, exitCode: -1, signal: result.signal || "SIGKILL" } : result;
    },
    start(argv, options = {}) {
      const started = Date.now();
      const [file, ...args] = argv;
      const child = execa(file, args, {
        reject: false,
        env: options.env,
        cwd: options.cwd,
        uid: options.uid,
        gid: options.gid,
        detached: options.detached ?? false,
        stdin: "ignore",
        buffer: false,
        stdout: "pipe",
        stderr: "pipe",
      });
      pipeLines(child.stdout, options.onStdoutLine);
      pipeLines(child.stderr, options.onStderrLine);
      // Resolve on the process's own exit, not when its pipes close: nginx
      // workers keep stdout open after a SIGKILLed master, and supervision
      // must see the master's death at once.
      const exited = new Promise<RunResult>((resolve) => {
        child.once("exit", (code, signal) => resolve(toResult(argv, started, { exitCode: code ?? undefined, signal: signal ?? undefined })));
        child.then(
          (r) => resolve(toResult(argv, started, r as never)),
          (err: unknown) => resolve(toResult(argv, started, err as never)),
        );
      });
      return {
        pid: child.pid ?? -1,
        exited,
        kill: (signal = "SIGTERM") => (child.exitCode === null && child.signalCode === null ? child.kill(signal) : false),
      };
    },
  };
}

function killGroup(pid: number | undefined, child: { kill(signal: NodeJS.Signals): boolean }): void {
  try {
    if (pid !== undefined) process.kill(-pid, "SIGKILL");
    else child.kill("SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

function pipeLines(stream: NodeJS.ReadableStream | null, onLine?: (line: string) => void): void {
  if (!stream) return;
  if (!onLine) {
    stream.resume();
    return;
  }
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  });
  stream.on("end", () => {
    if (buffered) onLine(buffered);
  });
}
