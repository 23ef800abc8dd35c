/**
 * How fast the coordinator answers status, sampled from the coordinator's own
 * namespace while something else floods it:
 *   ip netns exec P-coord node --import tsx test/e2e/helpers/flood-status.ts --target 198.19.0.1:7400 --duration 12000
 * One GetStatus every `interval` ms (the next waits for the last), each with
 * a `deadline`; one JSON line per call: {t, ms, code, holder, epoch}. The
 * channel is connected first and `{"ready":true}` printed, so the samples
 * measure a monitoring client's long-lived channel, not its first connect.
 * Bounded by `duration` (at most 60 s) or SIGTERM. Only lab addresses are
 * accepted. --ca, --cert and --key: mutual TLS (the lab's admin certificate).
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { Metadata } from "@grpc/grpc-js";
import { AdminClient } from "../../../shared/gen/keepvip/v1/admin.js";
import { insecureChannel, tlsChannel } from "../../../shared/tls-target.js";

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    duration: { type: "string", default: "10000" },
    interval: { type: "string", default: "100" },
    deadline: { type: "string", default: "1000" },
    ca: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
  },
});
if (!/^198\.(?:18|19)\.\d{1,3}\.\d{1,3}:\d{1,5}$/.test(values.target ?? "")) {
  process.stderr.write(`flood-status: --target must be an address of the lab (198.18.0.0/15) with a port, got "${values.target}"\n`);
  process.exit(2);
}
const until = Date.now() + Math.min(Number(values.duration), 60_000);
const intervalMs = Math.max(10, Number(values.interval));
const deadlineMs = Number(values.deadline);
let stopping = false;
process.on("SIGTERM", () => (stopping = true));

const channel =
  values.ca && values.cert && values.key
    ? tlsChannel(values.target!, { ca: readFileSync(values.ca), cert: readFileSync(values.cert), key: readFileSync(values.key) })
    : insecureChannel();
const client = new AdminClient(values.target!, channel.credentials, channel.options);
const connected = await new Promise<Error | undefined>((resolve) => client.waitForReady(Date.now() + 10_000, (err) => resolve(err ?? undefined)));
if (connected) {
  process.stderr.write(`flood-status: cannot connect to ${values.target}: ${connected.message}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
while (!stopping && Date.now() < until) {
  const t = Date.now();
  const started = performance.now();
  const line = await new Promise<Record<string, unknown>>((resolve) => {
    client.getStatus({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      if (err) return resolve({ t, ms, code: err.code, details: err.details });
      resolve({ t, ms, code: 0, holder: res?.groups[0]?.holder ?? "", epoch: res?.groups[0]?.epoch ?? 0 });
    });
  });
  process.stdout.write(`${JSON.stringify(line)}\n`);
  await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - t))));
}
client.close();
process.exit(0);
