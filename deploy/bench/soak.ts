/**
 * `npm run bench:soak`: a seeded random fault soak in one keepvip lab. Random single faults on
 * either LB or the coordinator (the fault catalogue in faults.ts), each held a random 2–6 s,
 * undone, then settled; throughout, a client probing the VIP every 10 ms and VIP watchers on
 * both LBs. After every fault it checks that exactly one LB holds the VIP, that the VIP was on
 * both only within a planned overlap, and that the fault stayed within its fault-matrix target.
 * Prints per-kind figures and the seed (`--seed` replays a sequence). Exit 1 on any violation.
 * With `--kinds standby-partition --faults 20` it repeats one kind. Needs root and a built dist/.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { labDown, labUp, type LbHost, type Timing } from "../lab/api.js";
import { adminStatus } from "../lab/admin.js";
import { tearDownOnSignal, waitSteady } from "./cluster.js";
import { FAULT_KINDS, KIND_OF, faultScenario, judge, repeatPlan, soakPlan, type FaultKind } from "./faults.js";
import { wholeNumberOption } from "./options.js";
import { formatDuration } from "./stats.js";
import { runTrial } from "./trial.js";
import type { PhaseMetrics } from "./window.js";

const count = wholeNumberOption(1, 10_000);

const seedArg = wholeNumberOption(0, 0xffffffff);

function kindList(value: string): FaultKind[] {
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = ids.filter((id) => !KIND_OF.has(id));
  if (bad.length > 0 || ids.length === 0)
    throw new InvalidArgumentError(`unknown fault kind ${bad.join(", ") || "(none)"}; choose from ${FAULT_KINDS.map((k) => k.id).join(", ")}`);
  return ids.map((id) => KIND_OF.get(id)!);
}

const program = new Command("bench:soak")
  .description("seeded random fault soak on a keepvip lab (needs root, a built dist/)")
  .option("--faults <n>", "how many faults", count, 100)
  .option("--seed <n>", "the PRNG seed (default: random, printed)", seedArg)
  .addOption(new Option("--timing <timing>", "the lab's coordinator timing").choices(["seed", "tuned"]).default("seed"))
  .option("--kinds <list>", `comma-separated fault kinds (default all): ${FAULT_KINDS.map((k) => k.id).join(",")}`, kindList)
  .option("--each <n>", "instead of --faults: every selected kind n times, in a seeded shuffled order", count)
  .option("--prefix <p>", "lab prefix", "kvs")
  .parse();
const opts = program.opts<{ faults: number; seed?: number; timing: Timing; kinds?: FaultKind[]; prefix: string; each?: number }>();
const seed = opts.seed ?? Math.floor(Math.random() * 0xffffffff);
const P = opts.prefix;
const plan =
  opts.each === undefined
    ? soakPlan(seed, opts.faults, opts.kinds ?? FAULT_KINDS, { min: 2000, max: 6000 })
    : repeatPlan(seed, opts.each, opts.kinds ?? FAULT_KINDS, { min: 2000, max: 6000 });
const started = Date.now();
const log = (line: string) => console.log(`[${formatDuration(Date.now() - started).padStart(10)}] ${line}`);

interface Row {
  kind: FaultKind;
  fault: PhaseMetrics;
  back: PhaseMetrics;
  violations: string[];
}
const rows: Row[] = [];

tearDownOnSignal(() => labDown(P));

async function main(): Promise<number> {
  const estimateMin = Math.round((plan.reduce((t, f) => t + f.holdMs, 0) / 1000 + plan.length * 6) / 60);
  log(`soak: ${plan.length} faults, seed ${seed}, ${opts.timing} timing, lab ${P}; about ${estimateMin} min`);
  await labDown(P);
  await labUp({ prefix: P, stack: "keepvip", timing: opts.timing });
  try {
    await waitSteady("keepvip", P);
    for (const [i, f] of plan.entries()) {
      const holder = ((await adminStatus(P))?.groups[0]?.holder ?? "lb1") as LbHost;
      const standby: LbHost = holder === "lb1" ? "lb2" : "lb1";
      const scenario = faultScenario(P, f.kind, holder, standby, f.holdMs);
      let violations: string[] = [];
      try {
        const [fault, back] = await runTrial(P, scenario);
        violations = [...judge(f.kind.id, f.kind.fault, fault.metrics), ...judge(`${f.kind.id} restored`, f.kind.back, back.metrics)];
        rows.push({ kind: f.kind, fault: fault.metrics, back: back.metrics, violations });
        log(
          `${String(i + 1).padStart(3)}/${plan.length} ${f.kind.id.padEnd(20)} on ${f.kind.on === "coordinator" ? "coord" : f.kind.on === "standby" ? standby : holder} held ${f.holdMs} ms: ` +
            `${fault.metrics.failed}+${back.metrics.failed} failed, outage ${fault.metrics.outageMs}/${back.metrics.outageMs} ms, both ${fault.metrics.longestBothMs}/${back.metrics.longestBothMs} ms` +
            `${violations.length > 0 ? `  VIOLATION: ${violations.join("; ")}` : ""}`,
        );
      } finally {
        await scenario.restore();
      }
      await waitSteady("keepvip", P, 60_000);
      if (violations.length > 0 && process.env.KEEPVIP_SOAK_KEEP_GOING !== "1") break;
    }
  } finally {
    await labDown(P);
  }
  return summary();
}

function summary(): number {
  console.log(`\nsoak summary (seed ${seed}, ${opts.timing} timing): ${rows.length} of ${plan.length} faults run in ${formatDuration(Date.now() - started)}`);
  console.log(
    `${"kind".padEnd(20)} ${"row".padEnd(4)} ${"runs".padStart(4)} ${"failed".padStart(7)} ${"max outage".padStart(11)} ${"max both".padStart(9)} ${"moved".padStart(6)} ${"violations".padStart(10)}`,
  );
  for (const kind of FAULT_KINDS) {
    const rs = rows.filter((r) => r.kind === kind);
    if (rs.length === 0) continue;
    const failed = rs.reduce((t, r) => t + r.fault.failed + r.back.failed, 0);
    const outage = Math.max(...rs.map((r) => Math.max(r.fault.outageMs, r.back.outageMs)));
    const both = Math.max(...rs.map((r) => Math.max(r.fault.longestBothMs, r.back.longestBothMs)));
    const moved = rs.filter((r) => r.fault.moved).length;
    const bad = rs.filter((r) => r.violations.length > 0).length;
    console.log(
      `${kind.id.padEnd(20)} ${kind.row.padEnd(4)} ${String(rs.length).padStart(4)} ${String(failed).padStart(7)} ${`${outage} ms`.padStart(11)} ${`${both} ms`.padStart(9)} ${String(moved).padStart(6)} ${String(bad).padStart(10)}`,
    );
  }
  const violations = rows.flatMap((r) => r.violations);
  const complete = rows.length === plan.length;
  console.log(
    violations.length === 0 && complete
      ? `\nno violation in ${rows.length} faults (seed ${seed})`
      : `\n${violations.length} violation(s)${complete ? "" : `, stopped after ${rows.length} faults`}; replay with --seed ${seed}`,
  );
  for (const v of violations) console.log(`  ${v}`);
  return violations.length === 0 && complete ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`bench:soak failed (seed ${seed}): ${err instanceof Error ? err.message : String(err)}`);
    summary();
    process.exit(1);
  },
);
