/**
 * Starting a program that outlives the `npm run lab` command, its stdout and stderr
 * appended to a log file. This is the one place the lab spawns directly (node:child_process)
 * rather than through the CommandRunner: the runner pipes output back to its caller, and a
 * pipe to a CLI that has exited kills the daemon on its next write (SIGPIPE). A detached
 * child with the log file as its stdout has no such tie.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface DaemonOptions {
  /** Appended to (created if missing). */
  logFile: string;
  cwd?: string;
  /** Merged over this process's environment (without LEFT_OUT_ENV). */
  env?: Record<string, string>;
}

/**
 * What the lab's daemons do not inherit from whoever started the lab: the units start them
 * with a clean environment. NODE_EXTRA_CA_CERTS makes every Node process parse another CA
 * bundle into each TLS context's store (0.4-1.1 MB of RSS in an agent, which a host running
 * the unit does not pay); NODE_OPTIONS could change any daemon's flags.
 */
export const LEFT_OUT_ENV = ["NODE_EXTRA_CA_CERTS", "NODE_OPTIONS"] as const;

/** The environment a daemon gets: this process's, without LEFT_OUT_ENV, with `extra` over it. */
export function daemonEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of LEFT_OUT_ENV) delete out[name];
  return { ...out, ...extra };
}

/** Spawns argv detached (own session) with stdin closed; returns its pid. */
export function spawnDaemon(argv: string[], options: DaemonOptions): number {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, "a");
  try {
    writeSync(fd, `--- ${new Date().toISOString()} lab starts: ${argv.join(" ")}\n`);
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: ["ignore", fd, fd],
      cwd: options.cwd,
      env: daemonEnv(process.env, options.env),
    });
    // A spawn failure (ENOENT) arrives as an event; the caller sees the pid die instead.
    child.on("error", () => undefined);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
