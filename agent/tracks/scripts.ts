/**
 * Track scripts: keepalived's vrrp_script. Each configured script runs every
 * `interval` (argv, never a shell; as script_user when set); exit 0 within
 * `timeout` (default: the interval) is a success, anything else — a non-zero
 * exit, a missing program, a hang killed at the timeout — a failure. rise/fall
 * (rise-fall.ts) turn results into passing/failing; the coordinator may change
 * rise/fall at run time (TrackPolicy → setPolicy).
 *
 * A script never overlaps itself: the next run starts `interval` after the
 * previous one started, or when it has really ended if that is later. A hung
 * script counts as failed at its deadline, not when its leftover children let go.
 */
import type { TrackScriptConfig } from "../../shared/config/agent.js";
import type { TrackResult } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import type { CommandRunner } from "../../shared/exec/runner.js";
import { advanceTrack, checkRiseFall, INITIAL_TRACK, type RiseFall, type TrackCounter } from "./rise-fall.js";
import { runScript } from "./script-run.js";
import { nextRunDelay, sharedWheel, type TimerWheel, type WheelTimer } from "../../shared/timer-wheel.js";
import { scriptUserResolver } from "./script-user.js";

export interface TrackScriptsOptions {
  /** agent config `tracks`. */
  tracks: Record<string, TrackScriptConfig>;
  runner: CommandRunner;
  /** agent config `script_user`. */
  scriptUser?: string;
  log?: Logger;
  /** Where the runs are timed (default: the process's shared wheel; tests give one on mocked timers). */
  wheel?: TimerWheel;
}

interface Track {
  name: string;
  cfg: TrackScriptConfig;
  policy: RiseFall;
  counter: TrackCounter;
  detail: string;
  /** The next run, while one is waiting (undefined while a run is in flight). */
  timer: WheelTimer | undefined;
  lastStart?: number;
}

export class TrackScripts {
  private readonly tracks = new Map<string, Track>();
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly credentials: ReturnType<typeof scriptUserResolver>;
  private readonly listeners = new Set<(r: TrackResult) => void>();
  private readonly settledWaiters: Array<() => void> = [];
  private abort = new AbortController();
  private running = false;
  private readonly wheel: TimerWheel;

  constructor(options: TrackScriptsOptions) {
    this.runner = options.runner;
    this.wheel = options.wheel ?? sharedWheel;
    this.log = options.log ?? silentLogger;
    this.credentials = scriptUserResolver(options.runner, options.scriptUser);
    for (const [name, cfg] of Object.entries(options.tracks)) {
      this.tracks.set(name, { name, cfg, policy: { rise: cfg.rise, fall: cfg.fall }, counter: INITIAL_TRACK, detail: "not run yet", timer: undefined });
    }
  }

  /** Runs every script now, then every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    for (const t of this.tracks.values()) this.schedule(t, 0);
  }

  /** Stops scheduling and kills scripts in flight. */
  stop(): void {
    this.running = false;
    this.abort.abort();
    for (const t of this.tracks.values()) this.wheel.clearTimeout(t.timer);
  }

  /** Resolves once every track has its first result (send the first report after this). */
  ready(): Promise<void> {
    if ([...this.tracks.values()].every((t) => t.counter.settled)) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /** Every track's current result (unsettled tracks: not passing, detail "not run yet"). */
  current(): TrackResult[] {
    return [...this.tracks.values()].map((t) => this.result(t));
  }

  /** Called when a track's passing flips, and on its first result; returns an unsubscribe function. */
  onChange(listener: (r: TrackResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * New rise/fall for a track (coordinator's TrackPolicy). Takes effect from the
   * next result; a streak in progress is kept. Returns an error sentence for an
   * unknown track or bad values, else undefined.
   */
  setPolicy(name: string, policy: RiseFall): string | undefined {
    const t = this.tracks.get(name);
    if (!t) return `track "${name}" is not configured on this agent`;
    const bad = checkRiseFall(policy);
    if (bad) return `track "${name}": ${bad}`;
    t.policy = { rise: policy.rise, fall: policy.fall };
    return undefined;
  }

  /**
   * New settings for the configured tracks (an agent SIGHUP): script, interval and
   * timeout apply from the next run, which comes at the new interval after the last
   * start (at once if that is past); results and streaks so far are kept, as is a
   * rise/fall the coordinator set. The set of names must stay the same (planReload):
   * an unknown name is refused and nothing changes.
   */
  reconfigure(tracks: Record<string, TrackScriptConfig>): string | undefined {
    const unknown = Object.keys(tracks).filter((n) => !this.tracks.has(n));
    if (unknown.length > 0) return `not configured on this agent: ${unknown.join(", ")} (adding a track needs a restart)`;
    for (const [name, cfg] of Object.entries(tracks)) {
      const t = this.tracks.get(name)!;
      const intervalChanged = t.cfg.interval !== cfg.interval;
      t.cfg = cfg;
      // Not mid-run (its end schedules the next run with the new interval): re-arm from the last start.
      if (this.running && intervalChanged && t.timer !== undefined && t.lastStart !== undefined)
        this.schedule(t, Math.max(0, t.lastStart + cfg.interval - Date.now()));
    }
    return undefined;
  }

  private result(t: Track): TrackResult {
    return { name: t.name, passing: t.counter.passing, detail: t.detail };
  }

  private schedule(t: Track, delayMs: number): void {
    this.wheel.clearTimeout(t.timer);
    t.timer = this.wheel.setTimeout(() => void this.runOnce(t), delayMs);
  }

  private async runOnce(t: Track): Promise<void> {
    t.timer = undefined;
    if (!this.running) return;
    const startedAt = Date.now();
    const began = this.wheel.now();
    t.lastStart = startedAt;
    const timeoutMs = t.cfg.timeout ?? t.cfg.interval;
    const creds = await this.credentials();
    if (!creds.ok) {
      this.record(t, false, creds.error.message);
    } else {
      const run = runScript(this.runner, t.cfg.script, timeoutMs, creds.value, this.abort.signal);
      const outcome = await run.outcome;
      if (!this.running) return;
      this.record(t, outcome.ok, outcome.detail);
      // No overlap: a killed script's leftovers must be gone before it runs again.
      await run.done;
    }
    if (!this.running) return;
    // On the shared wheel's grid: the next run wakes the agent together with its other loops.
    this.schedule(t, nextRunDelay(this.wheel.now(), began, t.cfg.interval));
  }

  private record(t: Track, ok: boolean, detail: string): void {
    const before = t.counter;
    t.counter = advanceTrack(before, ok, t.policy);
    t.detail = detail;
    if (!ok) this.log.debug({ event: "track.fail", track: t.name, detail, streak: t.counter.streak }, `track ${t.name} failed: ${detail}`);
    if (before.settled && before.passing === t.counter.passing) return;
    this.log.info(
      { event: "track.change", track: t.name, passing: t.counter.passing, detail },
      `track ${t.name} ${t.counter.passing ? "passing" : "failing"}: ${detail}`,
    );
    for (const l of this.listeners) {
      try {
        l(this.result(t));
      } catch (err) {
        this.log.error({ event: "track.listener_error", err }, "track listener threw");
      }
    }
    if ([...this.tracks.values()].every((x) => x.counter.settled)) this.settledWaiters.splice(0).forEach((w) => w());
  }
}
