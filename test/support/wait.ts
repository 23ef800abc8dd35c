/**
 * The one wait helper for tests: polls a condition until it holds, and
 * fails naming what it waited for. Tests of decisions drive time instead
 * (test/support/manual-scheduler.ts); this is for real I/O in the component,
 * integration and end-to-end tiers, and for fakes that settle asynchronously.
 */

export interface WaitOptions {
  /** What is awaited, for the error ("lb1 holds VI_1"). */
  what: string;
  /** Give up after this long (default 3000 ms). */
  timeoutMs?: number;
  /** Poll this often (default 5 ms). */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy value; throws
 * `timed out after <timeoutMs> ms waiting for: <what>` when none came in time.
 * The condition is checked at least once, and once more after the deadline.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, { what, timeoutMs = 3000, intervalMs = 5 }: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
