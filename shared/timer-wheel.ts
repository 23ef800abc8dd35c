/**
 * One timer for many periodic loops. An idle agent's CPU is mostly wake-ups, not work: on a
 * virtual machine one wake-up of a Node process costs tens of microseconds, and the loops
 * of an agent (the probe through the VIP, the nginx watch, the heartbeat, LAN references,
 * upstream checks, track scripts) each woke it on their own phase. Here the loops
 * share one Node timer, and
 *
 * - `alignedDelay(interval)` puts a loop's next run on the next multiple of its interval on
 *   the wheel's clock, so loops of the same interval (or of multiples of it) come due at
 *   the same instant;
 * - when the timer fires, every entry due within its slack (5 % of its own delay, at most
 *   MAX_SLACK_MS) runs in the same wake-up, a little early rather than on a wake-up of its own;
 *   an `exact` entry (a timeout whose length means something) has none.
 *
 * Timing stays each loop's own: an entry never runs later than a plain timer would, and
 * earlier by at most its slack. The pure part (which entries run, when to wake) is driven
 * by the clock it is given, so tests drive time.
 */

/** The clock and the one timer the wheel runs on. */
export interface WheelBase {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The earliest an entry may run before its due time, in ms. */
export const MAX_SLACK_MS = 5;
const SLACK_RATIO = 0.05;

/** How early an entry armed for `delayMs` may run (0 for a delay of 0). */
export function slackMs(delayMs: number): number {
  return Math.min(MAX_SLACK_MS, Math.max(0, delayMs) * SLACK_RATIO);
}

/**
 * The delay from `nowMs` until the next multiple of `intervalMs`, shifted by `phaseMs` (never
 * 0: a loop that just ran on a grid point waits a whole interval).
 */
export function alignedDelay(nowMs: number, intervalMs: number, phaseMs = 0): number {
  if (!(intervalMs > 0)) return 0;
  const next = (Math.floor((nowMs - phaseMs) / intervalMs) + 1) * intervalMs + phaseMs;
  return next - nowMs;
}

/** The grid step phases are chosen on: the default probe and watch interval, so a phased loop still wakes with them. */
export const PHASE_STEP_MS = 100;

/**
 * A phase for a loop that should not run in step with its siblings (many upstream checks of
 * one interval): a multiple of PHASE_STEP_MS (of the interval when it is shorter) below the
 * interval, picked by `random` (0 ≤ random < 1).
 */
export function spreadPhase(intervalMs: number, random: number): number {
  const step = Math.min(PHASE_STEP_MS, intervalMs);
  if (!(step > 0)) return 0;
  return Math.floor((random * intervalMs) / step) * step;
}

/**
 * The delay of a periodic loop's next run: on the grid of its interval, or at once when the
 * run that began at `beganMs` took a whole interval or more (a probe that timed out: the
 * next one is not held back to the grid).
 */
export function nextRunDelay(nowMs: number, beganMs: number, intervalMs: number, phaseMs = 0): number {
  return nowMs - beganMs >= intervalMs ? 0 : alignedDelay(nowMs, intervalMs, phaseMs);
}

/** An armed entry; opaque to callers. */
export interface WheelTimer {
  readonly due: number;
  readonly earliest: number;
  readonly fn: () => void;
}

/** The entries the wheel runs when it wakes at `nowMs`: every one whose slack has begun, by due time. */
export function dueEntries<T extends Pick<WheelTimer, "due" | "earliest">>(entries: Iterable<T>, nowMs: number): T[] {
  const out: T[] = [];
  for (const e of entries) if (e.earliest <= nowMs) out.push(e);
  return out.sort((a, b) => a.due - b.due);
}

const nodeBase: WheelBase = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The window lateMs() keeps its maximum over (the reading covers one to two of them). */
export const LATE_WINDOW_MS = 60_000;

export class TimerWheel {
  private readonly entries = new Set<WheelTimer>();
  private handle: unknown;
  /** The due time the one timer is armed for (Infinity: not armed). */
  private armedFor = Number.POSITIVE_INFINITY;
  /** Wake-ups of the one timer, and entries run: what the coalescing saved is entries − wake-ups. */
  wakeups = 0;
  runs = 0;
  /** The most a wake-up came after its due time, per LATE_WINDOW_MS window of the wheel's clock: this one and the one before. */
  private late = { window: Number.NEGATIVE_INFINITY, maxMs: 0, previousMs: 0 };

  /** `uncaught`: where a throwing callback's error goes (default: the process's uncaught exception, as with Node's timers). */
  constructor(
    private readonly base: WheelBase = nodeBase,
    private readonly uncaught: (err: unknown) => void = (err) =>
      queueMicrotask(() => {
        throw err;
      }),
  ) {}

  now(): number {
    return this.base.now();
  }

  /** The delay to the next multiple of `intervalMs` on this wheel's clock. */
  alignedDelay(intervalMs: number, phaseMs = 0): number {
    return alignedDelay(this.base.now(), intervalMs, phaseMs);
  }

  /** `exact`: never early (a timeout whose length means something); periodic loops take the slack. */
  setTimeout(fn: () => void, ms: number, exact = false): WheelTimer {
    const delay = Math.max(0, Number.isFinite(ms) ? ms : 0);
    const due = this.base.now() + delay;
    const entry: WheelTimer = { due, earliest: exact ? due : due - slackMs(delay), fn };
    this.entries.add(entry);
    if (due < this.armedFor) this.arm(due);
    return entry;
  }

  clearTimeout(timer: unknown): void {
    if (!timer || !this.entries.delete(timer as WheelTimer)) return;
    if (this.entries.size === 0) this.disarm();
  }

  /** Entries waiting (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private arm(due: number): void {
    this.disarm();
    this.armedFor = due;
    this.handle = this.base.setTimeout(() => this.fire(), Math.max(0, Math.ceil(due - this.base.now())));
  }

  private disarm(): void {
    if (this.handle !== undefined) this.base.clearTimeout(this.handle);
    this.handle = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  /**
   * The most a wake-up ran after its due time in the last LATE_WINDOW_MS to twice that (this
   * window of the wheel's clock and the one before), in ms: how long the event loop kept the
   * process's periodic work waiting (a stall, a starved host), measured on wake-ups the process
   * has anyway. Reading changes nothing, so any number of scrapers see the same figure.
   */
  lateMs(): number {
    this.rollLate(this.base.now());
    return Math.max(this.late.maxMs, this.late.previousMs);
  }

  private rollLate(nowMs: number): void {
    const window = Math.floor(nowMs / LATE_WINDOW_MS);
    if (window === this.late.window) return;
    const previousMs = window === this.late.window + 1 ? this.late.maxMs : 0;
    this.late = { window, maxMs: 0, previousMs };
  }

  private fire(): void {
    const now = this.base.now();
    this.rollLate(now);
    this.late.maxMs = Math.max(this.late.maxMs, now - this.armedFor);
    this.handle = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.wakeups += 1;
    const run = dueEntries(this.entries, now);
    let failure: { err: unknown } | undefined;
    for (const e of run) {
      // An entry cleared by one that ran before it in this wake-up does not run.
      if (!this.entries.delete(e)) continue;
      this.runs += 1;
      try {
        e.fn();
      } catch (err) {
        // Reported once the others of this wake-up have run.
        failure ??= { err };
      }
    }
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.entries) if (e.due < next) next = e.due;
    if (next < this.armedFor) this.arm(next);
    if (failure) this.uncaught(failure.err);
  }
}

/** The process's wheel: the agent's periodic loops share it. */
export const sharedWheel = new TimerWheel();
