/**
 * The client-side prober, run inside P-client:
 *   ip netns exec P-client node --import tsx deploy/lab/prober.ts [--url URL]... [--interval 10]
 *      [--timeout 200] [--duration 10000] [--count N] [--out FILE]
 * Sends GET URL every `interval` ms on a fixed schedule (a slow request does not delay the
 * next one), each on a new connection (agent: false, Connection: close) so a VIP move shows
 * at once, each with its own timeout. Writes one NDJSON ProbeRecord per request to stdout or
 * FILE. Bounded: stops after `duration` ms or `count` requests (whichever first), or on
 * SIGTERM/SIGINT, then waits for the requests in flight (≤ timeout) and exits. With several
 * --url (the IPv4 and the IPv6 VIP), each tick sends one request to each; records name their url.
 */
import { createWriteStream } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { ProbeRecord } from "./probe-analysis.js";

export const DEFAULT_PROBE_URL = "http://198.18.0.100:10016/aaa";
/** Hard caps so a mistyped argument cannot make an unbounded load loop. */
export const MAX_PROBE_DURATION_MS = 600_000;
const MIN_INTERVAL_MS = 1;

export interface ProberOptions {
  url: string;
  /** More URLs probed on the same schedule (each record then names its url). */
  more?: string[];
  intervalMs: number;
  timeoutMs: number;
  durationMs: number;
  count?: number;
}

/** A request's outcome: served (by which backend), or why not. */
export type Answer = { ok: true; by: string } | { ok: false; err: string };

/** Reads a lab backend's answer through the VIP: 200 with its JSON body naming the server, else why not. */
export function readAnswer(res: IncomingMessage, done: (a: Answer) => void): void {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("error", (e) => done({ ok: false, err: (e as NodeJS.ErrnoException).code ?? e.message }));
  res.on("end", () => {
    if (res.statusCode !== 200) return done({ ok: false, err: `status ${res.statusCode}` });
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { msg?: string; server_ip?: string };
      if (body.msg === "success" && typeof body.server_ip === "string") return done({ ok: true, by: body.server_ip });
    } catch {
      // falls through
    }
    done({ ok: false, err: "bad body" });
  });
}

/** Sends one request; resolves to its record (never rejects). */
export function probeOnce(url: URL, seq: number, timeoutMs: number): Promise<ProbeRecord> {
  const t = Date.now();
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 100) / 100;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ProbeRecord, "seq" | "t" | "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ seq, t, ms: ms(), ...r });
    };
    const req = request(url, { method: "GET", agent: false, headers: { connection: "close" } }, (res) => readAnswer(res, done));
    const timer = setTimeout(() => {
      done({ ok: false, err: "timeout" });
      req.destroy();
    }, timeoutMs);
    req.on("error", (e) => done({ ok: false, err: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

/** Runs the schedule; calls `emit` per finished request; resolves when every request has finished. */
export async function runProber(opts: ProberOptions, emit: (r: ProbeRecord) => void, stopSignal?: AbortSignal): Promise<void> {
  const urls = [opts.url, ...(opts.more ?? [])].map((u) => new URL(u));
  const named = urls.length > 1;
  const interval = Math.max(MIN_INTERVAL_MS, opts.intervalMs);
  const duration = Math.min(opts.durationMs, MAX_PROBE_DURATION_MS);
  const maxCount = Math.min(opts.count ?? Number.POSITIVE_INFINITY, Math.ceil(duration / interval) + 1);
  const inFlight = new Set<Promise<void>>();
  const start = Date.now();
  let seq = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      if (seq >= maxCount || Date.now() - start >= duration || stopSignal?.aborted) {
        clearInterval(timer);
        resolve();
        return;
      }
      const s = seq++;
      for (const url of urls) {
        const p = probeOnce(url, s, opts.timeoutMs).then((r) => {
          emit(named ? { ...r, url: url.href } : r);
          inFlight.delete(p);
        });
        inFlight.add(p);
      }
    };
    const timer = setInterval(tick, interval);
    stopSignal?.addEventListener("abort", () => tick(), { once: true });
    tick();
  });
  await Promise.all([...inFlight]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", multiple: true, default: [DEFAULT_PROBE_URL] },
      interval: { type: "string", default: "10" },
      timeout: { type: "string", default: "200" },
      duration: { type: "string", default: "10000" },
      count: { type: "string" },
      out: { type: "string" },
    },
  });
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      process.stderr.write(`prober: --${name} must be a positive number, got "${v}"\n`);
      process.exit(2);
    }
    return n;
  };
  const opts: ProberOptions = {
    url: values.url[0],
    more: values.url.slice(1),
    intervalMs: num("interval", values.interval),
    timeoutMs: num("timeout", values.timeout),
    durationMs: num("duration", values.duration),
    count: values.count === undefined ? undefined : num("count", values.count),
  };
  const out = values.out ? createWriteStream(values.out, { flags: "a" }) : process.stdout;
  const stop = new AbortController();
  process.once("SIGTERM", () => stop.abort());
  process.once("SIGINT", () => stop.abort());
  await runProber(opts, (r) => out.write(`${JSON.stringify(r)}\n`), stop.signal);
  if (out !== process.stdout) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`prober: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
