/**
 * A lab backend, answering like the seed's servers:
 *   GET /aaa → 200 {"msg":"success","status":"1","server_ip":"<its address>"}
 * Anything else is a 404. Runs inside P-b1 / P-b2:
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

export function createBackend(ip: string): Server {
  const body = backendBody(ip);
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/aaa") {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
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
  const server = createBackend(host);
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
