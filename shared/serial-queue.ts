/**
 * Runs tasks one at a time, in the order they were queued: each starts once
 * the one before it has settled, whether it resolved or rejected. A task's
 * outcome goes to its own caller only; a failure never stops the queue.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  /** Queues `task`; resolves or rejects with its outcome. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    this.queued++;
    const next = this.tail.then(task, task);
    this.tail = next.then(
      () => void this.queued--,
      () => void this.queued--,
    );
    return next;
  }

  /** Tasks queued or running. */
  get pending(): number {
    return this.queued;
  }

  /** Resolves once every task queued so far has settled (never rejects). */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
