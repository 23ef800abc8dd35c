/**
 * `npm run bench:footprint`: what each stack costs the hosts it runs on. The lab at the seed
 * timing, keepvip (agents with every feature on: track script, reach probes, upstream checks,
 * metrics; the coordinator; nginx) and then the seed's keepalived + nginx_check.sh + nginx,
 * each idle and then under the lab's 10 ms prober: RSS and CPU (% of one core) per role, read
 * from /proc once a second, side by side with keepvip/keepalived ratios. One lab at a time
 * (prefix fp); needs root and a built dist/.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import { LB_HOSTS, analyzeProbes, hostNs, labDown, labPaths, labUp, startProber, type Host } from "../lab/api.js";
import { REPO_ROOT } from "../lab/paths.js";
import { isInNamespace, readPidFile } from "../lab/procfs.js";
import { sleep, tearDownOnSignal, waitSteady } from "./cluster.js";
import {
  buildFootprintTables,
  describeProcesses,
  figure,
  parseAnonKb,
  parseRssKb,
  parseStat,
  processTree,
  renderFootprintTables,
  roleUsage,
  type FootprintRow,
  type Phase,
  type ProcStat,
  type RoleSample,
} from "./footprint-report.js";
import type { StackName } from "./report.js";
import { durationOption } from "./options.js";
import { formatDuration } from "./stats.js";

const PREFIX = "fp";
/** Linux's USER_HZ on every architecture Node runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SEC = 100;
const SAMPLE_EVERY_MS = 1000;
/** Lab up, steady state, settling, down (seconds, for the estimate). */
const OVERHEAD_SEC: Record<StackName, number> = { keepvip: 35, keepalived: 25 };

const durationMs = durationOption("2s", "1h");
const settleMs = durationOption("0s", "10m");

const program = new Command("bench:footprint")
  .description("RSS and CPU per process, keepvip vs the seed's keepalived, idle and under the 10 ms prober (needs root, a built dist/)")
  .option("--idle <duration>", "idle phase per stack", durationMs, 60_000)
  .option("--load <duration>", "phase under the prober (a request every 10 ms) per stack", durationMs, 60_000)
  .option("--settle <duration>", "wait after the steady state before measuring (start-up work out of the figures)", settleMs, 10_000)
  .addOption(new Option("--only <stack>", "run one stack only").choices(["keepvip", "keepalived"]))
  .option("--json <file>", "also write the figures as JSON")
  .parse();
const opts = program.opts<{ idle: number; load: number; settle: number; only?: StackName; json?: string }>();
const stacks: StackName[] = opts.only ? [opts.only] : ["keepvip", "keepalived"];
const started = Date.now();
const rows: FootprintRow[] = [];
const probes: Record<string, { requests: number; failed: number }> = {};
let labIsUp = false;
let failure: string | undefined;

const log = (line: string) => console.log(`[${formatDuration(Date.now() - started).padStart(10)}] ${line}`);

/** One role: the process named by a lab pid file, its helpers, minus the roles under it (nginx under the agent). */
interface RoleSpec {
  role: string;
  pidFile: [Host, string];
  exclude: Array<[Host, string]>;
}

function roleSpecs(stack: StackName): RoleSpec[] {
  const specs: RoleSpec[] = LB_HOSTS.flatMap((h): RoleSpec[] => [
    { role: `${h} HA daemon`, pidFile: [h, stack === "keepvip" ? "agent" : "keepalived"], exclude: [[h, "nginx"]] },
    { role: `${h} nginx`, pidFile: [h, "nginx"], exclude: [] },
  ]);
  if (stack === "keepvip") specs.push({ role: "coordinator", pidFile: ["coord", "coordinator"], exclude: [] });
  return specs;
}

function labPid(host: Host, name: string): number {
  const pid = readPidFile(labPaths(PREFIX).pidFile(host, name));
  if (pid === undefined || !isInNamespace(pid, hostNs(PREFIX, host))) throw new Error(`${host} ${name} is not running in lab ${PREFIX}`);
  return pid;
}

function readProcTable(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = parseStat(readFileSync(`/proc/${entry}/stat`, "utf8"));
      if (s) out.push(s);
    } catch {
      // Gone between readdir and read.
    }
  }
  return out;
}

function memKb(pid: number): { rssKb: number; anonKb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return { rssKb: parseRssKb(status) ?? 0, anonKb: parseAnonKb(status) };
  } catch {
    return { rssKb: 0, anonKb: 0 };
  }
}

/** Samples every role once a second for `ms`; a progress line every 15 s. */
async function measure(stack: StackName, phase: Phase, ms: number): Promise<void> {
  const specs = roleSpecs(stack).map((s) => ({ ...s, root: labPid(...s.pidFile), skip: s.exclude.map((e) => labPid(...e)) }));
  const samples = new Map<string, RoleSample[]>(specs.map((s) => [s.role, []]));
  const comms = new Map<string, string[]>();
  const t0 = performance.now();
  let nextProgress = 15_000;
  for (let i = 0; i <= Math.ceil(ms / SAMPLE_EVERY_MS) + 1; i++) {
    const now = performance.now();
    const table = readProcTable();
    const byPid = new Map(table.map((p) => [p.pid, p]));
    for (const s of specs) {
      const tree = processTree(table, s.root, s.skip);
      if (tree.length === 0) throw new Error(`${stack} ${s.role} (pid ${s.root}) ended during the ${phase} phase`);
      samples.get(s.role)!.push({ t: now, pids: tree.map((pid) => ({ pid, ticks: byPid.get(pid)?.ticks ?? 0, ...memKb(pid) })) });
      comms.set(
        s.role,
        tree.map((pid) => byPid.get(pid)?.comm ?? "?"),
      );
    }
    if (now - t0 >= ms) break;
    if (now - t0 >= nextProgress) {
      nextProgress += 15_000;
      const daemons = specs.filter((s) => s.role.endsWith("HA daemon"));
      const so = daemons.map((s) => {
        const u = roleUsage(samples.get(s.role)!, CLOCK_TICKS_PER_SEC);
        return `${s.role.split(" ")[0]} ${figure(u?.rssMb)} MB ${figure(u?.cpuPct)} %`;
      });
      log(`${stack} ${phase} ${formatDuration(now - t0)} of ${formatDuration(ms)}: ${so.join(", ")}`);
    }
    await sleep(Math.max(0, t0 + (i + 1) * SAMPLE_EVERY_MS - performance.now()));
  }
  for (const s of specs) {
    const usage = roleUsage(samples.get(s.role)!, CLOCK_TICKS_PER_SEC);
    if (!usage) throw new Error(`${stack} ${s.role}: too few samples in the ${phase} phase`);
    rows.push({ stack, role: s.role, what: describeProcesses(comms.get(s.role) ?? []), phase, usage });
    log(
      `${stack} ${phase.padEnd(4)} ${s.role.padEnd(14)} RSS ${figure(usage.rssMb).padStart(5)} MB (max ${figure(usage.rssMaxMb)}, anonymous ${figure(usage.anonMb)}), CPU ${figure(usage.cpuPct)} % of a core`,
    );
  }
}

async function teardown(): Promise<void> {
  if (!labIsUp) return;
  labIsUp = false;
  await labDown(PREFIX).catch((e: unknown) => console.error(`lab down ${PREFIX} failed: ${String(e)}`));
}

async function runStack(stack: StackName): Promise<void> {
  await labDown(PREFIX);
  labIsUp = true;
  const up = await labUp({ prefix: PREFIX, stack, timing: "seed" });
  log(`${stack}: lab ${PREFIX} up in ${up.ms} ms`);
  await waitSteady(stack, PREFIX);
  log(`${stack}: settling ${formatDuration(opts.settle)}`);
  await sleep(opts.settle);
  log(`${stack}: idle for ${formatDuration(opts.idle)}`);
  await measure(stack, "idle", opts.idle);
  const prober = startProber(PREFIX, { intervalMs: 10, timeoutMs: 200, durationMs: opts.load + 30_000 });
  await prober.ready;
  log(`${stack}: under the prober (a request every 10 ms) for ${formatDuration(opts.load)}`);
  await measure(stack, "load", opts.load);
  const summary = analyzeProbes(await prober.stop());
  probes[stack] = { requests: summary.total, failed: summary.failed };
  log(`${stack}: prober sent ${summary.total} requests, ${summary.failed} failed`);
  await teardown();
}

tearDownOnSignal(teardown);
process.chdir(REPO_ROOT);
const estimate = stacks.reduce((t, s) => t + OVERHEAD_SEC[s] * 1000 + opts.settle + opts.idle + opts.load, 0);
log(
  `bench:footprint: ${stacks.join(" then ")}, seed timing, ${formatDuration(opts.idle)} idle and ${formatDuration(opts.load)} under load each; estimated ${formatDuration(estimate)}`,
);
try {
  for (const stack of stacks) await runStack(stack);
} catch (err) {
  failure = (err as Error).message;
  process.exitCode = 1;
} finally {
  await teardown();
}
const labels: Record<Phase, string> = {
  idle: `Idle, ${formatDuration(opts.idle)} (RSS: mean of the samples; CPU: % of one core)`,
  load: `Under the prober, ${formatDuration(opts.load)}: GET VIP:10016/aaa every 10 ms on a new connection (${Object.entries(probes)
    .map(([s, p]) => `${s}: ${p.requests} requests, ${p.failed} failed`)
    .join("; ")})`,
};
console.log(`\n${renderFootprintTables(buildFootprintTables(rows, labels))}`);
console.log(
  [
    "\nNotes:",
    "  HA daemon: keepvip-agent (node) with the helpers it keeps running (ip monitor), or keepalived's two processes;",
    "     CPU includes the children each reaped (track scripts, ip, arping), nginx is a row of its own.",
    "  nginx: the master and its worker. The coordinator has no keepalived counterpart (one per cluster, not per host).",
  ].join("\n"),
);
if (failure) console.error(`\nbench:footprint FAILED: ${failure}\n(the lab was torn down; logs stay in ${labPaths(PREFIX).logs})`);
log("done");
if (opts.json) {
  writeFileSync(opts.json, `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: opts, failure, probes, rows }, null, 2)}\n`);
  console.log(`raw results: ${opts.json}`);
}
