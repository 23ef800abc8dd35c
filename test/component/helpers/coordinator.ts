/** Starts a real coordinator (engine + gRPC server on 127.0.0.1:0) for component tests. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../../coordinator/cluster/engine.js";
import { startServer, type RunningServer } from "../../../coordinator/grpc/server.js";
import { createFileStore } from "../../../coordinator/state/store.js";
import { coordinatorConfigSchema, type CoordinatorConfig } from "../../../shared/config/coordinator.js";
import { parseConfigText } from "../../../shared/config/load.js";
import { silentLogger } from "../../../shared/log.js";

export interface TestCoordinator {
  engine: Engine;
  server: RunningServer;
  address: string;
  config: CoordinatorConfig;
  stateDir: string;
  stop(): Promise<void>;
}

export function clusterYaml(
  opts: {
    preempt?: boolean;
    preemptDelay?: string;
    tracks?: string;
    lb3?: boolean;
    startupGrace?: string;
    upstreams?: boolean;
    drainTimeout?: string;
    deadInterval?: string;
  } = {},
): string {
  return `
insecure: true
timing:
  heartbeat_interval: 20ms
  dead_interval: ${opts.deadInterval ?? "120ms"}
${opts.startupGrace === "default" ? "" : `  startup_grace: ${opts.startupGrace ?? "300ms"}`}
  verify_timeout: 50ms
  planned_overlap: 20ms
  ack_timeout: 500ms
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016, path: /aaa }
    preempt: ${opts.preempt ?? true}
    preempt_delay: ${opts.preemptDelay ?? "0s"}${
      opts.drainTimeout
        ? `
    drain_timeout: ${opts.drainTimeout}`
        : ""
    }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }
${opts.lb3 ? "      - { node: lb3, priority: 80, address: 198.18.0.13 }\n" : ""}${opts.tracks ?? ""}${opts.upstreams ? upstreamsYaml : ""}
`;
}

/** clusterYaml with mTLS: the coordinator's certificate and the CA from a test PKI instead of insecure. */
export function tlsClusterYaml(pki: { file(stem: string, ext: "crt" | "key"): string }, opts: Parameters<typeof clusterYaml>[0] = {}): string {
  return clusterYaml(opts).replace(
    "insecure: true",
    `tls: { ca: ${pki.file("ca", "crt")}, cert: ${pki.file("coordinator", "crt")}, key: ${pki.file("coordinator", "key")} }`,
  );
}

const upstreamsYaml = `
upstreams:
  - name: my10016
    balance: least_conn
    servers:
      - { address: "198.18.0.21:10016", max_fails: 3, fail_timeout: 30s }
      - { address: "198.18.0.22:10016", max_fails: 3, fail_timeout: 30s }
    check: { type: http, path: /aaa, interval: 100ms, timeout: 50ms, rise: 2, fall: 2 }
`;

export async function startCoordinator(yaml: string, stateDir?: string): Promise<TestCoordinator> {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), "keepvip-coord-"));
  const config = parseConfigText(coordinatorConfigSchema, yaml, "test.yaml");
  const engine = new Engine({ ...config, state_dir: dir }, createFileStore(dir), silentLogger);
  await engine.start();
  const server = await startServer(config, engine, silentLogger, "127.0.0.1:0");
  return {
    engine,
    server,
    address: server.address,
    config,
    stateDir: dir,
    async stop() {
      await engine.stop();
      await server.shutdown(500);
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
