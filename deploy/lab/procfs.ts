/**
 * What /proc says about a process: alive (not a zombie), which network namespace it is in,
 * its children, whether something listens on a port in its namespace. Reading /proc needs no
 * subprocess, so the lab can poll these every few ms while it waits on an observation.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";

/** The state letter from /proc/PID/stat, or undefined when there is no such process. */
function procState(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "PID (comm) S PPID …": comm may hold spaces and parentheses; split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

/** Running (a zombie or a dead process is not). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const s = procState(pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X";
}

/** The inode of a named namespace (/run/netns/NS), or undefined when it does not exist. */
export function netnsInode(ns: string): number | undefined {
  try {
    return statSync(`/run/netns/${ns}`).ino;
  } catch {
    return undefined;
  }
}

/**
 * PID is alive and inside the named namespace. This is how the lab knows a pid from a pid
 * file is still its own process and not a recycled pid of something else on the machine.
 */
export function isInNamespace(pid: number, ns: string): boolean {
  const want = netnsInode(ns);
  if (want === undefined || !isAlive(pid)) return false;
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === want;
  } catch {
    return false;
  }
}

/** Direct children of PID (nginx workers of a master). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procState(Number(entry));
    if (s && s.ppid === pid) out.push(Number(entry));
  }
  return out;
}

/**
 * Something listens on TCP PORT (any address, IPv4 or IPv6 socket) in PID's network namespace
 * (/proc/PID/net/tcp{,6} show the sockets of the namespace PID is in).
 */
export function isListening(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["tcp", "tcp6"]) {
    let table: string;
    try {
      table = readFileSync(`/proc/${pid}/net/${file}`, "utf8");
    } catch {
      continue;
    }
    for (const line of table.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] = local "0100007F:1CE8", cols[3] = state ("0A" = LISTEN)
      if (cols.length > 3 && cols[1].endsWith(`:${hexPort}`) && cols[3] === "0A") return true;
    }
  }
  return false;
}

/** Reads a pid file: the pid, or undefined when missing or not a number. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; resolves to the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
