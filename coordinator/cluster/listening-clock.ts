/**
 * The engine's clock: monotonic time with the coordinator's own stalls taken out. A
 * coordinator whose event loop was blocked or saturated (a long GC, a status built for
 * thousands of groups, a host short of CPU) could not read what its agents sent meanwhile:
 * that time must not count as the agents' silence, nor run out an ack timeout whose ack sits
 * unread in a socket. Stalls are seen by the engine's own timers firing late: a timer due at
 * `dueMs` that runs at `nowMs` proves the loop did not get to it in between. Overload then
 * slows decisions down (a dead agent is found silent later) instead of making wrong ones
 * (a live holder found silent, its VIP moved). Pure: times come in as arguments.
 */

/** Lateness a timer may have without counting as a stall (timer jitter, a short GC). */
export const STALL_TOLERANCE_MS = 10;

export class ListeningClock {
  private stalledMs = 0;
  /** Up to when stalls are already counted (a stall is counted once, however many timers it made late). */
  private countedUntilMs = Number.NEGATIVE_INFINITY;
  /** The last time handed out: the clock never goes back. */
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly toleranceMs = STALL_TOLERANCE_MS) {}

  /**
   * A timer due at `dueMs` ran at `nowMs` (both monotonic). Lateness beyond the tolerance is
   * a stall, counted from the later of its due time and the end of the last stall counted.
   * Returns the stall added (0: on time).
   */
  observe(dueMs: number, nowMs: number): number {
    const from = Math.max(dueMs, this.countedUntilMs);
    const late = nowMs - from;
    if (late <= this.toleranceMs) return 0;
    this.stalledMs += late;
    this.countedUntilMs = nowMs;
    return late;
  }

  /** The engine's time at monotonic `nowMs`: stalls taken out, never going back. */
  at(nowMs: number): number {
    const t = Math.max(this.lastMs, nowMs - this.stalledMs);
    this.lastMs = t;
    return t;
  }

  /** Stall time counted so far. */
  get stalled(): number {
    return this.stalledMs;
  }
}
