/**
 * The one clock-and-timers port: decisions read `now()` from it and arm
 * timers through it, so tests drive time instead of sleeping. `now()` is
 * monotonic milliseconds unless a caller needs wall time (`wallMs()`).
 */
import { sharedWheel } from "./timer-wheel.js";

export interface Scheduler {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (Date.now() in production): for timestamps shown to people. */
  wallMs(): number;
  setTimeout(fn: () => void, ms: number): SchedulerTimer;
  clearTimeout(timer: SchedulerTimer): void;
  /** The delay to the next multiple of intervalMs on a grid shared with other loops (absent: intervalMs). */
  alignedDelay?(intervalMs: number): number;
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

/**
 * The agent's scheduler: Node's clock, timers on the process's shared wheel (one wake-up for
 * the loops that come due together), periodic work on its grid.
 */
export const wheelScheduler: Scheduler = {
  now: () => sharedWheel.now(),
  wallMs: () => Date.now(),
  // Exact: the core's timers are timeouts (acks, releases, drains) as well as the heartbeat.
  setTimeout: (fn, ms) => sharedWheel.setTimeout(fn, ms, true),
  clearTimeout: (timer) => sharedWheel.clearTimeout(timer),
  alignedDelay: (intervalMs) => sharedWheel.alignedDelay(intervalMs),
};
