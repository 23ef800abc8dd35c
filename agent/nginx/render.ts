/**
 * Renders a pushed UpstreamConfig into the text of the one nginx include file
 * keepvip owns (the seed's my.conf `upstream my10016 { ... }` blocks).
 *
 * Pure. Every value that lands in the file is checked against a strict grammar
 * first: the file is parsed by nginx as root, so a name like
 * `x; include /etc/shadow` or a newline in an address would be an injection.
 * A bad value throws UpstreamRenderError naming the field, and nothing is written.
 */
import type { Upstream, UpstreamConfig, UpstreamServer } from "../../shared/gen/keepvip/v1/agent.js";
import { normalizeHostPort, parseHostPort } from "../../shared/config/net.js";

/** A pushed value that cannot be written safely or that nginx would refuse. */
export class UpstreamRenderError extends Error {
  /** Path of the offending field, e.g. "upstreams[0].servers[1].address". */
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "UpstreamRenderError";
    this.field = field;
  }
}

/** The balance methods nginx has built in; "" is proto3's default and means round_robin. */
export const BALANCE_METHODS = ["round_robin", "least_conn", "ip_hash", "hash"] as const;

// Same grammar as config names (shared/config/net.ts `name`): safe as an nginx token.
const UPSTREAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
// `hash $request_uri`, `hash $remote_addr$http_x_user`: variables and plain text,
// no braces (`${var}` is the only use and it opens a block-like token), quotes, spaces or `;`.
const HASH_KEY = /^[$A-Za-z0-9_.:/-]{1,128}$/;
// Bounds nginx accepts or that are sane; the coordinator's config allows less.
const LIMITS = { weight: 1000, max_fails: 1000, fail_timeout_s: 86_400, keepalive: 100_000 } as const;

function checkCount(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new UpstreamRenderError(field, `must be an integer 0..${max}, got ${String(value)}`);
  }
}

function quoteForError(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function renderServer(server: UpstreamServer, field: string, balance: string): string {
  const hp = parseHostPort(server.address);
  // parseHostPort trims; refuse surrounding whitespace outright rather than writing a cleaned value.
  if (!hp.ok || server.address !== server.address.trim()) {
    throw new UpstreamRenderError(`${field}.address`, `${quoteForError(server.address)} must be host:port (IPv6 as [addr]:port)`);
  }
  checkCount(`${field}.weight`, server.weight, LIMITS.weight);
  checkCount(`${field}.max_fails`, server.maxFails, LIMITS.max_fails);
  checkCount(`${field}.fail_timeout_s`, server.failTimeoutS, LIMITS.fail_timeout_s);
  if (server.backup && (balance === "ip_hash" || balance === "hash")) {
    // nginx -t: "balancing method does not support parameter backup".
    throw new UpstreamRenderError(`${field}.backup`, `nginx does not allow backup servers with balance "${balance}"`);
  }
  // Written as pushed: parseHostPort took an IPv6 host only bracketed ("[2001:db8::21]:80"),
  // which is how nginx wants it; a bare one ("2001:db8::21:80") was refused above.
  const parts = [`server ${server.address}`];
  // weight 0 is proto3's "unset": nginx's default (1) applies; nginx refuses weight=0.
  if (server.weight > 0) parts.push(`weight=${server.weight}`);
  // max_fails=0 is meaningful (no failure accounting), so it is always written.
  parts.push(`max_fails=${server.maxFails}`, `fail_timeout=${server.failTimeoutS}s`);
  if (server.backup) parts.push("backup");
  if (server.down) parts.push("down");
  return `    ${parts.join(" ")};`;
}

function renderBalance(u: Upstream, field: string): string[] {
  const balance = u.balance === "" ? "round_robin" : u.balance;
  if (!(BALANCE_METHODS as readonly string[]).includes(balance)) {
    throw new UpstreamRenderError(`${field}.balance`, `${quoteForError(u.balance)} must be one of ${BALANCE_METHODS.join(", ")}`);
  }
  if (balance !== "hash" && (u.hashKey !== "" || u.hashConsistent)) {
    throw new UpstreamRenderError(`${field}.hash_key`, `hash_key/hash_consistent are only used with balance "hash", not "${balance}"`);
  }
  switch (balance) {
    case "least_conn":
      return ["    least_conn;"];
    case "ip_hash":
      return ["    ip_hash;"];
    case "hash":
      if (!HASH_KEY.test(u.hashKey)) {
        throw new UpstreamRenderError(
          `${field}.hash_key`,
          `${quoteForError(u.hashKey)} must be an nginx variable expression like $remote_addr (letters, digits, $ _ . : / -)`,
        );
      }
      return [`    hash ${u.hashKey}${u.hashConsistent ? " consistent" : ""};`];
    default:
      return [];
  }
}

function renderUpstream(u: Upstream, index: number): string[] {
  const field = `upstreams[${index}]`;
  if (!UPSTREAM_NAME.test(u.name)) {
    throw new UpstreamRenderError(`${field}.name`, `${quoteForError(u.name)} must be 1-63 characters of letters, digits, '_', '.', '-'`);
  }
  if (u.servers.length === 0) {
    throw new UpstreamRenderError(`${field}.servers`, `upstream "${u.name}" has no servers (nginx refuses an empty upstream)`);
  }
  checkCount(`${field}.keepalive`, u.keepalive, LIMITS.keepalive);
  const balance = u.balance === "" ? "round_robin" : u.balance;
  const lines = [`upstream ${u.name} {`, ...renderBalance(u, field)];
  // nginx requires keepalive after the balance method ("load balancing method redefined").
  if (u.keepalive > 0) lines.push(`    keepalive ${u.keepalive};`);
  const seen = new Set<string>();
  u.servers.forEach((s, si) => {
    const line = renderServer(s, `${field}.servers[${si}]`, balance);
    // Two spellings of one IPv6 server ("[2001:DB8::0021]:80", "[2001:db8::21]:80") are one server.
    const key = normalizeHostPort(s.address);
    if (seen.has(key)) throw new UpstreamRenderError(`${field}.servers[${si}].address`, `server ${s.address} is listed twice in upstream "${u.name}"`);
    seen.add(key);
    lines.push(line);
  });
  lines.push("}");
  return lines;
}

/**
 * The include file for `config`. Throws UpstreamRenderError (naming the field)
 * for anything that fails the grammar; the result is deterministic (golden-tested).
 */
export function renderUpstreams(config: UpstreamConfig): string {
  if (!Number.isSafeInteger(config.version) || config.version < 0) {
    throw new UpstreamRenderError("version", `must be a non-negative integer, got ${String(config.version)}`);
  }
  const names = new Set<string>();
  const blocks = config.upstreams.map((u, i) => {
    const lines = renderUpstream(u, i);
    if (names.has(u.name)) throw new UpstreamRenderError(`upstreams[${i}].name`, `upstream name "${u.name}" is used twice`);
    names.add(u.name);
    return lines.join("\n");
  });
  const servers = config.upstreams.reduce((n, u) => n + u.servers.length, 0);
  const header = [
    "# Written by keepvip-agent. Do not edit: the next push from the coordinator overwrites it.",
    `# upstream config version ${config.version}`,
    `# ${config.upstreams.length} upstream(s), ${servers} server(s); checked with nginx -t before every reload.`,
  ];
  return `${[header.join("\n"), ...blocks].join("\n\n")}\n`;
}
