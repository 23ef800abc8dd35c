/**
 * The lab's own processes, by their pid files (a pid is trusted only while it
 * lives in the host's namespace): start a backend again, flip its health,
 * make the coordinator reload its config, and read a process's JSON log.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hostNs, labPaths, startProcess, type Host, type LbHost } from "../../../deploy/lab/api.js";
import { isInNamespace, readPidFile } from "../../../deploy/lab/procfs.js";

/** The live pid of HOST's PROCESS, or undefined. */
export function livePid(prefix: string, host: Host, proc: string): number | undefined {
  const pid = readPidFile(labPaths(prefix).pidFile(host, proc));
  return pid !== undefined && isInNamespace(pid, hostNs(prefix, host)) ? pid : undefined;
}

function mustPid(prefix: string, host: Host, proc: string): number {
  const pid = livePid(prefix, host, proc);
  if (pid === undefined) throw new Error(`${host} ${proc} is not running in lab ${prefix}`);
  return pid;
}

/** The backend runs again (a failed test must not leave the next one without it). */
export async function ensureBackend(prefix: string, host: "b1" | "b2"): Promise<void> {
  if (livePid(prefix, host, "backend") === undefined) await startProcess(prefix, host, "backend");
}

/** sick: the backend's /aaa answers 500 (its checks fail; nginx retries the request elsewhere); healthy again otherwise. */
export function setBackendHealth(prefix: string, host: "b1" | "b2", health: "sick" | "healthy"): void {
  process.kill(mustPid(prefix, host, "backend"), health === "sick" ? "SIGUSR1" : "SIGUSR2");
}

/** SIGHUP: the coordinator reloads coordinator.yaml (upstream changes need no restart). */
export function reloadCoordinator(prefix: string): void {
  process.kill(mustPid(prefix, "coord", "coordinator"), "SIGHUP");
}

/** JSON log lines of one lab process (lines that are not JSON are skipped). */
export function logLines(prefix: string, host: Host, proc: string): Array<Record<string, unknown>> {
  const file = join(labPaths(prefix).logs, `${host}-${proc}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/**
 * When HOST's agent told nginx to reload with `version` (its log line once nginx -t passed and
 * SIGHUP was sent): new connections meet that config a few milliseconds later.
 */
export function reloadedAt(prefix: string, host: LbHost, version: number): number {
  const line = logLines(prefix, host, "agent").find((l) => l.event === "upstream.apply" && l.ok === true && l.version === version);
  assert.ok(line, `${host}'s agent logged no apply of version ${version}`);
  return Date.parse(String(line.time));
}

/** How many distinct versions in [from, to] HOST's agent applied (each one an nginx -t and a reload). */
export function appliedVersions(prefix: string, host: LbHost, from: number, to: number): number {
  return new Set(
    logLines(prefix, host, "agent")
      .filter((l) => l.event === "upstream.apply" && l.ok === true && typeof l.version === "number" && l.version >= from && l.version <= to)
      .map((l) => l.version),
  ).size;
}
