/**
 * One `ip monitor` for the agent's two watchers. The link watcher runs `ip monitor link` and
 * the VIP controller `ip monitor address`; each was a process of its own, about 2.5 MB of RSS
 * on every load balancer. `sharingIpMonitor` is a runner that starts
 * `ip monitor label link address` once and hands each watcher its own view of it: the lines
 * of its kind with the label taken off (as its own monitor printed them), an `exited` of its
 * own, a `kill` that only detaches it. The process ends when the last view is killed; when it
 * ends by itself, every view ends with its result, and the watchers restart as before (the
 * first restart starts a new process, the second joins it). Every other command goes to the
 * runner unchanged. A line reaches its watcher as fast as before: one process reads both.
 */
import type { CommandRunner, RunningProcess, RunResult, StartOptions } from "../../shared/exec/runner.js";

export type MonitorKind = "link" | "address";

const LABELS: ReadonlyArray<[string, MonitorKind]> = [
  ["[LINK]", "link"],
  ["[ADDR]", "address"],
];

/**
 * Which watcher a line of `ip monitor label link address` is for, and the line as the
 * unlabelled monitor prints it. `ip` labels the first line of a message only: a continuation
 * line ("    link/ether ...", "       valid_lft ...") belongs to the kind of the line before;
 * another label (a kind nobody asked for) belongs to nobody.
 */
export function routeMonitorLine(line: string, previous: MonitorKind | undefined): { kind: MonitorKind | undefined; line: string } {
  if (line.startsWith("[")) {
    for (const [label, kind] of LABELS) if (line.startsWith(label)) return { kind, line: line.slice(label.length) };
    return { kind: undefined, line };
  }
  return { kind: previous, line };
}

/** The watcher a command is, if it is `IP monitor link` or `IP monitor address`. */
export function monitorKind(argv: string[], ip: string): MonitorKind | undefined {
  if (argv.length !== 3 || argv[0] !== ip || argv[1] !== "monitor") return undefined;
  return argv[2] === "link" || argv[2] === "address" ? argv[2] : undefined;
}

interface View {
  kind: MonitorKind;
  onLine?: (line: string) => void;
  end(result: RunResult): void;
}

export function sharingIpMonitor(runner: CommandRunner, ip: string): CommandRunner {
  let shared: { proc: RunningProcess; views: Set<View> } | undefined;

  const open = (): { proc: RunningProcess; views: Set<View> } => {
    const views = new Set<View>();
    let previous: MonitorKind | undefined;
    const proc = runner.start([ip, "monitor", "label", "link", "address"], {
      onStdoutLine: (raw) => {
        const { kind, line } = routeMonitorLine(raw, previous);
        previous = kind;
        if (kind === undefined) return;
        for (const v of views) if (v.kind === kind) v.onLine?.(line);
      },
    });
    const s = { proc, views };
    void proc.exited.then((result) => {
      if (shared === s) shared = undefined;
      for (const v of [...views]) v.end(result);
      views.clear();
    });
    return s;
  };

  return {
    run: (argv, options) => runner.run(argv, options),
    start(argv: string[], options: StartOptions = {}): RunningProcess {
      const kind = monitorKind(argv, ip);
      if (kind === undefined) return runner.start(argv, options);
      shared ??= open();
      const s = shared;
      const started = Date.now();
      let done = false;
      let resolve: (r: RunResult) => void = () => {};
      const exited = new Promise<RunResult>((r) => (resolve = r));
      const view: View = {
        kind,
        onLine: options.onStdoutLine,
        end: (r) => {
          if (done) return;
          done = true;
          resolve({ ...r, argv });
        },
      };
      s.views.add(view);
      return {
        pid: s.proc.pid,
        exited,
        kill(signal: NodeJS.Signals = "SIGTERM") {
          if (done) return false;
          s.views.delete(view);
          view.end({ argv, exitCode: -1, stdout: "", stderr: "", timedOut: false, spawnError: "", signal, durationMs: Date.now() - started });
          if (s.views.size === 0) {
            // The last view: the process goes, and the next start opens a new one at once.
            if (shared === s) shared = undefined;
            s.proc.kill(signal);
          }
          return true;
        },
      };
    },
  };
}
