/**
 * The agent's one session with the coordinator: opens the bidi stream, says
 * hello (built fresh each time, so a reconnect re-sends the current state),
 * hands coordinator messages to the core, and reconnects with exponential
 * backoff and jitter. While disconnected the core keeps everything it holds
 * (fail-static); this module only reports connected / disconnected.
 */
import { readFileSync } from "node:fs";
import { type ChannelCredentials, credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AgentConfig } from "../../shared/config/agent.js";
import { AGENT_RECONNECT } from "../../shared/session-timing.js";
import { jitter, nextBackoffMs, type Backoff } from "../../shared/backoff.js";
import { AgentClient, type AgentMessage, type CoordinatorMessage, type Hello } from "../../shared/gen/keepvip/v1/agent.js";

export interface SessionHandlers {
  /** Builds the hello for a new connection (current host state). */
  hello(): Hello;
  /** Every message from the coordinator, the welcome included. */
  message(m: CoordinatorMessage): void;
  /** The session is up (welcome received) or down (with why). */
  connection(up: boolean, detail: string): void;
}

export type { Backoff };

/** Credentials are made here and only here (mTLS is one change in one place). */
export function channelCredentials(cfg: AgentConfig): ChannelCredentials {
  if (cfg.tls) return credentials.createSsl(readFileSync(cfg.tls.ca), readFileSync(cfg.tls.key), readFileSync(cfg.tls.cert));
  if (!cfg.insecure) throw new Error("no tls section in the agent config: set tls (ca, cert, key) or, for a lab, insecure: true");
  return credentials.createInsecure();
}

/** Next delay: doubling, capped, ±20 % jitter so a fleet does not reconnect in lockstep. */
export function nextBackoff(previousMs: number, b: Backoff, random: () => number = Math.random): number {
  return Math.round(jitter(nextBackoffMs(previousMs, b), 0.2, random));
}

export class CoordinatorSession {
  private client: AgentClient;
  private stream?: ClientDuplexStream<AgentMessage, CoordinatorMessage>;
  private welcomed = false;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private delayMs = 0;
  private generation = 0;

  constructor(
    readonly address: string,
    creds: ChannelCredentials,
    private readonly handlers: SessionHandlers,
    private readonly log: Logger,
    private readonly backoff: Backoff = AGENT_RECONNECT,
  ) {
    this.client = new AgentClient(address, creds, {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      // Our own backoff decides when to retry; don't let the channel sit in a long one.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    });
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

  /** Half-closes (a clean departure) and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stream?.end();
    setTimeout(() => this.client.close(), 100).unref();
  }

  private open(): void {
    const gen = ++this.generation;
    this.welcomed = false;
    const stream = this.client.session({ deadline: Infinity });
    this.stream = stream;
    let over = false;
    const down = (detail: string) => {
      if (over || gen !== this.generation) return;
      over = true;
      const was = this.welcomed;
      this.welcomed = false;
      this.stream = undefined;
      if (was) this.handlers.connection(false, detail);
      if (this.stopped) return;
      this.delayMs = nextBackoff(this.delayMs, this.backoff);
      this.log.warn({ event: "session.down", detail, retryInMs: this.delayMs }, `coordinator session down: ${detail}`);
      this.retryTimer = setTimeout(() => this.open(), this.delayMs);
    };
    stream.on("data", (m: CoordinatorMessage) => {
      if (gen !== this.generation) return;
      if (m.body?.$case === "welcome" && !this.welcomed) {
        this.welcomed = true;
        this.delayMs = 0;
        this.handlers.connection(true, `session ${m.body.value.sessionId}`);
      }
      if (m.body?.$case === "refused")
        this.log.error({ event: "session.refused", reason: m.body.value.reason }, `coordinator refused the session: ${m.body.value.reason}`);
      this.handlers.message(m);
    });
    stream.on("error", (err: Error & { code?: number }) => down(err.message));
    stream.on("end", () => down("coordinator ended the session"));
    stream.on("close", () => down("stream closed"));
    stream.write({ body: { $case: "hello", value: this.handlers.hello() } });
  }
}
