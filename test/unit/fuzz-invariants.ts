/**
 * What must hold of anything the config loader accepts, however odd the input
 * was: the rules docs/design.md and the schemas promise (priorities 1..254,
 * dead_interval ≥ 3 × heartbeat_interval, IPv4 and unicast IPv6 VIPs in one
 * spelling each, addresses and names that
 * are safe in argv lists and nginx files). Written independently of the
 * schemas, so a schema that lets something through is caught here. Each
 * function returns the violations in words ([] = fine).
 */
import { isIPv4, isIPv6 } from "node:net";
import type { AgentConfig } from "../../shared/config/agent.js";
import type { CoordinatorConfig } from "../../shared/config/coordinator.js";
import { parseHostPort } from "../../shared/config/net.js";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
/** Characters a host:port written into an nginx file may contain. */
const NGINX_SAFE_ADDRESS = /^[A-Za-z0-9.:[\]-]+$/;

const isInt = (n: unknown, lo: number, hi: number) => typeof n === "number" && Number.isInteger(n) && n >= lo && n <= hi;
const isMs = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isHostPort = (s: unknown) => typeof s === "string" && parseHostPort(s).ok && NGINX_SAFE_ADDRESS.test(s.trim());
const isAbsolute = (s: unknown) => typeof s === "string" && s.startsWith("/") && !/[\0\n]/.test(s);

/** An IPv6 address as a WHATWG URL writes it: one spelling (compressed, lower case), which VIPs are compared in. */
function urlSpelling(address: string): string | undefined {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}
/** IPv6 addresses no VIP may be: unspecified, loopback, link-local, multicast, IPv4-mapped (in their URL spelling). */
const SPECIAL_V6 = /^(::|::1|fe[89ab][0-9a-f]:.*|ff[0-9a-f]{2}:.*|::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4})$/;

function unique(values: string[]): boolean {
  return new Set(values).size === values.length;
}

export function coordinatorViolations(c: CoordinatorConfig): string[] {
  const bad: string[] = [];
  const t = c.timing;
  if (!isHostPort(c.listen)) bad.push(`listen ${JSON.stringify(c.listen)}`);
  if (c.insecure === !!c.tls) bad.push("exactly one of tls and insecure is required");
  if (c.metrics && !isHostPort(c.metrics.listen)) bad.push(`metrics.listen ${JSON.stringify(c.metrics.listen)}`);
  for (const [k, v] of Object.entries(t)) if (k !== "garp" && k !== "reach_fall" && v !== undefined && !isMs(v)) bad.push(`timing.${k} ${String(v)}`);
  if (!(t.dead_interval >= 3 * t.heartbeat_interval)) bad.push(`dead_interval ${t.dead_interval} < 3 × heartbeat ${t.heartbeat_interval}`);
  if (!(t.verify_timeout < t.dead_interval)) bad.push(`verify_timeout ${t.verify_timeout} ≥ dead_interval ${t.dead_interval}`);
  if (!t.garp.delays.every(isMs) || t.garp.delays.length === 0) bad.push(`garp.delays ${JSON.stringify(t.garp.delays)}`);
  if (c.groups.length === 0) bad.push("no groups");
  if (!unique(c.groups.map((g) => g.name))) bad.push("duplicate group names");
  const vips = c.groups.flatMap((g) => g.vips.map((v) => v.address));
  if (!unique(vips)) bad.push("a VIP in two groups");
  for (const g of c.groups) {
    if (!NAME.test(g.name)) bad.push(`group name ${JSON.stringify(g.name)}`);
    if (g.members.length === 0) bad.push(`group ${g.name} without members`);
    if (!unique(g.members.map((m) => m.node))) bad.push(`group ${g.name}: a node twice`);
    for (const m of g.members) {
      if (!NODE_ID.test(m.node)) bad.push(`node id ${JSON.stringify(m.node)}`);
      if (!isInt(m.priority, 1, 254)) bad.push(`priority ${m.priority} of ${m.node}`);
    }
    for (const v of g.vips) {
      const ok4 = v.family === 4 && isIPv4(v.address) && isInt(v.prefix, 1, 32);
      const ok6 = v.family === 6 && isIPv6(v.address) && isInt(v.prefix, 1, 128) && v.address === urlSpelling(v.address) && !SPECIAL_V6.test(v.address);
      if (!ok4 && !ok6) bad.push(`VIP ${JSON.stringify(v)}`);
    }
    if (!isInt(g.service.port, 1, 65535)) bad.push(`service port ${g.service.port}`);
    if (g.service.path !== undefined && !/^\/[\x21-\x7e]*$/.test(g.service.path)) bad.push(`service path ${JSON.stringify(g.service.path)}`);
    for (const tr of g.tracks) {
      if (!isInt(tr.weight, -253, 253) || !isInt(tr.rise, 1, 100) || !isInt(tr.fall, 1, 100)) bad.push(`track ${tr.name}`);
    }
    for (const r of g.lan_references) if (!isHostPort(r)) bad.push(`lan reference ${JSON.stringify(r)}`);
  }
  const groupNames = new Set(c.groups.map((g) => g.name));
  for (const s of c.sync_groups) if (!s.groups.every((g) => groupNames.has(g))) bad.push(`sync group ${s.name} names an unknown group`);
  if (!unique(c.upstreams.map((u) => u.name))) bad.push("duplicate upstream names");
  for (const u of c.upstreams) {
    if (!NAME.test(u.name)) bad.push(`upstream name ${JSON.stringify(u.name)}`);
    if (u.servers.length === 0 || u.servers.every((s) => s.backup)) bad.push(`upstream ${u.name} has no primary server`);
    if ((u.balance === "hash") !== (u.hash_key !== undefined && u.hash_key !== "")) bad.push(`upstream ${u.name}: hash_key with balance ${u.balance}`);
    if (u.hash_key !== undefined && !/^[$A-Za-z0-9_]{1,64}$/.test(u.hash_key)) bad.push(`hash_key ${JSON.stringify(u.hash_key)}`);
    if (!unique(u.servers.map((s) => s.address))) bad.push(`upstream ${u.name}: a server twice`);
    for (const s of u.servers) {
      if (!isHostPort(s.address)) bad.push(`server address ${JSON.stringify(s.address)}`);
      if (!isInt(s.weight, 1, 1000) || !isInt(s.max_fails, 0, 1000) || !isMs(s.fail_timeout)) bad.push(`server ${s.address} numbers`);
    }
    if (u.check && !(u.check.timeout < u.check.interval)) bad.push(`upstream ${u.name}: check timeout ≥ interval`);
  }
  return bad;
}

export function agentViolations(a: AgentConfig): string[] {
  const bad: string[] = [];
  if (!NODE_ID.test(a.node_id)) bad.push(`node_id ${JSON.stringify(a.node_id)}`);
  if (!isHostPort(a.coordinator)) bad.push(`coordinator ${JSON.stringify(a.coordinator)}`);
  if (a.insecure === !!a.tls) bad.push("exactly one of tls and insecure is required");
  if (a.metrics && !isHostPort(a.metrics.listen)) bad.push(`metrics.listen ${JSON.stringify(a.metrics.listen)}`);
  for (const p of [a.state_dir, a.arping, a.ip, a.nginx.binary, a.nginx.conf, a.nginx.pid_file, a.nginx.upstream_file])
    if (!isAbsolute(p)) bad.push(`path ${JSON.stringify(p)}`);
  for (const [name, g] of Object.entries(a.groups)) {
    if (!NAME.test(name)) bad.push(`group key ${JSON.stringify(name)}`);
    if (g.interface === undefined ? a.default_interface === undefined : !IFNAME.test(g.interface)) bad.push(`interface ${JSON.stringify(g.interface)}`);
    for (const [address, b] of Object.entries(g.addresses ?? {})) {
      if (!isIPv4(address)) bad.push(`group ${name}: address key ${JSON.stringify(address)}`);
      if (b.interface !== undefined && !IFNAME.test(b.interface)) bad.push(`group ${name} address ${address}: interface ${JSON.stringify(b.interface)}`);
    }
  }
  if (a.default_interface !== undefined && !IFNAME.test(a.default_interface)) bad.push(`default_interface ${JSON.stringify(a.default_interface)}`);
  for (const i of a.track_interfaces) if (!IFNAME.test(i)) bad.push(`track interface ${JSON.stringify(i)}`);
  for (const i of a.interface_tracks) {
    if (!IFNAME.test(i)) bad.push(`interface track ${JSON.stringify(i)}`);
    if (a.track_interfaces.includes(i)) bad.push(`${i} in both track_interfaces and interface_tracks`);
  }
  const argvs = [
    a.nginx.start_command,
    a.nginx.reload_command,
    a.nginx.test_command,
    a.notify.master,
    a.notify.backup,
    a.notify.fault,
    a.notify.stop,
    a.notify.any,
    ...Object.values(a.groups).flatMap((g) => [g.notify?.master, g.notify?.backup, g.notify?.fault, g.notify?.stop, g.notify?.any]),
  ];
  for (const [name, t] of Object.entries(a.tracks)) {
    argvs.push(t.script);
    if (!NAME.test(name)) bad.push(`track name ${JSON.stringify(name)}`);
    // A timeout may exceed the interval, as in keepalived (runs never overlap: agent/tracks/scripts.ts).
    if (!isMs(t.interval) || (t.timeout !== undefined && !isMs(t.timeout))) bad.push(`track ${name}: interval ${t.interval}, timeout ${t.timeout}`);
  }
  for (const argv of argvs)
    if (argv !== undefined && (argv.length === 0 || argv.some((w) => typeof w !== "string" || w.length === 0))) bad.push(`argv ${JSON.stringify(argv)}`);
  if (a.nginx.mode === "external" && !a.nginx.start_command) bad.push("external nginx without start_command");
  if (!(a.nginx.restart_backoff.max >= a.nginx.restart_backoff.initial)) bad.push("restart_backoff max < initial");
  if (a.script_user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(a.script_user)) bad.push(`script_user ${JSON.stringify(a.script_user)}`);
  return bad;
}
