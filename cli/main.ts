#!/usr/bin/env node
/**
 * keepvip — the admin client: status, why, events, switchover, maintenance,
 * server overrides, validate. Talks gRPC (AdminService) to the coordinator.
 * Exit codes: 0 done, 1 refused or failed, 2 bad usage/input, 3 coordinator
 * unreachable, 4 credentials refused.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importKeepalived } from "./importer/index.js";
import { Command, Option } from "commander";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  AdminClient,
  type DrillOutcome,
  type DrillProgress,
  type Event,
  type StatusReply,
  type WhyReply,
  type ActionReply,
} from "../shared/gen/keepvip/v1/admin.js";
import { agentConfigSchema } from "../shared/config/agent.js";
import { coordinatorConfigSchema } from "../shared/config/coordinator.js";
import { ConfigError, loadConfigFile } from "../shared/config/load.js";
import { VERSION } from "../shared/version.js";
import { ADMIN_CHANNEL_OPTIONS, CliError, callLeader, channelsOf, coordinatorList, replicaRoles } from "./client.js";
import { adminSpec, agentSpec, coordinatorSpec, initCa, issue } from "./certs.js";
import { createCommandRunner } from "../shared/exec/runner.js";
import { formatDrill, formatDrillStep, formatEvent, formatReplicas, formatStatus, formatWhy, parseSince } from "./format.js";
import { guessKindOfText, validateCluster } from "./validate.js";

interface Globals {
  coordinator: string;
  json?: boolean;
  timeout: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

const program = new Command()
  .name("keepvip")
  .description("keepvip admin client: see and steer the VIP cluster")
  .version(VERSION)
  .option(
    "--coordinator <host:port[,host:port…]>",
    "coordinator address, or every replica of replicated coordinators (the leader is found and followed)",
    process.env.KEEPVIP_COORDINATOR ?? "127.0.0.1:7400",
  )
  .option("--json", "machine-readable output")
  .option("--timeout <ms>", "deadline of each call", "10000")
  .option("--ca <file>", "CA certificate (mutual TLS)")
  .option("--cert <file>", "admin certificate (mutual TLS)")
  .option("--key <file>", "admin key (mutual TLS)")
  .option("--insecure", "talk to a coordinator that runs without TLS (labs only)")
  .showHelpAfterError();

function globals(): Globals {
  return program.opts<Globals>();
}

type Invoke<Res> = (c: AdminClient, cb: (err: ServiceError | null, res?: Res) => void) => void;

/**
 * The coordinator, or the leader among replicas: `call` tries the
 * `--coordinator` addresses in order and follows a follower's hint to the
 * leader; admin changes only ever reach the leader.
 */
function client(): {
  call<Res>(invoke: Invoke<Res>): Promise<Res>;
  /** The address that answered last (the leader). */
  leader(): string;
  addresses: string[];
  clientFor(address: string): AdminClient;
  deadline: () => { deadline: number };
} {
  const g = globals();
  const ms = Number(g.timeout);
  if (!Number.isFinite(ms) || ms <= 0) throw new CliError(`--timeout must be a positive number of ms, got "${g.timeout}"`, 2);
  const addresses = coordinatorList(g.coordinator);
  const channelTo = channelsOf(g);
  const clients = new Map<string, AdminClient>();
  const clientFor = (address: string) => {
    let c = clients.get(address);
    if (!c) {
      const ch = channelTo(address);
      clients.set(address, (c = new AdminClient(address, ch.credentials, { ...ch.options, ...ADMIN_CHANNEL_OPTIONS })));
    }
    return c;
  };
  let answered = addresses[0];
  return {
    addresses,
    clientFor,
    leader: () => answered,
    deadline: () => ({ deadline: Date.now() + ms }),
    async call<Res>(invoke: Invoke<Res>) {
      const r = await callLeader(addresses, clientFor, invoke);
      answered = r.address;
      return r.res;
    },
  };
}

/** Prints the reply as JSON (--json) or as text; `text` may be a function, so --json never lays out a table it does not print. */
function print(json: unknown, text: string | (() => string)): void {
  process.stdout.write(globals().json ? `${JSON.stringify(json, null, 2)}\n` : `${typeof text === "function" ? text() : text}\n`);
}

function action(reply: ActionReply): void {
  print(reply, reply.message);
  if (!reply.ok) process.exitCode = 1;
}

program
  .command("status")
  .description("VIP groups, holders, priorities, nginx and upstream health")
  .action(async () => {
    const k = client();
    const status = () => k.call<StatusReply>((c, cb) => c.getStatus({}, new Metadata(), k.deadline(), cb));
    if (k.addresses.length === 1) {
      const s = await status();
      return print(s, () => formatStatus(s));
    }
    // Replicated coordinators: every replica's role, asked of each; listed even while none
    // leads (an election, etcd without quorum), so the operator sees where each one stands.
    const [s, coordinators] = await Promise.all([
      status().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
      replicaRoles(k.addresses, k.clientFor, (c, cb) =>
        c.getStatus({}, new Metadata(), { deadline: Date.now() + Math.min(2000, Number(globals().timeout)) }, cb),
      ),
    ]);
    if (s instanceof Error) {
      if (globals().json) print({ error: s.message, coordinators }, "");
      else {
        process.stderr.write(`keepvip: ${s.message}\n`);
        process.stdout.write(`${formatReplicas(coordinators)}\n`);
      }
      process.exitCode = s instanceof CliError ? s.exitCode : 1;
      return;
    }
    print({ ...s, coordinators }, () => `${formatStatus(s)}\n${formatReplicas(coordinators)}`);
  });

program
  .command("why")
  .argument("<group>", "VIP group")
  .description("why the holder is the holder: every member's inputs and the deciding rule")
  .action(async (group: string) => {
    const k = client();
    const w = await k.call<WhyReply>((c, cb) => c.why({ group }, new Metadata(), k.deadline(), cb));
    print(w, formatWhy(w));
  });

program
  .command("events")
  .description("elections, moves, faults, pushes, admin actions")
  .option("-f, --follow", "keep printing new events")
  .option("--since <when>", "from this long ago (30s, 10m, 2h) or this time", "1h")
  .action(async (o: { follow?: boolean; since: string }) => {
    const since = parseSince(o.since, Date.now());
    if (typeof since === "string") throw new CliError(since, 2);
    const k = client();
    // The leader keeps the history: find it with a cheap call, then stream from it.
    if (k.addresses.length > 1) await k.call<StatusReply>((c, cb) => c.getStatus({}, new Metadata(), k.deadline(), cb));
    const stream = k.clientFor(k.leader()).watchEvents({ sinceMs: Math.max(1, since), follow: o.follow ?? false });
    const json = globals().json;
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (e: Event) => process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`));
      stream.on("end", () => resolve());
      stream.on("error", (err: Error & { code?: number }) => (err.code === 1 ? resolve() : reject(new CliError(`event stream: ${err.message}`, 3))));
      process.once("SIGINT", () => {
        stream.cancel();
        resolve();
      });
    });
  });

program
  .command("switchover")
  .argument("<group>", "VIP group")
  .requiredOption("--to <node>", "the node that should hold it")
  .description("planned move of a group to a node (no request lost)")
  .action(async (group: string, o: { to: string }) => {
    const k = client();
    action(await k.call<ActionReply>((c, cb) => c.switchover({ group, toNode: o.to }, new Metadata(), k.deadline(), cb)));
  });

program
  .command("drill")
  .argument("<group>", "VIP group")
  .option("--to <node>", "the member to move it to (default: the best eligible standby)")
  .option("--kill-nginx", "kill nginx on the holder and keep it down for a moment instead (agents with drills.allow_nginx_kill)")
  .description("failover drill: a switchover there and back (or an nginx kill) while every member probes the VIP every 10 ms")
  .action(async (group: string, o: { to?: string; killNginx?: boolean }) => {
    const k = client();
    // The leader runs the drill: find it with a cheap call, then stream from it.
    if (k.addresses.length > 1) await k.call<StatusReply>((c, cb) => c.getStatus({}, new Metadata(), k.deadline(), cb));
    const json = globals().json;
    const stream = k
      .clientFor(k.leader())
      .drill({ group, toNode: o.to ?? "", killNginx: o.killNginx ?? false }, new Metadata(), { deadline: Date.now() + 180_000 });
    const outcome = await new Promise<DrillOutcome | undefined>((resolve, reject) => {
      let last: DrillOutcome | undefined;
      stream.on("data", (p: DrillProgress) => {
        if (p.outcome) last = p.outcome;
        else if (!json) process.stderr.write(`${formatDrillStep(p)}\n`);
      });
      stream.on("end", () => resolve(last));
      stream.on("error", (err: Error & { code?: number; details?: string }) => reject(new CliError(`drill: ${err.details ?? err.message}`, 1)));
    });
    if (!outcome) throw new CliError("drill: the coordinator ended the drill without figures", 3);
    print(outcome, formatDrill(outcome));
    if (outcome.mode === "switchover" && outcome.failedProbes > 0) process.exitCode = 1;
  });

program
  .command("maintenance")
  .argument("<node>", "node id")
  .argument("<mode>", "on: move its VIPs away and keep it out; off: eligible again")
  .description("put a node in or out of maintenance")
  .action(async (node: string, mode: string) => {
    if (mode !== "on" && mode !== "off") throw new CliError(`maintenance takes "on" or "off", got "${mode}"`, 2);
    const k = client();
    action(await k.call<ActionReply>((c, cb) => c.setMaintenance({ nodeId: node, on: mode === "on" }, new Metadata(), k.deadline(), cb)));
  });

program
  .command("server")
  .argument("<upstream>")
  .argument("<address>", "host:port")
  .argument("<action>", "drain | down | up | weight")
  .argument("[weight]", "for weight: 1..1000")
  .description("override an upstream server's state or weight")
  .action(async (upstream: string, address: string, act: string, weight?: string) => {
    if (!["drain", "down", "up", "weight"].includes(act)) throw new CliError(`action must be drain, down, up or weight, got "${act}"`, 2);
    let w = 0;
    if (act === "weight") {
      w = Number(weight);
      if (!Number.isInteger(w) || w < 1 || w > 1000) throw new CliError(`weight must be an integer 1..1000, got "${weight ?? ""}"`, 2);
    }
    const k = client();
    action(await k.call<ActionReply>((c, cb) => c.setServerState({ upstream, server: address, action: act, weight: w }, new Metadata(), k.deadline(), cb)));
  });

program
  .command("validate")
  .argument("<file...>", "config files: one, or a coordinator config and agent configs to check together")
  .addOption(new Option("--kind <kind>", "config kind (one file only)").choices(["coordinator", "agent"]))
  .description(
    "validate config files locally (kind guessed from its fields); several files: one coordinator config and agent configs, also checked together (tracks, interfaces, groups, nodes)",
  )
  .action((files: string[], o: { kind?: string }) => {
    if (files.length > 1) {
      if (o.kind !== undefined) throw new CliError("--kind applies to one file; with several, each file's kind is guessed (agent configs name node_id)", 2);
      const v = validateCluster(files);
      if (v.code === 2) throw new CliError(v.text, 2);
      // As for one file: what passes on stdout, what fails on stderr; --json always on stdout.
      if (globals().json || v.code === 0) print(v.json, v.text);
      else process.stderr.write(`keepvip: ${v.text}\n`);
      if (v.code !== 0) process.exitCode = v.code;
      return;
    }
    const file = files[0];
    const kind = o.kind ?? guessKind(file);
    try {
      loadConfigFile(kind === "agent" ? agentConfigSchema : coordinatorConfigSchema, file);
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, 1);
      throw err;
    }
    print({ ok: true, file, kind }, `${file}: OK (${kind} config)`);
  });

program
  .command("import-keepalived")
  .argument("<keepalived.conf...>", "one keepalived.conf per node (each LB has its own)")
  .option("--nginx <file>", "nginx config with upstream blocks (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option("--out <dir>", "write coordinator.yaml and agent-NODE.yaml here (default: print them)")
  .option("--names <ids>", "node ids in file order, comma-separated (default: each file's router_id)")
  .option("--coordinator-address <host:port>", "where the agents will reach the coordinator", "127.0.0.1:7400")
  .option("--service-path <path>", "HTTP path probed through the VIP (default: TCP connect)")
  .option("--force", "overwrite existing files in --out")
  .description("convert keepalived.conf files (and nginx upstreams) into keepvip configs; lists what could not be mapped")
  .action((files: string[], o: { nginx: string[]; out?: string; names?: string; coordinatorAddress: string; servicePath?: string; force?: boolean }) => {
    let imported;
    try {
      imported = importKeepalived(files, o.nginx, {
        names: o.names?.split(",").map((s) => s.trim()),
        coordinator: o.coordinatorAddress,
        servicePath: o.servicePath,
      });
    } catch (err) {
      throw new CliError((err as Error).message, 1);
    }
    const { result, files: out } = imported;
    if (globals().json) {
      print({ coordinator: result.coordinator, agents: result.agents, notes: result.notes }, "");
      return;
    }
    if (o.out) {
      mkdirSync(o.out, { recursive: true });
      const clash = out.filter((f) => existsSync(join(o.out!, f.name)));
      if (clash.length > 0 && !o.force)
        throw new CliError(
          `${clash.map((f) => join(o.out!, f.name)).join(", ")} already exist${clash.length === 1 ? "s" : ""}: nothing written (use --force to overwrite)`,
          1,
        );
      for (const f of out) writeFileSync(join(o.out, f.name), f.text, { mode: 0o644 });
      process.stdout.write(`wrote ${out.map((f) => join(o.out!, f.name)).join(", ")}\n`);
    } else {
      process.stdout.write(out.map((f) => `# ---- ${f.name}\n${f.text}`).join("\n---\n"));
    }
    process.stderr.write(`changed or not carried over (${result.notes.length}):\n${result.notes.map((n) => `  ${n.where}: ${n.what}`).join("\n")}\n`);
  });

const certs = program.command("certs").description("a small CA and the certificates for keepvip's mutual TLS (uses the openssl CLI)");
const dirOption = () => new Option("--dir <dir>", "where the CA and certificates live").default(process.env.KEEPVIP_PKI ?? "/etc/keepvip/pki");
const daysOf = (v: string | undefined, d: number) => {
  const n = Number(v ?? d);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new CliError(`--days must be a whole number of days 1..36500, got "${v}"`, 2);
  return n;
};
const certsAction = (fn: () => Promise<string[]>) => async () => {
  let files: string[];
  try {
    files = await fn();
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
  print({ written: files }, `wrote ${files.join(", ")} (keys 0600)`);
};
certs
  .command("init")
  .description("create the CA")
  .addOption(dirOption())
  .option("--days <n>")
  .option("--force")
  .action((o: { dir: string; days?: string; force?: boolean }) =>
    certsAction(() => initCa(createCommandRunner(), o.dir, { days: daysOf(o.days, 3650), force: o.force }))(),
  );
certs
  .command("issue-coordinator")
  .description("the coordinator's server certificate")
  .addOption(dirOption())
  .requiredOption("--san <list>", "addresses agents and admins dial, comma-separated (IP or DNS)")
  .option("--days <n>")
  .option("--force")
  .action((o: { dir: string; san: string; days?: string; force?: boolean }) =>
    certsAction(() =>
      issue(
        createCommandRunner(),
        o.dir,
        coordinatorSpec(
          o.san
            .split(",")
            .map((x) => x.trim())
            .filter(Boolean),
          daysOf(o.days, 365),
        ),
        { force: o.force },
      ),
    )(),
  );
certs
  .command("issue-agent")
  .argument("<node>")
  .description("an agent's certificate (its node id is bound to it)")
  .addOption(dirOption())
  .option("--days <n>")
  .option("--force")
  .action((node: string, o: { dir: string; days?: string; force?: boolean }) =>
    certsAction(() => issue(createCommandRunner(), o.dir, agentSpec(node, daysOf(o.days, 365)), { force: o.force }))(),
  );
certs
  .command("issue-admin")
  .argument("<name>")
  .description("an operator's certificate")
  .addOption(dirOption())
  .option("--read-only", "may only read: status, why, events, validate")
  .option("--days <n>")
  .option("--force")
  .action((name: string, o: { dir: string; readOnly?: boolean; days?: string; force?: boolean }) =>
    certsAction(() => issue(createCommandRunner(), o.dir, adminSpec(name, o.readOnly ?? false, daysOf(o.days, 365)), { force: o.force }))(),
  );

function guessKind(file: string): string {
  try {
    return guessKindOfText(readFileSync(file, "utf8"));
  } catch {
    return "coordinator";
  }
}

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`keepvip: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  throw err;
}
