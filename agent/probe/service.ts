/**
 * One probe of a service: a TCP connect, or an HTTP GET when a path is given
 * (over TLS without verifying the certificate, as keepalived's SSL_GET, when asked),
 * bounded by timeoutMs of the service's time (sockets are destroyed, never left
 * to linger; a stall of this process is not counted against the service).
 * Shared by LAN verification before a takeover, continuous peer reachability
 * and upstream health checks, so the outcome says *how* it failed: a refusal
 * proves a host is there, a timeout proves nothing answered.
 */
import { createHash, type Hash } from "node:crypto";
import { request, type ClientRequest } from "node:http";
import { request as tlsRequest } from "node:https";
import { connect, isIP, type Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";

export type ProbeOutcome = "ok" | "refused" | "timeout" | "bad-status" | "bad-body" | "reset" | "error" | "aborted";

export interface ServiceProbeOptions {
  host: string;
  port: number;
  /** HTTP GET this path; without it the probe is a TCP connect only. */
  path?: string;
  /** Host header (default: host:port). */
  hostHeader?: string;
  /**
   * The GET goes over TLS (keepalived SSL_GET). The server's certificate is NOT verified:
   * this is a health check, not a trust decision. SNI is the Host header's name, none when
   * that is an IP address.
   */
  tls?: boolean;
  /** The whole probe (connect, response, body) ends by then. */
  timeoutMs: number;
  /** Accepted HTTP statuses, inclusive. Default 200..399. */
  expectStatus?: { min: number; max: number };
  /** The body must contain this text (read up to 64 KiB). */
  expectBody?: string;
  /** The whole body's MD5, hex (keepalived `digest`, as genhash prints it); another digest is a bad body. */
  expectDigest?: string;
  /** Source address to connect from (a multi-homed prober). */
  localAddress?: string;
  /** Abort ends the probe at once with outcome "aborted". */
  signal?: AbortSignal;
}

export interface ProbeResult {
  /** True only for outcome "ok". */
  ok: boolean;
  /**
   * ok; refused (RST to our SYN: a host is there, nothing listens);
   * timeout (nothing answered in time); bad-status / bad-body (an HTTP answer
   * we do not accept, a body digest included); reset (connection reset after it was accepted);
   * error (anything else: unreachable, DNS, protocol); aborted (by signal).
   */
  outcome: ProbeOutcome;
  /** A sentence for logs: what was probed and what happened. */
  detail: string;
  /** Time from start to outcome. */
  latencyMs: number;
  /** A TCP connection was established (a host holds the address and a socket listens), whatever came after. */
  connected?: boolean;
}

/** A probe function: the seam tests and callers swap. */
export type ServiceProber = (options: ServiceProbeOptions) => Promise<ProbeResult>;

const BODY_LIMIT = 64 * 1024;

/** How often a probe whose timer fired late gets its time again. */
export const STALL_RETRIES = 2;

/** A timer this late (ms) means the process stalled: a quarter of the timeout, at least 20 ms. */
export function stallSlackMs(timeoutMs: number): number {
  return Math.max(20, timeoutMs / 4);
}

/** The TLS server name a Host header asks for: its name without the port; "" (no SNI) for an IP address (RFC 6066). */
export function sniName(hostHeader: string): string {
  if (hostHeader.startsWith("[") || isIP(hostHeader)) return "";
  const name = hostHeader.replace(/:\d*$/, "");
  return isIP(name) ? "" : name;
}

export function probeService(o: ServiceProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const scheme = o.tls && o.path !== undefined ? "https://" : "";
  const target = `${scheme}${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}${o.path ?? ""}`;
  return new Promise<ProbeResult>((resolve) => {
    let socket: Socket | undefined;
    let req: ClientRequest | undefined;
    let connected = false;
    /** TLS: the handshake completed (an error before it is a handshake failure). */
    let secured = false;
    let done = false;
    const finish = (outcome: ProbeOutcome, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      req?.destroy();
      socket?.destroy();
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      resolve({ ok: outcome === "ok", outcome, detail: `${target}: ${detail} after ${latencyMs} ms`, latencyMs, connected });
    };
    const onAbort = (): void => finish("aborted", "aborted");
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code ?? "";
      const handshake = o.tls && connected && !secured ? " during the TLS handshake" : "";
      if (code === "ECONNREFUSED") finish("refused", "connection refused");
      else if (code === "ECONNRESET" || code === "EPIPE")
        finish(connected ? "reset" : "refused", connected ? `connection reset${handshake}` : `connection reset while connecting (${code})`);
      else finish("error", `${handshake ? "TLS handshake failed: " : ""}${code ? `${code} ${err.message}` : err.message}`);
    };
    // A timer that fires well after its time means this process was stalled (CPU starved,
    // a long GC), not that the service was slow: the answer may be sitting unread in the
    // socket, or the request not even written yet. Such a probe gets its time again, at
    // most STALL_RETRIES times; the outcome then says how long the stall was.
    let stalledMs = 0;
    let retries = 0;
    let deadline = started + o.timeoutMs;
    const onTimer = (): void => {
      const late = performance.now() - deadline;
      if (late > stallSlackMs(o.timeoutMs) && retries < STALL_RETRIES) {
        retries += 1;
        stalledMs += late;
        deadline = performance.now() + o.timeoutMs;
        timer = setTimeout(onTimer, o.timeoutMs);
        return;
      }
      const stalled = stalledMs > 0 ? ` (given its time again after this process stalled ${Math.round(stalledMs)} ms)` : "";
      finish("timeout", `${connected ? `no complete answer within ${o.timeoutMs} ms` : `no connection within ${o.timeoutMs} ms`}${stalled}`);
    };
    let timer = setTimeout(onTimer, o.timeoutMs);
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });

    if (o.path === undefined) {
      socket = connect({ host: o.host, port: o.port, localAddress: o.localAddress });
      socket.once("connect", () => {
        connected = true;
        finish("ok", "connected");
      });
      socket.once("error", onError);
      return;
    }

    const hostHeader = o.hostHeader ?? `${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`;
    const options = {
      host: o.host,
      port: o.port,
      path: o.path,
      method: "GET",
      agent: false as const,
      localAddress: o.localAddress,
      headers: { Host: hostHeader, Connection: "close", "User-Agent": "keepvip-probe" },
    };
    // keepalived's SSL_GET does not verify the certificate either: a backend's self-signed
    // or expired certificate is not a health problem.
    req = o.tls ? tlsRequest({ ...options, rejectUnauthorized: false, servername: sniName(hostHeader) }) : request(options);
    req.once("socket", (s) => {
      socket = s;
      s.once("connect", () => (connected = true));
      if (o.tls) s.once("secureConnect", () => (secured = true));
    });
    req.once("error", onError);
    req.once("response", (res) => {
      connected = true;
      secured = true;
      const status = res.statusCode ?? 0;
      const { min, max } = o.expectStatus ?? { min: 200, max: 399 };
      if (status < min || status > max) return finish("bad-status", `HTTP ${status}, want ${min}..${max}`);
      const want = o.expectBody;
      const digest = o.expectDigest?.toLowerCase();
      if (want === undefined && digest === undefined) return finish("ok", `HTTP ${status}`);
      let md5: Hash | undefined;
      if (digest !== undefined) {
        try {
          md5 = createHash("md5");
        } catch (err) {
          return finish("error", `HTTP ${status}, cannot compute an MD5 digest here: ${(err as Error).message}`);
        }
      }
      // A digest is of the whole body (read to its end, bounded by the timeout); the text is
      // looked for in its first 64 KiB and, without a digest, the probe ends once it is found.
      let matched = want === undefined;
      let body = "";
      let bytes = 0;
      const decoder = new StringDecoder("utf8");
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        md5?.update(chunk);
        if (matched || want === undefined) return;
        body += decoder.write(chunk);
        if (body.includes(want)) {
          matched = true;
          body = "";
          if (!md5) finish("ok", `HTTP ${status}, body matched`);
        } else if (body.length >= BODY_LIMIT) finish("bad-body", `HTTP ${status}, first ${BODY_LIMIT} bytes lack ${JSON.stringify(want)}`);
      });
      res.once("end", () => {
        if (!matched && want !== undefined && !(body + decoder.end()).includes(want))
          return finish("bad-body", `HTTP ${status}, body lacks ${JSON.stringify(want)}`);
        if (!md5) return finish("ok", `HTTP ${status}, body matched`);
        const got = md5.digest("hex");
        if (got !== digest) return finish("bad-body", `HTTP ${status}, body digest ${got} (MD5 of ${bytes} bytes), want ${digest}`);
        finish("ok", `HTTP ${status}, body ${want === undefined ? "" : "matched, "}digest matched`);
      });
      res.once("error", onError);
    });
    req.end();
  });
}
