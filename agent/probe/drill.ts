/**
 * A failover drill's probes on one agent: the service through a group's VIP every
 * few milliseconds while the coordinator moves the VIP (or breaks nginx on the
 * holder), and what they saw in numbers. `summarizeDrill` is the pure part; the
 * runner is the thin loop around a prober and a clock.
 */
import type { ProbeOutcome, ServiceProber } from "./service.js";

/** One probe of the drill: when it started, what it found, whether this node held the VIP then. */
export interface DrillSample {
  startMs: number;
  ok: boolean;
  outcome: ProbeOutcome;
  held: boolean;
}

export interface DrillSummary {
  probes: number;
  failed: number;
  /** Longest run of failed probes: first failed probe's start → next answered probe's start (or the end). */
  longestBlackoutMs: number;
  /** Failed probes by outcome. */
  outcomes: Record<string, number>;
  /** When this node held the VIP (from the samples; a span still open closes at endMs). */
  held: Array<{ fromMs: number; toMs: number }>;
}

/** What the probes of one drill saw. Samples may arrive out of order (probes overlap). */
export function summarizeDrill(samples: readonly DrillSample[], endMs: number): DrillSummary {
  const sorted = [...samples].sort((a, b) => a.startMs - b.startMs);
  const outcomes: Record<string, number> = {};
  let failed = 0;
  let longest = 0;
  let runStart: number | undefined;
  let spanStart: number | undefined;
  const held: DrillSummary["held"] = [];
  for (const s of sorted) {
    if (s.held && spanStart === undefined) spanStart = s.startMs;
    if (!s.held && spanStart !== undefined) {
      held.push({ fromMs: spanStart, toMs: s.startMs });
      spanStart = undefined;
    }
    if (s.ok) {
      if (runStart !== undefined) longest = Math.max(longest, s.startMs - runStart);
      runStart = undefined;
      continue;
    }
    failed++;
    outcomes[s.outcome] = (outcomes[s.outcome] ?? 0) + 1;
    runStart ??= s.startMs;
  }
  if (runStart !== undefined) longest = Math.max(longest, Math.max(0, endMs - runStart));
  if (spanStart !== undefined) held.push({ fromMs: spanStart, toMs: Math.max(spanStart, endMs) });
  return { probes: sorted.length, failed, longestBlackoutMs: Math.round(longest), outcomes, held };
}

export interface DrillSpec {
  drillId: string;
  group: string;
  /** The VIP (no prefix) and the service behind it. */
  host: string;
  port: number;
  /** HTTP path; "" = TCP connect only. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** The runner ends on its own after this long (a coordinator that never says stop). */
  maxMs: number;
}

/** Bounds a coordinator's request cannot exceed. */
export const DRILL_LIMITS = { minIntervalMs: 5, maxIntervalMs: 1000, minTimeoutMs: 50, maxTimeoutMs: 5000, maxMs: 120_000, maxInFlight: 64 } as const;

export interface DrillRunnerDeps {
  probe: ServiceProber;
  /** Wall clock (ms since the epoch): the coordinator compares spans across nodes. */
  wallMs: () => number;
}

interface Running {
  spec: DrillSpec;
  samples: DrillSample[];
  inFlight: Set<Promise<void>>;
  timer: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
  done: (summary: DrillSummary, startedMs: number, endedMs: number) => void;
  startedMs: number;
  stopping: boolean;
}

/** Runs drills' probe loops, one per drill id, each bounded in time and in probes in flight. */
export class DrillRunner {
  private readonly runs = new Map<string, Running>();

  constructor(private readonly deps: DrillRunnerDeps) {}

  /** Starts probing; `held` says whether this node holds the VIP right now; `done` gets the figures once. */
  start(spec: DrillSpec, held: () => boolean, done: Running["done"]): void {
    this.stop(spec.drillId);
    const s: DrillSpec = {
      ...spec,
      intervalMs: clamp(spec.intervalMs, DRILL_LIMITS.minIntervalMs, DRILL_LIMITS.maxIntervalMs),
      timeoutMs: clamp(spec.timeoutMs, DRILL_LIMITS.minTimeoutMs, DRILL_LIMITS.maxTimeoutMs),
      maxMs: clamp(spec.maxMs, 1, DRILL_LIMITS.maxMs),
    };
    const run: Running = {
      spec: s,
      samples: [],
      inFlight: new Set(),
      done,
      startedMs: this.deps.wallMs(),
      stopping: false,
      timer: setInterval(() => this.tick(run, held), s.intervalMs),
      deadline: setTimeout(() => this.stop(s.drillId), s.maxMs),
    };
    run.timer.unref();
    run.deadline.unref();
    this.runs.set(s.drillId, run);
    this.tick(run, held);
  }

  /** Ends a drill's probes: the figures follow once the probes in flight have ended. */
  stop(drillId: string): void {
    const run = this.runs.get(drillId);
    if (!run || run.stopping) return;
    run.stopping = true;
    clearInterval(run.timer);
    clearTimeout(run.deadline);
    const endedMs = this.deps.wallMs();
    void Promise.allSettled([...run.inFlight]).then(() => {
      this.runs.delete(drillId);
      run.done(summarizeDrill(run.samples, endedMs), run.startedMs, endedMs);
    });
  }

  /** Every drill stops (agent shutdown). */
  stopAll(): void {
    for (const id of [...this.runs.keys()]) this.stop(id);
  }

  running(drillId: string): boolean {
    const r = this.runs.get(drillId);
    return r !== undefined && !r.stopping;
  }

  private tick(run: Running, held: () => boolean): void {
    if (run.stopping || run.inFlight.size >= DRILL_LIMITS.maxInFlight) return;
    const startMs = this.deps.wallMs();
    const isHeld = held();
    const { host, port, path, timeoutMs } = run.spec;
    const p = this.deps
      .probe({ host, port, path: path || undefined, timeoutMs })
      .then(
        (r) => void run.samples.push({ startMs, ok: r.ok, outcome: r.outcome, held: isHeld }),
        () => void run.samples.push({ startMs, ok: false, outcome: "error", held: isHeld }),
      )
      .finally(() => run.inFlight.delete(p));
    run.inFlight.add(p);
  }
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Number.isFinite(v) ? v : min));
}
