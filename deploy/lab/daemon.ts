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
  /** Merged over this process's environment. */
  env?: Record<string, string>;
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
      env: { ...process.env, ...options.env },
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
