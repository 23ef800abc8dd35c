/**
 * Batched writes of the coordinator's state: a save asked for while another is being
 * written joins the next write, whatever number of others ask meanwhile. Each caller is
 * answered once a write that began after its call has completed, so what it changed before
 * calling is durable; a startup storm of thousands of new epochs costs a few writes, not one
 * fsync'd write of the whole state per epoch, one after the other.
 */
export class BatchedSaves {
  private running?: Promise<void>;
  private next?: Promise<void>;

  /** @param write writes the state as it is when called (the latest: every change so far). */
  constructor(private readonly write: () => Promise<void>) {}

  /** Resolves once a write begun after this call has completed; rejects if that write fails. */
  save(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) return this.start();
    const after = this.running.then(
      () => undefined,
      () => undefined,
    );
    this.next = after.then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** Resolves once no write is running or waiting (never rejects). */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && (this.running || this.next); i++) await (this.next ?? this.running)?.catch(() => undefined);
  }

  private start(): Promise<void> {
    const p = this.write();
    this.running = p;
    const clear = () => {
      if (this.running === p) this.running = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}
