/**
 * Continuous peer reachability (docs/design.md, "Moves and safety"): a node
 * that does not hold a group's VIP probes the service through the VIP every
 * intervalMs and reports when it stops (or starts again) being reachable. It
 * also probes a few LAN references at a slower cadence: a node that is itself
 * cut off sees everything fail, and must not vote that the holder is
 * unreachable (lanOk=false says so).
 *
 * The witness rule needs the two verdicts to be comparable in time. The VIP
 * prober records when the current run of failures was first observed
 * (failingSinceMs) and when the latest failed probe of the run began
 * (lastFailureBeganMs); the LAN prober records when the last answered round
 * began (lanAnsweredAtMs). The silence proves something only when the LAN
 * answered in the middle of it: a round that began after the first failure
 * was seen (so after the fault began) and before a probe that still failed
 * (so the VIP stayed silent while the LAN worked). Either order of arrival of
 * a LAN answer and a VIP verdict is then judged the same. `kick()` starts a
 * LAN round at once when a run of failures begins. A LAN round that failed while
 * the VIP was silent voids the run: this node was cut off itself.
 * One probe in flight at a time per target; stop() cancels everything.
 */
import type { HostPort } from "../../shared/config/net.js";
import { nextRunDelay, sharedWheel } from "../../shared/timer-wheel.js";
import { probeService, type ProbeOutcome, type ServiceProber } from "./service.js";

export interface ReachState {
  group: string;
  /** undefined until the first probe ends; false once failures reach the threshold. */
  reachable: boolean | undefined;
  consecutiveFailures: number;
  /** The last probe's outcome and detail. */
  lastOutcome: ProbeOutcome | undefined;
  lastDetail: string;
  /** At least one LAN reference answered lately (true when none are configured). */
  lanOk: boolean;
  /** When the first failure of the current run was observed (timers.now()); undefined while not failing. */
  failingSinceMs: number | undefined;
  /** When the latest failed probe of the current run began (timers.now()); undefined while not failing. */
  lastFailureBeganMs: number | undefined;
  /** When the first failed probe of the current run began (timers.now()); undefined while not failing. */
  failingBeganMs: number | undefined;
  /** When the last LAN round that got an answer began (timers.now()); undefined before one did. */
  lanAnsweredAtMs: number | undefined;
  /** When the last LAN round that got no answer ended (timers.now()); undefined before one did. */
  lanFailedAtMs: number | undefined;
  /** What the last LAN round's references said when none answered; "" after one answered. */
  lanDetail: string;
}

/**
 * Whether this node's LAN is proven on evidence as fresh as its VIP verdict
 * (docs/design.md, the witness rule): while the VIP answers, an answered LAN
 * round is enough; while it fails, a LAN round must have answered that began
 * after the run's first failure was seen and no later than the start of a
 * probe that still failed. A node without LAN references proves nothing.
 */
export function lanProvenFresh(
  v: Pick<ReachState, "failingSinceMs" | "lastFailureBeganMs" | "failingBeganMs"> | undefined,
  l: Pick<ReachState, "lanOk" | "lanAnsweredAtMs" | "lanFailedAtMs"> | undefined,
): boolean {
  if (!l?.lanOk || l.lanAnsweredAtMs === undefined) return false;
  if (v?.failingSinceMs === undefined) return true;
  // A LAN that failed while the VIP was silent (this node cut off, its link down, then back)
  // proves nothing about this run of silence, whatever it answers now.
  if (l.lanFailedAtMs !== undefined && (v.failingBeganMs === undefined || l.lanFailedAtMs >= v.failingBeganMs)) return false;
  return l.lanAnsweredAtMs >= v.failingSinceMs && v.lastFailureBeganMs !== undefined && l.lanAnsweredAtMs <= v.lastFailureBeganMs;
}

/** Timers, injectable so tests drive time. */
export interface ReachTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  /**
   * The wait before the next round of a loop of `intervalMs` whose last round began at
   * `beganMs` (default: the rest of the interval). The real timers put rounds on the shared
   * wheel's grid, so the probers wake the agent together with its other loops.
   */
  nextDelay?(nowMs: number, beganMs: number, intervalMs: number): number;
}

export interface ReachOptions {
  group: string;
  /** The VIP and service port (path: HTTP GET instead of TCP connect). */
  target: { host: string; port: number; path?: string; hostHeader?: string };
  /** Probe cadence: 100 ms by default; 10 ms in the lab. */
  intervalMs?: number;
  /** Per-probe timeout (default: intervalMs × 2, at least 20 ms). */
  timeoutMs?: number;
  /** Consecutive failures that make the VIP unreachable. Default 3. */
  failThreshold?: number;
  /** host:port list probed by TCP connect; any answer (even a refusal) proves our own LAN works. */
  lanReferences?: HostPort[];
  /** LAN reference cadence. Default 1000 ms. */
  lanIntervalMs?: number;
  /**
   * LAN reference probe timeout (default: the cadence, at most 500 ms). The witness rule
   * wants it equal to the VIP probe's: a LAN answer given more time than the VIP's proves
   * only that this host is slow (a starved host times out on the VIP and still "proves"
   * its LAN), not that the holder is unreachable.
   */
  lanTimeoutMs?: number;
  /**
   * Which failed outcomes count toward the threshold (default: every failure).
   * F11 counts silence only: a refusal proves the holder is on the LAN (an
   * nginx restart, F4), not that it is cut off.
   */
  countsAsFailure?: (outcome: ProbeOutcome) => boolean;
  /** false: probe only the LAN references (this node holds the VIP itself). Default true. */
  probeVip?: boolean;
  /** Called whenever reachable or lanOk flips, and after every LAN round asked for by kick(). */
  onChange: (state: ReachState) => void;
  /** Called when a run of counted failures begins (the first one is observed). */
  onFailing?: () => void;
  /** Called after every probe through the VIP and every LAN round, with the state after it. */
  onProbe?: (state: ReachState) => void;
  probe?: ServiceProber;
  timers?: ReachTimers;
}

const realTimers: ReachTimers = {
  setTimeout: (fn, ms) => sharedWheel.setTimeout(fn, ms),
  clearTimeout: (h) => sharedWheel.clearTimeout(h),
  now: () => sharedWheel.now(),
  nextDelay: nextRunDelay,
};

/** A refusal or reset still proves a host is there: the LAN path works. */
function lanAnswered(outcome: ProbeOutcome): boolean {
  return outcome === "ok" || outcome === "refused" || outcome === "reset";
}

export class ReachProber {
  private state: ReachState;
  private readonly stopper = new AbortController();
  private readonly timers: ReachTimers;
  private readonly probe: ServiceProber;
  private readonly handles = new Set<unknown>();
  private started = false;
  /** A LAN round was asked for: run one as soon as the current one ends, and report its outcome. */
  private kicked = false;
  private wakeLan: (() => void) | undefined;

  constructor(private readonly opts: ReachOptions) {
    this.timers = opts.timers ?? realTimers;
    this.probe = opts.probe ?? probeService;
    this.state = {
      group: opts.group,
      reachable: undefined,
      consecutiveFailures: 0,
      lastOutcome: undefined,
      lastDetail: "",
      lanOk: true,
      failingSinceMs: undefined,
      lastFailureBeganMs: undefined,
      failingBeganMs: undefined,
      lanAnsweredAtMs: undefined,
      lanFailedAtMs: undefined,
      lanDetail: "",
    };
  }

  /** Starts both loops (idempotent). */
  start(): void {
    if (this.started || this.stopper.signal.aborted) return;
    this.started = true;
    if (this.opts.probeVip !== false) void this.vipLoop();
    if ((this.opts.lanReferences ?? []).length > 0) void this.lanLoop();
  }

  /** A copy of the current state. */
  current(): ReachState {
    return { ...this.state };
  }

  /**
   * Starts a LAN-reference round now (or right after the one in flight) and
   * reports its outcome through onChange even when lanOk does not flip.
   */
  kick(): void {
    if (this.stopper.signal.aborted || (this.opts.lanReferences ?? []).length === 0) return;
    this.kicked = true;
    this.wakeLan?.();
  }

  /** Cancels the probe in flight and every timer; no onChange after this. */
  stop(): void {
    this.stopper.abort();
    for (const h of this.handles) this.timers.clearTimeout(h);
    this.handles.clear();
  }

  private async vipLoop(): Promise<void> {
    const interval = this.opts.intervalMs ?? 100;
    const timeoutMs = this.opts.timeoutMs ?? Math.max(20, interval * 2);
    const threshold = this.opts.failThreshold ?? 3;
    while (!this.stopper.signal.aborted) {
      const began = this.timers.now();
      const r = await this.probe({ ...this.opts.target, timeoutMs, signal: this.stopper.signal });
      if (this.stopper.signal.aborted) return;
      const counts = !r.ok && (this.opts.countsAsFailure?.(r.outcome) ?? true);
      const failures = counts ? this.state.consecutiveFailures + 1 : 0;
      const reachable = !counts ? true : failures >= threshold ? false : this.state.reachable;
      const startsFailing = counts && failures === 1;
      const failingSinceMs = !counts ? undefined : startsFailing ? this.timers.now() : this.state.failingSinceMs;
      const lastFailureBeganMs = counts ? began : undefined;
      const failingBeganMs = !counts ? undefined : startsFailing ? began : this.state.failingBeganMs;
      this.update({
        consecutiveFailures: failures,
        reachable,
        lastOutcome: r.outcome,
        lastDetail: r.detail,
        failingSinceMs,
        lastFailureBeganMs,
        failingBeganMs,
      });
      this.opts.onProbe?.(this.current());
      if (startsFailing) this.opts.onFailing?.();
      await this.sleep(this.delayAfter(began, interval));
    }
  }

  private async lanLoop(): Promise<void> {
    const interval = this.opts.lanIntervalMs ?? 1000;
    const refs = this.opts.lanReferences ?? [];
    while (!this.stopper.signal.aborted) {
      const began = this.timers.now();
      const asked = this.kicked;
      this.kicked = false;
      const results = await Promise.all(
        refs.map((ref) =>
          this.probe({ host: ref.host, port: ref.port, timeoutMs: this.opts.lanTimeoutMs ?? Math.min(500, interval), signal: this.stopper.signal }),
        ),
      );
      if (this.stopper.signal.aborted) return;
      const lanOk = results.some((r) => lanAnswered(r.outcome));
      this.update(
        {
          lanOk,
          lanAnsweredAtMs: lanOk ? began : this.state.lanAnsweredAtMs,
          lanFailedAtMs: lanOk ? this.state.lanFailedAtMs : this.timers.now(),
          lanDetail: lanOk ? "" : results.map((r) => r.detail).join("; "),
        },
        asked,
      );
      this.opts.onProbe?.(this.current());
      if (this.kicked) continue;
      await this.sleep(this.delayAfter(began, interval), (wake) => (this.wakeLan = wake));
      this.wakeLan = undefined;
    }
  }

  private delayAfter(began: number, interval: number): number {
    const now = this.timers.now();
    return this.timers.nextDelay ? this.timers.nextDelay(now, began, interval) : Math.max(0, interval - (now - began));
  }

  private update(patch: Partial<ReachState>, always = false): void {
    const before = this.state;
    this.state = { ...before, ...patch };
    if (always || before.reachable !== this.state.reachable || before.lanOk !== this.state.lanOk) this.opts.onChange(this.current());
  }

  /** Sleeps ms, or less when aborted or woken through the function handed to `onWake`. */
  private sleep(ms: number, onWake?: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopper.signal;
      if (signal.aborted) return resolve();
      // The listener is removed when the timer fires: at 100 sleeps a second they would pile up.
      let h: unknown;
      const done = (): void => {
        this.timers.clearTimeout(h);
        this.handles.delete(h);
        signal.removeEventListener("abort", done);
        resolve();
      };
      h = this.timers.setTimeout(done, ms);
      this.handles.add(h);
      signal.addEventListener("abort", done, { once: true });
      onWake?.(done);
    });
  }
}
