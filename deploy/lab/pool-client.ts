/**
 * The keep-alive client, run inside P-client:
 *   ip netns exec P-client node --import tsx deploy/lab/pool-client.ts [--url URL]
 *      [--connections 20] [--max-delay 2000] [--timeout 5000] [--duration 10000] [--out FILE]
 * What a browser or a proxy with a connection pool does: `connections` persistent
 * connections, each busy with one request after another, each request asking the
 * backend to answer after a random 0..max-delay ms (`?delay_ms=`). Connections are
 * reused (HTTP/1.1 keep-alive) until the server closes one; nothing is retried, so a
 * connection reset by a VIP move is a failed request. Writes one NDJSON ProbeRecord
 * per request (with `reused` when it went over a connection that had served one
 * before) to stdout or FILE. Bounded by `duration`, SIGTERM or SIGINT; then waits for
 * the requests in flight (each bounded by `timeout`) and exits.
 */
import { createWriteStream } from "node:fs";
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_PROBE_URL, MAX_PROBE_DURATION_MS, readAnswer, type Answer } from "./prober.js";
import type { ProbeRecord } from "./probe-analysis.js";

export interface PoolOptions {
  url: string;
  connections: number;
  maxDelayMs: number;
  timeoutMs: number;
  durationMs: number;
}

/** A pool record: a probe record that also says whether its connection was reused. */
export type PoolRecord = ProbeRecord & { reused: boolean; worker: number };

/** Whether a failed request ended in a reset (the move's signature), rather than a timeout or a bad answer. */
export function isReset(err: string | undefined): boolean {
  return err === "ECONNRESET" || err === "EPIPE" || err === "socket hang up";
}

const MAX_CONNECTIONS = 200;

/** Runs `connections` workers over one keep-alive agent; resolves when all have stopped. */
export async function runPool(opts: PoolOptions, emit: (r: PoolRecord) => void, stopSignal?: AbortSignal, random: () => number = Math.random): Promise<void> {
  const n = Math.max(1, Math.min(MAX_CONNECTIONS, Math.floor(opts.connections)));
  const agent = new Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n, keepAliveMsecs: 1000 });
  const served = new WeakSet<Socket>();
  const duration = Math.min(opts.durationMs, MAX_PROBE_DURATION_MS);
  const start = Date.now();
  let seq = 0;
  const one = (worker: number): Promise<PoolRecord> => {
    const delay = Math.floor(random() * (opts.maxDelayMs + 1));
    const url = new URL(opts.url);
    url.searchParams.set("delay_ms", String(delay));
    const t = Date.now();
    const started = performance.now();
    const mySeq = seq++;
    return new Promise((resolve) => {
      let settled = false;
      let reused = false;
      const done = (r: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ seq: mySeq, t, ms: Math.round((performance.now() - started) * 100) / 100, reused, worker, ...r });
      };
      const req = request(url, { method: "GET", agent }, (res) => readAnswer(res, done));
      req.on("socket", (s: Socket) => {
        reused = served.has(s);
        served.add(s);
      });
      const timer = setTimeout(() => {
        done({ ok: false, err: "timeout" });
        req.destroy();
      }, opts.timeoutMs);
      req.on("error", (e) => done({ ok: false, err: (e as NodeJS.ErrnoException).code ?? e.message }));
      req.end();
    });
  };
  const worker = async (w: number) => {
    while (Date.now() - start < duration && !stopSignal?.aborted) emit(await one(w));
  };
  await Promise.all(Array.from({ length: n }, (_, w) => worker(w)));
  agent.destroy();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: DEFAULT_PROBE_URL },
      connections: { type: "string", default: "20" },
      "max-delay": { type: "string", default: "2000" },
      timeout: { type: "string", default: "5000" },
      duration: { type: "string", default: "10000" },
      out: { type: "string" },
    },
  });
  const num = (name: string, v: string | undefined, min = 1) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`pool-client: --${name} must be a number ≥ ${min}, got "${v}"\n`);
      process.exit(2);
    }
    return n;
  };
  const opts: PoolOptions = {
    url: values.url,
    connections: num("connections", values.connections),
    maxDelayMs: num("max-delay", values["max-delay"], 0),
    timeoutMs: num("timeout", values.timeout),
    durationMs: num("duration", values.duration),
  };
  const out = values.out ? createWriteStream(values.out, { flags: "a" }) : process.stdout;
  const stop = new AbortController();
  process.once("SIGTERM", () => stop.abort());
  process.once("SIGINT", () => stop.abort());
  await runPool(opts, (r) => out.write(`${JSON.stringify(r)}\n`), stop.signal);
  if (out !== process.stdout) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`pool-client: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
