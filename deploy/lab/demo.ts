/**
 * `npm run demo`: the seed tutorial's sections 3 (load balancing through the
 * VIP) and 2.1.4 (stop the master, the VIP moves; start it, the master takes
 * it back), played on the lab with keepvip in place of keepalived, narrated,
 * with a live status view while it happens. Tears the lab down at the end
 * unless --keep.
 */
import { Command } from "commander";
import type { StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { adminStatus } from "./admin.js";
import { labDown, labUp } from "./lab.js";
import { startProber } from "./observers.js";
import { analyzeProbes, type ProbeRecord } from "./probe-analysis.js";
import { startLabProcess, stopLabProcess } from "./drills.js";
import { VIP } from "./topology.js";

const program = new Command("demo")
  .description("narrated keepvip demo on the lab (needs root)")
  .option("--prefix <prefix>", "namespace prefix", "kv")
  .option("--keep", "leave the lab running at the end (npm run lab -- down removes it)")
  .parse();
const opts = program.opts<{ prefix: string; keep?: boolean }>();
const P = opts.prefix;
const tty = process.stdout.isTTY === true;

const say = (text: string) => console.log(`\n\x1b[1m${text}\x1b[0m`.replace(tty ? "" : /\x1b\[[0-9;]*m/g, ""));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line per member plus the upstream health: what `keepvip status` shows, compact. */
function compact(s: StatusReply | undefined): string {
  if (!s) return "  (coordinator not answering)";
  const lines: string[] = [];
  for (const g of s.groups) {
    lines.push(`  ${g.name} VIP ${g.vips.join(",")}  holder ${g.holder || "-"}  epoch ${g.epoch}  ${g.phase}`);
    for (const m of g.members)
      lines.push(
        `    ${m.nodeId.padEnd(4)} ${m.state.padEnd(12)} prio ${String(m.effectivePriority).padStart(3)}  nginx ${m.nginx.padEnd(8)} ${m.eligible ? "" : m.ineligibleReason}`,
      );
  }
  for (const u of s.upstreams) lines.push(`  upstream ${u.name}: ${u.servers.map((x) => `${x.address} ${x.up ? "up" : "DOWN"}`).join(", ")}`);
  return lines.join("\n");
}

/** Prints the status every 300 ms while `during` runs, only when it changes. */
async function watch<T>(during: Promise<T>): Promise<T> {
  let last = "";
  let done = false;
  const loop = (async () => {
    for (let i = 0; i < 200 && !done; i++) {
      const text = compact(await adminStatus(P, 2000));
      if (text !== last) {
        console.log(`  -- ${new Date().toISOString().slice(11, 23)}\n${text}`);
        last = text;
      }
      await sleep(300);
    }
  })();
  try {
    return await during;
  } finally {
    done = true;
    await loop;
  }
}

/** `holder` holds the group and nothing is moving; `everyone`: all members connected with nginx running too. */
async function waitForHolder(holder: string, timeoutMs: number, everyone = true): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
    const s = await adminStatus(P, 2000);
    const g = s?.groups[0];
    if (g?.holder === holder && g.phase === "steady" && (!everyone || g.members.every((m) => m.connected && m.nginx === "running"))) return true;
    await sleep(200);
  }
  return false;
}

function verdict(records: ProbeRecord[]): string {
  const a = analyzeProbes(records, 10);
  const by = Object.entries(a.answeredBy)
    .map(([ip, n]) => `${ip} ${n}`)
    .join(", ");
  const why = Object.entries(a.errors)
    .map(([e, n]) => `${n}× ${e}`)
    .join(", ");
  return `${a.total} requests, ${a.failed} failed${a.failed ? ` (longest outage ${a.longestFailureMs} ms: ${why})` : ""}; answered by ${by}`;
}

/** Failed requests per drill, for the closing line. */
const lost: Record<string, number> = {};

async function drill(title: string, action: () => Promise<unknown>, expectHolder: string, everyone: boolean): Promise<void> {
  say(title);
  const prober = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 30_000 });
  await prober.ready;
  await sleep(300);
  await watch(
    (async () => {
      await action();
      if (!(await waitForHolder(expectHolder, 15_000, everyone))) console.log(`  !! ${expectHolder} did not take the VIP in 15 s`);
      await sleep(600);
    })(),
  );
  const records = await prober.stop();
  lost[expectHolder === "lb2" ? "stop" : "preempt"] = analyzeProbes(records, 10).failed;
  console.log(`  client through the VIP: ${verdict(records)}`);
}

async function main(): Promise<void> {
  say("keepvip demo — the seed's keepalived + nginx pair, with keepvip instead of keepalived");
  console.log(
    `  Building the lab: namespaces ${P}-lb1, ${P}-lb2 (nginx + keepvip-agent), ${P}-b1, ${P}-b2 (backends),\n  ${P}-client, ${P}-coord (keepvip-coordinator), switches in ${P}-sw. VIP ${VIP}.`,
  );
  await labDown(P);
  const up = await labUp({ prefix: P, stack: "keepvip", timing: "seed" });
  console.log(`  up in ${up.ms} ms; logs in ${up.paths.dir}/logs`);
  if (!(await waitForHolder("lb1", 30_000))) throw new Error("the cluster did not settle with the VIP on lb1 within 30 s (see the logs)");
  console.log(compact(await adminStatus(P)));

  say(`Section 3: requests to http://${VIP}:10016/aaa — nginx (least_conn) spreads them over both backends`);
  const p = startProber(P, { intervalMs: 10, timeoutMs: 200, durationMs: 1500 });
  const records = await p.done;
  const sample = records
    .filter((r) => r.ok)
    .slice(0, 2)
    .map((r) => `{"msg":"success","status":"1","server_ip":"${r.by}"}`);
  for (const line of sample) console.log(`  ${line}`);
  console.log(`  ${verdict(records)}`);

  await drill(
    "Section 2.1.4: stop the master's agent (the seed: `service keepalived stop` on 181) — the VIP moves to lb2, planned, make-before-break",
    () => stopLabProcess(P, "lb1", "agent"),
    "lb2",
    false,
  );
  await drill(
    "…and start it again (`service keepalived start`): lb1 has the higher priority (100 > 90) and takes the VIP back (preempt)",
    () => startLabProcess(P, "lb1", "agent"),
    "lb1",
    true,
  );

  say(
    `Done. Requests lost: ${lost.stop ?? "?"} on the stop, ${lost.preempt ?? "?"} on the preempt back. keepalived with the seed's config loses ~650 ms of requests on that stop (docs/benchmarks.md, F1).`,
  );
}

try {
  await main();
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  if (opts.keep) {
    console.log(`\nThe lab is still up: npm run lab -- status | drills: npm run lab -- --help | remove: npm run lab -- down`);
  } else {
    const d = await labDown(P);
    console.log(`\nlab removed (${d.namespaces.length} namespaces, ${d.killed.length} processes)`);
  }
}
