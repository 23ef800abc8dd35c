/**
 * `npm run lab -- VERB …`: the keepvip lab's command line. Wiring only; the work is in
 * lab.ts (up/down), drills.ts (faults), status.ts and observers.ts.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../../shared/config/duration.js";
import { KEEPALIVED_IPV6, type KeepalivedIpv6 } from "./configs.js";
import { breakNginx, fixNginx, heal, killLabProcess, partition, restartLabProcess, setLink, startLabProcess, stopLabProcess } from "./drills.js";
import { labDown, labUp } from "./lab.js";
import { STACKS, TIMINGS, type Stack, type Timing } from "./manifest.js";
import { startProber } from "./observers.js";
import { analyzeProbes } from "./probe-analysis.js";
import { collectStatus, formatStatus } from "./status.js";
import { DEFAULT_PREFIX, NETS, type Net } from "./topology.js";

const program = new Command("lab").description("the keepvip lab: the seed's keepalived + nginx topology in network namespaces").showHelpAfterError();

const prefixOption = () => new Option("--prefix <prefix>", "namespace prefix (two labs need two prefixes)").default(DEFAULT_PREFIX);

function durationMs(value: string): number {
  const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? `${value}ms` : value);
  if (!ms.ok) throw new InvalidArgumentError(ms.error.message);
  return ms.value;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number, got "${value}"`);
  return n;
}

function net(value: string): Net {
  if (!(NETS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${NETS.join(", ")}`);
  return value as Net;
}

function upDown(value: string): "up" | "down" {
  if (value !== "up" && value !== "down") throw new InvalidArgumentError('must be "up" or "down"');
  return value;
}

program
  .command("up")
  .description("build the topology and start the stack")
  .addOption(prefixOption())
  .addOption(new Option("--stack <stack>", "what runs on the LBs").choices(STACKS).default("keepvip"))
  .addOption(new Option("--timing <timing>", "keepvip coordinator timing").choices(TIMINGS).default("seed"))
  .option("--advert <seconds>", "keepalived advert_int (the seed: 1; below 1 uses VRRPv3)", positive, 1)
  .option("--connect-timeout <duration>", "nginx proxy_connect_timeout (the seed: 3s)", durationMs, 3000)
  .option("--ha", "three coordinator replicas (P-coord1..3) on a 3-member etcd (P-etcd1..3) instead of P-coord")
  .option("--insecure", "plaintext gRPC and etcd, without the lab's certificates (the mode before mutual TLS, for comparison)")
  .addOption(
    new Option("--keepalived-ipv6 <mode>", "keepalived stack: the IPv6 VIP as an excluded address of VI_1, or in a VRRPv3 IPv6 instance VI_6 synced with it")
      .choices(KEEPALIVED_IPV6)
      .default("excluded"),
  )
  .action(
    async (o: {
      prefix: string;
      stack: Stack;
      timing: Timing;
      advert: number;
      connectTimeout: number;
      ha?: boolean;
      insecure?: boolean;
      keepalivedIpv6: KeepalivedIpv6;
    }) => {
      const r = await labUp({
        prefix: o.prefix,
        stack: o.stack,
        timing: o.timing,
        advertSec: o.advert,
        connectTimeoutMs: o.connectTimeout,
        ha: o.ha,
        insecure: o.insecure,
        keepalivedIpv6: o.keepalivedIpv6,
      });
      const security = r.stack !== "keepvip" ? "" : o.insecure ? ", INSECURE: plaintext" : `, mutual TLS (certificates in ${r.paths.dir}/pki)`;
      console.log(`lab ${r.prefix} up (stack ${r.stack}${o.ha ? ", replicated coordinators" : ""}${security}) in ${r.ms} ms; files in ${r.paths.dir}`);
      for (const [k, pid] of Object.entries(r.pids)) console.log(`  ${k.padEnd(20)}${pid}`);
    },
  );

program
  .command("down")
  .description("stop everything of the lab and remove its namespaces (safe to repeat)")
  .addOption(prefixOption())
  .action(async (o: { prefix: string }) => {
    const r = await labDown(o.prefix);
    console.log(`lab ${r.prefix} down in ${r.ms} ms: ${r.killed.length} processes ended, ${r.namespaces.length} namespaces removed`);
  });

program
  .command("status")
  .description("namespaces, processes, VIP holder, links")
  .addOption(prefixOption())
  .option("--json", "machine-readable")
  .action(async (o: { prefix: string; json?: boolean }) => {
    const s = await collectStatus(o.prefix);
    console.log(o.json ? JSON.stringify(s, null, 2) : formatStatus(s));
  });

for (const [verb, what, fn] of [
  ["start", "start HOST PROCESS again as up did", startLabProcess],
  ["stop", "SIGTERM HOST PROCESS and wait until it is gone", stopLabProcess],
  ["kill", "SIGKILL HOST PROCESS (nginx: with its workers)", killLabProcess],
  ["restart", "restart HOST agent as systemctl restart does: the VIPs and nginx stay, the new agent adopts them", restartLabProcess],
] as const) {
  program
    .command(`${verb} <host> <process>`)
    .description(what)
    .addOption(prefixOption())
    .action(async (host: string, proc: string, o: { prefix: string }) => {
      const pid = await fn(o.prefix, host, proc);
      const done = { start: "running", stop: "stopped", kill: "killed", restart: "restarted" }[verb];
      console.log(`${host} ${proc}: ${done} (pid ${pid})`);
    });
}

program
  .command("link <host> <net> <state>")
  .description("take the host's own lan0/ctl0 up or down (coordN and etcdN have ctl only)")
  .addOption(prefixOption())
  .action(async (host: string, n: string, state: string, o: { prefix: string }) => {
    const s = await setLink(o.prefix, host, net(n), upDown(state));
    console.log(`${host} ${n}0: ${s.adminUp ? "up" : "down"}, carrier ${s.carrier ? "yes" : "no"}`);
  });

program
  .command("partition <host> <net>")
  .description("block the host's switch port both ways; its link stays up")
  .addOption(prefixOption())
  .action(async (host: string, n: string, o: { prefix: string }) => {
    const s = await partition(o.prefix, host, net(n));
    console.log(`${host} ${n}: partitioned at the switch; ${n}0 still ${s.link.adminUp ? "up" : "down"}, carrier ${s.link.carrier ? "yes" : "no"}`);
  });

program
  .command("heal <host> <net>")
  .description("undo partition")
  .addOption(prefixOption())
  .action(async (host: string, n: string, o: { prefix: string }) => {
    await heal(o.prefix, host, net(n));
    console.log(`${host} ${n}: connected`);
  });

program
  .command("break-nginx <host>")
  .description("make nginx on the LB unable to start (the running one is untouched)")
  .addOption(prefixOption())
  .action((host: string, o: { prefix: string }) => {
    breakNginx(o.prefix, host);
    console.log(`${host}: nginx config broken (takes effect at the next start)`);
  });

program
  .command("fix-nginx <host>")
  .description("undo break-nginx")
  .addOption(prefixOption())
  .action((host: string, o: { prefix: string }) => {
    fixNginx(o.prefix, host);
    console.log(`${host}: nginx config fixed`);
  });

program
  .command("probe")
  .description("probe the VIP from the client for a while and print a summary")
  .addOption(prefixOption())
  .option("--duration <duration>", "how long (bounded)", durationMs, 5000)
  .option("--interval <duration>", "between requests", durationMs, 10)
  .option("--timeout <duration>", "per request", durationMs, 200)
  .action(async (o: { prefix: string; duration: number; interval: number; timeout: number }) => {
    const records = await startProber(o.prefix, { durationMs: o.duration, intervalMs: o.interval, timeoutMs: o.timeout }).done;
    console.log(JSON.stringify(analyzeProbes(records, o.interval), null, 2));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
