/**
 * The one clock-and-timers port: decisions read `now()` from it and arm
 * timers through it, so tests drive time instead of sleeping. `now()` is
 * monotonic milliseconds unless a caller needs wall time (`wallMs()`).
 */
export interface Scheduler {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (Date.now() in production): for timestamps shown to people. */
  wallMs(): number;
  setTimeout(fn: () => void, ms: number): SchedulerTimer;
  clearTimeout(timer: SchedulerTimer): void;
}

/** An opaque timer handle. */
export type SchedulerTimer = object;

/** The production scheduler: Node's timers and performance.now(). */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
