/**
 * A full collection of the agent's heap every HEAP_TRIM_MS, when V8's `gc()` is exposed (the
 * bin's `--expose-gc`, shared/node-flags.ts).
 *
 * Why: V8 lets the old generation grow by at least 8 MB past what the last full collection
 * kept before it collects again. An agent keeps about 12 MB live and promotes about 0.1 MB of
 * short-lived objects a second (probes, reports), so between V8's own collections its RSS
 * climbed from 57 to 65 MB and stayed there (docs/benchmarks.md, footprint). A collection
 * every 20 s holds it at 57-60 MB for about 10 ms of CPU each time (0.05 % of a core).
 * `--optimize-for-size` bounds the growth too, but it also flushes bytecode sooner and cost
 * 0.2-0.3 % of a core in recompiling.
 */
import type { Scheduler, SchedulerTimer } from "../shared/scheduler.js";

export const HEAP_TRIM_MS = 20_000;

/** Starts the collections (nothing without `gc`); returns the stop. */
export function startHeapTrim(scheduler: Scheduler, gc: (() => void) | undefined, everyMs = HEAP_TRIM_MS): () => void {
  if (!gc) return () => undefined;
  let timer: SchedulerTimer | undefined;
  const arm = (): void => {
    timer = scheduler.setTimeout(() => {
      gc();
      arm();
    }, scheduler.alignedDelay?.(everyMs) ?? everyMs);
  };
  arm();
  return () => {
    if (timer) scheduler.clearTimeout(timer);
    timer = undefined;
  };
}
