/**
 * The HTTP listener Prometheus scrapes: GET /metrics renders a prom-client
 * registry; nothing else is served (404), nothing is writable (405). It is its
 * own listener, apart from gRPC, so a firewall or a bind to 127.0.0.1 can keep
 * it private while the gRPC port faces the agents.
 */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import { parseHostPort, formatHostPort } from "./config/net.js";

/**
 * prom-client's default metrics sample the event loop's delay with a native timer every 10 ms
 * unless told otherwise: 100 wake-ups a second, about 0.5 % of a core on a virtual machine,
 * more than an idle agent's own work. Every 250 ms a stall of that length or longer still shows.
 */
export const EVENT_LOOP_SAMPLE_MS = 250;

export interface MetricsServer {
  /** "host:port" actually bound (port 0 resolved). */
  address: string;
  close(): Promise<void>;
}

/** A scrape that takes longer than this is answered 503 (a collector stuck on I/O must not pile up scrapes). */
const RENDER_TIMEOUT_MS = 5000;

/**
 * Listens on `listen` ("127.0.0.1:9740"; port 0 picks a free one) and serves
 * the registry (or the one a getter returns at each scrape). Rejects with the reason when the address cannot be bound.
 */
export async function startMetricsServer(source: Registry | (() => Registry), listen: string, log?: Logger): Promise<MetricsServer> {
  const hp = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("keepvip: metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    // A getter is asked at every scrape (a replica serves its engine's metrics only while it leads).
    const registry = typeof source === "function" ? source() : source;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`rendering took longer than ${RENDER_TIMEOUT_MS} ms`)), RENDER_TIMEOUT_MS);
    });
    Promise.race([registry.metrics(), timeout])
      .then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
        (err: unknown) => {
          log?.warn({ event: "metrics.error", err }, "cannot render metrics");
          res.writeHead(503, { "content-type": "text/plain" }).end(`metrics unavailable: ${(err as Error).message}\n`);
        },
      )
      .finally(() => clearTimeout(timer));
  });
  // Scrapes are short: do not let idle keep-alive sockets hold a shutdown.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`cannot serve metrics on ${listen}: ${err.message}`)));
    server.listen(hp.port, hp.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === "object" && bound ? bound.port : hp.port;
  return { address: formatHostPort({ host: hp.host, port }), close: () => closeServer(server) };
}

/** host:port like the config, but port 0 (tests: any free port) is allowed here. */
function parseListen(listen: string): { host: string; port: number } {
  const zero = /^(.*):0$/.exec(listen);
  const hp = parseHostPort(zero ? `${zero[1]}:1` : listen);
  if (!hp.ok) throw new Error(`metrics listen address: ${hp.error.message}`);
  return { host: hp.value.host, port: zero ? 0 : hp.value.port };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
