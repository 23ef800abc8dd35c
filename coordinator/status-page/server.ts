/**
 * The status page's listener: a thin HTTP(S) adapter over the engine (or the
 * replica's engine while it leads). Read-only, GET only:
 *   /             the page (page.ts), with the sections as they are now
 *   /api/status   the status `keepvip status --json` shows (the same builder)
 *   /api/events   the last events (?limit=N, newest last), as `keepvip events --json` prints them
 *   /api/stream   text/event-stream: `status` now and on every change (at most
 *                 one per minIntervalMs), `event` for each new event, a comment
 *                 as heartbeat; at most maxStreams at once (then 503)
 * With TLS it serves HTTPS with the gRPC listener's files (and follows their
 * reloads), requires a client certificate from the CA at the handshake, and
 * admits admin and reader certificates (access.ts). Without TLS (insecure) it
 * is plain HTTP; the config keeps that on loopback unless acknowledged.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { formatHostPort, parseHostPort } from "../../shared/config/net.js";
import { type Event, StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { identityOf } from "../../shared/identity.js";
import type { ReloadableTls } from "../../shared/tls-material.js";
import type { Engine } from "../cluster/engine.js";
import type { EngineRef } from "../cluster/engine-ref.js";
import { eventRecord } from "../cluster/events.js";
import { currentStatus } from "../cluster/status.js";
import { pageAccess } from "./access.js";
import { CONTENT_SECURITY_POLICY, pageDocument } from "./page.js";
import { renderSections } from "./render.js";
import { changeKey, followerStatus, pageView, type PageStatus } from "./view.js";

export interface StatusPageOptions {
  /** "127.0.0.1:9742"; port 0 picks a free one (tests). */
  listen: string;
  engines: EngineRef;
  /** The gRPC listener's files: HTTPS with a required client certificate. Undefined: plain HTTP (insecure). */
  tls?: ReloadableTls;
  log: Logger;
  /** Live streams served at once (default 32). */
  maxStreams?: number;
  /** Heartbeat comment period on each stream (default 15 s). */
  heartbeatMs?: number;
  /** Status pushes are at least this far apart (default 250 ms: at most 4 a second). */
  minIntervalMs?: number;
}

export interface RunningStatusPage {
  /** "host:port" actually bound. */
  address: string;
  /** "https://host:port/" (or http). */
  url: string;
  /** Live streams open now. */
  streams(): number;
  close(): Promise<void>;
}

const DEFAULT_MAX_STREAMS = 32;
const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MIN_INTERVAL_MS = 250;
/** A stream whose reader is this far behind is dropped rather than buffered. */
const MAX_BUFFERED_BYTES = 1_000_000;
const MAX_EVENTS_LIMIT = 2000;

const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": CONTENT_SECURITY_POLICY,
};

interface Snapshot {
  status: PageStatus;
  events: Event[];
  /** What /api/status answers: the status as the CLI decodes it, or the follower's note. */
  json: unknown;
}

/** The status the CLI sees (encoded and decoded as on the wire, so the JSON is the same), or a follower's note. */
function snapshot(ref: EngineRef): Snapshot {
  const engine = ref.current();
  if (!engine) {
    const follower = followerStatus(ref.name, ref.leader());
    return { status: { kind: "follower", follower }, events: [], json: follower };
  }
  const reply = StatusReply.decode(StatusReply.encode(currentStatus(engine)).finish());
  return { status: { kind: "status", status: reply }, events: engine.events.all().map(eventRecord), json: reply };
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The `status` message: the status (as /api/status) and the page's sections rendered from it. */
function statusFrame(s: Snapshot): string {
  return frame("status", { status: s.json, html: renderSections(pageView(s.status, s.events)) });
}

/**
 * The live streams: one status check every minIntervalMs while anyone listens
 * (pushed only when changeKey moved), every new event at once, a heartbeat.
 */
class Feed {
  private readonly subs = new Set<ServerResponse>();
  private key = "";
  private last = "";
  private tickTimer?: NodeJS.Timeout;
  private beatTimer?: NodeJS.Timeout;
  private engine?: Engine;
  private unsubscribe?: () => void;

  constructor(
    private readonly ref: EngineRef,
    private readonly o: { maxStreams: number; heartbeatMs: number; minIntervalMs: number },
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.subs.size;
  }

  get full(): boolean {
    return this.subs.size >= this.o.maxStreams;
  }

  add(res: ServerResponse): void {
    this.subs.add(res);
    if (this.subs.size === 1) {
      this.tickTimer = setInterval(() => this.refresh(), this.o.minIntervalMs);
      this.beatTimer = setInterval(() => this.broadcast(": keepalive\n\n"), this.o.heartbeatMs);
    }
    // The newcomer gets the status now: pushed to everyone if it changed, else the last push again.
    if (!this.refresh()) this.write(res, this.last);
  }

  remove(res: ServerResponse): void {
    if (!this.subs.delete(res) || this.subs.size > 0) return;
    clearInterval(this.tickTimer);
    clearInterval(this.beatTimer);
    this.tickTimer = this.beatTimer = undefined;
    this.follow(undefined);
    this.key = this.last = "";
  }

  close(): void {
    for (const res of [...this.subs]) {
      this.remove(res);
      res.end();
    }
  }

  /** Pushes the status when it changed; says whether it pushed. */
  private refresh(): boolean {
    try {
      this.follow(this.ref.current());
      const s = snapshot(this.ref);
      const key = changeKey(s.status, s.events);
      if (key === this.key && this.last !== "") return false;
      this.key = key;
      this.last = statusFrame(s);
      this.broadcast(this.last);
      return true;
    } catch (err) {
      this.log.error({ event: "status_page.error", err }, "cannot build the status page's status");
      return false;
    }
  }

  /** Events of the engine in charge (a replica's changes with its terms). */
  private follow(engine: Engine | undefined): void {
    if (engine === this.engine) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.engine = engine;
    if (!engine) return;
    this.unsubscribe = engine.events.subscribe((e) => {
      // Called inside the engine's EventLog.add: never throw back into it.
      try {
        this.broadcast(frame("event", eventRecord(e)));
      } catch (err) {
        this.log.error({ event: "status_page.error", err }, "cannot stream an event");
      }
    });
  }

  private broadcast(text: string): void {
    for (const res of [...this.subs]) this.write(res, text);
  }

  private write(res: ServerResponse, text: string): void {
    if (res.writableEnded || res.destroyed) {
      this.remove(res);
      return;
    }
    res.write(text);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.log.warn({ event: "status_page.slow_stream" }, "a status page stream fell behind; dropped");
      this.remove(res);
      res.destroy();
    }
  }
}

/** host:port like the config, but port 0 (tests: any free port) is allowed here. */
function parseListen(listen: string): { host: string; port: number } {
  const zero = /^(.*):0$/.exec(listen);
  const hp = parseHostPort(zero ? `${zero[1]}:1` : listen);
  if (!hp.ok) throw new Error(`status page listen address: ${hp.error.message}`);
  return { host: hp.value.host, port: zero ? 0 : hp.value.port };
}

/** Listens on `listen`; rejects with the reason when the address cannot be bound. */
export async function startStatusPage(o: StatusPageOptions): Promise<RunningStatusPage> {
  const hp = parseListen(o.listen);
  const feed = new Feed(
    o.engines,
    {
      maxStreams: o.maxStreams ?? DEFAULT_MAX_STREAMS,
      heartbeatMs: o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      minIntervalMs: o.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS,
    },
    o.log,
  );
  // At most one log line per refusal and minute: a browser retries a stream on its own.
  const refusedAt = new Map<string, number>();
  const logRefusal = (peer: string, reason: string) => {
    const now = Date.now();
    if (now - (refusedAt.get(reason) ?? 0) < 60_000) return;
    if (refusedAt.size > 1000) refusedAt.clear();
    refusedAt.set(reason, now);
    o.log.warn({ event: "status_page.refused", peer, reason }, reason);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const head = req.method === "HEAD";
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...COMMON_HEADERS, "content-type": type, "content-length": String(Buffer.byteLength(body)), ...extra });
      res.end(head ? undefined : body);
    };
    const text = (status: number, body: string, extra?: Record<string, string>) => send(status, "text/plain; charset=utf-8", `${body}\n`, extra);
    const json = (status: number, body: unknown) => send(status, "application/json; charset=utf-8", `${JSON.stringify(body, null, 2)}\n`);

    if (o.tls) {
      const cert = (req.socket as TLSSocket).getPeerCertificate?.();
      const access = pageAccess(identityOf(cert && Object.keys(cert).length > 0 ? cert : undefined));
      if (!access.ok) {
        logRefusal(`${req.socket.remoteAddress}:${req.socket.remotePort}`, access.message);
        return text(access.status, access.message);
      }
    }
    if (req.method !== "GET" && !head) return text(405, "the status page is read-only: GET only", { allow: "GET, HEAD" });
    const url = new URL(req.url ?? "/", "http://status-page.invalid");
    switch (url.pathname) {
      case "/": {
        const s = snapshot(o.engines);
        return send(200, "text/html; charset=utf-8", pageDocument(renderSections(pageView(s.status, s.events))));
      }
      case "/api/status": {
        const s = snapshot(o.engines);
        return json(s.status.kind === "status" ? 200 : 503, s.json);
      }
      case "/api/events": {
        const raw = url.searchParams.get("limit");
        const limit = raw === null ? 100 : /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
        if (!(limit >= 1 && limit <= MAX_EVENTS_LIMIT)) return text(400, `limit must be a whole number from 1 to ${MAX_EVENTS_LIMIT}, got "${raw}"`);
        const engine = o.engines.current();
        if (!engine) return json(503, followerStatus(o.engines.name, o.engines.leader()));
        return json(200, engine.events.all().slice(-limit).map(eventRecord));
      }
      case "/api/stream": {
        if (head) return text(405, "the stream is GET only", { allow: "GET" });
        if (feed.full)
          return text(
            503,
            `too many live status streams: ${feed.size} are open, the most this coordinator serves; close one (another tab?) or try again later`,
            {
              "retry-after": "10",
            },
          );
        res.writeHead(200, {
          ...COMMON_HEADERS,
          "content-type": "text/event-stream; charset=utf-8",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        res.write("retry: 2000\n\n");
        const done = () => feed.remove(res);
        req.on("close", done);
        res.on("close", done);
        res.on("error", done);
        feed.add(res);
        return;
      }
      default:
        return text(404, "keepvip status page: / (the page), /api/status, /api/events?limit=N, /api/stream");
    }
  };
  const safe = (req: IncomingMessage, res: ServerResponse) => {
    try {
      handle(req, res);
    } catch (err) {
      o.log.error({ event: "status_page.error", err }, "status page request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("status page error\n");
      else res.destroy();
    }
  };

  let server: Server | HttpsServer;
  let offTls: (() => void) | undefined;
  if (o.tls) {
    const m = o.tls.material;
    const https = createHttpsServer({ ca: m.ca, cert: m.cert, key: m.key, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, safe);
    // Renewed files reach new connections at once, as on the gRPC listener; open ones keep theirs.
    offTls = o.tls.onChange((next) => https.setSecureContext({ ca: next.ca, cert: next.cert, key: next.key, minVersion: "TLSv1.2" }));
    server = https;
  } else {
    server = createHttpServer(safe);
  }
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`cannot serve the status page on ${o.listen}: ${err.message}`)));
    server.listen(hp.port, hp.host, () => resolve());
  });
  server.on("error", (err) => o.log.error({ event: "status_page.error", err }, `status page listener: ${err.message}`));
  const bound = server.address();
  const address = formatHostPort({ host: hp.host, port: typeof bound === "object" && bound ? bound.port : hp.port });
  return {
    address,
    url: `${o.tls ? "https" : "http"}://${address}/`,
    streams: () => feed.size,
    close: () =>
      new Promise<void>((resolve) => {
        offTls?.();
        feed.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
