/**
 * `keepvip-agent --preflight`: does this host have what the agent needs, and
 * if not, what to do about it. Two halves: gatherFacts() looks (files, /proc,
 * `ip -j`, `nginx -t`/`-T`, a TCP connect) and never changes anything;
 * evaluatePreflight() is pure and turns facts into a checklist where every
 * item that is not fine explains itself and says how to fix it.
 *
 * Blocking (✖, exit 1): the agent cannot do its job (cannot add a VIP, cannot
 * announce it, nginx cannot start here, the coordinator cannot be reached, its
 * TLS certificate is missing, expired, from another CA, for another node or
 * not matched by its key).
 * Warning (!): it works, but something is likely to bite later.
 */
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { readTlsFile } from "../shared/tls-material.js";
import { coordinatorAddresses, type AgentConfig } from "../shared/config/agent.js";
import { loadMemory } from "./core/memory.js";
import type { CommandRunner } from "../shared/exec/runner.js";
import { NginxSupervisor } from "./nginx/supervisor.js";
import { evaluatePreflight, type HostFacts } from "./preflight-checks.js";
import { placementOf, vipInterfaces } from "./vip/bindings.js";
import { parseCidr, parseHostPort } from "../shared/config/net.js";
import { fail, ok, type Result } from "../shared/result.js";

export { evaluatePreflight, formatChecklist, preflightExitCode, preflightJson, type CheckItem, type HostFacts } from "./preflight-checks.js";

export interface PreflightDeps {
  runner: CommandRunner;
  /** /proc/self/status, /proc/sys/... (default: the real files). */
  readText?: (path: string) => Promise<string | undefined>;
  /** TCP connect; fails (unavailable) with the reason it could not connect. */
  tcpConnect?: (host: string, port: number, timeoutMs: number) => Promise<Result<void>>;
  /** Longest wait for the coordinator's TCP handshake (default 1500 ms). */
  connectTimeoutMs?: number;
}

/** The interfaces the agent will put VIPs on (per group and per address) or track (both lists). */
export function agentInterfaces(config: AgentConfig): string[] {
  return [...new Set([...vipInterfaces(config), ...config.track_interfaces, ...config.interface_tracks])].sort();
}

async function readTextFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<Result<void>> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: Result<void>) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(fail("unavailable", `no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once("connect", () => done(ok(undefined)));
    socket.once("error", (err: NodeJS.ErrnoException) => done(fail("unavailable", err.code ?? err.message)));
  });
}

async function fileFact(path: string, mode: number): Promise<{ path: string; ok: boolean; detail: string }> {
  try {
    await access(path, mode);
    return { path, ok: true, detail: "" };
  } catch (err) {
    return { path, ok: false, detail: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/**
 * The interfaces that carry IPv6 VIPs here, as far as this host knows: the
 * groups of the agent's last welcome (state_dir), placed by the agent config.
 * Empty before the first welcome (the coordinator's config has the VIPs).
 */
export function ipv6VipInterfaces(config: AgentConfig, groups: ReadonlyArray<{ name: string; vips: string[] }>): string[] {
  const out = new Set<string>();
  for (const g of groups)
    for (const v of g.vips) {
      const c = parseCidr(v);
      if (!c.ok || c.value.family !== 6) continue;
      const place = placementOf(config, g.name, c.value.address);
      if (place) out.add(place.interface);
    }
  return [...out].sort();
}

/** Looks at the host. Changes nothing (nginx -t opens and closes its listeners, as it always does). */
export async function gatherFacts(config: AgentConfig, deps: PreflightDeps): Promise<HostFacts> {
  const read = deps.readText ?? readTextFile;
  const number = (text: string | undefined) => (text !== undefined && /^\s*-?\d+\s*$/.test(text) ? Number(text) : undefined);
  const interfaces = agentInterfaces(config);
  const links: HostFacts["links"] = {};
  const sysctls: Record<string, number | undefined> = {};
  for (const name of ["all", ...interfaces]) {
    for (const key of ["arp_ignore", "arp_announce", "rp_filter"]) {
      // Interface names may contain dots; /proc/sys keeps them as they are.
      sysctls[`net.ipv4.conf.${name}.${key}`] = number(await read(`/proc/sys/net/ipv4/conf/${name}/${key}`));
    }
  }
  sysctls["net.ipv4.ip_nonlocal_bind"] = number(await read("/proc/sys/net/ipv4/ip_nonlocal_bind"));
  const memory = loadMemory(config.state_dir);
  const v6Interfaces = ipv6VipInterfaces(config, memory.groups);
  for (const name of v6Interfaces)
    for (const key of ["disable_ipv6", "forwarding", "accept_ra"])
      sysctls[`net.ipv6.conf.${name}.${key}`] = number(await read(`/proc/sys/net/ipv6/conf/${name}/${key}`));
  const ip = await fileFact(config.ip, constants.X_OK);
  for (const name of ip.ok ? interfaces : []) {
    const r = await deps.runner.run([config.ip, "-j", "link", "show", "dev", name], { timeoutMs: 5000 });
    const parsed = r.exitCode === 0 ? jsonArray<{ flags?: string[]; operstate?: string }>(r.stdout)[0] : undefined;
    links[name] = parsed ? { flags: parsed.flags ?? [], operstate: parsed.operstate ?? "UNKNOWN" } : undefined;
  }
  const addrs = await deps.runner.run([config.ip, "-j", "-4", "addr", "show"], { timeoutMs: 5000 });
  const localAddresses =
    addrs.exitCode === 0
      ? jsonArray<{ addr_info?: Array<{ local?: string }> }>(addrs.stdout)
          .flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? ""))
          .filter(Boolean)
      : [];

  const nginxBinary = await fileFact(config.nginx.binary, constants.X_OK);
  let nginxTest: HostFacts["nginxTest"];
  let nginxListens: string[] | undefined;
  if (nginxBinary.ok) {
    nginxTest = await new NginxSupervisor({ config: config.nginx, runner: deps.runner }).test();
    if (nginxTest.ok) {
      const dump = await deps.runner.run([config.nginx.binary, "-T", ...(config.nginx.prefix ? ["-p", config.nginx.prefix] : []), "-c", config.nginx.conf], {
        timeoutMs: 15_000,
      });
      nginxListens = dump.exitCode === 0 ? listenAddresses(dump.stdout) : undefined;
    }
  }

  // Replicated coordinators: one reachable replica is enough to start; the others are named.
  const timeoutMs = deps.connectTimeoutMs ?? 1500;
  const reach = await Promise.all(
    coordinatorAddresses(config).map(async (address) => {
      const target = parseHostPort(address);
      if (!target.ok) return { address, ok: false, detail: target.error.message };
      const r = await (deps.tcpConnect ?? tcpConnect)(target.value.host, target.value.port, timeoutMs);
      return { address, ok: r.ok, detail: r.ok ? "" : r.error.message };
    }),
  );
  const coordinator = {
    reachable: reach.some((r) => r.ok),
    detail: reach
      .filter((r) => !r.ok)
      .map((r) => (reach.length > 1 ? `${r.address}: ${r.detail}` : r.detail))
      .join("; "),
  };

  const stateDir = await fileFact(config.state_dir, constants.W_OK);
  const stateParent = stateDir.ok ? stateDir : await fileFact(dirname(config.state_dir), constants.W_OK);
  const tlsFiles = config.tls ? [config.tls.ca, config.tls.cert, config.tls.key].map(readTlsFile) : [];

  return {
    tools: {
      ip,
      arping: await fileFact(config.arping, constants.X_OK),
      nginx: nginxBinary,
      nft: await fileFact(config.nft, constants.X_OK),
      ss: await fileFact(config.ss, constants.X_OK),
      na6: await fileFact(config.na6, constants.X_OK),
      ndisc6: await fileFact(config.ndisc6, constants.X_OK),
    },
    capEff: /^CapEff:\s*([0-9a-fA-F]+)/m.exec((await read("/proc/self/status")) ?? "")?.[1],
    links,
    sysctls,
    localAddresses,
    nginxTest,
    nginxListens,
    knownVips: memory.groups.flatMap((g) => g.vips.map((v) => v.split("/")[0])),
    ipv6VipInterfaces: v6Interfaces,
    coordinator,
    stateDir: stateDir.ok
      ? { ok: true, detail: "exists and is writable" }
      : stateParent.ok
        ? { ok: true, detail: "will be created" }
        : { ok: false, detail: `${stateDir.detail}; parent: ${stateParent.detail}` },
    tlsFiles,
    nowMs: Date.now(),
  };
}

function jsonArray<T>(text: string): T[] {
  try {
    const v: unknown = JSON.parse(text || "[]");
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
}

/** IPv4 addresses (with port) of `listen` directives in `nginx -T` output: "198.18.0.100:10016". */
export function listenAddresses(dump: string): string[] {
  const out = new Set<string>();
  // Directives start a line or follow ; { } (nginx -T prints files as written, one-liners included).
  const text = dump.replace(/#[^\n]*/g, "");
  for (const m of text.matchAll(/(?:^|[;{}])\s*listen\s+([^\s;{}]+)/gm)) {
    const a = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(m[1]);
    if (a) out.add(`${a[1]}:${a[2] ?? "80"}`);
  }
  return [...out].sort();
}

/** Gathers and evaluates: the checklist for this host. */
export async function runPreflight(config: AgentConfig, deps: PreflightDeps) {
  return evaluatePreflight(config, await gatherFacts(config, deps));
}
