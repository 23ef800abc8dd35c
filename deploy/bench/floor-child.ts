/**
 * One process of `bench:floor` (floor.ts starts it with the agent's V8 flags): does one of
 * the idle agent's unavoidable event streams at the seed timing with the agent's own code,
 * nothing else, and prints its CPU over the window as one JSON line.
 *
 *   floor-child.ts VARIANT PROBE_PORT GRPC_PORT PKI_DIR SETTLE_MS WINDOW_MS
 *
 * Variants: bare (loaded, nothing scheduled), wheel (the timer wheel's 100 ms loop, empty),
 * probe (that loop's TCP connect, the backup's probe through the VIP), session (an mTLS gRPC
 * session: a report every 200 ms out, the coordinator's beats in), both (probe and session).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { nextRunDelay, sharedWheel } from "../../shared/timer-wheel.js";
import { probeService } from "../../agent/probe/service.js";
import { tlsChannel } from "../../shared/tls-target.js";
import { AgentClient, type AgentMessage } from "../../shared/gen/keepvip/v1/agent.js";
import { floorReport, type FloorVariant } from "./floor-report.js";

const [variant, probePort, grpcPort, pki, settleMs, windowMs] = process.argv.slice(2) as [FloorVariant, string, string, string, string, string];
const counts = { wakeups: 0, probes: 0, reports: 0, beats: 0 };

/** A loop on the shared wheel's grid, as the agent's periodic loops run. */
function every(intervalMs: number, fn: () => Promise<void> | void): void {
  const loop = async (): Promise<void> => {
    const began = sharedWheel.now();
    counts.wakeups += 1;
    await fn();
    sharedWheel.setTimeout(() => void loop(), nextRunDelay(sharedWheel.now(), began, intervalMs));
  };
  sharedWheel.setTimeout(() => void loop(), nextRunDelay(sharedWheel.now(), sharedWheel.now(), intervalMs));
}

if (variant !== "bare") {
  const probe = variant === "probe" || variant === "both";
  every(100, async () => {
    if (!probe) return;
    // The backup's probe through the VIP: a TCP connect, bounded like the agent's (200 ms).
    const r = await probeService({ host: "127.0.0.1", port: Number(probePort), timeoutMs: 200 });
    if (r.ok) counts.probes += 1;
  });
}

if (variant === "session" || variant === "both") {
  const address = `127.0.0.1:${grpcPort}`;
  const read = (name: string) => readFileSync(join(pki, name));
  const channel = tlsChannel(address, { ca: read("ca.crt"), cert: read("agent-lb1.crt"), key: read("agent-lb1.key") });
  const client = new AgentClient(address, channel.credentials, channel.options);
  const stream = client.session();
  stream.on("data", () => {
    counts.beats += 1;
  });
  stream.on("error", (err) => {
    console.error(`session: ${err.message}`);
    process.exit(1);
  });
  let seq = 0;
  every(200, () => {
    seq += 1;
    const report: AgentMessage = { body: { $case: "report", value: { ...floorReport(), seq } } };
    stream.write(report);
    counts.reports += 1;
  });
}

setTimeout(() => {
  const before = process.cpuUsage();
  const since = performance.now();
  const start = { ...counts };
  setTimeout(() => {
    const used = process.cpuUsage(before);
    const elapsedMs = performance.now() - since;
    const delta = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - start[k as keyof typeof counts]]));
    process.stdout.write(`${JSON.stringify({ variant, userUs: used.user, systemUs: used.system, elapsedMs, ...delta })}\n`);
    process.exit(0);
  }, Number(windowMs));
}, Number(settleMs));
