/**
 * `npm run bench:floor`: what an idle backup agent's unavoidable events cost at the seed
 * timing on this machine, before any feature does work (floor-report.ts): each event stream
 * alone in a process started with the agent's V8 flags (floor-child.ts), against a TCP
 * listener and a coordinator stand-in (mTLS, the real Agent service, a beat every 250 ms) in
 * this process, all on 127.0.0.1. Read beside `bench:footprint`: the agent's idle CPU there,
 * keepalived's, and here how much of the agent's is the floor of its own design.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { Command } from "commander";
import { build } from "esbuild";
import { AGENT_NODE_FLAGS } from "../../shared/node-flags.js";
import { AgentService, type AgentMessage, type CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import { REPO_ROOT } from "../lab/paths.js";
import { CLI_BIN } from "./scale-procs.js";
import { FLOOR_VARIANTS, floorRows, renderFloor, type FloorSample } from "./floor-report.js";
import { durationOption, wholeNumberOption } from "./options.js";
import { formatDuration } from "./stats.js";

/** The agent's idle target (docs/benchmarks.md): 0.5 % of one core. */
const TARGET_PERCENT = 0.5;
const BEAT_EVERY_MS = 250;

const durationMs = durationOption("2s", "10m");

const runCount = wholeNumberOption(1, 20);

const opts = new Command("bench:floor")
  .description("the CPU of an idle agent's unavoidable events at the seed timing, each alone, with the agent's V8 flags (needs a built dist/)")
  .option("--window <duration>", "measured window per process", durationMs, 20_000)
  .option("--settle <duration>", "wait after a process starts before measuring (its start-up work out of the figures)", durationMs, 15_000)
  .option("--runs <n>", "processes per variant, one after the other", runCount, 2)
  .option("--node-flags <flags>", "the children's V8 flags instead of the agent's (space-separated; \"\" for none)")
  .option("--json <file>", "also write the figures as JSON")
  .parse()
  .opts<{ window: number; settle: number; runs: number; nodeFlags?: string; json?: string }>();
const nodeFlags = opts.nodeFlags === undefined ? AGENT_NODE_FLAGS : opts.nodeFlags.split(" ").filter((f) => f !== "");

const started = Date.now();
const log = (line: string) => console.log(`[${formatDuration(Date.now() - started).padStart(10)}] ${line}`);

// The PKI: `keepvip certs`, as the lab makes it (a CA, a coordinator certificate for 127.0.0.1, one agent's).
const pki = mkdtempSync(join(tmpdir(), "keepvip-floor-"));
process.on("exit", () => rmSync(pki, { recursive: true, force: true }));
for (const args of [["init"], ["issue-coordinator", "--san", "127.0.0.1"], ["issue-agent", "lb1"]])
  execFileSync(process.execPath, [CLI_BIN, "certs", ...args, "--dir", pki, "--force"], { stdio: "pipe" });

// The child as the agent ships: one minified bundle (a TypeScript loader would add its own work).
const childBin = join(pki, "floor-child.mjs");
await build({
  entryPoints: [join(REPO_ROOT, "deploy/bench/floor-child.ts")],
  outfile: childBin,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  banner: { js: 'import { createRequire as __keepvipRequire } from "node:module"; const require = __keepvipRequire(import.meta.url);' },
  external: ["@grpc/proto-loader"],
  logLevel: "warning",
});

// What the probe connects to: accepts and lets the connection go, like nginx's listener for a bare connect.
const sockets = new Set<Socket>();
const listener = createServer((s) => {
  sockets.add(s);
  s.on("error", () => undefined);
  s.on("close", () => sockets.delete(s));
  s.resume();
});
await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
const probePort = (listener.address() as AddressInfo).port;

// The coordinator stand-in: takes every session and beats on it, as a coordinator does once welcomed.
const server = new Server();
const beats = new Set<NodeJS.Timeout>();
server.addService(AgentService, {
  session: (call: ServerDuplexStream<AgentMessage, CoordinatorMessage>) => {
    call.on("data", () => undefined);
    call.on("error", () => undefined);
    const message: CoordinatorMessage = { body: { $case: "beat", value: { term: 1 } } };
    const beat = setInterval(() => call.write(message), BEAT_EVERY_MS);
    beats.add(beat);
    call.on("close", () => {
      clearInterval(beat);
      beats.delete(beat);
    });
  },
});
const read = (name: string) => readFileSync(join(pki, name));
const grpcPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync(
    "127.0.0.1:0",
    ServerCredentials.createSsl(read("ca.crt"), [{ private_key: read("coordinator.key"), cert_chain: read("coordinator.crt") }], true),
    (err, port) => (err ? reject(err) : resolve(port)),
  ),
);

/** One child process of `variant`: its JSON line, or an error with what it printed. */
function runChild(variant: string): Promise<FloorSample> {
  const args = [...nodeFlags, childBin, variant, String(probePort), String(grpcPort), pki, String(opts.settle), String(opts.window)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const limit = setTimeout(() => child.kill("SIGKILL"), opts.settle + opts.window + 30_000);
    child.on("close", (code) => {
      clearTimeout(limit);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as FloorSample);
      } catch (e) {
        reject(new Error(`floor child ${variant} failed (${(e as Error).message}): ${(err || out).trim().slice(-500)}`));
      }
    });
  });
}

const samples: FloorSample[] = [];
try {
  const total = FLOOR_VARIANTS.length * opts.runs * (opts.settle + opts.window + 1000);
  log(
    `node ${nodeFlags.join(" ")}: ${FLOOR_VARIANTS.length} variants × ${opts.runs} runs, ${formatDuration(opts.window)} windows: about ${formatDuration(total)}`,
  );
  for (let run = 1; run <= opts.runs; run += 1)
    for (const variant of FLOOR_VARIANTS) {
      const s = await runChild(variant);
      samples.push(s);
      log(`run ${run}, ${variant}: ${(((s.userUs + s.systemUs) / 1000 / s.elapsedMs) * 100).toFixed(3)} % of a core`);
    }
  const rows = floorRows(samples);
  console.log(`\nAn idle backup agent's unavoidable events at the seed timing, each alone (mean of ${opts.runs} runs, ${formatDuration(opts.window)} each):`);
  console.log(renderFloor(rows, TARGET_PERCENT));
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: opts, samples, rows }, null, 2)}\n`);
} finally {
  for (const b of beats) clearInterval(b);
  server.forceShutdown();
  for (const s of sockets) s.destroy();
  listener.close();
}
