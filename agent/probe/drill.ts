/**
 * A failover drill's probes on one agent: the service through a group's VIP every
 * few milliseconds while the coordinator moves the VIP (or breaks nginx on the
 * holder), and what they saw in numbers. `summarizeDrill` is the pure part; the
 * runner is the thin loop around a prober and a clock.
 */
import type { ProbeOutcome, ServiceProber } from "./service.js";

/** Where the group's VIP is on this node: held (announced), draining (on lo, unannounced), or not here. */
export type VipHere = "held" | "draining" | "none";

/** One probe of the drill: when it started, what it found, whether this node held the VIP then. */
export interface DrillSample {
  startMs: number;
  ok: boolean;
  outcome: ProbeOutcome;
  held: boolean;
  /**
   * This node bound or unbound the VIP while the probe ran: the address moved under the
   * probe's own socket (a local connection sent out to the LAN, or the other way), which no
   * client elsewhere sees. Such a probe is counted apart, never as a failure.
   */
  crossed?: boolean;
  /** When it ended (wall ms); without it, when it started. */
  endMs?: number;
}

/**
 * A probe that runs across this node's own bind or unbind (or drain end), or starts this
 * soon after one, is counted apart: the host's routes and neighbour entries for the VIP
 * change under it (a local connection rerouted to or from the LAN, a fresh ARP
 * resolution), which no client on another host sees. A bind or an unbind is recorded as it
 * begins to change the host's addresses, right before its `ip addr add` or `ip addr del`
 * (DrillRunner.ownMove, called by the VIP port through the agent's core); a drain's end is
 * seen by the next look once its removal has begun, before its address on lo is deleted.
 * Either way the kernel's routes change at or after the recorded instant, so a probe that
 * the change cut ends at or after it, whatever its outcome, and is counted apart as running
 * across it. The margin after it covers the rest of the move (the other addresses of the
 * group, the first GARP) and the neighbour entries settling. A probe that ended before the
 * move began was not cut by it and counts, whatever it saw: a refusal, a timeout or a reset
 * there is the service's (nginx dead on the holder stays in the drill's blackout).
 */
export const OWN_MOVE_MARGIN_MS = 100;

export interface DrillSummary {
  probes: number;
  failed: number;
  /** Longest run of failed probes: first failed probe's start → next answered probe's start (or the end). */
  longestBlackoutMs: number;
  /** Failed probes by outcome. */
  outcomes: Record<string, number>;
  /** Probes cut by this node's own bind or unbind (not counted as answered or failed). */
  crossed: number;
  /** When this node held the VIP (from the samples; a span still open closes at endMs). */
  held: Array<{ fromMs: number; toMs: number }>;
}

/**
 * What the probes of one drill saw. Samples may arrive out of order (probes overlap).
 * `ownChanges`: when this node's own moves began (wall ms), see OWN_MOVE_MARGIN_MS.
 */
export function summarizeDrill(samples: readonly DrillSample[], endMs: number, ownChanges: readonly number[] = []): DrillSummary {
  const sorted = [...samples].sort((a, b) => a.startMs - b.startMs);
  const outcomes: Record<string, number> = {};
  let failed = 0;
  let longest = 0;
  let runStart: number | undefined;
  let spanStart: number | undefined;
  const held: DrillSummary["held"] = [];
  let crossed = 0;
  for (const s of sorted) {
    if (s.held && spanStart === undefined) spanStart = s.startMs;
    if (!s.held && spanStart !== undefined) {
      held.push({ fromMs: spanStart, toMs: s.startMs });
      spanStart = undefined;
    }
    // The move ran across the probe, or began at most the margin before it started.
    const near = ownChanges.some((c) => c >= s.startMs - OWN_MOVE_MARGIN_MS && c <= (s.endMs ?? s.startMs));
    if (s.crossed || near) {
      crossed++;
      continue;
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
  return { probes: sorted.length, failed, longestBlackoutMs: Math.round(longest), outcomes, held, crossed };
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
  /** Where the VIP was on this node at the last look. */
  lastHere?: VipHere;
  /** This node's own moves (wall ms): when a bind or an unbind changed an address (ownMove), and when a look saw `here` change. */
  changes: number[];
}

/** Runs drills' probe loops, one per drill id, each bounded in time and in probes in flight. */
export class DrillRunner {
  private readonly runs = new Map<string, Running>();

  constructor(private readonly deps: DrillRunnerDeps) {}

  /** Starts probing; `here` says where the VIP is on this node right now; `done` gets the figures once. */
  start(spec: DrillSpec, here: () => VipHere, done: Running["done"]): void {
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
      changes: [],
      timer: setInterval(() => this.tick(run, here), s.intervalMs),
      deadline: setTimeout(() => this.stop(s.drillId), s.maxMs),
    };
    run.timer.unref();
    run.deadline.unref();
    this.runs.set(s.drillId, run);
    // The first probe starts when the drill does: what it sees holds from the start.
    this.tick(run, here, run.startedMs);
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
      run.done(summarizeDrill(run.samples, endedMs, run.changes), run.startedMs, endedMs);
    });
  }

  /** Every drill stops (agent shutdown). */
  stopAll(): void {
    for (const id of [...this.runs.keys()]) this.stop(id);
  }

  /**
   * This node adds or deletes the group's VIP now (right before the `ip addr add` or `ip addr
   * del` of a bind or an unbind): a probe whose connection the kernel's route change cuts
   * ends after this instant. Recorded for every drill of the group here, a stopping one
   * included (its probes in flight are still judged).
   */
  ownMove(group: string): void {
    const atMs = this.deps.wallMs();
    for (const run of this.runs.values()) if (run.spec.group === group) run.changes.push(atMs);
  }

  running(drillId: string): boolean {
    const r = this.runs.get(drillId);
    return r !== undefined && !r.stopping;
  }

  /** Where the VIP is on this node now, noting when that changed. */
  private look(run: Running, here: () => VipHere, atMs: number): VipHere {
    const now = here();
    if (run.lastHere !== undefined && now !== run.lastHere) run.changes.push(atMs);
    run.lastHere = now;
    return now;
  }

  private tick(run: Running, here: () => VipHere, at?: number): void {
    if (run.stopping) return;
    const startMs = at ?? this.deps.wallMs();
    const before = this.look(run, here, startMs);
    if (run.inFlight.size >= DRILL_LIMITS.maxInFlight) return;
    const { host, port, path, timeoutMs } = run.spec;
    const sample = (ok: boolean, outcome: ProbeOutcome) => {
      const endMs = this.deps.wallMs();
      const after = this.look(run, here, endMs);
      run.samples.push({ startMs, endMs, ok, outcome, held: before === "held", ...(after !== before ? { crossed: true } : {}) });
    };
    const p = this.deps
      .probe({ host, port, path: path || undefined, timeoutMs })
      .then(
        (r) => sample(r.ok, r.outcome),
        () => sample(false, "error"),
      )
      .finally(() => run.inFlight.delete(p));
    run.inFlight.add(p);
  }
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Number.isFinite(v) ? v : min));
}
