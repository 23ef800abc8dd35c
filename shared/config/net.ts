/**
 * Network value validation shared by every config edge: addresses, prefixes,
 * interface names, node ids, host:port. Values from here end up in argv lists
 * and nginx files, so the grammar is strict (no spaces, quotes, semicolons).
 */
import { isIPv4, isIPv6 } from "node:net";
import * as z from "zod";
import { fail, ok, type Result } from "../result.js";

/** Node ids: like keepalived's router_id, short and safe anywhere. */
export const nodeId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "must be 1-63 characters of letters, digits, '_', '.', '-' starting with a letter or digit");

/** Group/upstream/track names: also used as nginx upstream names. */
export const name = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/, "must be 1-63 characters of letters, digits, '_', '.', '-'")
  // Names become object keys (agent `groups:`, `tracks:`): a prototype name would vanish or worse.
  .refine((v) => !["__proto__", "constructor", "prototype"].includes(v), { message: "is a reserved name" });

/** Linux interface names (IFNAMSIZ 16 incl. NUL). */
export const interfaceName = z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, "must be a Linux interface name (1-15 characters, no spaces or '/')");

export interface Cidr {
  /** "198.18.0.100", "2001:db8::100": always normalizeAddress's spelling. */
  address: string;
  /** 24 */
  prefix: number;
  family: 4 | 6;
}

/**
 * The eight 16-bit groups of an IPv6 address in any spelling ("::", an IPv4
 * tail, upper case, leading zeros), or undefined when it is not one. No zone
 * index ("%eth0"): that names an interface, not an address.
 */
export function ipv6Groups(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const o = dotted.slice(2).map(Number);
    if (o.some((x) => x > 255)) return undefined;
    tail.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
    s = dotted[1].endsWith("::") ? dotted[1] : dotted[1].slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === "" ? [] : h.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const fill = 8 - head.length - rest.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest, ...tail];
  return all.some(Number.isNaN) ? undefined : all;
}

/**
 * The one spelling of an IP address, so that two spellings compare equal
 * ("2001:DB8:0:0::0100" and "2001:db8::100"): IPv4 as it is (Node's parser
 * already refuses leading zeros), IPv6 in RFC 5952's compressed form (lower
 * case, no leading zeros, the first longest run of two or more zero groups as
 * "::"), an IPv4 tail written as hex groups, as WHATWG URLs and the agent's
 * address scan spell it ("::ffff:102:304"). Undefined: not an address. Pure.
 */
export function normalizeAddress(address: string): string | undefined {
  if (isIPv4(address)) return address;
  const groups = isIPv6(address) ? ipv6Groups(address) : undefined;
  if (!groups) return undefined;
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best.at < 0) return hex(groups);
  return `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.len))}`;
}

/**
 * Parses "198.18.0.100/24", "2001:db8::100/64" or a bare address (prefix 32 or
 * 128, like keepalived). The address comes back normalized (normalizeAddress),
 * so every later comparison and formatCidr see one spelling. The prefix is
 * 1..32 for IPv4 and 1..128 for IPv6: a /0 would put the whole address space
 * on the VIP's interface.
 */
export function parseCidr(input: string): Result<Cidr> {
  const [written, prefixText, ...rest] = input.trim().split("/");
  if (rest.length > 0) return fail("invalid-argument", `"${input}" is not an address with an optional /prefix`);
  const family = isIPv4(written) ? 4 : isIPv6(written) ? 6 : 0;
  if (family === 0) return fail("invalid-argument", `"${written}" is not an IPv4 or IPv6 address`);
  const address = normalizeAddress(written);
  if (address === undefined) return fail("invalid-argument", `"${written}" has a zone index (${written.slice(written.indexOf("%"))}): write the address alone`);
  const max = family === 4 ? 32 : 128;
  if (prefixText === undefined) return ok({ address, prefix: max, family });
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max || Number(prefixText) < 1) {
    return fail("invalid-argument", `prefix length "/${prefixText}" must be 1..${max} for an IPv${family} address`);
  }
  return ok({ address, prefix: Number(prefixText), family });
}

export const cidr = z.string().transform((value, ctx) => {
  const parsed = parseCidr(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", message: parsed.error.message });
    return z.NEVER;
  }
  return parsed.value;
});

/** "198.18.0.100/24", "2001:db8::100/64" (IPv6 compressed; no brackets: ip(8) and parseCidr take it so). */
export function formatCidr(c: Cidr): string {
  return `${normalizeAddress(c.address) ?? c.address}/${c.prefix}`;
}

/**
 * Why an IPv6 address cannot be a VIP, or undefined when it can: it must be a
 * unicast address clients reach by routing. Unspecified, loopback, multicast,
 * link-local (a client would need a zone index, and so would the agents'
 * probes through the VIP) and IPv4-mapped ones are refused.
 */
export function ipv6VipProblem(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return `${address} is not an IPv6 address`;
  if (g.every((x) => x === 0)) return `${address} is the unspecified address`;
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return `${address} is the loopback address`;
  if (g[0] >> 8 === 0xff) return `${address} is a multicast address (ff00::/8)`;
  if ((g[0] & 0xffc0) === 0xfe80)
    return `${address} is link-local (fe80::/10): clients and the agents' probes would need a zone index; use a global or unique-local address`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return `${address} is IPv4-mapped (::ffff:0:0/96): write the IPv4 address ${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  return undefined;
}

export interface HostPort {
  host: string;
  port: number;
}

/** "198.18.0.21:10016", "[::1]:80"; hosts are IP literals or DNS names. */
export function parseHostPort(input: string): Result<HostPort> {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(input.trim());
  if (!m) return fail("invalid-argument", `"${input}" must be host:port (IPv6 as [addr]:port)`);
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && !isIPv6(host)) return fail("invalid-argument", `"${host}" is not an IPv6 address`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return fail("invalid-argument", `port ${port} must be 1..65535`);
  return ok({ host, port });
}

export const hostPort = z.string().refine((v) => parseHostPort(v).ok, {
  error: (issue) => {
    const r = typeof issue.input === "string" ? parseHostPort(issue.input) : undefined;
    return r && !r.ok ? r.error.message : "must be host:port";
  },
});

/** Loopback only: 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith("127.");
}

export const port = z.number().int().min(1).max(65535);

/** Absolute paths only: relative paths change meaning under systemd. */
export const absolutePath = z.string().regex(/^\/[^\0\n]*$/, "must be an absolute path");

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/**
 * One spelling of a host:port, to compare two ("[2001:DB8::0021]:80" and
 * "[2001:db8::21]:80" are one server): an IPv6 host normalized and bracketed,
 * a DNS name lower case, the port without leading zeros. Text that is no
 * host:port comes back as it is.
 */
export function normalizeHostPort(input: string): string {
  const hp = parseHostPort(input);
  if (!hp.ok) return input;
  const host = normalizeAddress(hp.value.host) ?? hp.value.host.toLowerCase();
  return formatHostPort({ host, port: hp.value.port });
}
