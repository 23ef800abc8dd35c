#!/usr/bin/env node
/**
 * keepvip-coordinator --config FILE [--check]
 * Wires config, state store, engine and gRPC server; handles signals.
 */
import { Command } from "commander";
import { coordinatorConfigSchema } from "../shared/config/coordinator.js";
import { ConfigError, loadConfigFile, loadConfigOrExit } from "../shared/config/load.js";
import { createLogger } from "../shared/log.js";
import { VERSION } from "../shared/version.js";
import { Engine } from "./cluster/engine.js";
import { startServer } from "./grpc/server.js";
import { createFileStore } from "./state/store.js";
import { CoordinatorMetrics } from "./metrics.js";
import { createCommandRunner } from "../shared/exec/runner.js";
import { startMetricsServer } from "../shared/metrics-server.js";
import { notifyReady } from "../shared/systemd.js";

const program = new Command()
  .name("keepvip-coordinator")
  .description("keepvip coordinator: elects VIP holders and pushes upstreams to the agents")
  .version(VERSION)
  .requiredOption("-c, --config <file>", "cluster config (YAML)")
  .option("--check", "validate the config and exit (like keepalived -t)")
  .option("--listen <host:port>", "override the config's listen address")
  .parse();

const opts = program.opts<{ config: string; check?: boolean; listen?: string }>();

const config = loadConfigOrExit(coordinatorConfigSchema, opts.config);
if (opts.check) {
  process.stdout.write(
    `${opts.config}: OK — ${config.groups.length} group(s), ${config.sync_groups.length} sync group(s), ${config.upstreams.length} upstream(s)\n`,
  );
  process.exit(0);
}

const log = createLogger({ service: "keepvip-coordinator" });
if (config.insecure && !config.tls)
  log.warn({ event: "security.insecure" }, "INSECURE: no TLS, any host that reaches the listener can act as an agent or an admin");
const engine = new Engine(config, createFileStore(config.state_dir), log);
await engine.start();
const server = await startServer(config, engine, log, opts.listen ?? config.listen);
log.info({ event: "coordinator.listening", address: server.address, version: VERSION }, `keepvip-coordinator ${VERSION} listening on ${server.address}`);
if (config.metrics) {
  // Metrics are for people watching: a port clash is logged, it never stops the coordinator.
  await startMetricsServer(new CoordinatorMetrics(engine).registry, config.metrics.listen, log).then(
    (m) => log.info({ event: "metrics.listening", address: m.address }, `metrics on http://${m.address}/metrics`),
    (err: Error) => log.error({ event: "metrics.error", err: err.message }, err.message),
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
  await engine.stop();
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
    engine.events.add({ kind: "config", message: `config reload rejected (the running config stays): ${problems.join("; ")}` });
    return;
  }
  const r = await engine.reconfigure(next);
  log[r.ok ? "info" : "error"]({ event: r.ok ? "config.reloaded" : "config.reload.refused", lines: r.lines }, `config reload: ${r.lines.join("; ")}`);
}
process.on("SIGHUP", () => void reload());
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
