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
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";

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

/** Whether a process in this /proc state still lives: not a zombie (Z) and not dead (X). */
export function liveState(state: string): boolean {
  return state !== "Z" && state !== "X";
}

/** Exists and is not a zombie. */
export async function isLive(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== undefined && liveState(info.state);
}

/**
 * An adopted master's /proc/PID/stat, held open: each look is one pread of its first bytes
 * (procfs regenerates the file at offset 0) instead of open, fstat, read and close and a
 * string. Exists and is not a zombie, as isLive; once the process is reaped the read fails
 * (ESRCH), even if its pid has been given to another process since.
 */
export class ProcStatWatch {
  private fd: number | undefined;
  /** "PID (comm) S": the state letter comes within the first 40 bytes (comm is at most 15). */
  private readonly buf = Buffer.alloc(128);

  constructor(readonly pid: number) {
    try {
      this.fd = Number.isInteger(pid) && pid > 0 ? openSync(`/proc/${pid}/stat`, "r") : undefined;
    } catch {
      this.fd = undefined;
    }
  }

  live(): boolean {
    if (this.fd === undefined) return false;
    let n: number;
    try {
      n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    } catch {
      this.close();
      return false;
    }
    // The command name may itself contain ") ": the state follows the last one.
    const paren = this.buf.lastIndexOf(0x29, n - 1);
    if (paren < 0 || paren + 2 >= n) return false;
    return liveState(String.fromCharCode(this.buf[paren + 2]));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
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
    if (info.pgrp === pgrp && liveState(info.state)) out.push(info);
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
