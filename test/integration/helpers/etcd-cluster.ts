/**
 * Real etcd members on loopback for the etcd tests: each on its own free
 * client and peer port of 127.0.0.1, with its own data dir in one temp dir,
 * tuned like the lab (election 500 ms, heartbeat 50 ms; etcd then grants
 * leases of 1 s). Each member's pid is kept; stop/kill end that pid only and
 * close() ends every member this cluster started and removes the temp dir.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdClient, readEtcdTls } from "../../../coordinator/ha/etcd-client.js";
import { freePort } from "../nginx-harness.js";
import { waitFor } from "../../support/wait.js";

export const ETCD_BINARY = "/usr/bin/etcd";

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc?: ChildProcess;
  exited?: Promise<void>;
  /** Last lines of its output, for a failing test's message. */
  tail: string[];
}

/** PEM files for client TLS: the members serve https with this cert and require client certs from this CA. */
export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

const live = new Set<ChildProcess>();
// A test that crashes must not leave etcd members behind: kill ours on exit.
process.on("exit", () => {
  for (const p of live) if (p.pid) process.kill(p.pid, "SIGKILL");
});

export class EtcdCluster {
  private constructor(
    private readonly dir: string,
    private readonly members: Member[],
    private readonly token: string,
    private readonly tls?: EtcdTlsFiles,
  ) {}

  /** Starts `size` members and waits until the cluster serves a linearizable read. */
  static async start(size = 1, tls?: EtcdTlsFiles): Promise<EtcdCluster> {
    const dir = await mkdtemp(join(tmpdir(), "keepvip-etcd-"));
    const members: Member[] = [];
    for (let i = 1; i <= size; i++)
      members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: join(dir, `m${i}`), tail: [] });
    const cluster = new EtcdCluster(dir, members, `keepvip-test-${process.pid}-${Date.now()}`, tls);
    for (let i = 0; i < size; i++) cluster.spawn(i);
    await cluster.waitServing();
    return cluster;
  }

  /** "127.0.0.1:port" of every member, in order. */
  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  endpoint(i: number): string {
    return this.endpoints[i]!;
  }

  pid(i: number): number | undefined {
    return this.members[i]!.proc?.pid;
  }

  /** Waits until a linearizable read succeeds through any member (so a quorum is up). */
  async waitServing(timeoutMs = 15_000): Promise<void> {
    const client = new EtcdClient({
      endpoints: this.endpoints.filter((_, i) => this.members[i]!.proc),
      callTimeoutMs: 500,
      tls: this.tls && readEtcdTls(this.tls),
    });
    try {
      await waitFor(
        async () =>
          client.get("health-probe").then(
            () => true,
            () => false,
          ),
        { what: `etcd serving (${this.members.map((m) => `${m.name}: ${m.tail.slice(-2).join(" | ")}`).join("; ")})`, timeoutMs, intervalMs: 50 },
      );
    } finally {
      client.close();
    }
  }

  /** Ends member i with `signal` (SIGKILL: a crash) and waits for its exit. */
  async stop(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const m = this.members[i]!;
    if (!m.proc?.pid) return;
    process.kill(m.proc.pid, signal);
    await m.exited;
    m.proc = undefined;
  }

  /** Starts member i again on its data dir, ports and name. */
  restart(i: number): void {
    this.spawn(i);
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stop(i);
    await rm(this.dir, { recursive: true, force: true });
  }

  private spawn(i: number): void {
    const m = this.members[i]!;
    const peers = this.members.map((p) => `${p.name}=http://127.0.0.1:${p.peerPort}`).join(",");
    const scheme = this.tls ? "https" : "http";
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${scheme}://127.0.0.1:${m.clientPort}`,
      `--advertise-client-urls=${scheme}://127.0.0.1:${m.clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-cluster=${peers}`,
      `--initial-cluster-token=${this.token}`,
      "--initial-cluster-state=new",
      "--election-timeout=500",
      "--heartbeat-interval=50",
      "--logger=zap",
      "--log-level=error",
      ...(this.tls ? [`--cert-file=${this.tls.cert}`, `--key-file=${this.tls.key}`, `--trusted-ca-file=${this.tls.ca}`, "--client-cert-auth"] : []),
    ];
    const proc = spawn(ETCD_BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(proc);
    const keep = (chunk: Buffer) => {
      m.tail.push(
        ...chunk
          .toString("utf8")
          .trim()
          .split("\n")
          .map((l) => l.slice(0, 300)),
      );
      m.tail.splice(0, Math.max(0, m.tail.length - 20));
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    m.proc = proc;
    m.exited = new Promise((resolve) =>
      proc.once("exit", () => {
        live.delete(proc);
        resolve();
      }),
    );
  }
}
