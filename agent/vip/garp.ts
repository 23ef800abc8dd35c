/**
 * Runs a VIP's announcement burst on a schedule: the first send at once, the
 * rest on timers, then an optional refresh while the VIP is held. An IPv4
 * VIP's send is one `arping -U -c 1` process (arping's own -c/-i only space
 * sends by whole seconds); an IPv6 VIP's is one `na6` process sending one
 * unsolicited neighbour advertisement (the controller passes that plan:
 * plan.ts, planNeighbourAdvert). Every process started here is kept by pid,
 * killed when it outlives its bound, and ended by cancel().
 */
import type { CommandRunner, RunningProcess } from "../../shared/exec/runner.js";
import { garpOffsets, planGarp, type GarpSchedule, type VipBinding, type VipTools } from "./plan.js";

/** A send that did not go out (arping exited non-zero or could not start). */
export interface GarpFailure {
  binding: VipBinding;
  detail: string;
}

export interface GarpBurstOptions {
  runner: CommandRunner;
  tools: VipTools;
  schedule: GarpSchedule;
  /**
   * How long after spawning the first arping we call it sent. arping prints
   * nothing until it exits (stdio is buffered on a pipe) and then lingers a
   * second, so the send itself cannot be observed; measured spawn→wire through
   * `ip netns exec` was 5–8 ms, so 20 ms is a safe bound. Default 20.
   */
  firstSendSettleMs?: number;
  /**
   * The first send counts as out when its program exits, not after
   * firstSendSettleMs: na6 exits right after its packet is on the wire.
   */
  firstSentAtExit?: boolean;
  /** A send still running after this long is killed and reported as failed. Default 5000 (arping lingers a second). */
  sendTimeoutMs?: number;
  /**
   * What one send runs, asked anew at every send; default: the binding's
   * gratuitous ARP (planGarp). IPv6 passes the VIP's neighbour advertisement,
   * which reads the interface's current MAC and forwarding first.
   */
  plan?: () => Promise<{ argv: string[] } | { error: string }>;
  onFailure: (f: GarpFailure) => void;
}

/** Each arping lives about a second; a faster refresh would only pile processes up. */
const MIN_REFRESH_MS = 1000;

/** One binding's announcements: a burst, then an optional refresh, until cancel(). */
export class GarpBurst {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly procs = new Set<RunningProcess>();
  private cancelled = false;

  /** Starts the burst; `firstSent` resolves once the first send is out (or failed). */
  readonly firstSent: Promise<void>;

  constructor(
    private readonly binding: VipBinding,
    takeover: boolean,
    private readonly opts: GarpBurstOptions,
  ) {
    const offsets = garpOffsets(opts.schedule, takeover);
    this.firstSent = this.send();
    for (const ms of offsets.slice(1)) this.after(ms, () => void this.send());
    const refresh = opts.schedule.refreshMs;
    if (refresh > 0) {
      const every = Math.max(MIN_REFRESH_MS, refresh);
      const last = offsets[offsets.length - 1] ?? 0;
      this.after(last + every, () => this.refresh(every));
    }
  }

  /** Pids of send processes still running (for supervision and tests). */
  pids(): number[] {
    return [...this.procs].map((p) => p.pid);
  }

  /** Stops future sends and ends running ones (arping's packet is already out); resolves when they are gone. */
  async cancel(): Promise<void> {
    this.cancelled = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const running = [...this.procs];
    for (const p of running) p.kill("SIGTERM");
    await Promise.all(running.map((p) => p.exited));
  }

  private refresh(every: number): void {
    void this.send();
    this.after(every, () => this.refresh(every));
  }

  private after(ms: number, fn: () => void): void {
    if (this.cancelled) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.cancelled) fn();
    }, ms);
    this.timers.add(t);
  }

  private async send(): Promise<void> {
    if (this.cancelled) return;
    const plan = this.opts.plan ? await this.opts.plan() : planGarp(this.opts.tools, this.binding);
    if (this.cancelled) return;
    if ("error" in plan) {
      this.opts.onFailure({ binding: this.binding, detail: plan.error });
      return;
    }
    const proc = this.opts.runner.start(plan.argv);
    this.procs.add(proc);
    const bound = this.opts.sendTimeoutMs ?? 5000;
    let timedOut = false;
    const killer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, bound);
    const exited = proc.exited.then((r) => {
      clearTimeout(killer);
      this.procs.delete(proc);
      if (this.cancelled) return;
      if (timedOut) {
        this.opts.onFailure({ binding: this.binding, detail: `${plan.argv.join(" ")} did not exit within ${bound} ms: killed` });
        return;
      }
      if (r.signal !== "") return;
      if (r.exitCode !== 0) {
        const why = (r.stderr || r.stdout || r.spawnError).trim().split("\n").slice(-1)[0] ?? "";
        this.opts.onFailure({ binding: this.binding, detail: `${plan.argv.join(" ")} exited ${r.exitCode}: ${why}` });
      }
    });
    if (this.opts.firstSentAtExit) return exited;
    const settle = this.opts.firstSendSettleMs ?? 20;
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, settle);
      void exited.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
