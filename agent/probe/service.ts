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
import { connect as tlsConnect } from "node:tls";
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
  /**
   * The same without the timing: equal for every round that ends the same way, so a report
   * that carries it repeats itself while nothing changes (the latency is latencyMs).
   */
  answer?: string;
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
  // host:port, an IPv6 host in brackets: the target's name in details and the default Host header.
  const authority = `${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`;
  const target = `${scheme}${authority}${o.path ?? ""}`;
  return new Promise<ProbeResult>((resolve) => {
    let socket: Socket | undefined;
    let connected = false;
    /** TLS: the handshake completed (an error before it is a handshake failure). */
    let secured = false;
    let done = false;
    const finish = (outcome: ProbeOutcome, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      socket?.destroy();
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      resolve({ ok: outcome === "ok", outcome, detail: `${target}: ${detail} after ${latencyMs} ms`, answer: `${target}: ${detail}`, latencyMs, connected });
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
      // Timers run before the loop reads its sockets: an answer that came while this process
      // was busy is still unread. The verdict waits for that read (the check phase follows
      // the poll); an answer read there finishes the probe first and this does nothing.
      setImmediate(() =>
        finish("timeout", `${connected ? `no complete answer within ${o.timeoutMs} ms` : `no connection within ${o.timeoutMs} ms`}${stalled}`),
      );
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

    const hostHeader = o.hostHeader ?? authority;
    if (/\s/.test(o.path) || /\s/.test(hostHeader)) return finish("error", "the path and the Host header must not contain spaces or line breaks");
    // HTTP/1.0, as keepalived's HTTP_GET and genhash ask: the answer is never chunked (RFC 9112)
    // and ends with the connection, and its bytes are read off the socket as they come. Node's
    // HTTP client did the same at four times the CPU (ClientRequest, the parser's bindings and
    // the response stream, for one status line): 180-215 µs of user time per probe against
    // 35-55 µs, run interpreted (the agent's --jitless), and a backup probes ten times a second.
    const requestText = `GET ${o.path} HTTP/1.0\r\nHost: ${hostHeader}\r\nUser-Agent: keepvip-probe\r\nConnection: close\r\n\r\n`;
    // keepalived's SSL_GET does not verify the certificate either: a backend's self-signed
    // or expired certificate is not a health problem.
    const s = o.tls
      ? // tls.connect hands its options to net's connect, localAddress included (its type omits it).
        tlsConnect({ host: o.host, port: o.port, rejectUnauthorized: false, servername: sniName(hostHeader), ...({ localAddress: o.localAddress } as object) })
      : connect({ host: o.host, port: o.port, localAddress: o.localAddress });
    socket = s;
    s.once("connect", () => {
      connected = true;
      if (!o.tls) s.write(requestText);
    });
    if (o.tls)
      s.once("secureConnect", () => {
        connected = true;
        secured = true;
        s.write(requestText);
      });
    s.once("error", onError);
    const answer = new AnswerReader(o.expectStatus ?? { min: 200, max: 399 }, o.expectBody, o.expectDigest?.toLowerCase());
    s.on("data", (chunk: Buffer) => {
      const verdict = answer.feed(chunk);
      if (verdict) finish(verdict.outcome, verdict.detail);
    });
    s.once("end", () => {
      const verdict = answer.end();
      finish(verdict.outcome, verdict.detail);
    });
  });
}

/** What an answer came to: a probe's outcome and its detail. */
export interface AnswerVerdict {
  outcome: ProbeOutcome;
  detail: string;
}

const HEADER_LIMIT = 16 * 1024;
const HEADER_END = Buffer.from("\r\n\r\n");

/**
 * Judges an HTTP/1.0 answer from its bytes as they arrive (pure: no socket, no timer). `feed`
 * returns a verdict as soon as one is certain (the status is refused, the text was found, the
 * announced length arrived), else undefined; `end` gives the verdict when the server closed
 * (called once, and only when `feed` gave none).
 */
export class AnswerReader {
  private head: Buffer = Buffer.alloc(0);
  private status = 0;
  private inBody = false;
  private length: number | undefined;
  private bytes = 0;
  private matched: boolean;
  private body = "";
  private readonly decoder = new StringDecoder("utf8");
  private md5: Hash | undefined;
  private chunked: ChunkedDecoder | undefined;
  private settled = false;

  constructor(
    private readonly expectStatus: { min: number; max: number },
    private readonly expectBody: string | undefined,
    private readonly expectDigest: string | undefined,
  ) {
    this.matched = expectBody === undefined;
  }

  feed(chunk: Buffer): AnswerVerdict | undefined {
    if (this.settled) return undefined;
    if (!this.inBody) {
      this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      const end = this.head.indexOf(HEADER_END);
      if (end < 0) return this.head.length > HEADER_LIMIT ? this.settle("error", `no end of the headers in the first ${HEADER_LIMIT} bytes`) : undefined;
      const verdict = this.readHead(this.head.toString("latin1", 0, end));
      if (verdict) return this.settle(verdict.outcome, verdict.detail);
      this.inBody = true;
      chunk = this.head.subarray(end + HEADER_END.length);
      this.head = Buffer.alloc(0);
    }
    return this.bodyBytes(chunk);
  }

  end(): AnswerVerdict {
    if (!this.inBody) {
      const got = this.head.length === 0 ? "no answer" : "an incomplete answer";
      return this.settle("reset", `connection closed by the server after ${got}`);
    }
    return this.finalVerdict();
  }

  private readHead(text: string): AnswerVerdict | undefined {
    const lines = text.split("\r\n");
    const m = /^HTTP\/\d\.\d (\d{3})(?: |$)/.exec(lines[0]);
    if (!m) return { outcome: "error", detail: `not an HTTP answer: ${JSON.stringify(lines[0].slice(0, 60))}` };
    this.status = Number(m[1]);
    const { min, max } = this.expectStatus;
    if (this.status < min || this.status > max) return { outcome: "bad-status", detail: `HTTP ${this.status}, want ${min}..${max}` };
    if (this.expectBody === undefined && this.expectDigest === undefined) return { outcome: "ok", detail: `HTTP ${this.status}` };
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length" && /^\d+$/.test(value)) this.length = Number(value);
      // A server that chunks an answer to HTTP/1.0 anyway: its body is decoded, not judged raw.
      if (name === "transfer-encoding" && value.toLowerCase().includes("chunked")) this.chunked = new ChunkedDecoder();
    }
    if (this.chunked) this.length = undefined;
    if (this.expectDigest !== undefined) {
      try {
        this.md5 = createHash("md5");
      } catch (err) {
        return { outcome: "error", detail: `HTTP ${this.status}, cannot compute an MD5 digest here: ${(err as Error).message}` };
      }
    }
    return undefined;
  }

  // A digest is of the whole body (read to its end, bounded by the probe's timeout); the text is
  // looked for in its first 64 KiB and, without a digest, the probe ends once it is found.
  private bodyBytes(raw: Buffer): AnswerVerdict | undefined {
    const parts = this.chunked ? this.chunked.feed(raw) : [raw];
    for (let part of parts) {
      if (this.length !== undefined) part = part.subarray(0, Math.max(0, this.length - this.bytes));
      this.bytes += part.length;
      this.md5?.update(part);
      if (!this.matched && this.expectBody !== undefined) {
        this.body += this.decoder.write(part);
        if (this.body.includes(this.expectBody)) {
          this.matched = true;
          this.body = "";
          if (!this.md5) return this.settle("ok", `HTTP ${this.status}, body matched`);
        } else if (this.body.length >= BODY_LIMIT)
          return this.settle("bad-body", `HTTP ${this.status}, first ${BODY_LIMIT} bytes lack ${JSON.stringify(this.expectBody)}`);
      }
    }
    const complete = (this.length !== undefined && this.bytes >= this.length) || this.chunked?.done === true;
    return complete ? this.finalVerdict() : undefined;
  }

  private finalVerdict(): AnswerVerdict {
    const want = this.expectBody;
    if (!this.matched && want !== undefined && !(this.body + this.decoder.end()).includes(want))
      return this.settle("bad-body", `HTTP ${this.status}, body lacks ${JSON.stringify(want)}`);
    if (!this.md5) return this.settle("ok", `HTTP ${this.status}, body matched`);
    const got = this.md5.digest("hex");
    if (got !== this.expectDigest)
      return this.settle("bad-body", `HTTP ${this.status}, body digest ${got} (MD5 of ${this.bytes} bytes), want ${this.expectDigest}`);
    return this.settle("ok", `HTTP ${this.status}, body ${want === undefined ? "" : "matched, "}digest matched`);
  }

  private settle(outcome: ProbeOutcome, detail: string): AnswerVerdict {
    this.settled = true;
    return { outcome, detail };
  }
}

/** Undoes chunked transfer coding (RFC 9112, 7.1): the data of each chunk, in order; trailers are skipped. */
export class ChunkedDecoder {
  /** The last chunk (size 0) was seen. */
  done = false;
  private line = "";
  /** Data bytes left in the current chunk; -1 while reading a size line. */
  private left = -1;
  /** The CRLF after a chunk's data is still to come (bytes of it left). */
  private crlf = 0;

  feed(raw: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < raw.length && !this.done) {
      if (this.crlf > 0) {
        const skip = Math.min(this.crlf, raw.length - i);
        this.crlf -= skip;
        i += skip;
      } else if (this.left > 0) {
        const take = Math.min(this.left, raw.length - i);
        out.push(raw.subarray(i, i + take));
        this.left -= take;
        i += take;
        if (this.left === 0) {
          this.left = -1;
          this.crlf = 2;
        }
      } else {
        const nl = raw.indexOf(10, i);
        this.line += raw.toString("latin1", i, nl < 0 ? raw.length : nl);
        if (nl < 0) break;
        i = nl + 1;
        const size = Number.parseInt(this.line.trim().split(";")[0], 16);
        this.line = "";
        if (!Number.isFinite(size) || size === 0) this.done = true;
        else this.left = size;
      }
    }
    return out;
  }
}
