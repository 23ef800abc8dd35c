/**
 * The footprint benchmark's arithmetic and tables: what /proc says about a process (CPU ticks,
 * RSS), which processes make up one role (a daemon and the helpers it keeps running), CPU as %
 * of one core and RSS over a phase, and keepvip beside keepalived with ratios. Pure; the
 * sampler (footprint.ts) reads /proc and hands the text here.
 */
import Table from "cli-table3";
import { twoDigits } from "./stats.js";
import type { StackName } from "./report.js";

/** The fields of /proc/PID/stat the bench uses. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /**
   * utime + stime + cutime + cstime, in clock ticks: the process's own CPU and that of the
   * children it has reaped (a track script that ran and exited between two samples is counted
   * in its parent).
   */
  ticks: number;
}

/** Parses /proc/PID/stat; undefined when the text is not one (the process is gone). */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  // "PID (comm) S PPID …": comm may hold spaces and parentheses; fields after it are split on spaces.
  const rest = text
    .slice(close + 2)
    .trim()
    .split(" ");
  // rest[0] is field 3 (state); utime..cstime are fields 14..17.
  if (rest.length < 15) return undefined;
  const num = (i: number) => Number(rest[i - 3]);
  const ticks = num(14) + num(15) + num(16) + num(17);
  const pid = Number(text.slice(0, open).trim());
  if (!Number.isInteger(pid) || !Number.isFinite(ticks)) return undefined;
  return { pid, comm: text.slice(open + 1, close), state: rest[0], ppid: num(4), ticks };
}

/** VmRSS from /proc/PID/status, in kB; undefined when absent (a zombie or kernel thread). */
export function parseRssKb(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/**
 * RssAnon from /proc/PID/status, in kB: the process's own memory (heap, stacks), as opposed to
 * the pages of its binary and libraries (RssFile), which other processes may share. 0 when absent.
 */
export function parseAnonKb(status: string): number {
  const m = /^RssAnon:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/**
 * ROOT and its live descendants, without the subtrees rooted at EXCLUDE (the agent starts nginx
 * as its child, but nginx is a role of its own). Zombies are left out: they hold no memory.
 */
export function processTree(table: readonly ProcStat[], root: number, exclude: readonly number[] = []): number[] {
  const children = new Map<number, number[]>();
  for (const p of table) {
    if (p.state === "Z" || p.state === "X") continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  if (!table.some((p) => p.pid === root && p.state !== "Z" && p.state !== "X")) return [];
  const out: number[] = [];
  const todo = [root];
  // Bounded: each pid is visited once (a pid table has no cycles, but a racy read could claim one).
  for (let i = 0; i < todo.length && i < 10_000; i++) {
    const pid = todo[i];
    if (exclude.includes(pid) || out.includes(pid)) continue;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** One sample of one process of a role. */
export interface PidSample {
  pid: number;
  ticks: number;
  rssKb: number;
  /** Of rssKb, the anonymous part (parseAnonKb); absent: not read. */
  anonKb?: number;
}

/** What one role's processes were at one moment. */
export interface RoleSample {
  /** Milliseconds (monotonic). */
  t: number;
  pids: PidSample[];
}

/** One role over one phase. */
export interface RoleUsage {
  /** CPU over the phase as % of one core (100 = one core busy). */
  cpuPct: number;
  /** Sum of the role's RSS, mean over the samples (MB = 1024 kB × 1024). */
  rssMb: number;
  rssMaxMb: number;
  /** Of rssMb, the anonymous part (mean over the samples): what the role's heaps and stacks hold. */
  anonMb: number;
  /** The most processes the role had at once. */
  processes: number;
  samples: number;
}

/**
 * CPU and RSS of a role over its samples. CPU is, per pid, its last ticks minus its first
 * (a pid seen once adds nothing: its time shows in its parent's cutime once reaped), over the
 * time between the first and the last sample. Undefined with fewer than two samples.
 */
export function roleUsage(samples: readonly RoleSample[], clockTicksPerSec: number): RoleUsage | undefined {
  if (samples.length < 2) return undefined;
  const spanSec = (samples[samples.length - 1].t - samples[0].t) / 1000;
  if (!(spanSec > 0)) return undefined;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  for (const s of samples) {
    for (const p of s.pids) {
      if (!first.has(p.pid)) first.set(p.pid, p.ticks);
      last.set(p.pid, p.ticks);
    }
  }
  let ticks = 0;
  for (const [pid, t0] of first) ticks += Math.max(0, (last.get(pid) ?? t0) - t0);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rss = samples.map((s) => s.pids.reduce((sum, p) => sum + p.rssKb, 0) / 1024);
  return {
    cpuPct: (ticks / clockTicksPerSec / spanSec) * 100,
    rssMb: mean(rss),
    rssMaxMb: Math.max(...rss),
    anonMb: mean(samples.map((s) => s.pids.reduce((sum, p) => sum + (p.anonKb ?? 0), 0) / 1024)),
    processes: Math.max(...samples.map((s) => s.pids.length)),
    samples: samples.length,
  };
}

export type Phase = "idle" | "load";

/** One role of one stack over one phase, as the bench reports it. */
export interface FootprintRow {
  stack: StackName;
  /** Which row of the side-by-side table: "lb1 HA daemon", "lb1 nginx", "coordinator". */
  role: string;
  /** What runs in it: "keepvip-agent (+2 helpers)", "keepalived (2 processes)". */
  what: string;
  phase: Phase;
  usage: RoleUsage;
}

/** The side-by-side rows, in this order; the total comes last. */
export const ROLE_ORDER = ["lb1 HA daemon", "lb2 HA daemon", "lb1 nginx", "lb2 nginx", "coordinator"] as const;

/** "0.31", "12": a figure with two significant digits; "-" when missing. */
export function figure(x: number | undefined): string {
  if (x === undefined) return "-";
  return twoDigits(Math.round(x * 100) / 100);
}

/** keepvip over keepalived, "5.1×"; "-" when a side is missing or keepalived's is 0. */
export function ratio(keepvip: number | undefined, keepalived: number | undefined): string {
  if (keepvip === undefined || keepalived === undefined || keepalived === 0) return "-";
  return `${twoDigits(keepvip / keepalived)}×`;
}

export interface BuiltFootprintTable {
  title: string;
  head: string[];
  rows: string[][];
}

function sum(rows: readonly FootprintRow[], pick: (u: RoleUsage) => number): number | undefined {
  return rows.length === 0 ? undefined : rows.reduce((s, r) => s + pick(r.usage), 0);
}

/** One table per phase: per role, keepvip's and keepalived's RSS and CPU with ratios, then the totals. */
export function buildFootprintTables(rows: readonly FootprintRow[], labels: Record<Phase, string>): BuiltFootprintTable[] {
  const tables: BuiltFootprintTable[] = [];
  for (const phase of ["idle", "load"] as const) {
    const here = rows.filter((r) => r.phase === phase);
    if (here.length === 0) continue;
    const find = (stack: StackName, role: string) => here.filter((r) => r.stack === stack && r.role === role);
    const line = (role: string, kv: FootprintRow[], ka: FootprintRow[]) => {
      const rssKv = sum(kv, (u) => u.rssMb);
      const rssKa = sum(ka, (u) => u.rssMb);
      const cpuKv = sum(kv, (u) => u.cpuPct);
      const cpuKa = sum(ka, (u) => u.cpuPct);
      const what = (rs: FootprintRow[]) => rs.map((r) => r.what).join(", ") || "-";
      return [role, what(kv), what(ka), figure(rssKv), figure(rssKa), ratio(rssKv, rssKa), figure(cpuKv), figure(cpuKa), ratio(cpuKv, cpuKa)];
    };
    const body = ROLE_ORDER.filter((role) => here.some((r) => r.role === role)).map((role) => line(role, find("keepvip", role), find("keepalived", role)));
    const total = line(
      "total",
      here.filter((r) => r.stack === "keepvip"),
      here.filter((r) => r.stack === "keepalived"),
    );
    total[1] = "";
    total[2] = "";
    tables.push({
      title: labels[phase],
      head: ["role", "keepvip", "keepalived", "RSS MB keepvip", "RSS MB keepalived", "ratio", "CPU % keepvip", "CPU % keepalived", "ratio"],
      rows: [...body, total],
    });
  }
  return tables;
}

/** Lays the tables out (no colour codes: the output goes to pipes and files). */
export function renderFootprintTables(tables: readonly BuiltFootprintTable[]): string {
  return tables
    .map((t) => {
      const table = new Table({ head: t.head, style: { head: [], border: [] } });
      for (const r of t.rows) table.push(r);
      return `${t.title}\n${table.toString()}`;
    })
    .join("\n\n");
}

/** What a role's processes are, by name: "node", "node + ip ×2", "keepalived ×2". */
export function describeProcesses(comms: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const c of comms) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].map(([c, n]) => (n === 1 ? c : `${c} ×${n}`)).join(" + ") || "-";
}
