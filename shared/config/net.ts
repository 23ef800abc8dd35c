/**
 * Network value validation shared by every config edge: addresses, prefixes,
 * interface names, node ids, host:port. Values from here end up in argv lists
 * and nginx files, so the grammar is strict (no spaces, quotes, semicolons).
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
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
  /** "198.18.0.100" */
  address: string;
  /** 24 */
  prefix: number;
  family: 4 | 6;
}

/** Parses "198.18.0.100/24" or a bare address (prefix 32/128, like keepalived). */
export function parseCidr(input: string): Result<Cidr> {
  const [address, prefixText, ...rest] = input.trim().split("/");
  if (rest.length > 0) return fail("invalid-argument", `"${input}" is not an address with an optional /prefix`);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return fail("invalid-argument", `"${address}" is not an IPv4 or IPv6 address`);
  const max = family === 4 ? 32 : 128;
  if (prefixText === undefined) return ok({ address, prefix: max, family });
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max || Number(prefixText) < 1) {
    return fail("invalid-argument", `prefix length "/${prefixText}" must be 1..${max}`);
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

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
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
