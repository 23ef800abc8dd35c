/**
 * A scheduler whose time moves only when a test says so: `advance(ms)` runs
 * every timer that falls due, in order, and awaits the microtasks each one
 * queues, so decisions are tested without sleeping.
 */
import type { Scheduler, SchedulerTimer } from "../../shared/scheduler.js";

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualScheduler implements Scheduler {
  private nowMs: number;
  private seq = 0;
  private readonly timers = new Map<SchedulerTimer, Pending>();

  constructor(
    startMs = 0,
    private readonly wallOffsetMs = 1_700_000_000_000,
  ) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  wallMs(): number {
    return this.wallOffsetMs + this.nowMs;
  }

  setTimeout(fn: () => void, ms: number): SchedulerTimer {
    const handle = {};
    this.timers.set(handle, { at: this.nowMs + Math.max(0, ms), seq: this.seq++, fn });
    return handle;
  }

  clearTimeout(timer: SchedulerTimer): void {
    this.timers.delete(timer);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running each timer that falls due (in due order). */
  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      let next: [SchedulerTimer, Pending] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at > until) continue;
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.nowMs = Math.max(this.nowMs, next[1].at);
      next[1].fn();
      await flushMicrotasks();
    }
    this.nowMs = until;
    await flushMicrotasks();
  }

  /**
   * The process is stalled for `ms`: time moves on and no timer runs (an event loop blocked by
   * a long task or starved of CPU). The timers that fell due run, late, at the next advance().
   */
  stall(ms: number): void {
    this.nowMs += ms;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
