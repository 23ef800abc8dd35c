#!/usr/bin/env node
/**
 * keepvip-coordinator --config FILE [--check]
 * (--check: the config, and the tls section's files as the preflight checks them).
 * Wires config, state store, engine and gRPC server; handles signals. With an
 * `ha:` section it is one replica of replicated coordinators: it campaigns
 * through etcd and runs the engine only while it leads.
 */
import { Command } from "commander";
import { checkTlsFiles } from "../shared/cert-check.js";
import { readTlsFile } from "../shared/tls-material.js";
import { coordinatorConfigSchema, insecureListenProblem } from "../shared/config/coordinator.js";
import { ConfigError, loadConfigFile, loadConfigOrExit } from "../shared/config/load.js";
import { createLogger } from "../shared/log.js";
import { VERSION } from "../shared/version.js";
import { Engine } from "./cluster/engine.js";
import { startServer, type RunningServer } from "./grpc/server.js";
import { EtcdClient, readEtcdTls } from "./ha/etcd-client.js";
import { LeaderElection } from "./ha/leader.js";
import { ReplicaMetrics } from "./ha/metrics.js";
import { Replica } from "./ha/replica.js";
import { createEtcdStore } from "./state/etcd-store.js";
import { createFileStore } from "./state/store.js";
import { CoordinatorMetrics, type SecurityView } from "./metrics.js";
import { createCommandRunner } from "../shared/exec/runner.js";
import { startMetricsServer } from "../shared/metrics-server.js";
import { notifyReady } from "../shared/systemd.js";
import { fixedEngine } from "./cluster/engine-ref.js";
import { startStatusPage, type RunningStatusPage } from "./status-page/server.js";

const program = new Command()
  .name("keepvip-coordinator")
  .description("keepvip coordinator: elects VIP holders and pushes upstreams to the agents")
  .version(VERSION)
  .requiredOption("-c, --config <file>", "cluster config (YAML)")
  .option("--check", "validate the config and its TLS files (present, in date, signed by the CA, key matches), then exit (like keepalived -t)")
  .option("--listen <host:port>", "override the config's listen address")
  .parse();

const opts = program.opts<{ config: string; check?: boolean; listen?: string }>();

const config = loadConfigOrExit(coordinatorConfigSchema, opts.config);
const listenProblem = opts.listen !== undefined ? insecureListenProblem(opts.listen, config) : undefined;
if (listenProblem) {
  process.stderr.write(`keepvip-coordinator: --listen ${opts.listen}: ${listenProblem}\n`);
  process.exit(2);
}
if (opts.check) {
  // The tls files too: present, in date, signed by the CA, the key the certificate's (a warning 30 days before the end).
  const tls = config.tls
    ? checkTlsFiles({ ca: readTlsFile(config.tls.ca), cert: readTlsFile(config.tls.cert), key: readTlsFile(config.tls.key) }, { nowMs: Date.now() })
    : [];
  for (const f of tls.filter((t) => t.status !== "ok"))
    process.stderr.write(`${opts.config}: tls: ${f.status === "fail" ? "" : "warning: "}${f.title}\n  why: ${f.why}\n  fix: ${f.fix}\n`);
  const failing = tls.filter((t) => t.status === "fail").length;
  if (failing > 0) {
    process.stderr.write(`${opts.config}: the config is valid, but its TLS files are not usable (${failing} problem${failing > 1 ? "s" : ""})\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${opts.config}: OK — ${config.groups.length} group(s), ${config.sync_groups.length} sync group(s), ${config.upstreams.length} upstream(s)${config.tls ? ", TLS files usable" : ""}\n`,
  );
  process.exit(0);
}

const log = createLogger({ service: "keepvip-coordinator", ...(config.ha ? { replica: config.ha.name } : {}) });
if (config.insecure && !config.tls)
  log.warn(
    { event: "security.insecure", listen: opts.listen ?? config.listen, acknowledged: config.insecure_listen_ack !== undefined },
    "INSECURE: no TLS, any host that reaches the listener can act as an agent or an admin",
  );

/** The config a new term's engine starts with: the file as last loaded (a reload on a follower counts). */
let latest = config;
/** What runs: one engine for the process's life, or a replica that runs one while it leads. */
let engine: Engine | undefined;
let replica: Replica | undefined;
let server: RunningServer;
/** What the metrics say about the listener's security (the certificate follows reloads). */
const securityView = (): SecurityView => {
  const tls = server.tls;
  return { insecure: config.insecure, ...(tls ? { certNotAfterMs: () => tls.files.material.notAfterMs } : {}) };
};
if (config.ha) {
  const ha = config.ha;
  const client = new EtcdClient({
    endpoints: ha.etcd.endpoints,
    tls: ha.etcd.tls ? readEtcdTls(ha.etcd.tls) : undefined,
    callTimeoutMs: ha.etcd.call_timeout,
  });
  const prefix = ha.prefix.replace(/\/+$/, "");
  let r: Replica | undefined;
  const election = new LeaderElection({
    client,
    key: `${prefix}/leader`,
    me: { name: ha.name, address: ha.advertise },
    ttlSeconds: ha.lease_ttl / 1000,
    log: log.child({ component: "ha" }),
    onChange: (state) => r?.onChange(state),
  });
  r = new Replica({
    name: ha.name,
    election,
    log,
    makeEngine: () => new Engine(latest, createEtcdStore({ client, guard: election, prefix, endpoints: ha.etcd.endpoints }), log),
    onLeading: (on) => server?.leading(on),
  });
  replica = r;
  server = await startServer(config, r, log, opts.listen ?? config.listen, () => r.current()?.config ?? latest);
  server.leading(false);
  r.start();
  log.info(
    { event: "ha.start", etcd: ha.etcd.endpoints, prefix, leaseTtlMs: ha.lease_ttl, advertise: ha.advertise },
    `replica ${ha.name}: campaigning through etcd ${ha.etcd.endpoints.join(",")} (${prefix}/leader, lease ${ha.lease_ttl / 1000} s)`,
  );
  if (config.metrics) {
    const metrics = new ReplicaMetrics(r, client, { security: securityView() });
    await startMetricsServer(() => metrics.registry(), config.metrics.listen, log).then(
      (m) => log.info({ event: "metrics.listening", address: m.address }, `metrics on http://${m.address}/metrics`),
      (err: Error) => log.error({ event: "metrics.error", err: err.message }, err.message),
    );
  }
} else {
  engine = new Engine(config, createFileStore(config.state_dir), log);
  await engine.start();
  server = await startServer(config, engine, log, opts.listen ?? config.listen);
}
log.info({ event: "coordinator.listening", address: server.address, version: VERSION }, `keepvip-coordinator ${VERSION} listening on ${server.address}`);
if (config.metrics && engine) {
  // Metrics are for people watching: a port clash is logged, it never stops the coordinator.
  await startMetricsServer(new CoordinatorMetrics(engine, { security: securityView() }).registry, config.metrics.listen, log).then(
    (m) => log.info({ event: "metrics.listening", address: m.address }, `metrics on http://${m.address}/metrics`),
    (err: Error) => log.error({ event: "metrics.error", err: err.message }, err.message),
  );
}
// The read-only status page (docs/status-page.md): like metrics, a port clash is logged and never stops the coordinator.
let statusPage: RunningStatusPage | undefined;
if (config.status_page) {
  const engines = replica ?? fixedEngine(engine!);
  await startStatusPage({ listen: config.status_page.listen, engines, tls: server.tls?.files, log: log.child({ component: "status-page" }) }).then(
    (p) => {
      statusPage = p;
      log.info({ event: "status_page.listening", address: p.address }, `status page on ${p.url}`);
    },
    (err: Error) => log.error({ event: "status_page.error", err: err.message }, err.message),
  );
}
// systemd (Type=notify): started once the listener is up; nothing is run outside systemd.
void notifyReady(createCommandRunner(), `listening on ${server.address}`).then(
  (o) => o.error && log.warn({ event: "systemd.notify.failed", error: o.error }, `systemd-notify failed: ${o.error}`),
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  // Agents keep what they hold while we are away (fail-static): nothing to hand over.
  log.info({ event: "coordinator.stop", signal }, "stopping");
  // A replica resigns first: a follower leads within one etcd round trip.
  await replica?.stop();
  await statusPage?.close();
  await engine?.stop();
  await server.shutdown(2000);
  process.exit(0);
}
// SIGHUP (systemctl reload): apply a changed config without a restart; an
// invalid one is rejected and the running config stays.
async function reload(): Promise<void> {
  let next;
  try {
    next = loadConfigFile(coordinatorConfigSchema, opts.config);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    log.error({ event: "config.reload.rejected", problems }, `config reload rejected, the running config stays:\n  ${problems.join("\n  ")}`);
    (engine ?? replica?.current())?.events.add({ kind: "config", message: `config reload rejected (the running config stays): ${problems.join("; ")}` });
    return;
  }
  // Replicated coordinators: the leader applies it; a follower keeps it for when it leads.
  const target = engine ?? replica?.current();
  if (!target) {
    latest = next;
    log.info({ event: "config.reload.follower" }, "config reload: valid; this replica follows and starts with it when it leads");
    return;
  }
  const r = await target.reconfigure(next);
  if (r.ok) latest = next;
  log[r.ok ? "info" : "error"]({ event: r.ok ? "config.reloaded" : "config.reload.refused", lines: r.lines }, `config reload: ${r.lines.join("; ")}`);
}
process.on("SIGHUP", () => {
  // The certificate, key and CA too: new connections get the new files, open sessions stay.
  server.tls?.files.reload("SIGHUP");
  void reload();
});
// A renewed certificate is picked up without a signal as well (certbot-style renewals, cert-manager).
server.tls?.files.watch();
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
