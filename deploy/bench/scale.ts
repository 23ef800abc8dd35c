/**
 * `npm run bench:scale [-- --agents 10,100,1000,5000 --heartbeat 200ms --json FILE]`: how the
 * coordinator's cost grows with the number of agents. Simulated agents (scale-fleet.ts, one
 * group per pair, each holding nothing at first) talk real gRPC on loopback to a real
 * coordinator process (dist/), insecure; then the same against a replicated coordinator on a
 * local one-member etcd, where every move also pays an etcd write. Per agent count:
 *
 * 1. the startup storm: every agent says hello at once; how long until each group has one
 *    holder and all is quiet, and how many acquire/release commands that took (one acquire per
 *    group is what the election needs);
 * 2. a steady window: the coordinator's CPU and RSS, the reports sent per second, GetStatus
 *    over gRPC once a second, and `keepvip status --json` as a process STATUS_CLI_RUNS times;
 * 3. takeovers: a holder's stream destroyed, the backup verifies (answered "free" at once)
 *    and acquires; the time from the destroy to the acquire is the decision;
 * 4. the reconnect storm: the coordinator restarts (SIGTERM, started again on the same state)
 *    and every agent reconnects claiming what it holds: the settle time, and the commands
 *    sent (none is needed: every holder is adopted).
 *
 * Loopback only; every process is started, kept by pid and stopped here.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { stringify } from "yaml";
import { parseDuration } from "../../shared/config/duration.js";
import { sleep, waitUntil } from "./cluster.js";
import type { FleetSnapshot, SimAgentSpec, TakeoverTiming } from "./scale-fleet.js";
import { CLI_BIN, CoordinatorProcess, DIST, ETCD_BIN, FleetProcess, cpuTicks, freePort, rssBytes, startEtcd, stopChild } from "./scale-procs.js";
import { cpuPercent, markdownTable, quantile, renderCurve, renderTable, type ScaleRow, type StormFigures } from "./scale-report.js";
import { wholeNumberOption } from "./options.js";
import { formatDuration } from "./stats.js";

function counts(value: string): number[] {
  if (value === "none") return [];
  const xs = value.split(",").map((v) => Number(v.trim()));
  if (xs.some((n) => !Number.isInteger(n) || n < 2 || n > 20_000 || n % 2 !== 0))
    throw new InvalidArgumentError(`must be even agent counts 2..20000, comma-separated (or "none"), got "${value}"`);
  return xs;
}

function ms(value: string): number {
  const r = parseDuration(value);
  if (!r.ok) throw new InvalidArgumentError(r.error.message);
  return r.value;
}

const whole = wholeNumberOption(0, 10_000);

const program = new Command("bench:scale")
  .description("the coordinator's cost with many simulated agents over real gRPC on loopback (needs a built dist/)")
  .option("--agents <list>", "agent counts for the single coordinator (even; one group per pair)", counts, [10, 100, 1000, 5000])
  .option("--replicated <list>", 'agent counts for the replicated coordinator on a local etcd ("none": skip)', counts, [10, 100, 1000])
  .option("--heartbeat <duration>", "the agents' report interval (the coordinator's heartbeat_interval)", ms, 200)
  .option("--window <duration>", "the steady window CPU, RSS and reports are measured over", ms, 10_000)
  .option("--takeovers <n>", "takeovers per agent count", whole, 20)
  .option("--per-connection <n>", "simulated agents per TCP connection (1: one each, like real agents)", whole, 1)
  .option("--fleets <n>", "processes the simulated agents run in (default: 1 below 2000 agents, else 2)", whole)
  .option("--json <file>", "also write the figures as JSON")
  .option("--markdown", "also print the table as Markdown")
  .option("--keep", "keep the work dir (configs, coordinator and etcd logs) after the run")
  .option("--cpu-prof <dir>", "run the coordinator with node --cpu-prof, its profiles written to this directory")
  .parse();
const opts = program.opts<{
  agents: number[];
  replicated: number[];
  heartbeat: number;
  window: number;
  takeovers: number;
  perConnection: number;
  fleets?: number;
  json?: string;
  markdown?: boolean;
  cpuProf?: string;
  keep?: boolean;
}>();

const started = Date.now();
const log = (line: string) => console.log(`[${formatDuration(Date.now() - started).padStart(10)}] ${line}`);
/** How long a storm may take before it counts as never settling. */
const STORM_LIMIT_MS = 120_000;
/** A storm has settled once all is in place and no command came for this long. */
const QUIET_MS = 1000;

const work = mkdtempSync(join(tmpdir(), "keepvip-scale-"));
const cleanups: Array<() => Promise<void>> = [];
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping what this benchmark started`);
    void cleanupAll().then(() => process.exit(130));
  });

async function cleanupAll(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
}

interface Layout {
  specs: SimAgentSpec[];
  groups: Array<{ name: string; vip: string; members: [string, string] }>;
}

/** N agents, one group per pair: gNNNNN with nodes nA (priority 100) and nB (90), a /32 VIP each. */
function layout(agents: number): Layout {
  const groups: Layout["groups"] = [];
  const specs: SimAgentSpec[] = [];
  for (let i = 0; i < agents / 2; i++) {
    const name = `g${String(i).padStart(5, "0")}`;
    const vip = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    const members: [string, string] = [`n${String(2 * i).padStart(5, "0")}`, `n${String(2 * i + 1).padStart(5, "0")}`];
    groups.push({ name, vip, members });
    for (const node of members) specs.push({ node, group: name, vip, holds: false });
  }
  return { specs, groups };
}

function configYaml(l: Layout, listen: string, stateDir: string, ha?: { endpoint: string; prefix: string }): string {
  return stringify({
    listen,
    state_dir: stateDir,
    insecure: true,
    timing: { heartbeat_interval: `${opts.heartbeat}ms` },
    groups: l.groups.map((g) => ({
      name: g.name,
      vips: [g.vip],
      service: { port: 80 },
      // Without preempt a destroyed holder that comes back stays the backup: takeovers do not pile up moves.
      preempt: false,
      members: [
        { node: g.members[0], priority: 100 },
        { node: g.members[1], priority: 90 },
      ],
    })),
    ...(ha ? { ha: { etcd: { endpoints: [ha.endpoint] }, prefix: ha.prefix, lease_ttl: "2s", name: "r1", advertise: listen } } : {}),
  });
}

async function snapshots(fleets: FleetProcess[]): Promise<FleetSnapshot[]> {
  return Promise.all(fleets.map((f) => f.snapshot()));
}

/** Waits until every fleet has settled (since `fromMs`) and stayed quiet; the storm's figures. */
async function settle(fleets: FleetProcess[], fromMs: number): Promise<StormFigures> {
  let last: FleetSnapshot[] = [];
  const settled = await waitUntil(
    async () => {
      last = await snapshots(fleets);
      if (last.some((s) => s.settledSinceMs < fromMs)) return false;
      const calm = Math.max(...last.map((s) => Math.max(s.settledSinceMs, s.lastCommandAtMs)));
      return Date.now() - calm >= QUIET_MS;
    },
    STORM_LIMIT_MS,
    100,
  );
  const sum = (f: (s: FleetSnapshot) => number) => last.reduce((n, s) => n + f(s), 0);
  const calm = Math.max(...last.map((s) => Math.max(s.settledSinceMs, s.lastCommandAtMs)));
  return { settleMs: settled ? calm - fromMs : null, acquires: sum((s) => s.acquires), releases: sum((s) => s.releases) };
}

/** Runs of `keepvip status --json` per row (one after the other): one run alone says little on a loaded machine. */
const STATUS_CLI_RUNS = 5;

/** `keepvip status --json` STATUS_CLI_RUNS times: what each that printed a status took. */
async function statusCliRuns(address: string): Promise<ScaleRow["statusCli"]> {
  const took: number[] = [];
  for (let i = 0; i < STATUS_CLI_RUNS; i++) {
    const ms = await statusCli(address);
    if (ms !== null) took.push(ms);
  }
  return { n: STATUS_CLI_RUNS, failed: STATUS_CLI_RUNS - took.length, p50: quantile(took, 0.5), max: quantile(took, 1) };
}

function statusCli(address: string): Promise<number | null> {
  const t0 = performance.now();
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [CLI_BIN, "--coordinator", address, "--insecure", "status", "--json"],
      { timeout: 30_000, maxBuffer: 256 * 1024 * 1024 },
      (err, out) => {
        if (err) return resolve(null);
        try {
          JSON.parse(out);
          resolve(performance.now() - t0);
        } catch {
          resolve(null);
        }
      },
    ),
  );
}

async function runOne(kind: ScaleRow["coordinator"], agents: number, etcd?: string): Promise<ScaleRow> {
  const tag = `${kind} ${agents} agents`;
  const l = layout(agents);
  const dir = mkdtempSync(join(work, `${kind}-${agents}-`));
  const address = `127.0.0.1:${await freePort()}`;
  const configFile = join(dir, "coordinator.yaml");
  writeFileSync(
    configFile,
    configYaml(l, address, join(dir, "state"), etcd ? { endpoint: etcd, prefix: `/keepvip/bench/${agents}-${Date.now()}` } : undefined),
  );
  const logFile = join(dir, "coordinator.log");
  const nodeArgs = opts.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProf}`] : [];
  let coord = new CoordinatorProcess(address, configFile, logFile, nodeArgs);
  const stopCoord = async () => coord.stop();
  cleanups.push(stopCoord);
  await coord.ready(30_000);

  const nFleets = Math.max(1, opts.fleets ?? (agents >= 2000 ? 2 : 1));
  const fleets = Array.from({ length: nFleets }, () => new FleetProcess());
  const stopFleets = async () => void (await Promise.all(fleets.map((f) => f.stop())));
  cleanups.push(stopFleets);
  // A group's two agents stay in one fleet: a takeover is timed on one clock.
  const groupFleet = (i: number) => i % nFleets;
  await Promise.all(
    fleets.map((f, k) =>
      f.request({
        op: "init",
        specs: l.specs.filter((_, j) => groupFleet(Math.floor(j / 2)) === k),
        options: { target: address, heartbeatMs: opts.heartbeat, perConnection: Math.max(1, opts.perConnection) },
      }),
    ),
  );

  // 1. The startup storm.
  const stormAt = Date.now();
  await Promise.all(fleets.map((f) => f.request({ op: "start" })));
  const startup = await settle(fleets, stormAt);
  log(
    `${tag}: startup storm ${startup.settleMs === null ? "never settled" : `settled in ${(startup.settleMs / 1000).toFixed(1)} s`}, ${startup.acquires} acquire / ${startup.releases} release (${l.groups.length} groups)`,
  );

  // 2. The steady window.
  await Promise.all(fleets.map((f) => f.request({ op: "reset" })));
  const ticks0 = cpuTicks(coord.pid) ?? 0;
  const t0 = Date.now();
  const statusMs: number[] = [];
  for (let i = 0; Date.now() - t0 < opts.window && i < 10_000; i++) {
    const tick = Date.now();
    statusMs.push(await coord.status(10_000).then((r) => r.ms));
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  const windowMs = Date.now() - t0;
  const ticks = (cpuTicks(coord.pid) ?? ticks0) - ticks0;
  const rss = rssBytes(coord.pid) ?? 0;
  const steady = await snapshots(fleets);
  const cpu = cpuPercent(ticks, 100, windowMs);
  const reportsPerSecond = (steady.reduce((n, s) => n + s.reportsSent, 0) * 1000) / windowMs;
  const fleetCpu = steady.map((s) => (s.cpuMicros / 1000 / windowMs) * 100);
  const statusCli = await statusCliRuns(address);
  log(
    `${tag}: coordinator ${cpu.toFixed(1)} % CPU, ${(rss / 1e6).toFixed(0)} MB, ${Math.round(reportsPerSecond)} reports/s; GetStatus p50 ${quantile(statusMs, 0.5)?.toFixed(1)} ms; status --json p50 ${statusCli.p50?.toFixed(0) ?? "-"} / max ${statusCli.max?.toFixed(0) ?? "-"} ms${statusCli.failed > 0 ? ` (${statusCli.failed} of ${statusCli.n} failed)` : ""}; simulated agents ${fleetCpu.map((c) => c.toFixed(0)).join(" + ")} % CPU`,
  );

  // 3. Takeovers, one at a time, each on another group.
  const timings: TakeoverTiming[] = [];
  let failed = 0;
  const step = Math.max(1, Math.floor(l.groups.length / Math.max(1, opts.takeovers)));
  for (let t = 0; t < Math.min(opts.takeovers, l.groups.length); t++) {
    const gi = (t * step) % l.groups.length;
    const fleet = fleets[groupFleet(gi)];
    const group = l.groups[gi].name;
    const r = await fleet.request<TakeoverTiming | { group: string; error: string }>({ op: "takeover", group, timeoutMs: 10_000 });
    if ("error" in r) {
      failed++;
      log(`${tag}: takeover of ${group} failed: ${r.error}`);
    } else timings.push(r);
    await fleet.request({ op: "revive", group });
  }
  const acq = timings.map((t) => t.acquireMs);
  const takeover = {
    n: timings.length,
    failed,
    verifyP50: quantile(
      timings.map((t) => t.verifyMs),
      0.5,
    ),
    p50: quantile(acq, 0.5),
    p99: quantile(acq, 0.99),
    max: quantile(acq, 1),
  };
  log(
    `${tag}: ${timings.length} takeovers, decision p50 ${takeover.p50?.toFixed(1)} ms, p99 ${takeover.p99?.toFixed(1)} ms${failed ? `, ${failed} failed` : ""}`,
  );

  // 4. The reconnect storm: the revived agents back in session first, then a coordinator restart.
  await settle(fleets, 0);
  await Promise.all(fleets.map((f) => f.request({ op: "reset" })));
  const restartAt = Date.now();
  await coord.stop();
  coord = new CoordinatorProcess(address, configFile, logFile, nodeArgs);
  const reconnect = await settle(fleets, restartAt);
  log(
    `${tag}: reconnect storm after a coordinator restart ${reconnect.settleMs === null ? "never settled" : `settled in ${(reconnect.settleMs / 1000).toFixed(1)} s`}, ${reconnect.acquires} acquire / ${reconnect.releases} release`,
  );

  await stopFleets();
  await stopCoord();
  cleanups.splice(cleanups.indexOf(stopFleets), 1);
  cleanups.splice(cleanups.indexOf(stopCoord), 1);
  return {
    coordinator: kind,
    agents,
    groups: l.groups.length,
    heartbeatMs: opts.heartbeat,
    cpuPercent: cpu,
    rssMb: rss / 1e6,
    reportsPerSecond,
    fleetCpuPercent: fleetCpu,
    takeover,
    statusRpc: { n: statusMs.length, p50: quantile(statusMs, 0.5), max: quantile(statusMs, 1) },
    statusCli,
    startup,
    reconnect,
  };
}

async function main(): Promise<void> {
  if (!existsSync(join(DIST, "deploy/bench/scale-sim.js"))) throw new Error("dist/ is not built: npm run build");
  if (opts.replicated.length > 0 && !existsSync(ETCD_BIN))
    throw new Error(`${ETCD_BIN} not found (bash deploy/ensure-deps.sh installs etcd-server), or pass --replicated none`);
  log(
    `bench:scale: single ${opts.agents.join(",") || "-"}, replicated ${opts.replicated.join(",") || "-"} agents; heartbeat ${opts.heartbeat} ms, window ${opts.window / 1000} s, ${opts.takeovers} takeovers; ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}); work dir ${work}`,
  );
  const rows: ScaleRow[] = [];
  for (const n of opts.agents) rows.push(await runOne("single", n));
  if (opts.replicated.length > 0) {
    const etcd = await startEtcd(join(work, "etcd"), join(work, "etcd.log"));
    const stopEtcd = () => stopChild(etcd.child);
    cleanups.push(stopEtcd);
    log(`etcd on ${etcd.endpoint} (data dir ${join(work, "etcd")})`);
    for (const n of opts.replicated) rows.push(await runOne("replicated", n, etcd.endpoint));
  }
  await cleanupAll();

  console.log(`\nbench:scale — heartbeat ${opts.heartbeat} ms, one group per pair of agents, ${opts.takeovers} takeovers per row`);
  console.log(renderTable(rows));
  console.log("storms: time until every group has one holder and all is quiet for 1 s, and the acquire/release commands sent");
  console.log("(the startup storm needs one acquire per group; the reconnect storm after a coordinator restart needs none)\n");
  console.log(renderCurve("coordinator CPU, % of one core", rows, (r) => r.cpuPercent, "%"));
  console.log(renderCurve("\ntakeover decision p99", rows, (r) => r.takeover.p99, "ms"));
  console.log(renderCurve("\nstartup storm settle", rows, (r) => r.startup.settleMs, "ms"));
  if (opts.markdown) console.log(`\n${markdownTable(rows)}`);
  if (opts.json) {
    writeFileSync(
      opts.json,
      `${JSON.stringify({ heartbeatMs: opts.heartbeat, windowMs: opts.window, takeovers: opts.takeovers, cores: availableParallelism(), rows }, null, 2)}\n`,
    );
    log(`figures written to ${opts.json}`);
  }
  log(`done in ${formatDuration(Date.now() - started)}`);
}

main()
  .then(() => (opts.keep ? log(`work dir kept: ${work}`) : rmSync(work, { recursive: true, force: true })))
  .catch(async (err: unknown) => {
    if (interrupted) return; // the signal handler stops everything and exits
    console.error(`bench:scale: ${(err as Error).message}`);
    console.error(`logs kept in ${work}`);
    await cleanupAll();
    process.exit(1);
  });
