/**
 * Starting and stopping the lab's processes with pid files. A pid file is trusted only while
 * it names a live process inside the host's namespace, so a stale file (a crash, a recycled
 * pid) never makes the lab signal someone else's process.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnDaemon } from "./daemon.js";
import { REPO_ROOT } from "./paths.js";
import { childrenOf, isAlive, isInNamespace, isListening, readPidFile, waitFor } from "./procfs.js";
import type { ProcessSpec } from "./stacks.js";

/** An agent's stop drains its connections first (at most the group's drain_timeout, 30 s in the lab). */
const STOP_TIMEOUT_MS = 45_000;
const KILL_TIMEOUT_MS = 5_000;

/** The running pid of SPEC (pid file → live process in its namespace), else undefined. */
export function runningPid(spec: ProcessSpec): number | undefined {
  const pid = readPidFile(spec.pidFile);
  return pid !== undefined && isInNamespace(pid, spec.ns) ? pid : undefined;
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const text = readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  return `--- last lines of ${file}:\n${text}`;
}

function removePidFileIf(spec: ProcessSpec, pid: number | undefined): void {
  if (readPidFile(spec.pidFile) === pid || pid === undefined) rmSync(spec.pidFile, { force: true });
}

function label(spec: ProcessSpec): string {
  return `${spec.host} ${spec.name}`;
}

/**
 * Starts SPEC in its namespace, detached, and waits until it is ready (its pid file names it
 * and its port listens). Throws, with the log's last lines, when it exits or is not ready in time.
 */
export async function startProcess(spec: ProcessSpec, ip: string): Promise<number> {
  if (spec.startedBy === "agent") {
    throw new Error(`${label(spec)}: the keepvip agent starts and supervises nginx in this stack; start the agent instead (stop and kill nginx work)`);
  }
  const running = runningPid(spec);
  if (running !== undefined) throw new Error(`${label(spec)} is already running (pid ${running})`);
  rmSync(spec.pidFile, { force: true });
  const pid = spawnDaemon([ip, "netns", "exec", spec.ns, ...spec.argv], { logFile: spec.logFile, cwd: REPO_ROOT, env: spec.env });
  if (!spec.writesPidFile) writeFileSync(spec.pidFile, `${pid}\n`);
  let died = false;
  const ready = await waitFor(() => {
    if (!isAlive(pid)) {
      died = true;
      return true;
    }
    // Until `ip netns exec` has switched namespace, /proc/PID/net shows the root namespace's sockets.
    if (!isInNamespace(pid, spec.ns)) return false;
    if (spec.writesPidFile && readPidFile(spec.pidFile) !== pid) return false;
    return spec.readyPort === undefined || isListening(pid, spec.readyPort);
  }, spec.readyTimeoutMs);
  if (died) {
    removePidFileIf(spec, pid);
    throw new Error(`${label(spec)} exited at start\n${logTail(spec.logFile)}`);
  }
  if (!ready) {
    throw new Error(
      `${label(spec)} (pid ${pid}) is not ready after ${spec.readyTimeoutMs} ms${spec.readyPort ? ` (nothing listens on :${spec.readyPort})` : ""}; left running\n${logTail(spec.logFile)}`,
    );
  }
  return pid;
}

/** stop: SIGTERM; kill: SIGKILL; restart: SIGUSR2 (the agent exits keeping its VIPs and nginx, as on `systemctl restart`). */
export type EndHow = "stop" | "kill" | "restart";

/** Ends SPEC's process and waits until it is gone; returns the pid it ended. Throws when it is not running. */
export async function endProcess(spec: ProcessSpec, how: EndHow): Promise<number> {
  const pid = runningPid(spec);
  if (pid === undefined) {
    rmSync(spec.pidFile, { force: true });
    throw new Error(`${label(spec)} is not running`);
  }
  const children = how === "kill" && spec.killChildren ? childrenOf(pid) : [];
  const signal = how === "stop" ? "SIGTERM" : how === "restart" ? "SIGUSR2" : "SIGKILL";
  process.kill(pid, signal);
  for (const c of children) {
    try {
      process.kill(c, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const timeout = how === "kill" ? KILL_TIMEOUT_MS : STOP_TIMEOUT_MS;
  const gone = await waitFor(() => !isAlive(pid) && children.every((c) => !isAlive(c)), timeout);
  if (!gone) throw new Error(`${label(spec)} (pid ${pid}) is still alive ${timeout} ms after ${signal}`);
  removePidFileIf(spec, pid);
  return pid;
}

/** A process as status shows it. */
export interface ProcessStatus {
  host: string;
  name: string;
  /** The pid the pid file names (even when that process is gone). */
  pid?: number;
  alive: boolean;
  startedBy: "lab" | "agent";
}

export function processStatus(spec: ProcessSpec): ProcessStatus {
  const pid = readPidFile(spec.pidFile);
  return { host: spec.host, name: spec.name, pid, alive: pid !== undefined && isInNamespace(pid, spec.ns), startedBy: spec.startedBy };
}
