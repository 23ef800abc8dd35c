/**
 * A lab backend, answering like the seed's servers:
 *   GET /aaa → 200 {"msg":"success","status":"1","server_ip":"<its address>"}
 *   GET /aaa?delay_ms=N → the same answer N ms later (at most MAX_DELAY_MS): a request that is
 *     still in flight when a drill drains or reloads, to show it completes.
 * Anything else is a 404. SIGUSR1 makes GET /aaa answer 500 (a sick application behind a live
 * port: health checks fail, nginx retries the request on another server), SIGUSR2 heals it:
 * a drill can flap a backend's health without a connection ever being refused or stalled.
 * Runs inside P-b1 / P-b2:
 *   node --import tsx deploy/lab/backend.ts --host 198.18.0.21 --port 10016 --pid-file FILE
 * It writes its pid file once it listens (that is how the lab knows it is ready) and removes
 * it on SIGTERM. No per-request logging: the prober sends 100 requests/s.
 */
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

/** The exact body the seed shows for a backend at `ip`. */
export function backendBody(ip: string): string {
  return JSON.stringify({ msg: "success", status: "1", server_ip: ip });
}

/** Bound of `delay_ms`, so a typo cannot park connections for long. */
export const MAX_DELAY_MS = 10_000;

/** The delay a request asks for (0 when none or not a number), capped at MAX_DELAY_MS. */
export function requestedDelayMs(url: string): number {
  const raw = new URLSearchParams(url.split("?")[1] ?? "").get("delay_ms");
  const n = Number(raw);
  return raw !== null && Number.isFinite(n) && n > 0 ? Math.min(n, MAX_DELAY_MS) : 0;
}

/** `failing()` true: GET /aaa answers 500 instead of the seed's body. */
export function createBackend(ip: string, failing: () => boolean = () => false): Server {
  const body = backendBody(ip);
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/aaa" && failing()) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("failing on purpose (SIGUSR1; SIGUSR2 heals)\n");
      return;
    }
    if (req.method === "GET" && path === "/aaa") {
      const answer = () => {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      };
      const delay = requestedDelayMs(req.url ?? "");
      if (delay === 0) return answer();
      const timer = setTimeout(answer, delay);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  });
}

function main(): void {
  const { values } = parseArgs({ options: { host: { type: "string" }, port: { type: "string" }, "pid-file": { type: "string" } } });
  const host = values.host;
  const port = Number(values.port ?? "10016");
  if (!host || !Number.isInteger(port)) {
    process.stderr.write("usage: backend.ts --host ADDRESS [--port 10016] [--pid-file FILE]\n");
    process.exit(2);
  }
  const pidFile = values["pid-file"];
  let failing = false;
  process.on("SIGUSR1", () => (failing = true));
  process.on("SIGUSR2", () => (failing = false));
  const server = createBackend(host, () => failing);
  server.on("error", (err) => {
    process.stderr.write(`backend ${host}:${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
    process.stdout.write(`backend listening on ${host}:${port}\n`);
  });
  const stop = () => {
    if (pidFile) rmSync(pidFile, { force: true });
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
