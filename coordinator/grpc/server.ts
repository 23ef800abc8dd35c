/**
 * The coordinator's gRPC server: AgentService and AdminService on one
 * listener, keepalive on, message size bounded. Credentials are made here and
 * only here, so mutual TLS is one change in one place.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { AdminService } from "../../shared/gen/keepvip/v1/admin.js";
import { Engine } from "../cluster/engine.js";
import { adminService } from "./admin-service.js";
import { AgentSessionService, agentService } from "./agent-service.js";
import { addIntrospection, KEEPVIP_SERVICES } from "./introspection.js";
import { fixedEngine, routedAdmin, routedAgent, type EngineRef } from "./routing.js";
import { admitPeer, gateConnections, ServerTls, socketIdentity } from "./tls.js";

const AGENT_SERVICE = KEEPVIP_SERVICES[0];

/** Largest message accepted: reports and configs are a few KiB; anything near this is hostile. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** The gRPC server's options. */
export const SERVER_OPTIONS = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  // No channelz (nothing here serves it): with it on, grpc-js timestamps and counts every
  // message of every call, which with thousands of agents was a cost per report and per beat.
  "grpc.enable_channelz": 0,
} as const;

/** The listener's TLS (reloadable), or undefined for insecure: true. */
export function serverTls(cfg: CoordinatorConfig, log: Logger): ServerTls | undefined {
  if (cfg.tls) return new ServerTls(cfg.tls, log.child({ component: "tls" }));
  if (!cfg.insecure) throw new Error("no tls section in the coordinator config: set tls (ca, cert, key) or, for a lab, insecure: true");
  return undefined;
}

export interface RunningServer {
  server: Server;
  /** "host:port" actually bound (port 0 resolved). */
  address: string;
  /** Graceful: stop accepting, end streams, force after timeoutMs. */
  shutdown(timeoutMs?: number): Promise<void>;
  /** Replicated coordinators: whether this replica leads (health of the agent service follows). */
  leading(on: boolean): void;
  /** The listener's TLS (reload on SIGHUP, watch the files); undefined when insecure. */
  tls: ServerTls | undefined;
}

/**
 * Serves `engines`: one engine (a single coordinator), or an EngineRef whose
 * engine comes and goes with leadership (replicated coordinators, routing.ts).
 */
export async function startServer(
  cfg: CoordinatorConfig,
  engines: Engine | EngineRef,
  log: Logger,
  listen = cfg.listen,
  /** The config whose groups name the nodes an agent certificate may be for (follows reloads). */
  current?: () => CoordinatorConfig,
): Promise<RunningServer> {
  const ref = engines instanceof Engine ? fixedEngine(engines) : engines;
  const config = current ?? (() => ref.current()?.config ?? cfg);
  const tls = serverTls(cfg, log);
  const server = new Server(SERVER_OPTIONS);
  server.addService(
    AgentSessionService,
    routedAgent(ref, (engine) => agentService(engine, log)),
  );
  server.addService(
    AdminService,
    routedAdmin(ref, (engine) => adminService(engine, log)),
  );
  // grpc.health.v1.Health and server reflection (grpcurl list/describe).
  const introspection = addIntrospection(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, tls?.credentials ?? ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`cannot listen on ${listen}: ${err.message}`)) : resolve(p),
    );
  });
  if (tls) {
    // At most one log line per refused identity and minute: a misconfigured agent retries often.
    const logged = new Map<string, number>();
    gateConnections(
      server,
      (socket) => admitPeer(socketIdentity(socket), new Set(config().groups.flatMap((g) => g.members.map((m) => m.node)))),
      (peer, reason) => {
        const last = logged.get(reason) ?? 0;
        if (Date.now() - last < 60_000) return;
        if (logged.size > 1000) logged.clear();
        logged.set(reason, Date.now());
        log.warn({ event: "tls.refused", peer, reason }, `refused the connection from ${peer} after the handshake: ${reason}`);
      },
    );
  }
  const host = listen.slice(0, listen.lastIndexOf(":"));
  const address = `${host}:${port}`;
  return {
    server,
    address,
    tls,
    leading(on) {
      // A follower takes no agent sessions: health says so to load balancers and probes.
      introspection.health.setStatus(AGENT_SERVICE, on ? "SERVING" : "NOT_SERVING");
    },
    shutdown(timeoutMs = 2000) {
      tls?.files.close();
      // Health checkers see NOT_SERVING first, so they stop sending new work.
      introspection.notServing();
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
