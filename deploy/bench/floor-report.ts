/**
 * `bench:floor`'s variants, the report its session sends, and its table (pure). The floor is
 * what an idle backup agent's unavoidable events cost at the seed timing before any feature
 * does work: the wake-ups of its 100 ms loop, the probe through the VIP (a TCP connect each
 * time) and the session (a report every 200 ms out, a beat every 250 ms in), each measured
 * alone in a process of its own with the agent's V8 flags and code.
 */
import Table from "cli-table3";
import { NginxState, type Report } from "../../shared/gen/keepvip/v1/agent.js";
import { twoDigits } from "./stats.js";

export const FLOOR_VARIANTS = ["bare", "wheel", "probe", "session", "both"] as const;
export type FloorVariant = (typeof FLOOR_VARIANTS)[number];

export const FLOOR_LABELS: Record<FloorVariant, string> = {
  bare: "Node with the agent's packages loaded, nothing scheduled",
  wheel: "+ a wake-up every 100 ms (the timer wheel's loop, empty)",
  probe: "+ a TCP connect each wake-up (the backup's probe through the VIP)",
  session: "wheel + an mTLS gRPC session (a report out every 200 ms, a beat in every 250 ms)",
  both: "the probe and the session together",
};

/** A backup's report at the seed lab: nginx running, its track, its reach, two upstream servers. */
export function floorReport(): Report {
  return {
    nginx: NginxState.NGINX_STATE_RUNNING,
    nginxDetail: "",
    tracks: [{ name: "chk_nginx", passing: true, detail: "exit 0" }],
    held: [],
    upstreamVersion: 3,
    upstreamError: "",
    probes: ["198.18.0.21:10016", "198.18.0.22:10016"].map((server) => ({ upstream: "my10016", server, up: true, detail: "HTTP 200", latencyMs: 1 })),
    reach: [{ group: "VI_1", address: "198.18.0.100", reachable: true, lanOk: true, observedMs: 1_796_000_000_000, consecutiveFailures: 0, lanFresh: true }],
    fault: false,
    faultReason: "",
    seq: 0,
    draining: [],
    commandsReceived: 0,
  };
}

/** What one child printed. */
export interface FloorSample {
  variant: FloorVariant;
  userUs: number;
  systemUs: number;
  elapsedMs: number;
  wakeups: number;
  probes: number;
  reports: number;
  beats: number;
}

/** CPU as % of one core. */
export function cpuPercent(s: Pick<FloorSample, "userUs" | "systemUs" | "elapsedMs">): number {
  return ((s.userUs + s.systemUs) / 1000 / s.elapsedMs) * 100;
}

export interface FloorRow {
  variant: FloorVariant;
  /** Mean CPU % of one core over the runs, and its range. */
  cpu: number;
  min: number;
  max: number;
  /** Events a second (probes + reports + beats), from the last run. */
  eventsPerSec: number;
}

export function floorRows(samples: readonly FloorSample[]): FloorRow[] {
  return FLOOR_VARIANTS.flatMap((variant) => {
    const runs = samples.filter((s) => s.variant === variant);
    if (runs.length === 0) return [];
    const cpus = runs.map(cpuPercent);
    const last = runs[runs.length - 1];
    return [
      {
        variant,
        cpu: cpus.reduce((a, b) => a + b, 0) / cpus.length,
        min: Math.min(...cpus),
        max: Math.max(...cpus),
        eventsPerSec: ((last.probes + last.reports + last.beats) / last.elapsedMs) * 1000,
      },
    ];
  });
}

/**
 * The table: each variant's CPU and what it adds to the one above it (the probe and the
 * session over the empty loop), against the agent's target of 0.5 % of a core.
 */
export function renderFloor(rows: readonly FloorRow[], targetPercent: number): string {
  const by = new Map(rows.map((r) => [r.variant, r]));
  const base: Partial<Record<FloorVariant, FloorVariant>> = { wheel: "bare", probe: "wheel", session: "wheel", both: "wheel" };
  const t = new Table({
    head: ["what runs", "CPU % of a core (range)", "added", "events/s", "vs target"],
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const r of rows) {
    const under = base[r.variant] ? by.get(base[r.variant] as FloorVariant) : undefined;
    const range = r.min !== r.max ? ` (${twoDigits(r.min)}–${twoDigits(r.max)})` : "";
    t.push([
      FLOOR_LABELS[r.variant],
      `${twoDigits(r.cpu)}${range}`,
      under ? `+${twoDigits(r.cpu - under.cpu)}` : "",
      r.eventsPerSec > 0 ? twoDigits(r.eventsPerSec) : "",
      `${twoDigits(r.cpu / targetPercent)}×`,
    ]);
  }
  return t.toString();
}
