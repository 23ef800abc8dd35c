/**
 * A real nginx on loopback for integration tests: a temp prefix with its own
 * nginx.conf (error log, pid and temp paths inside it, so nothing touches
 * /var/log or /run), an include file for upstreams, and tiny HTTP backends
 * answering like the seed's ({"msg":"success","status":"1","server_ip":NAME}).
 *
 * Every nginx master a test sees is recorded; close() ends those (and their
 * process groups) by pid, closes the backends and removes the directory.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, get, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentConfigSchema, type NginxConfig } from "../../shared/config/agent.js";
import { isLive, liveGroupMembers, processTitle, sendSignal } from "../../agent/nginx/process.js";

export const NGINX_BINARY = "/usr/sbin/nginx";

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** GET http://127.0.0.1:port/path with a fresh connection: the body, or an Error. */
export function httpGet(port: number, path = "/aaa", timeoutMs = 500): Promise<string | Error> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(res.statusCode === 200 ? body : new Error(`HTTP ${res.statusCode}: ${body.slice(0, 100)}`)));
      res.on("error", (err) => resolve(err));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve(err));
  });
}

/** The backend's name from a seed-style answer, or undefined. */
export function servedBy(body: string | Error): string | undefined {
  if (body instanceof Error) return undefined;
  try {
    return (JSON.parse(body) as { server_ip?: string }).server_ip;
  } catch {
    return undefined;
  }
}

export interface Backend {
  name: string;
  port: number;
  address: string;
}

export class NginxLab {
  readonly dir: string;
  readonly listenPort: number;
  readonly backends: Backend[] = [];
  private readonly servers: Server[] = [];
  private readonly masters = new Set<number>();

  private constructor(dir: string, listenPort: number) {
    this.dir = dir;
    this.listenPort = listenPort;
  }

  /** A prefix dir with nginx.conf (listening on a free loopback port) and `backendCount` backends. */
  static async create(backendCount = 2): Promise<NginxLab> {
    const dir = await mkdtemp(join(tmpdir(), "kvB-nginx-"));
    await mkdir(join(dir, "logs"));
    await mkdir(join(dir, "tmp"));
    const lab = new NginxLab(dir, await freePort());
    for (let i = 0; i < backendCount; i++) await lab.addBackend(`backend-${String.fromCharCode(97 + i)}`);
    await lab.writeConf();
    await writeFile(lab.upstreamFile, lab.upstreamText(lab.backends.slice(0, 1)));
    return lab;
  }

  get conf(): string {
    return join(this.dir, "nginx.conf");
  }
  get pidFile(): string {
    return join(this.dir, "nginx.pid");
  }
  get upstreamFile(): string {
    return join(this.dir, "upstreams.conf");
  }

  /** The agent's nginx section for this lab. */
  nginxConfig(overrides: Record<string, unknown> = {}): NginxConfig {
    return agentConfigSchema.parse({
      node_id: "kvB-test",
      coordinator: "127.0.0.1:1",
      insecure: true,
      groups: {},
      nginx: {
        mode: "child",
        binary: NGINX_BINARY,
        prefix: this.dir,
        conf: this.conf,
        pid_file: this.pidFile,
        upstream_file: this.upstreamFile,
        restart_backoff: { initial: "50ms", max: "400ms" },
        ...overrides,
      },
    }).nginx;
  }

  /** (Re)writes nginx.conf; `extraHttp` goes inside http (e.g. a second listener), `extraMain` at top level. */
  async writeConf(extraHttp = "", extraMain = ""): Promise<void> {
    const conf = `# kvB integration test nginx (temp prefix ${this.dir})
worker_processes 1;
error_log ${this.dir}/logs/error.log notice;
${extraMain}
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${this.dir}/tmp/body;
    proxy_temp_path ${this.dir}/tmp/proxy;
    fastcgi_temp_path ${this.dir}/tmp/fastcgi;
    uwsgi_temp_path ${this.dir}/tmp/uwsgi;
    scgi_temp_path ${this.dir}/tmp/scgi;
    include ${this.upstreamFile};
    server {
        listen 127.0.0.1:${this.listenPort};
        location / {
            proxy_next_upstream error timeout http_500 non_idempotent;
            proxy_connect_timeout 1s;
            proxy_pass http://app;
        }
    }
${extraHttp}
}
`;
    await writeFile(this.conf, conf);
  }

  /** An upstream "app" over the given backends, as a hand-written include. */
  upstreamText(backends: Backend[]): string {
    return `upstream app {\n${backends.map((b) => `    server ${b.address} max_fails=3 fail_timeout=30s;\n`).join("")}}\n`;
  }

  async addBackend(name: string): Promise<Backend> {
    const server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ msg: "success", status: "1", server_ip: name }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    this.servers.push(server);
    const b = { name, port, address: `127.0.0.1:${port}` };
    this.backends.push(b);
    return b;
  }

  /** Remembers an nginx master so close() ends it. */
  track(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) this.masters.add(pid);
  }

  /** Ends every recorded master and its group (by pid), closes backends, removes the prefix dir. */
  async close(): Promise<void> {
    // Also any master a test never got to record (e.g. one started by a helper process that
    // failed early): its command line names our unique prefix dir.
    for (const entry of await readdir("/proc").catch(() => [] as string[])) {
      if (/^\d+$/.test(entry) && (await processTitle(Number(entry))).includes(`-p ${this.dir} `)) this.masters.add(Number(entry));
    }
    for (const pid of this.masters) {
      // Only what is still ours: a master naming our prefix, workers titled "nginx:" in its group.
      if ((await isLive(pid)) && (await processTitle(pid)).includes(this.dir)) sendSignal(pid, "SIGKILL");
      const members = liveGroupMembers(pid);
      const titles = await Promise.all(members.map((m) => processTitle(m.pid)));
      if (members.length > 0 && titles.every((t) => t === "" || t.startsWith("nginx:"))) sendSignal(-pid, "SIGKILL");
    }
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
    await rm(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}
