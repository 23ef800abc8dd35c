/**
 * `npm run bench:scale`'s figures and how they print: one row per coordinator kind and
 * agent count, a table, and a text curve per figure. Pure: scale.ts measures, this lays out.
 */
import Table from "cli-table3";

/** A storm: every agent in session at once (a startup, or a reconnect after a coordinator restart). */
export interface StormFigures {
  /** From the storm's start until every agent was in session and every group had one holder, quiet after (ms); null: never within the limit. */
  settleMs: number | null;
  acquires: number;
  releases: number;
}

/** What one run at one agent count measured. */
export interface ScaleRow {
  coordinator: "single" | "replicated";
  agents: number;
  groups: number;
  heartbeatMs: number;
  /** The coordinator's CPU over the steady window, in % of one core. */
  cpuPercent: number;
  /** Its resident memory at the end of the steady window (MB). */
  rssMb: number;
  /** Reports the simulated agents sent per second over the window. */
  reportsPerSecond: number;
  /** The simulated agents' processes' CPU over the window, in % of one core (each). */
  fleetCpuPercent: number[];
  /** Takeover decisions (holder's stream destroyed → backup's acquire), ms. */
  takeover: { n: number; failed: number; verifyP50: number | null; p50: number | null; p99: number | null; max: number | null };
  /** GetStatus over gRPC during the window (ms): p50 and max of the calls made. */
  statusRpc: { n: number; p50: number | null; max: number | null };
  /**
   * `keepvip status --json` as a process, wall time (ms), a few runs one after the other: p50
   * and max of those that printed a status (null: none did), and how many failed.
   */
  statusCli: { n: number; failed: number; p50: number | null; max: number | null };
  startup: StormFigures;
  reconnect: StormFigures;
}

/** The q-quantile (0..1) of xs, nearest rank; null for none. */
export function quantile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** CPU % of one core from clock ticks used over a wall-clock window. */
export function cpuPercent(ticks: number, ticksPerSecond: number, windowMs: number): number {
  if (windowMs <= 0) return 0;
  return (100 * (ticks / ticksPerSecond) * 1000) / windowMs;
}

const ms = (x: number | null) => (x === null ? "-" : x < 10 ? x.toFixed(1) : String(Math.round(x)));
const s = (x: number | null) => (x === null ? "never" : (x / 1000).toFixed(x < 1000 ? 2 : 1));
const storm = (f: StormFigures) => `${s(f.settleMs)} s, ${f.acquires}/${f.releases}`;

export const TABLE_HEAD = [
  "coordinator",
  "agents",
  "CPU %",
  "RSS MB",
  "reports/s",
  "takeover p50 / p99 ms",
  "status RPC p50 / max ms",
  "status --json p50 / max ms",
  "startup storm (settle, acq/rel)",
  "reconnect storm (settle, acq/rel)",
  "sim CPU %",
];

/** The table's rows, one per run. */
export function tableRows(rows: readonly ScaleRow[]): string[][] {
  return rows.map((r) => [
    r.coordinator,
    String(r.agents),
    r.cpuPercent.toFixed(1),
    r.rssMb.toFixed(0),
    String(Math.round(r.reportsPerSecond)),
    `${ms(r.takeover.p50)} / ${ms(r.takeover.p99)}${r.takeover.failed > 0 ? ` (${r.takeover.failed} failed)` : ""}`,
    `${ms(r.statusRpc.p50)} / ${ms(r.statusRpc.max)}`,
    `${ms(r.statusCli.p50)} / ${ms(r.statusCli.max)}${r.statusCli.failed > 0 ? ` (${r.statusCli.failed} failed)` : ""}`,
    storm(r.startup),
    storm(r.reconnect),
    r.fleetCpuPercent.map((c) => c.toFixed(0)).join(" + "),
  ]);
}

export function renderTable(rows: readonly ScaleRow[]): string {
  const t = new Table({ head: TABLE_HEAD, style: { head: [], border: [] } });
  for (const row of tableRows(rows)) t.push(row);
  return t.toString();
}

/** The same table as Markdown (docs/benchmarks.md). */
export function markdownTable(rows: readonly ScaleRow[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(TABLE_HEAD), line(TABLE_HEAD.map(() => "---")), ...tableRows(rows).map(line)].join("\n");
}

/**
 * A text curve: one bar per agent count, scaled to the largest value, for each coordinator
 * kind. `value` returns null where nothing was measured.
 */
export function renderCurve(title: string, rows: readonly ScaleRow[], value: (r: ScaleRow) => number | null, unit: string, width = 40): string {
  const values = rows.map(value).filter((v): v is number => v !== null);
  const top = Math.max(1e-9, ...values);
  const lines = [title];
  for (const kind of ["single", "replicated"] as const) {
    const mine = rows.filter((r) => r.coordinator === kind);
    if (mine.length === 0) continue;
    lines.push(`  ${kind}`);
    for (const r of mine) {
      const v = value(r);
      const bar = v === null ? "" : "█".repeat(Math.max(v > 0 ? 1 : 0, Math.round((v / top) * width)));
      lines.push(`  ${String(r.agents).padStart(7)} │${bar} ${v === null ? "-" : `${ms(v)} ${unit}`}`);
    }
  }
  return lines.join("\n");
}
