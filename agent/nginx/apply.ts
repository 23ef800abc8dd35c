/**
 * Applies pushed UpstreamConfigs: render → swap the candidate in → nginx -t →
 * restore the last good file (test failed) or reload (test passed) → report
 * { version, ok, error } (Report.upstream_version / upstream_error).
 *
 * One apply runs at a time. Pushes that arrive meanwhile wait in a one-slot
 * queue where a newer push replaces the waiting one (which resolves as
 * superseded): under a burst nginx reloads at most twice and the newest push is
 * always applied, never dropped. Arrival order decides, not the version number:
 * the coordinator is the authority, and a restarted coordinator may count again.
 * A re-sent config identical to the file in place is acknowledged without a reload.
 */
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import { renderUpstreams } from "./render.js";
import type { NginxOutcome } from "./supervisor.js";
import { UpstreamFile } from "./upstream-file.js";

/** What apply needs from nginx (NginxSupervisor provides it; tests pass a fake). */
export interface NginxControl {
  /** `nginx -t` against the whole config as it is on disk now. */
  test(): Promise<NginxOutcome>;
  /** Graceful reload of the running nginx. */
  reload(): Promise<NginxOutcome>;
  /** Runs fn with restarts and other config sequences held off. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** The outcome of one push. */
export interface ApplyResult {
  version: number;
  /** The version is in place, tested, and nginx was told to reload. */
  ok: boolean;
  /** Why not ("" when ok): a render error naming the field, nginx -t's error line, "superseded by version N". */
  error: string;
  /** A newer push replaced this one before it was tried. */
  superseded: boolean;
}

export interface UpstreamApplierOptions {
  /** nginx.upstream_file */
  path: string;
  control: NginxControl;
  log?: Logger;
}

interface Queued {
  config: UpstreamConfig;
  resolve: (r: ApplyResult) => void;
}

export class UpstreamApplier {
  private readonly file: UpstreamFile;
  private readonly control: NginxControl;
  private readonly log: Logger;
  private readonly listeners = new Set<(r: ApplyResult) => void>();
  private waiting: Queued | undefined;
  private draining: Promise<void> | undefined;
  private applied: number | undefined;
  private lastError = "";

  constructor(options: UpstreamApplierOptions) {
    this.file = new UpstreamFile(options.path);
    this.control = options.control;
    this.log = options.log ?? silentLogger;
  }

  /** Call once at agent start: undoes an apply the previous agent process did not finish. */
  async recover(): Promise<boolean> {
    const restored = await this.file.recover();
    if (restored) this.log.warn({ event: "upstream.recover", path: this.file.path }, "restored the last good upstream file left by an interrupted apply");
    return restored;
  }

  /** Queues a push; resolves with its outcome (also given to onApplied listeners). Never rejects. */
  apply(config: UpstreamConfig): Promise<ApplyResult> {
    return new Promise((resolve) => {
      const replaced = this.waiting;
      this.waiting = { config, resolve };
      if (replaced) this.finish(replaced, { version: replaced.config.version, ok: false, error: `superseded by version ${config.version}`, superseded: true });
      if (!this.draining) this.draining = this.drain();
    });
  }

  /** Called with every push's outcome, in order; returns an unsubscribe function. */
  onApplied(listener: (r: ApplyResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** For the Report: the last version applied (undefined before any) and the last push's error. */
  status(): { appliedVersion: number | undefined; error: string } {
    return { appliedVersion: this.applied, error: this.lastError };
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Applies queued pushes until none waits; `draining` is cleared in the same tick the queue is seen empty. */
  private async drain(): Promise<void> {
    await Promise.resolve();
    for (;;) {
      if (!this.waiting) {
        this.draining = undefined;
        return;
      }
      const item = this.waiting;
      this.waiting = undefined;
      let result: ApplyResult;
      try {
        result = await this.applyOne(item.config);
      } catch (err) {
        result = { version: item.config.version, ok: false, error: `apply failed: ${(err as Error).message}`, superseded: false };
      }
      if (!result.superseded) {
        if (result.ok) this.applied = result.version;
        this.lastError = result.error;
      }
      this.finish(item, result);
    }
  }

  private finish(item: Queued, result: ApplyResult): void {
    const level = result.ok ? "info" : "warn";
    this.log[level](
      { event: "upstream.apply", version: result.version, ok: result.ok, error: result.error },
      result.ok ? `upstream version ${result.version} applied` : `upstream version ${result.version} not applied: ${result.error}`,
    );
    item.resolve(result);
    for (const l of this.listeners) {
      try {
        l(result);
      } catch (err) {
        this.log.error({ event: "upstream.listener_error", err }, "upstream listener threw");
      }
    }
  }

  private async applyOne(config: UpstreamConfig): Promise<ApplyResult> {
    const version = config.version;
    const fail = (error: string): ApplyResult => ({ version, ok: false, error, superseded: false });
    let text: string;
    try {
      text = renderUpstreams(config);
    } catch (err) {
      return fail((err as Error).message);
    }
    return this.control.exclusive(async () => {
      if ((await this.file.read()) === text) return { version, ok: true, error: "", superseded: false };
      try {
        await this.file.swapIn(text);
      } catch (err) {
        // The rename is the last step, so the target is untouched: drop the stale good copy.
        await this.file.commit().catch(() => undefined);
        return fail(`cannot write ${this.file.path}: ${(err as Error).message}`);
      }
      let tested: NginxOutcome;
      try {
        tested = await this.control.test();
      } catch (err) {
        tested = { ok: false, detail: `nginx -t could not run: ${(err as Error).message}` };
      }
      if (!tested.ok) {
        await this.file.restore();
        return fail(tested.detail);
      }
      await this.file.commit();
      const reloaded = await this.control.reload();
      if (!reloaded.ok) return fail(`tested but reload failed: ${reloaded.detail}`);
      return { version, ok: true, error: "", superseded: false };
    });
  }
}
