/**
 * The processes `npm run bench:scale` runs, all on loopback: a coordinator (dist/, single or a
 * replica on etcd), a local one-member etcd with a data dir of its own, and the fleet
 * processes of simulated agents. Each is kept by its pid and stopped by it; what /proc says
 * about a pid's CPU and memory is read here too.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AdminClient, type StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import type { FleetAnswer, FleetRequest } from "./scale-sim.js";
import type { FleetSnapshot } from "./scale-fleet.js";
import { sleep, waitUntil } from "./cluster.js";
import { parseRssKb, parseStat } from "./footprint-report.js";

export const DIST = join(import.meta.dirname, "../../dist");
const COORDINATOR_BIN = join(DIST, "coordinator/main.js");
export const CLI_BIN = join(DIST, "cli/keepvip.js");
const FLEET_BIN = join(DIST, "deploy/bench/scale-sim.js");
export const ETCD_BIN = "/usr/bin/etcd";

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Clock ticks a process has used (footprint-report.ts parseStat), from /proc/PID/stat; null when it is gone. */
export function cpuTicks(pid: number): number | null {
  return parseStat(readProc(pid, "stat"))?.ticks ?? null;
}

/** Resident memory in bytes (footprint-report.ts parseRssKb), from /proc/PID/status; null when it is gone. */
export function rssBytes(pid: number): number | null {
  const kb = parseRssKb(readProc(pid, "status"));
  return kb === undefined ? null : kb * 1024;
}

function readProc(pid: number, file: "stat" | "status"): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

/** Stops a child by its pid: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(killer);
}

/** A coordinator process and an admin client to it. */
export class CoordinatorProcess {
  readonly child: ChildProcess;
  private readonly admin: AdminClient;
  constructor(
    readonly address: string,
    configFile: string,
    logFile: string,
    nodeArgs: string[] = [],
  ) {
    this.child = spawn(process.execPath, [...nodeArgs, COORDINATOR_BIN, "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    const out = createWriteStream(logFile, { flags: "a" });
    this.child.stdout?.pipe(out);
    this.child.stderr?.pipe(out);
    // The window `keepvip` itself uses: a status of thousands of groups in one round trip.
    this.admin = new AdminClient(address, credentials.createInsecure(), { "grpc-node.flow_control_window": 4 * 1024 * 1024 });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** GetStatus over gRPC: the reply and how long it took (ms). */
  status(timeoutMs = 5000): Promise<{ reply: StatusReply; ms: number }> {
    const t0 = performance.now();
    return new Promise((resolve, reject) =>
      this.admin.getStatus({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, reply) =>
        err ? reject(err) : resolve({ reply, ms: performance.now() - t0 }),
      ),
    );
  }

  /** Waits until it answers GetStatus (a replica: once it leads). */
  async ready(timeoutMs: number): Promise<void> {
    const ok = await waitUntil(
      () =>
        this.status(1000).then(
          () => true,
          () => false,
        ),
      timeoutMs,
      100,
    );
    if (!ok) throw new Error(`the coordinator on ${this.address} did not answer GetStatus within ${timeoutMs} ms (its log says why)`);
  }

  async stop(): Promise<void> {
    this.admin.close();
    await stopChild(this.child);
  }
}

/** One local etcd member on loopback with its own data dir (never the system's etcd). */
export async function startEtcd(dataDir: string, logFile: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(
    ETCD_BIN,
    [
      "--name=sc-bench",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=sc-bench=${peerUrl}`,
      "--initial-cluster-state=new",
      // As the lab's: 1 s leases are granted, a lost leader is seen within about a second.
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const out = createWriteStream(logFile, { flags: "a" });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const healthy = await waitUntil(
    async () => {
      try {
        const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
        return r.ok && ((await r.json()) as { health?: string }).health === "true";
      } catch {
        return false;
      }
    },
    15_000,
    100,
  );
  if (!healthy) {
    await stopChild(child);
    throw new Error(`etcd on ${endpoint} did not become healthy within 15 s (log: ${logFile})`);
  }
  return { child, endpoint };
}

/** A process of simulated agents (scale-sim.ts), driven over IPC. */
export class FleetProcess {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  constructor() {
    this.child = fork(FLEET_BIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (a: FleetAnswer) => {
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (a.error !== undefined) p.reject(new Error(a.error));
      else p.resolve(a.value);
    });
    this.child.on("exit", () => {
      for (const p of this.pending.values()) p.reject(new Error("the fleet process exited"));
      this.pending.clear();
    });
  }

  request<T>(req: DistributiveOmit<FleetRequest, "id">): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  snapshot(): Promise<FleetSnapshot> {
    return this.request<FleetSnapshot>({ op: "snapshot" });
  }

  async stop(): Promise<void> {
    await Promise.race([this.request({ op: "stop" }).catch(() => undefined), sleep(2000)]);
    await stopChild(this.child, 2000);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
