/**
 * The agent's one session with the coordinator: opens the bidi stream, says
 * hello (built fresh each time, so a reconnect re-sends the current state),
 * hands coordinator messages to the core, and reconnects. With replicated
 * coordinators it knows every replica and follows the leader (rotation.ts:
 * a follower's hint first, the next replica fast, back-off after a whole
 * round). A coordinator that beats (every heartbeat_interval) and then goes
 * silent for its dead_interval is left for the next replica: a leader cut off
 * the network keeps its TCP stream open, and gRPC keepalive alone would take
 * ~15 s to notice. While disconnected the core keeps everything it holds
 * (fail-static); this module only reports connected / disconnected.
 */
import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AgentConfig } from "../../shared/config/agent.js";
import { AGENT_RECONNECT } from "../../shared/session-timing.js";
import { silentLogger } from "../../shared/log.js";
import { ReloadableTls } from "../../shared/tls-material.js";
import { insecureChannel, tlsChannel, type Channel } from "../../shared/tls-target.js";
import type { Backoff } from "../../shared/backoff.js";
import { ANSWER_TIMEOUT_MS, initialRotation, nextTry, silenceLimitMs, welcomed, type Rotation } from "./rotation.js";
import { AgentClient, type AgentMessage, type CoordinatorMessage, type Hello, type Welcome } from "../../shared/gen/keepvip/v1/agent.js";

export interface SessionHandlers {
  /** Builds the hello for a new connection (current host state). */
  hello(): Hello;
  /** "" to follow the coordinator that sent this welcome, else why not (the session is dropped). */
  accept?(welcome: Welcome): string;
  /** Every message from the coordinator, the welcome included. */
  message(m: CoordinatorMessage): void;
  /** The session is up (welcome received) or down (with why). */
  connection(up: boolean, detail: string): void;
}

export type { Backoff };

/**
 * Channels are made here and only here (mTLS is one change in one place), from the files
 * as last (re)loaded: a channel made after a rotation uses the new certificate.
 */
export function channelsFor(cfg: AgentConfig, files?: ReloadableTls): (address: string) => Channel {
  if (cfg.tls) {
    const tls = files ?? new ReloadableTls(cfg.tls, silentLogger);
    return (address) => tlsChannel(address, tls.material);
  }
  if (!cfg.insecure) throw new Error("no tls section in the agent config: set tls (ca, cert, key) or, for a lab, insecure: true");
  return () => insecureChannel();
}

export class CoordinatorSession {
  private readonly clients = new Map<string, AgentClient>();
  /** Clients made before a rotation, still carrying the open session: replaced on the next open. */
  private readonly stale = new Set<string>();
  private stream?: ClientDuplexStream<AgentMessage, CoordinatorMessage>;
  private welcomed = false;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private rotation: Rotation = initialRotation();
  private generation = 0;
  /** Ends the current stream as if it broke (a stale leader's welcome); set while a stream is open. */
  private endCurrent?: (detail: string) => void;
  private readonly addresses: readonly string[];

  constructor(
    addresses: string | readonly string[],
    /** The channel to each replica (channelsFor). */
    private readonly channelTo: (address: string) => Channel,
    private readonly handlers: SessionHandlers,
    private readonly log: Logger,
    private readonly backoff: Backoff = AGENT_RECONNECT,
  ) {
    this.addresses = typeof addresses === "string" ? [addresses] : [...addresses];
    if (this.addresses.length === 0) throw new Error("no coordinator address to connect to");
  }

  /** The replica being tried or talked to. */
  get address(): string {
    return this.addresses[this.rotation.index];
  }

  get connected(): boolean {
    return this.welcomed;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Sends if connected; returns false when there is no session to send on. */
  send(m: AgentMessage): boolean {
    if (!this.stream || !this.welcomed) return false;
    this.stream.write(m);
    return true;
  }

  /**
   * New credentials (a certificate rotation): every channel but the one the session runs on
   * is closed, and that one is replaced the next time a session opens. The session itself
   * is not touched: it lives until it would have ended anyway.
   */
  refreshChannels(): void {
    const inUse = this.stream ? this.address : undefined;
    for (const [address, c] of this.clients) {
      if (address === inUse) {
        this.stale.add(address);
        continue;
      }
      c.close();
      this.clients.delete(address);
    }
  }

  /** Drops the current session (e.g. a deposed leader welcomed us) and goes on to the next replica. */
  drop(detail: string): void {
    this.endCurrent?.(detail);
  }

  /**
   * Half-closes (a clean departure) and stops reconnecting. Resolves once the coordinator has
   * ended the stream in turn, or after `waitMs`: a process that exits at once breaks the
   * connection under the half-close, and the coordinator would record a lost agent.
   */
  stop(waitMs = 500): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const stream = this.stream;
    const closeChannels = () => {
      for (const c of this.clients.values()) c.close();
    };
    if (!stream) {
      setTimeout(closeChannels, 100).unref();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, waitMs);
      timer.unref?.();
      function finish(): void {
        clearTimeout(timer);
        closeChannels();
        resolve();
      }
      stream.once("close", finish);
      stream.once("error", finish);
      stream.once("status", finish);
      stream.end();
    });
  }

  private client(address: string): AgentClient {
    let c = this.clients.get(address);
    if (c && this.stale.delete(address)) {
      // Made with credentials a rotation replaced; the stream on it has ended.
      c.close();
      c = undefined;
    }
    if (!c) {
      const ch = this.channelTo(address);
      c = new AgentClient(address, ch.credentials, {
        ...ch.options,
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.keepalive_permit_without_calls": 1,
        // Our own rotation and back-off decide when to retry; don't let the channel sit in a long one.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        // No channelz (nothing reads it): with it on, grpc-js timestamps and counts every message.
        "grpc.enable_channelz": 0,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  private open(): void {
    const gen = ++this.generation;
    this.welcomed = false;
    const address = this.address;
    const stream = this.client(address).session({ deadline: Infinity });
    this.stream = stream;
    let over = false;
    let hint = "";
    // Silence watch, armed by the first beat (a coordinator that never beats is never judged by it).
    let deadIntervalMs = 0;
    let limitMs = 0;
    let lastHeard = 0;
    /** The silence (by its last message) already given extra time for a stalled loop. */
    let excused = -1;
    let watchdog: NodeJS.Timeout | undefined;
    const watch = (afterMs: number) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        const due = lastHeard + limitMs;
        const late = performance.now() - Math.max(due, 0);
        // Read what the socket holds first (timers run before I/O in a turn of the loop), and
        // give a loop that was itself stalled its time again rather than blame the coordinator.
        setImmediate(() => {
          if (over || gen !== this.generation) return;
          const silent = performance.now() - lastHeard;
          if (silent < limitMs) return watch(limitMs - silent);
          if (late > limitMs / 2 && excused !== lastHeard) {
            excused = lastHeard;
            return watch(limitMs / 2);
          }
          down(`no beat from ${address} for ${Math.round(silent)} ms (dead_interval ${deadIntervalMs} ms): a silent coordinator`);
        });
      }, afterMs);
      watchdog.unref?.();
    };
    // No answer at all to the hello: a dead or cut-off address, left for the next one.
    let answered = false;
    const answerTimer = setTimeout(() => setImmediate(() => !answered && down(`no answer from ${address} within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    answerTimer.unref?.();
    const down = (detail: string) => {
      if (over || gen !== this.generation) return;
      over = true;
      clearTimeout(watchdog);
      clearTimeout(answerTimer);
      this.endCurrent = undefined;
      const was = this.welcomed;
      this.welcomed = false;
      this.stream = undefined;
      stream.cancel();
      if (was) this.handlers.connection(false, detail);
      if (this.stopped) return;
      this.rotation = nextTry(this.addresses, this.rotation, hint, this.backoff);
      const next = this.address;
      this.log.warn(
        { event: "session.down", coordinator: address, detail, next, retryInMs: this.rotation.delayMs },
        `coordinator session with ${address} down: ${detail}; trying ${next} in ${this.rotation.delayMs} ms`,
      );
      this.retryTimer = setTimeout(() => this.open(), this.rotation.delayMs);
    };
    this.endCurrent = down;
    stream.on("data", (m: CoordinatorMessage) => {
      if (gen !== this.generation || over) return;
      lastHeard = performance.now();
      if (!answered) {
        answered = true;
        clearTimeout(answerTimer);
      }
      if (m.body?.$case === "beat") {
        if (limitMs === 0 && this.welcomed) {
          limitMs = silenceLimitMs(deadIntervalMs);
          watch(limitMs);
        }
        return;
      }
      if (m.body?.$case === "welcome") {
        // A reload's new welcome may change the dead interval the beats are judged on.
        deadIntervalMs = m.body.value.deadIntervalMs;
        if (limitMs > 0) limitMs = silenceLimitMs(deadIntervalMs);
      }
      if (m.body?.$case === "welcome" && !this.welcomed) {
        const refusal = this.handlers.accept?.(m.body.value) ?? "";
        if (refusal) return down(`not following ${address}: ${refusal}`);
        this.welcomed = true;
        this.rotation = welcomed(this.rotation);
        this.handlers.connection(true, `session ${m.body.value.sessionId} with ${address}`);
      }
      if (m.body?.$case === "refused") {
        hint = m.body.value.leaderHint;
        this.log[hint ? "info" : "error"](
          { event: "session.refused", coordinator: address, reason: m.body.value.reason, leader: hint || undefined },
          hint ? `${address} is not the leader: going to ${hint}` : `coordinator ${address} refused the session: ${m.body.value.reason}`,
        );
      }
      this.handlers.message(m);
    });
    stream.on("error", (err: Error & { code?: number }) => down(err.message));
    stream.on("end", () => down("coordinator ended the session"));
    stream.on("close", () => down("stream closed"));
    stream.write({ body: { $case: "hello", value: this.handlers.hello() } });
  }
}
