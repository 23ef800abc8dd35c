/**
 * `npm run bench:failover`: the fault matrix (docs/design.md) measured N times on keepvip and, in the
 * same run and the same lab, on the seed's keepalived + nginx_check.sh; prints per fault the
 * client-observed outage, the failed requests, the VIP move and overlap as min / median / max,
 * side by side with keepvip/keepalived ratios. One lab at a time (prefix kvb, then kvk): two
 * at once on two cores would distort each other's timings. Needs root and a built dist/.
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { labDown, labUp } from "../lab/api.js";
import { REPO_ROOT } from "../lab/paths.js";
import { waitSteady, tearDownOnSignal } from "./cluster.js";
import { PHASE_ROWS, SCENARIO_OF, rowsFor, scenariosFor, type Scenario } from "./scenarios.js";
import { buildTables, renderTables, unsettledLines, type PhaseResult, type Profile, type StackName } from "./report.js";
import { wholeNumberOption } from "./options.js";
import { formatDuration } from "./stats.js";
import { runTrial } from "./trial.js";
import { keepAliveMoves, renderKeepAliveMoves, type KeepAliveMovesResult } from "./keepalive-moves.js";

const PREFIX: Record<StackName, string> = { keepvip: "kvb", keepalived: "kvk" };
/** Lab up, first steady state and down, per stack and profile (seconds, for the estimate). */
const LAB_OVERHEAD_SEC = 8;

const positiveInt = wholeNumberOption(1, 100);

const positiveOrZero = wholeNumberOption(0, 40);

function scenarioList(value: string): string[] {
  const ids = value
    .split(",")
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const bad = ids.filter((id) => !(id in SCENARIO_OF));
  if (bad.length > 0 || ids.length === 0)
    throw new InvalidArgumentError(`unknown scenario ${bad.join(", ") || "(none)"}; choose from ${Object.keys(SCENARIO_OF).join(", ")}`);
  return ids;
}

const program = new Command("bench:failover")
  .description("fault matrix benchmark: keepvip vs the seed's keepalived, side by side (needs root, a built dist/)")
  .option("--runs <n>", "runs per scenario", positiveInt, 5)
  .option("--scenarios <list>", `comma-separated, default all: ${Object.keys(SCENARIO_OF).join(",")}`, scenarioList)
  .option("--tuned", "also compare keepvip's tuned lab timing with keepalived at advert_int 0.1 s (VRRPv3)")
  .addOption(new Option("--only <stack>", "run one stack only").choices(["keepvip", "keepalived"]))
  .option(
    "--keepalive-moves <n>",
    "planned moves (stop and start of the holder's agent / keepalived) under 20 busy keep-alive connections, per stack; 0 = none",
    positiveOrZero,
    6,
  )
  .option(
    "--ipv6",
    "probe and watch the group's IPv6 VIP (2001:2::100) instead of the IPv4 one; keepalived carries it in a native VRRPv3 IPv6 instance (VI_6, synced with VI_1)",
  )
  .option("--json <file>", "also write every run's figures as JSON")
  .parse();
const opts = program.opts<{ runs: number; scenarios?: string[]; tuned?: boolean; only?: StackName; json?: string; keepaliveMoves: number; ipv6?: boolean }>();
const family: 4 | 6 = opts.ipv6 ? 6 : 4;
const keepAlive: KeepAliveMovesResult[] = [];

const wanted = new Set((opts.scenarios ?? Object.keys(SCENARIO_OF)).flatMap(rowsFor));
const profiles: Profile[] = opts.tuned ? ["seed", "tuned"] : ["seed"];
const stacks: StackName[] = opts.only ? [opts.only] : ["keepvip", "keepalived"];
const started = Date.now();
const results: PhaseResult[] = [];
let current: string | undefined;
let failure: string | undefined;

const elapsed = () => formatDuration(Date.now() - started);
const log = (line: string) => console.log(`[${elapsed().padStart(10)}] ${line}`);

function selected(stack: StackName): Scenario[] {
  return scenariosFor(stack, PREFIX[stack]).filter((s) => s.phases.some((p) => wanted.has(p.id)));
}

function estimateMs(): number {
  // A keep-alive move: the move itself, then 4 s for the drain (keepvip) or keepalived's settling.
  const keepAliveSec = opts.keepaliveMoves * 7 + 10;
  const perStack = stacks.reduce((t, st) => t + LAB_OVERHEAD_SEC + opts.runs * selected(st).reduce((s, sc) => s + sc.estimateSec, 0) + keepAliveSec, 0);
  return perStack * profiles.length * 1000;
}

function describe(stack: StackName, profile: Profile): string {
  if (stack === "keepvip") return `keepvip, ${profile} timing`;
  return profile === "seed" ? "keepalived, the seed's config (advert_int 1 s, VRRPv2)" : "keepalived, advert_int 0.1 s (VRRPv3)";
}

function progressLine(r: PhaseResult, runs: number): string {
  const move =
    r.newHolder === undefined
      ? r.moved
        ? "VIP moved"
        : "no move"
      : r.moveMs === null
        ? `VIP never only on ${r.newHolder}`
        : `VIP only on ${r.newHolder} after ${r.moveMs} ms`;
  const flag = r.reached ? "" : `  (end condition NOT reached in ${r.settledMs} ms)`;
  return `${r.stack.padEnd(10)} ${r.phase.padEnd(13)} run ${r.run}/${runs}  outage ${r.outageMs} ms, ${r.failed}/${r.requests} failed, ${move}, both ${r.bothMs} ms, none ${r.noneMs} ms${flag}`;
}

async function teardown(): Promise<void> {
  const prefix = current;
  current = undefined;
  if (prefix) await labDown(prefix).catch((e: unknown) => console.error(`lab down ${prefix} failed: ${String(e)}`));
}

async function runStack(stack: StackName, profile: Profile): Promise<void> {
  const prefix = PREFIX[stack];
  const scenarios = selected(stack);
  // The keep-alive client talks to the IPv4 VIP: with --ipv6 the moves are left out.
  const moves = profile === "seed" && !opts.ipv6 ? opts.keepaliveMoves : 0;
  if (scenarios.length === 0 && moves === 0) return;
  current = prefix;
  await labDown(prefix);
  const up = await labUp({
    prefix,
    stack,
    timing: profile,
    advertSec: profile === "tuned" ? 0.1 : 1,
    ...(opts.ipv6 ? { keepalivedIpv6: "vrrp3" as const } : {}),
  });
  log(`${describe(stack, profile)}: lab ${prefix} up in ${up.ms} ms`);
  await waitSteady(stack, prefix);
  // Rounds (run k of every scenario, then run k+1) spread slow drift of the machine over all scenarios.
  for (let run = 1; run <= opts.runs; run++) {
    for (const sc of scenarios) {
      let outcomes;
      try {
        outcomes = await runTrial(prefix, sc, family);
      } catch (err) {
        failure = `${stack} (${profile}) ${sc.id} run ${run}: ${(err as Error).message}`;
        throw err;
      } finally {
        await sc.restore().catch((e: unknown) => {
          failure ??= `${stack} (${profile}) ${sc.id} run ${run}: restore failed: ${(e as Error).message}`;
          throw e;
        });
      }
      for (const o of outcomes) {
        if (!wanted.has(o.phase.id)) continue;
        const r: PhaseResult = { ...o.metrics, phase: o.phase.id, stack, profile, run, newHolder: o.phase.newHolder };
        results.push(r);
        log(progressLine(r, opts.runs));
      }
      try {
        await waitSteady(stack, prefix);
      } catch (err) {
        failure = `${stack} (${profile}) after ${sc.id} run ${run}: ${(err as Error).message}`;
        throw err;
      }
    }
  }
  if (moves > 0) {
    try {
      const r = await keepAliveMoves(prefix, stack, moves, log);
      keepAlive.push(r);
      log(
        `${stack} keep-alive moves: ${r.failed} of ${r.requests} keep-alive requests failed (${r.resets} resets), ${r.fresh.failed} of ${r.fresh.requests} fresh`,
      );
    } catch (err) {
      failure = `${stack} (${profile}) keep-alive moves: ${(err as Error).message}`;
      throw err;
    }
  }
  await teardown();
}

function printReport(): void {
  const rows = PHASE_ROWS.filter((p) => wanted.has(p.id));
  console.log("\nFaults:");
  for (const p of rows) console.log(`  ${p.id.padEnd(14)}${p.label}`);
  for (const profile of profiles) {
    if (!results.some((r) => r.profile === profile)) continue;
    console.log(
      `\n=== ${describe("keepvip", profile)} vs ${describe("keepalived", profile)}; ${opts.ipv6 ? "the IPv6 VIP 2001:2::100; " : ""}${opts.runs} run(s) each, min / median / max ===\n`,
    );
    console.log(renderTables(buildTables(results, profile, rows)));
  }
  if (keepAlive.length > 0) {
    console.log(
      `\n=== planned moves under 20 busy keep-alive connections (requests of 0–2 s) and the fresh prober, seed timing ===\n(the holder's agent / keepalived stopped cleanly and started again, preempt back)\n`,
    );
    console.log(renderKeepAliveMoves(keepAlive));
  }
  const unsettled = unsettledLines(results);
  if (unsettled.length > 0) console.log(`\nUnsettled runs:\n  ${unsettled.join("\n  ")}`);
  console.log(
    [
      "\nNotes:",
      "  keepvip / keepalived compares the medians; with a 0 on either side both medians are shown instead.",
      "  F2 keepalived: nothing removes the VIP from the crashed holder; lb2 takes it after 3 adverts and it stays on both",
      "     until lb1's keepalived restarts, which the bench does 1 s later (so \"both\" there is the bench's choice).",
      "  F11 partition keepalived: the cut-off holder keeps the VIP, so it is on both until the heal, which the bench",
      '     does 1–3 s (random) after lb2 took it; "never" = never only on lb2.',
      "  F11 heal keepalived: lb2 steps down, but unless lb1 answered one of lb2's adverts with GARPs the client keeps",
      "     lb2's MAC for the VIP until its ARP entry expires (an outage of tens of seconds).",
    ].join("\n"),
  );
}

tearDownOnSignal(teardown);

process.chdir(REPO_ROOT);
const scenarioNames = [...new Set([...wanted].map((r) => r.split(" ")[0]))].join(",");
log(
  `bench:failover: ${opts.runs} run(s) of ${scenarioNames} on ${stacks.join(" then ")}${opts.tuned ? ", seed and tuned" : ""}; estimated ${formatDuration(estimateMs())}`,
);
try {
  for (const profile of profiles) for (const stack of stacks) await runStack(stack, profile);
} catch (err) {
  failure ??= (err as Error).message;
  process.exitCode = 1;
} finally {
  await teardown();
}
printReport();
if (failure)
  console.error(
    `\nbench:failover FAILED: ${failure}\n(the lab was torn down; logs stay in ${process.env.KEEPVIP_LAB_DIR ?? "/tmp/keepvip-lab"}/<prefix>/logs)`,
  );
log(`done (estimate was ${formatDuration(estimateMs())})`);
if (opts.json) {
  writeFileSync(opts.json, `${JSON.stringify({ startedAt: new Date(started).toISOString(), options: opts, failure, results, keepAlive }, null, 2)}\n`);
  console.log(`raw results: ${opts.json}`);
}
