/**
 * The benchmark's tables: one per metric group, a row per fault phase, keepvip and keepalived
 * side by side (min / median / max over the runs) and how keepvip's median compares. Building
 * the rows is pure; renderTables only lays them out with cli-table3.
 */
import Table from "cli-table3";
import { formatRatio, formatSummary, summarize } from "./stats.js";
import type { PhaseMetrics } from "./window.js";

export type StackName = "keepvip" | "keepalived";
/** seed: keepvip seed timing vs keepalived's seed config (advert 1 s); tuned: keepvip tuned vs advert 0.1 s. */
export type Profile = "seed" | "tuned";

/** One run of one phase on one stack. */
export interface PhaseResult extends PhaseMetrics {
  /** Row id: "F1", "F11 heal", … */
  phase: string;
  stack: StackName;
  profile: Profile;
  /** 1-based. */
  run: number;
  /** The LB the VIP should end up on alone; undefined: it should not move. */
  newHolder?: string;
}

/** A row of every table: a phase and which stacks can face it. */
export interface PhaseRow {
  id: string;
  /** What the fault is, for the legend. */
  label: string;
  /** keepalived has no such fault (F7, F8: no coordinator). */
  keepalivedNa?: string;
}

export interface BuiltTable {
  title: string;
  head: string[];
  rows: string[][];
}

interface MetricSpec {
  title: string;
  unit: string;
  pick: (r: PhaseResult) => number | null;
}

const METRICS: MetricSpec[] = [
  { title: "Client-observed outage: longest run of failed requests (ms)", unit: "ms", pick: (r) => r.outageMs },
  { title: "Failed requests (one every 10 ms, new connection, 200 ms timeout)", unit: "", pick: (r) => r.failed },
  { title: "VIP move: fault → VIP only on the new holder (ms)", unit: "ms", pick: (r) => r.moveMs },
  { title: "VIP on both LBs at once (ms, total per run)", unit: "ms", pick: (r) => r.bothMs },
  { title: "VIP on no LB (ms, total per run)", unit: "ms", pick: (r) => r.noneMs },
];

/** "no move", or how many runs moved it anyway, for phases where the VIP should stay. */
function noMoveCell(rs: PhaseResult[]): string {
  const moved = rs.filter((r) => r.moved).length;
  return moved === 0 ? "no move" : `moved ${moved}/${rs.length}`;
}

function cell(rs: PhaseResult[], m: MetricSpec, isMove: boolean): string {
  if (rs.length === 0) return "-";
  if (isMove && rs.every((r) => r.newHolder === undefined)) return noMoveCell(rs);
  const s = formatSummary(summarize(rs.map(m.pick)), isMove ? "never" : "none");
  const unsettled = rs.filter((r) => !r.reached).length;
  return unsettled > 0 ? `${s} [${unsettled} unsettled]` : s;
}

function ratioCell(kv: PhaseResult[], ka: PhaseResult[], m: MetricSpec, isMove: boolean): string {
  if (kv.length === 0 || ka.length === 0) return "-";
  if (isMove && (kv.every((r) => r.newHolder === undefined) || ka.every((r) => r.newHolder === undefined))) return "-";
  const a = summarize(kv.map(m.pick));
  const b = summarize(ka.map(m.pick));
  // A median over a subset of runs would compare unlike things; say so instead.
  if (a.missing > 0 || b.missing > 0) return "-";
  return formatRatio(a, b, m.unit);
}

/** The tables for one profile. Rows whose phase has no result on either stack are left out. */
export function buildTables(results: readonly PhaseResult[], profile: Profile, phases: readonly PhaseRow[]): BuiltTable[] {
  const mine = results.filter((r) => r.profile === profile);
  const rowsWithData = phases.filter((p) => mine.some((r) => r.phase === p.id));
  return METRICS.map((m, i) => {
    const isMove = i === 2;
    const rows = rowsWithData.map((p) => {
      const kv = mine.filter((r) => r.phase === p.id && r.stack === "keepvip");
      const ka = mine.filter((r) => r.phase === p.id && r.stack === "keepalived");
      const kaCell = p.keepalivedNa !== undefined && ka.length === 0 ? `n/a (${p.keepalivedNa})` : cell(ka, m, isMove);
      return [p.id, cell(kv, m, isMove), kaCell, ratioCell(kv, ka, m, isMove)];
    });
    return { title: m.title, head: ["fault", "keepvip", "keepalived", "keepvip / keepalived"], rows };
  });
}

/** Runs whose end condition did not hold before its deadline, one sentence each. */
export function unsettledLines(results: readonly PhaseResult[]): string[] {
  return results
    .filter((r) => !r.reached)
    .map((r) => `${r.stack} (${r.profile}) ${r.phase} run ${r.run}: end condition not reached in ${r.settledMs} ms; figures run to the deadline`);
}

export function renderTable(t: BuiltTable): string {
  // No colours: the output goes to logs and files as often as to terminals.
  // No rule between body rows: ten rows stay ten lines.
  const table = new Table({ head: t.head, style: { head: [], border: [] }, chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" } });
  for (const r of t.rows) table.push(r);
  return `${t.title}\n${table.toString()}`;
}

export function renderTables(tables: readonly BuiltTable[]): string {
  return tables.map(renderTable).join("\n\n");
}
