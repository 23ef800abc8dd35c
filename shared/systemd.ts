/**
 * Readiness and status for systemd (Type=notify units). There is no
 * maintained pure-JS sd_notify: we run `systemd-notify`, which
 * needs NotifyAccess=all in the unit because the message comes from that
 * child, not from our main pid. systemd-notify (v246+) waits until PID 1 has
 * processed the message, so the child exiting first does not lose it.
 * Outside systemd (NOTIFY_SOCKET unset) nothing is run at all.
 */
import type { CommandRunner } from "./exec/runner.js";

/** Longest a notification may take: PID 1 answers in milliseconds; a hung one must not hang us. */
export const NOTIFY_TIMEOUT_MS = 5000;

export interface NotifyMessage {
  /** READY=1: startup is complete (Type=notify units leave "activating"). */
  ready?: boolean;
  /** STATUS=…: one line shown by `systemctl status`. */
  status?: string;
}

export interface NotifyEnvironment {
  /** process.env.NOTIFY_SOCKET: set by systemd for Type=notify services. */
  notifySocket?: string;
  /** Our own pid: sent as MAINPID so the message is about us, not about systemd-notify. */
  pid: number;
  /** The program (default "systemd-notify", found on PATH). */
  program?: string;
}

/**
 * The argv that sends `message`, or undefined when there is nothing to send
 * (not under systemd, or an empty message). Pure.
 */
export function planNotify(message: NotifyMessage, env: NotifyEnvironment): string[] | undefined {
  if (!env.notifySocket) return undefined;
  const args: string[] = [];
  if (message.ready) args.push("--ready");
  if (message.status !== undefined) args.push(`--status=${oneLine(message.status)}`);
  if (args.length === 0) return undefined;
  return [env.program ?? "systemd-notify", `--pid=${env.pid}`, ...args];
}

/** STATUS is one line of text; systemd shows it verbatim, so newlines and control characters go. */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(/[\s\x00-\x1f\x7f]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export interface NotifyOutcome {
  /** Whether anything was run (false outside systemd). */
  sent: boolean;
  /** Why it failed ("" when it worked or nothing was sent). */
  error: string;
}

function currentEnvironment(): NotifyEnvironment {
  return { notifySocket: process.env.NOTIFY_SOCKET, pid: process.pid };
}

async function send(runner: CommandRunner, message: NotifyMessage, env: NotifyEnvironment): Promise<NotifyOutcome> {
  const argv = planNotify(message, env);
  if (!argv) return { sent: false, error: "" };
  const r = await runner.run(argv, { timeoutMs: NOTIFY_TIMEOUT_MS });
  if (r.exitCode === 0) return { sent: true, error: "" };
  return { sent: true, error: r.spawnError || (r.timedOut ? `timed out after ${NOTIFY_TIMEOUT_MS} ms` : r.stderr.trim() || `exit code ${r.exitCode}`) };
}

/** Tells systemd we are ready (with a status line); a no-op outside systemd. Never throws. */
export function notifyReady(runner: CommandRunner, status?: string, env: NotifyEnvironment = currentEnvironment()): Promise<NotifyOutcome> {
  return send(runner, { ready: true, status }, env);
}

/** Updates the status line `systemctl status` shows; a no-op outside systemd. Never throws. */
export function notifyStatus(runner: CommandRunner, text: string, env: NotifyEnvironment = currentEnvironment()): Promise<NotifyOutcome> {
  return send(runner, { status: text }, env);
}

/**
 * READY exactly once, from whichever comes first: the event that completes
 * startup (`ready()`) or a deadline (`readyBy()`), so a unit whose readiness
 * depends on something outside the host (the agent's first session with the
 * coordinator) still finishes starting when that something is down. Later
 * calls only update the status line.
 */
export class Readiness {
  private sent = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly runner: CommandRunner,
    /** Told when a notification failed (logged by the caller; never fatal). */
    private readonly onError: (error: string) => void = () => undefined,
    private readonly env: NotifyEnvironment = currentEnvironment(),
  ) {}

  /** Whether READY has been sent (or planned, outside systemd). */
  get isReady(): boolean {
    return this.sent;
  }

  /** Startup is complete: READY (first time) with this status. */
  ready(status: string): void {
    clearTimeout(this.timer);
    const first = !this.sent;
    this.sent = true;
    void send(this.runner, { ready: first, status }, this.env).then((o) => o.error && this.onError(o.error));
  }

  /** READY after `ms` with `status` unless ready() came first. */
  readyBy(ms: number, status: string): void {
    clearTimeout(this.timer);
    if (this.sent) return;
    this.timer = setTimeout(() => this.ready(status), ms);
    this.timer.unref();
  }

  /** A status line only (before READY too: `systemctl status` shows what startup waits for). */
  status(text: string): void {
    void send(this.runner, { status: text }, this.env).then((o) => o.error && this.onError(o.error));
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
