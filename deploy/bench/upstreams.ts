/**
 * `npm run bench:upstreams`: a backend fault as clients see it through the VIP, with keepvip's
 * active checks and pushed upstreams vs plain nginx with the seed's passive settings
 * (max_fails 3, fail_timeout 30s, proxy_connect_timeout 3s, no active checks) — the seed's
 * keepalived + nginx pair — side by side in one run:
 *   F9  backend b1 SIGKILLed (connections refused at once)
 *   F10 backend b1 blackholed (its switch port detached: connects stall)
 * each with a patient client (10 s timeout) and an impatient one (200 ms), one request every
 * 10 ms on a new connection. Every drill starts from a fresh state: b1 back and nginx's
 * passive failure counters reset (keepvip: the push that re-adds b1 reloads nginx; plain
 * nginx: a graceful reload, SIGHUP to the lab's own master). One lab at a time (kvbu, then
 * kvku); needs root and a built dist/.
 */
import { readFileSync, writeFileSync } from "node:fs";
import Table from "cli-table3";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  LB_HOSTS,
  heal,
  hostNs,
  killProcess,
  labDown,
  labPaths,
  labUp,
  partition,
  startProber,
  startProcess,
  vipHolders,
  type ProbeRecord,
} from "../lab/api.js";
import { REPO_ROOT } from "../lab/paths.js";
import { isInNamespace, readPidFile } from "../lab/procfs.js";
import { parseDuration } from "../../shared/config/duration.js";
import { isRunning, mustWait, sleep, waitSteady, withDeadline, tearDownOnSignal } from "./cluster.js";
import { STALL_MS, faultFigures, ratio, type FaultFigures } from "./latency.js";
import { formatDuration } from "./stats.js";

type StackName = "keepvip" | "keepalived";
type Fault = "F9" | "F10";
type Client = "patient" | "impatient";

const PREFIX: Record<StackName, string> = { keepvip: "kvbu", keepalived: "kvku" };
const CLIENT_TIMEOUT_MS: Record<Client, number> = { patient: 10_000, impatient: 200 };
const FAULT_LABEL: Record<Fault, string> = { F9: "backend b1 SIGKILLed", F10: "backend b1 blackholed (switch port detached)" };
/** The steady service before the fault, inside the prober's run but outside the window. */
const SETTLE_MS = 1000;
/** A b1 line of the rendered upstream file with `down` (keepvip's agents write one server per line). */
const B1_DOWN = /^\s*server 198\.18\.0\.21:10016\b[^;]*\bdown;/m;
const B1_UP = /^\s*server 198\.18\.0\.21:10016\b(?![^;]*\bdown;)[^;]*;/m;

interface DrillResult {
  stack: StackName;
  fault: Fault;
  client: Client;
  figures: FaultFigures;
  /** keepvip: fault → b1 `down` in both LBs' rendered files (ms); undefined: not within the window. */
  downMs?: number;
}

function windowOption(value: string): number {
  const ms = parseDuration(value);
  if (!ms.ok || ms.value < 5000 || ms.value > 300_000) throw new InvalidArgumentError(`must be a duration 5s..5m, got "${value}"`);
  return ms.value;
}

function listOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T[] => {
    const xs = value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = xs.filter((x) => !(allowed as readonly string[]).includes(x));
    if (bad.length > 0 || xs.length === 0) throw new InvalidArgumentError(`unknown ${bad.join(", ") || "(none)"}; choose from ${allowed.join(", ")}`);
    return xs as T[];
  };
}

const program = new Command("bench:upstreams")
  .description("backend faults F9/F10: keepvip's active checks vs plain nginx's passive ones, side by side (needs root, a built dist/)")
  .option("--window <duration>", "how long each fault is observed (nginx's passive retry comes after fail_timeout 30s)", windowOption, 40_000)
  .option("--faults <list>", "F9,F10", listOf(["F9", "F10"] as const), ["F9", "F10"] as Fault[])
  .option("--clients <list>", "patient (10 s timeout),impatient (200 ms)", listOf(["patient", "impatient"] as const), ["patient", "impatient"] as Client[])
  .addOption(new Option("--only <stack>", "run one stack only").choices(["keepvip", "keepalived"]))
  .option("--json <file>", "also write every drill's figures as JSON")
  .parse();
const opts = program.opts<{ window: number; faults: Fault[]; clients: Client[]; only?: StackName; json?: string }>();
const stacks: StackName[] = opts.only ? [opts.only] : ["keepvip", "keepalived"];
const started = Date.now();
const results: DrillResult[] = [];
let current: string | undefined;
let failure: string | undefined;

const log = (line: string) => console.log(`[${formatDuration(Date.now() - started).padStart(10)}] ${line}`);

function renderedB1(prefix: string, host: (typeof LB_HOSTS)[number]): "down" | "up" | "absent" {
  let text: string;
  try {
    text = readFileSync(labPaths(prefix).upstreamFile(host), "utf8");
  } catch {
    return "absent"; // mid-rename
  }
  return B1_DOWN.test(text) ? "down" : B1_UP.test(text) ? "up" : "absent";
}

/** Graceful reload of both LBs' nginx (the lab's own masters, by pid file): passive failure counters start at zero. */
async function reloadPlainNginx(prefix: string): Promise<void> {
  for (const h of LB_HOSTS) {
    const pid = readPidFile(labPaths(prefix).pidFile(h, "nginx"));
    if (pid === undefined || !isInNamespace(pid, hostNs(prefix, h))) throw new Error(`nginx is not running on ${h} of lab ${prefix}`);
    process.kill(pid, "SIGHUP");
  }
  // New workers start within milliseconds; the old ones have no connection to finish.
  await sleep(500);
}

/** b1 running and reachable again, and every LB's nginx back to a fresh view of it. */
async function restore(stack: StackName, prefix: string, fault: Fault): Promise<void> {
  if (fault === "F10") await heal(prefix, "b1", "lan");
  if (!isRunning(prefix, "b1", "backend")) await startProcess(prefix, "b1", "backend");
  if (stack === "keepvip") {
    await mustWait("b1 back up in both LBs' rendered files", () => LB_HOSTS.every((h) => renderedB1(prefix, h) === "up"), 15_000, 20);
    await keepvipReady(prefix);
  } else {
    await reloadPlainNginx(prefix);
    await waitSteady(stack, prefix);
  }
}

/**
 * Between drills the data path is what matters: the VIP only on lb1, both agents and the
 * coordinator running, b1 up in both rendered files. Checked from the lab's own files and
 * namespaces, not through the admin CLI: the CLI runs from the shared dist/, which another
 * build may be rewriting at that moment.
 */
async function keepvipReady(prefix: string): Promise<void> {
  const ready = async () => {
    const on = await vipHolders(prefix);
    return (
      on.length === 1 &&
      on[0] === "lb1" &&
      isRunning(prefix, "coord", "coordinator") &&
      LB_HOSTS.every((h) => isRunning(prefix, h, "agent") && renderedB1(prefix, h) === "up")
    );
  };
  await mustWait(`lab ${prefix}: the VIP only on lb1, agents and coordinator running, b1 up on both LBs`, ready, 30_000, 100);
}

async function drill(stack: StackName, prefix: string, fault: Fault, client: Client): Promise<DrillResult> {
  const prober = startProber(prefix, { intervalMs: 10, timeoutMs: CLIENT_TIMEOUT_MS[client], durationMs: SETTLE_MS + opts.window + 5000 });
  const downAt = new Map<string, number>();
  let watch: NodeJS.Timeout | undefined;
  let faultT = 0;
  try {
    await withDeadline(prober.ready, 15_000, "the prober's first answer");
    await sleep(SETTLE_MS);
    faultT = Date.now();
    if (stack === "keepvip") {
      watch = setInterval(() => {
        for (const h of LB_HOSTS) if (!downAt.has(h) && renderedB1(prefix, h) === "down") downAt.set(h, Date.now());
      }, 10);
    }
    if (fault === "F9") await killProcess(prefix, "b1", "backend");
    else await partition(prefix, "b1", "lan");
    await sleep(faultT + opts.window - Date.now());
  } finally {
    clearInterval(watch);
    // Ends the schedule; waits for requests in flight (at most the client's timeout).
    await prober.stop();
  }
  const figures = faultFigures(prober.records as ProbeRecord[], faultT, opts.window);
  const downMs = stack === "keepvip" && downAt.size === LB_HOSTS.length ? Math.max(...downAt.values()) - faultT : undefined;
  return { stack, fault, client, figures, downMs };
}

async function teardown(): Promise<void> {
  const prefix = current;
  current = undefined;
  if (prefix) await labDown(prefix).catch((e: unknown) => console.error(`lab down ${prefix} failed: ${String(e)}`));
}

async function runStack(stack: StackName): Promise<void> {
  const prefix = PREFIX[stack];
  current = prefix;
  await labDown(prefix);
  // keepvip: the lab's tuned checks (every 100 ms, timeout 50 ms, fall 2). Both stacks run the
  // same nginx.conf: the seed's proxy settings, proxy_connect_timeout 3s.
  const up = await labUp({ prefix, stack, timing: "tuned", advertSec: 1 });
  log(`${stack === "keepvip" ? "keepvip (active checks)" : "keepalived + plain nginx (passive checks)"}: lab ${prefix} up in ${up.ms} ms`);
  await waitSteady(stack, prefix);
  if (stack === "keepvip") await mustWait("the first push on both LBs", () => LB_HOSTS.every((h) => renderedB1(prefix, h) === "up"), 15_000, 50);
  for (const fault of opts.faults) {
    for (const client of opts.clients) {
      const what = `${stack} ${fault} ${client}`;
      let r: DrillResult;
      try {
        r = await drill(stack, prefix, fault, client);
      } catch (err) {
        failure = `${what}: ${(err as Error).message}`;
        throw err;
      } finally {
        await restore(stack, prefix, fault).catch((e: unknown) => {
          failure ??= `${what}: restore failed: ${(e as Error).message}`;
          throw e;
        });
      }
      results.push(r);
      const f = r.figures;
      log(
        `${what.padEnd(26)} ${f.failed}/${f.requests} failed, p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms, ${f.stalls} stalls > ${STALL_MS} ms${r.downMs !== undefined ? `, b1 down on both LBs after ${r.downMs} ms` : ""}`,
      );
    }
  }
  await teardown();
}

function cells(kv: DrillResult | undefined, ng: DrillResult | undefined): string[][] {
  const n = (x: number | undefined) => (x === undefined ? "-" : String(x));
  const lastFailure = (r?: DrillResult) =>
    r === undefined ? "-" : r.figures.lastFailureMs === undefined ? "none" : `${(r.figures.lastFailureMs / 1000).toFixed(1)} s`;
  const rows: Array<[string, (r: DrillResult) => number | undefined]> = [
    ["failed requests", (r) => r.figures.failed],
    ["latency p50 (ms)", (r) => r.figures.p50],
    ["latency p99 (ms)", (r) => r.figures.p99],
    ["latency max (ms)", (r) => r.figures.max],
    [`requests slower than ${STALL_MS / 1000} s`, (r) => r.figures.stalls],
  ];
  const out = rows.map(([label, pick]) => {
    const a = kv && pick(kv);
    const b = ng && pick(ng);
    return [label, n(a), n(b), ratio(a, b)];
  });
  out.push(["last failure (after the fault)", lastFailure(kv), lastFailure(ng), ""]);
  out.push(["b1 marked down on both LBs", kv?.downMs !== undefined ? `${kv.downMs} ms` : kv ? "not in window" : "-", ng ? "never (passive only)" : "-", ""]);
  const req = `${kv ? kv.figures.requests : "-"} / ${ng ? ng.figures.requests : "-"}`;
  out.push(["requests in the window", ...req.split(" / "), ""]);
  return out;
}

function printReport(): void {
  const table = new Table({
    head: ["fault", "client", "metric", "keepvip (active checks)", "nginx passive (seed)", "keepvip vs nginx"],
    style: { head: [], border: [] },
  });
  for (const fault of opts.faults) {
    for (const client of opts.clients) {
      const kv = results.find((r) => r.stack === "keepvip" && r.fault === fault && r.client === client);
      const ng = results.find((r) => r.stack === "keepalived" && r.fault === fault && r.client === client);
      if (!kv && !ng) continue;
      const rows = cells(kv, ng);
      rows.forEach((row, i) =>
        table.push(
          i === 0 ? [{ rowSpan: rows.length, content: fault }, { rowSpan: rows.length, content: `${client}\n(${CLIENT_TIMEOUT_MS[client]} ms)` }, ...row] : row,
        ),
      );
    }
  }
  console.log(`\n=== Backend faults through the VIP, ${formatDuration(opts.window)} window from the fault, a request every 10 ms on a new connection ===`);
  for (const f of opts.faults) console.log(`  ${f.padEnd(4)} ${FAULT_LABEL[f]}`);
  console.log(table.toString());
  console.log(
    [
      "Notes:",
      "  keepvip: coordinator + agents, the lab's tuned checks (HTTP GET /aaa every 100 ms, timeout 50 ms, fall 2, rise 2);",
      "    the agents render `down` into nginx's upstream file and reload gracefully. nginx passive: the seed's keepalived +",
      "    nginx, same nginx.conf (least_conn, max_fails=3 fail_timeout=30s, proxy_connect_timeout 3s, proxy_next_upstream",
      "    error timeout), no active checks. Latencies count failed requests at the moment the client gave up.",
      "  Ratios divide keepvip's figure by nginx's; with a 0 on either side both figures are shown instead.",
      "  keepalived + nginx, seed config (docs/benchmarks.md): F9 0 failed, the dead backend re-tried every 30 s;",
      "    F10 impatient clients (200 ms): 174 failed in 60 s, until 37 s; patient: 3 s stalls every 30 s.",
    ].join("\n"),
  );
}

tearDownOnSignal(teardown);

process.chdir(REPO_ROOT);
const drills = opts.faults.length * opts.clients.length;
const estimateMs = stacks.length * (25_000 + drills * (opts.window + SETTLE_MS + 5000));
log(
  `bench:upstreams: ${opts.faults.join(",")} × ${opts.clients.join(",")} on ${stacks.join(" then ")}, ${formatDuration(opts.window)} each; estimated ${formatDuration(estimateMs)}`,
);
try {
  for (const stack of stacks) await runStack(stack);
} catch (err) {
  failure ??= (err as Error).message;
  process.exitCode = 1;
} finally {
  await teardown();
}
printReport();
if (failure)
  console.error(
    `\nbench:upstreams FAILED: ${failure}\n(the lab was torn down; logs stay in ${process.env.KEEPVIP_LAB_DIR ?? "/tmp/keepvip-lab"}/<prefix>/logs)`,
  );
log(`done (estimate was ${formatDuration(estimateMs)})`);
if (opts.json) {
  writeFileSync(opts.json, `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: opts, failure, results }, null, 2)}\n`);
  console.log(`raw results: ${opts.json}`);
}
