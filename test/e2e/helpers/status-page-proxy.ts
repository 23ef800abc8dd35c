/**
 * A forwarding proxy to the coordinator's status page, for a browser that cannot
 * present a client certificate by itself (headless Chromium takes one only from
 * system policy files). Run inside a lab namespace:
 *   ip netns exec P-coord node --import tsx test/e2e/helpers/status-page-proxy.ts
 *      --upstream https://198.19.0.1:9742 --ca ca.crt --cert reader-page.crt --key reader-page.key
 *      [--listen 127.0.0.1:0] [--max-ms 600000]
 * It listens on plain HTTP (loopback inside the namespace: a free port by default) and
 * forwards each request, the event stream included, over HTTPS to the page with the
 * given certificate, checking the page's certificate against the CA. Once bound it
 * prints one line, {"listening":"127.0.0.1:PORT"}. Bounded: it exits after --max-ms,
 * or on SIGTERM/SIGINT. Operators do the same with their own reverse proxy
 * (docs/status-page.md, nginx with proxy_ssl_certificate).
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { Agent, request } from "node:https";
import { request as plainRequest } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

export interface PageProxyOptions {
  /** "127.0.0.1:0" picks a free port. */
  listen: string;
  /** "https://198.19.0.1:9742" (http:// for an insecure lab: then no certificate is used). */
  upstream: string;
  /** PEM text of the CA, the client certificate and its key (https only). */
  tls?: { ca: string; cert: string; key: string };
}

/** Hop-by-hop headers (RFC 9110, 7.6.1) that a proxy does not pass on. */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP.has(k.toLowerCase())));
}

/** Starts the proxy; resolves with its server and the address it bound. */
export async function startPageProxy(o: PageProxyOptions): Promise<{ server: Server; address: string }> {
  const upstream = new URL(o.upstream);
  const https = upstream.protocol === "https:";
  // No keep-alive upstream: each request (and each stream) gets a connection of its own, closed with it.
  const agent = https && o.tls ? new Agent({ ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, keepAlive: false }) : undefined;
  const server = createServer((req: IncomingMessage, res) => {
    const send = https ? request : plainRequest;
    const up = send(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...endToEnd(req.headers), host: upstream.host },
        ...(agent ? { agent } : { agent: false }),
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, endToEnd(ur.headers));
        // An event stream's messages go out as they arrive (pipe writes each chunk at once).
        res.flushHeaders();
        ur.pipe(res);
        ur.on("error", () => res.destroy());
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain; charset=utf-8" }).end(`status page proxy: ${err.message}\n`);
      else res.destroy();
    });
    // The browser went away (a closed stream, a closed tab): so does the upstream request.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  const [host, port] = [o.listen.slice(0, o.listen.lastIndexOf(":")), Number(o.listen.slice(o.listen.lastIndexOf(":") + 1))];
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return { server, address: `${host}:${typeof bound === "object" && bound ? bound.port : port}` };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: "string", default: "127.0.0.1:0" },
      upstream: { type: "string" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "max-ms": { type: "string", default: "600000" },
    },
  });
  if (!values.upstream) throw new Error("--upstream is required");
  const tls =
    values.ca && values.cert && values.key
      ? { ca: readFileSync(values.ca, "utf8"), cert: readFileSync(values.cert, "utf8"), key: readFileSync(values.key, "utf8") }
      : undefined;
  const { server, address } = await startPageProxy({ listen: values.listen, upstream: values.upstream, tls });
  process.stdout.write(`${JSON.stringify({ listening: address })}\n`);
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  setTimeout(stop, Math.min(Number(values["max-ms"]) || 600_000, 600_000)).unref();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`status page proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
