/**
 * What the supervisor needs to know about processes it did not necessarily
 * start (an adopted nginx master, orphaned workers): read from /proc, never by
 * name. A zombie counts as dead: kill(pid, 0) succeeds on one, but it serves nothing.
 *
 * Reads are synchronous on purpose: /proc files and pid files are a few bytes in memory
 * (procfs, tmpfs), and the supervisor polls an adopted master every watch_interval. Through
 * the libuv pool each read was four pool round trips (open, fstat, read, close), each waking a
 * pool thread and the loop: 40 wake-ups a second at the 100 ms default.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  /** One-letter state from /proc/PID/stat ("S", "R", "Z", ...). */
  state: string;
  ppid: number;
  /** Process group id: nginx started detached leads its own group, workers included. */
  pgrp: number;
}

function parseStat(pid: number, text: string): ProcessInfo {
  // The command name is in parentheses and may itself contain ") ": split after the last one.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid, state: rest[0], ppid: Number(rest[1]), pgrp: Number(rest[2]) };
}

/** /proc/PID/stat, or undefined when the process does not exist. */
export async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Exists and is not a zombie. */
export async function isLive(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== undefined && info.state !== "Z" && info.state !== "X";
}

/** The process title ("nginx: master process /usr/sbin/nginx -p ..."), "" if gone. */
export async function processTitle(pid: number): Promise<string> {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/**
 * A live nginx master: guards adoption against a stale pid file whose pid was
 * reused. nginx writes its pid file before it retitles itself "nginx: master
 * process ...", so a master a few ms old still shows its plain argv.
 */
export async function isNginxMaster(pid: number): Promise<boolean> {
  if (!(await isLive(pid))) return false;
  const title = await processTitle(pid);
  return title.startsWith("nginx: master process") || /^(\S*\/)?nginx(\s|$)/.test(title);
}

/**
 * Live (non-zombie) members of a process group. Synchronous on purpose: it runs
 * on the restart path, and hundreds of tiny /proc reads through the libuv pool
 * took 10-30 ms on a busy host where a plain loop takes a few.
 */
export function liveGroupMembers(pgrp: number): ProcessInfo[] {
  // Nothing in the group at all (zombies included): skip the scan.
  if (!sendSignal(-pgrp, 0)) return [];
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let info: ProcessInfo;
    try {
      info = parseStat(Number(entry), readFileSync(`/proc/${entry}/stat`, "utf8"));
    } catch {
      continue;
    }
    if (info.pgrp === pgrp && info.state !== "Z" && info.state !== "X") out.push(info);
  }
  return out;
}

/** The pid in an nginx pid file, or undefined (missing, empty, garbage). */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const text = readFileSync(path, "utf8").trim();
    return /^\d{1,10}$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Sends a signal (negative pid: a process group); false if nothing received it. */
export function sendSignal(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
