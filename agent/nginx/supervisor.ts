/**
 * NginxSupervisor keeps nginx running on this host and says so, promptly.
 *
 * child mode: the agent runs `nginx -g 'daemon off; ...'` detached (its own
 *   session and process group), so an agent SIGKILL leaves nginx serving
 *   (docs/design.md, Invariants, 4; F2). A restarted agent finds the live master through
 *   the pid file and ADOPTS it (polls its pid) instead of starting a second one.
 *   A master we started is watched through its exit, so death is seen at once.
 * external mode: nginx belongs to systemd. The agent polls the pid file every
 *   watch_interval (re-reading it: restarts change the pid), and runs
 *   start_command when the master is gone.
 *
 * A master that dies by SIGKILL leaves its workers running and holding the
 * listening sockets, so a new master could not bind. In child mode the orphaned
 * workers (our own process group) get SIGQUIT: they close their listeners at
 * once and finish in-flight requests, and the new master starts as soon as every
 * one of them says "shutting down". In external mode that cleanup is systemd's
 * (the unit's cgroup).
 *
 * Restart policy and states: see restart-policy.ts. Restarts, stop and callers'
 * config sequences (apply.ts) are serialized through exclusive().
 */
import { readFile } from "node:fs/promises";
import type { NginxConfig } from "../../shared/config/agent.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import type { CommandRunner, RunningProcess } from "../../shared/exec/runner.js";
import { externalTestCommand, nginxFailureReason, planChildCommands, type ChildCommands } from "./commands.js";
import { fail, ok, type Result } from "../../shared/result.js";
import { releaseOrphans, startMaster, stopMaster } from "./master.js";
import { isLive, isNginxMaster, ProcStatWatch, processInfo, readPidFile, sendSignal } from "./process.js";
import { restartDelay, type NginxStateName, type NginxStatus } from "./restart-policy.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import { sharedWheel, type WheelTimer } from "../../shared/timer-wheel.js";

/** Result of a test or reload. */
export interface NginxOutcome {
  ok: boolean;
  /** nginx's error line when !ok; a note otherwise ("" when nothing to say). */
  detail: string;
}

export interface NginxSupervisorOptions {
  config: NginxConfig;
  runner: CommandRunner;
  log?: Logger;
  /** A started master must write its pid within this long (ms, default 3000). */
  startTimeoutMs?: number;
  /** external mode: bound on start_command / reload_command (ms, default 15000). */
  commandTimeoutMs?: number;
  /** stop(): wait this long after QUIT before TERM, and after TERM before KILL (ms, default 5000). */
  stopTimeoutMs?: number;
  /** Longest wait for orphaned workers to let go of the listeners before starting anyway (ms, default 1000). */
  orphanWaitMs?: number;
  /** Jitter source for the back-off (tests pin it). */
  random?: () => number;
}

/** State listener: (state, detail) fits the agent core's NginxPort; the full status comes third. */
export type NginxStateListener = (state: NginxStateName, detail: string, status: NginxStatus) => void;

interface Attempt {
  ok: boolean;
  detail: string;
  /** Resolves once a failed attempt's process is gone (DOWN is reported before this). */
  cleanup?: Promise<unknown>;
}

const POLL_MS = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NginxSupervisor {
  private cfg: NginxConfig;
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly opts: Required<Omit<NginxSupervisorOptions, "config" | "runner" | "log">>;
  private status: NginxStatus = { state: "stopped", detail: "not started", pid: undefined, failures: 0 };
  private readonly listeners = new Set<NginxStateListener>();
  private supervising = false;
  /** The master we started (child mode), watched through its exit. */
  private child: RunningProcess | undefined;
  /** Process group of the current master when it leads one (child mode cleanup of orphans). */
  private pgrp: number | undefined;
  private pollTimer: WheelTimer | undefined;
  /** The polled master's /proc/PID/stat, held open between polls. */
  private statWatch: ProcStatWatch | undefined;
  private restarting = false;
  private wake: (() => void) | undefined;
  private readonly lock = new SerialQueue();
  /** A failover drill keeps nginx from starting until then (Date.now() ms; 0: not held). */
  private heldDownUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(options: NginxSupervisorOptions) {
    this.cfg = options.config;
    this.runner = options.runner;
    this.log = options.log ?? silentLogger;
    this.opts = {
      startTimeoutMs: options.startTimeoutMs ?? 3000,
      commandTimeoutMs: options.commandTimeoutMs ?? 15_000,
      stopTimeoutMs: options.stopTimeoutMs ?? 5000,
      orphanWaitMs: options.orphanWaitMs ?? 1000,
      random: options.random ?? Math.random,
    };
  }

  /**
   * A config reload: the commands, back-off and watch interval apply from their next
   * use. Mode, binary and paths name the running nginx and are never swapped here.
   */
  reconfigure(next: NginxConfig): void {
    this.cfg = {
      ...this.cfg,
      start_command: next.start_command,
      reload_command: next.reload_command,
      test_command: next.test_command,
      restart_backoff: next.restart_backoff,
      watch_interval: next.watch_interval,
    };
  }

  /** Current state, detail, master pid and failure count. */
  state(): NginxStatus {
    return { ...this.status };
  }

  /** Called synchronously on every change of state, detail or pid; returns an unsubscribe function. */
  onState(listener: NginxStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The master pid being supervised, if any. */
  masterPid(): number | undefined {
    return this.status.pid;
  }

  /**
   * Starts supervising: adopts a live master from the pid file, else starts
   * one. Resolves after the first attempt, with the state it led to (running or
   * down; on down, retries continue in the background).
   */
  async start(): Promise<NginxStatus> {
    if (this.supervising) return this.state();
    this.supervising = true;
    if (await this.adoptFromPidFile("agent start")) return this.state();
    this.setState("starting", "starting nginx", undefined);
    await new Promise<void>((firstAttemptDone) => void this.restartLoop(firstAttemptDone));
    return this.state();
  }

  /** Runs fn while no restart, stop or other exclusive sequence runs (apply: swap, test, reload). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /** `nginx -t` with the supervised prefix/conf/globals (external: test_command). */
  async test(): Promise<NginxOutcome> {
    let argv: string[];
    if (this.cfg.mode === "child") {
      const plan = await this.planChild();
      if (!plan.ok) return { ok: false, detail: plan.error.message };
      argv = plan.value.test;
    } else {
      argv = externalTestCommand(this.cfg);
    }
    const r = await this.runner.run(argv, { timeoutMs: this.opts.commandTimeoutMs });
    if (r.exitCode === 0) return { ok: true, detail: "" };
    const reason = r.timedOut ? `timed out after ${this.opts.commandTimeoutMs}ms` : nginxFailureReason(`${r.stderr}\n${r.stdout}`) || `exit code ${r.exitCode}`;
    return { ok: false, detail: `nginx -t failed: ${reason}` };
  }

  /**
   * Graceful reload: SIGHUP to the master (external: reload_command if set).
   * With no master running it succeeds with a note: the next start reads the file.
   */
  async reload(): Promise<NginxOutcome> {
    const pid = this.cfg.mode === "child" ? this.status.pid : await readPidFile(this.cfg.pid_file);
    if (pid === undefined || !(await isLive(pid))) return { ok: true, detail: "nginx is not running; the next start loads the config" };
    if (this.cfg.mode === "external" && this.cfg.reload_command) {
      const r = await this.runner.run(this.cfg.reload_command, { timeoutMs: this.opts.commandTimeoutMs });
      return r.exitCode === 0
        ? { ok: true, detail: "" }
        : { ok: false, detail: `reload_command failed: ${r.stderr || r.spawnError || `exit code ${r.exitCode}`}` };
    }
    return sendSignal(pid, "SIGHUP") ? { ok: true, detail: "" } : { ok: false, detail: `SIGHUP to nginx master ${pid} failed` };
  }

  /**
   * Stops supervising. child mode: QUIT the master (graceful), then TERM, then
   * KILL, each after stopTimeoutMs — only our own master and its group.
   * external mode: nginx is left to systemd. State becomes stopped.
   */
  async stop(): Promise<void> {
    this.endSupervision();
    await this.exclusive(async () => {
      const pid = this.status.pid;
      if (this.cfg.mode === "child" && pid !== undefined) await stopMaster(pid, this.pgrp, this.opts.stopTimeoutMs, this.log);
      this.child = undefined;
      this.pgrp = undefined;
      this.setState("stopped", "stopped by the agent", undefined);
    });
  }

  /**
   * A failover drill's "nginx dies and cannot restart": kills the master and its workers
   * (SIGKILL to the group) and fails every start until `forMs` has passed, then starts it
   * again. Child mode only (in external mode systemd restarts nginx, not the agent).
   * Returns "" or why it cannot.
   */
  holdDown(forMs: number): string {
    if (this.cfg.mode !== "child") return "nginx.mode is external: systemd, not the agent, restarts nginx, so the agent cannot keep it down";
    const pid = this.status.pid;
    if (!this.supervising || pid === undefined) return `nginx is not running (${this.status.state}: ${this.status.detail})`;
    this.heldDownUntil = Date.now() + forMs;
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.heldDownUntil = 0;
      this.wake?.();
    }, forMs);
    this.log.warn({ event: "nginx.drill_kill", pid, forMs }, `failover drill: killing nginx master ${pid} and keeping nginx down for ${forMs} ms`);
    sendSignal(-(this.pgrp ?? pid), "SIGKILL");
    return "";
  }

  /** Stops watching and leaves nginx running (agent exit that keeps serving). */
  detach(): void {
    this.endSupervision();
    this.child = undefined;
  }

  private endSupervision(): void {
    this.supervising = false;
    sharedWheel.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.statWatch?.close();
    this.statWatch = undefined;
    clearTimeout(this.holdTimer);
    this.heldDownUntil = 0;
    this.wake?.();
  }

  private setState(state: NginxStateName, detail: string, pid: number | undefined): void {
    const failures = state === "running" ? 0 : this.status.failures;
    if (state === this.status.state && detail === this.status.detail && pid === this.status.pid) return;
    this.status = { state, detail, pid, failures };
    this.log.info({ event: "nginx.state", state, detail, pid, failures }, `nginx ${state}: ${detail}`);
    for (const l of this.listeners) {
      try {
        l(state, detail, this.state());
      } catch (err) {
        this.log.error({ event: "nginx.listener_error", err }, "nginx state listener threw");
      }
    }
  }

  private async planChild(): Promise<Result<ChildCommands>> {
    let text: string;
    try {
      text = await readFile(this.cfg.conf, "utf8");
    } catch (err) {
      return fail("failed-precondition", `cannot read ${this.cfg.conf}: ${(err as Error).message}`);
    }
    const plan = planChildCommands(this.cfg, text);
    return typeof plan === "string" ? fail("failed-precondition", plan) : ok(plan);
  }

  /** A live master in the pid file becomes ours to watch (agent restart, or systemd's). */
  private async adoptFromPidFile(why: string): Promise<boolean> {
    const pid = await readPidFile(this.cfg.pid_file);
    if (pid === undefined || !(await isNginxMaster(pid))) return false;
    const info = await processInfo(pid);
    this.child = undefined;
    this.pgrp = info?.pgrp === pid ? pid : undefined;
    this.log.info({ event: "nginx.adopt", pid, why }, `watching nginx master ${pid} from ${this.cfg.pid_file}`);
    this.setState("running", `nginx master ${pid} (adopted from ${this.cfg.pid_file})`, pid);
    this.schedulePoll(pid);
    return true;
  }

  /** Polls a master we did not start (adopted, or external mode) at watch_interval. */
  private schedulePoll(pid: number): void {
    sharedWheel.clearTimeout(this.pollTimer);
    // On the shared wheel's grid: the poll wakes the agent together with its other loops.
    this.pollTimer = sharedWheel.setTimeout(() => void this.poll(pid), sharedWheel.alignedDelay(this.cfg.watch_interval));
  }

  private async poll(pid: number): Promise<void> {
    if (!this.supervising || this.status.pid !== pid) return;
    if (this.cfg.mode === "external") {
      // Re-read: a systemd restart or binary upgrade writes a new pid.
      const current = await readPidFile(this.cfg.pid_file);
      if (current !== undefined && current !== pid && (await isLive(current))) {
        if (!this.supervising) return;
        this.setState("running", `nginx master ${current} (from ${this.cfg.pid_file})`, current);
        this.schedulePoll(current);
        return;
      }
    }
    // /proc every poll, not kill(pid, 0): a killed master stays a zombie until its parent
    // reaps it, and an adopted master's parent (the init of a container or VM) may never do
    // so promptly; kill(pid, 0) succeeds on a zombie (the lab's drills saw a death found a
    // second late). The file stays open between polls: one pread of a few bytes each.
    if (this.statWatch?.pid !== pid) {
      this.statWatch?.close();
      this.statWatch = new ProcStatWatch(pid);
    }
    if (this.statWatch.live()) {
      this.schedulePoll(pid);
      return;
    }
    this.statWatch.close();
    this.statWatch = undefined;
    this.onDeath(`nginx master ${pid} is gone`);
  }

  private onDeath(why: string): void {
    if (!this.supervising) return;
    this.log.warn({ event: "nginx.died", why }, why);
    this.setState("starting", `${why}; restarting`, undefined);
    void this.restartLoop();
  }

  /** The immediate restart, then background retries with back-off until running or stopped. */
  private async restartLoop(firstAttemptDone: () => void = () => undefined): Promise<void> {
    if (this.restarting) return firstAttemptDone();
    this.restarting = true;
    try {
      while (this.supervising) {
        const attempt = await this.exclusive(async () => {
          if (!this.supervising) return undefined;
          const a = await this.attemptStart();
          if (!a.ok) {
            // Report DOWN before reaping the failed process: F5 counts from here.
            this.status.failures++;
            this.setState("down", a.detail, undefined);
            await a.cleanup;
          }
          return a;
        });
        firstAttemptDone();
        if (!attempt || attempt.ok) return;
        const delay = restartDelay(this.status.failures, this.cfg.restart_backoff, this.opts.random);
        this.log.warn(
          { event: "nginx.restart_failed", detail: attempt.detail, failures: this.status.failures, retry_in_ms: delay },
          `nginx restart failed; retry in ${delay}ms`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if (this.supervising && (await this.adoptFromPidFile("found while retrying"))) return;
      }
    } finally {
      this.restarting = false;
      firstAttemptDone();
    }
  }

  private async attemptStart(): Promise<Attempt> {
    if (Date.now() < this.heldDownUntil) return { ok: false, detail: `kept down by a failover drill for ${this.heldDownUntil - Date.now()} ms more` };
    if (await this.adoptFromPidFile("found before restart")) return { ok: true, detail: "adopted" };
    return this.cfg.mode === "child" ? this.startChild() : this.startExternal();
  }

  private async startExternal(): Promise<Attempt> {
    const argv = this.cfg.start_command ?? [];
    const r = await this.runner.run(argv, { timeoutMs: this.opts.commandTimeoutMs });
    if (r.exitCode !== 0) {
      const why = r.timedOut
        ? `timed out after ${this.opts.commandTimeoutMs}ms`
        : nginxFailureReason(`${r.stderr}\n${r.stdout}`) || r.spawnError || `exit code ${r.exitCode}`;
      return { ok: false, detail: `start_command failed: ${why}` };
    }
    const deadline = Date.now() + this.opts.startTimeoutMs;
    while (Date.now() < deadline) {
      const pid = await readPidFile(this.cfg.pid_file);
      if (pid !== undefined && (await isLive(pid))) {
        this.setState("running", `nginx master ${pid} started by start_command`, pid);
        this.schedulePoll(pid);
        return { ok: true, detail: "" };
      }
      await sleep(POLL_MS);
    }
    return { ok: false, detail: `start_command succeeded but no live nginx master in ${this.cfg.pid_file} after ${this.opts.startTimeoutMs}ms` };
  }

  private async startChild(): Promise<Attempt> {
    const planned = await this.planChild();
    if (!planned.ok) return { ok: false, detail: planned.error.message };
    const plan = planned.value;
    const orphans = this.pgrp;
    this.pgrp = undefined;
    if (orphans !== undefined) await releaseOrphans(orphans, this.opts.orphanWaitMs, this.log);
    const started = await startMaster(this.runner, plan.run, this.cfg.pid_file, this.opts.startTimeoutMs, this.log);
    if (!started.ok) return started;
    const child = started.child;
    this.child = child;
    this.pgrp = child.pid;
    void child.exited.then((r) => {
      if (this.child === child) this.onDeath(`nginx master ${child.pid} exited (${r.signal || `exit code ${r.exitCode}`})`);
    });
    this.log.info({ event: "nginx.started", pid: child.pid }, `nginx master ${child.pid} started`);
    this.setState("running", `nginx master ${child.pid} started`, child.pid);
    return { ok: true, detail: "" };
  }
}
