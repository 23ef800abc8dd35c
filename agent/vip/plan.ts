/**
 * Pure planning for a host's VIPs: the argv lists for `ip addr add/del/show`
 * and `arping`, the parsing of what they print, and the gratuitous-ARP
 * schedule as data. Nothing here runs a program (controller.ts does, through
 * a CommandRunner), so every decision is a table test away.
 */

import { DEFAULT_GARP } from "../../shared/protocol.js";

/** One VIP of one group, bound to this host's interface. */
export interface VipBinding {
  /** The VIP group (vrrp_instance) this address belongs to. */
  group: string;
  /** "198.18.0.100" */
  address: string;
  /** Prefix length the address is added with (24). */
  prefix: number;
  family: 4 | 6;
  /** Interface carrying the VIP ("eth0"). */
  interface: string;
  /** `ip addr add ... label L` ("eth0:vip"). */
  label?: string;
  /** `ip addr add ... scope S` ("global", "host", "link", "site"). */
  scope?: string;
}

/** Paths of the programs the planners name (agent config `ip` / `arping`). */
export interface VipTools {
  ip: string;
  arping: string;
}

/** Identity of a binding on this host: the same address/prefix on the same interface. */
export function vipKey(b: Pick<VipBinding, "interface" | "address" | "prefix">): string {
  return `${b.interface}/${b.address}/${b.prefix}`;
}

/**
 * Why a binding cannot be held here, or undefined when it can.
 * IPv6 is refused on purpose: taking over an IPv6 VIP needs unsolicited
 * neighbour advertisements, repeated like a GARP burst, and Debian ships no
 * tool that sends them (ndisc6 only solicits; the kernel's ndisc_notify sends
 * a single NA on add, with no repeat or refresh). Holding an address we cannot
 * announce would make a takeover silently slow, so we say so instead.
 */
export function vipUnsupported(b: VipBinding): string | undefined {
  if (b.family === 6)
    return `IPv6 VIPs are not supported yet (${b.address}/${b.prefix} of group ${b.group}): keepvip cannot send unsolicited neighbour advertisements`;
  return undefined;
}

/** `ip addr add VIP/len dev IF [label L] [scope S]` (IPv6: `nodad`, so the VIP serves at once). */
export function planAddressAdd(tools: VipTools, b: VipBinding): string[] {
  const argv = [tools.ip, "addr", "add", `${b.address}/${b.prefix}`, "dev", b.interface];
  if (b.label !== undefined && b.family === 4) argv.push("label", b.label);
  if (b.scope !== undefined) argv.push("scope", b.scope);
  if (b.family === 6) argv.push("nodad");
  return argv;
}

/** `ip addr del VIP/len dev IF` */
export function planAddressDel(tools: VipTools, b: VipBinding): string[] {
  return [tools.ip, "addr", "del", `${b.address}/${b.prefix}`, "dev", b.interface];
}

/** `ip -json addr show [dev IF]`: all interfaces when none is named (one call for every binding). */
export function planAddressShow(tools: VipTools, iface?: string): string[] {
  return iface === undefined ? [tools.ip, "-json", "addr", "show"] : [tools.ip, "-json", "addr", "show", "dev", iface];
}

/**
 * `ip monitor address`: iproute2 6.1 ignores `-json` for monitor (verified: it
 * prints text either way), so the controller treats each line only as a nudge
 * to re-read `ip -json addr show`; the text itself is never trusted.
 */
export function planAddressMonitor(tools: VipTools): string[] {
  return [tools.ip, "monitor", "address"];
}

/**
 * One gratuitous ARP: `arping -U -c 1 -I IF VIP`.
 * -U (unsolicited ARP *request*, sender = target = VIP) rather than -A (ARP
 * *reply*): RFC 5227 §3 prefers the request form because every stack processes
 * requests, while some (older Windows, some switches) ignore unsolicited
 * replies; Linux neighbours update an existing entry from either and create one
 * only with arp_accept=1. keepalived announces with requests too.
 * arping lingers about a second after the send (it waits for replies that
 * never come), so a burst is one process per send, scheduled by us.
 */
export function planGarp(tools: VipTools, b: VipBinding): { argv: string[] } | { error: string } {
  const why = vipUnsupported(b);
  if (why !== undefined) return { error: why };
  return { argv: [tools.arping, "-U", "-c", "1", "-I", b.interface, b.address] };
}

/**
 * Duplicate address detection: `arping -D -c 1 -w 1 -I IF VIP`. Sent from
 * 0.0.0.0, so the sender's own copy of the VIP never answers: any reply is
 * another host. Exit 1 at the first reply (~20 ms), exit 0 after the full
 * second when nobody answered (whole seconds only: `-w 0.2` is refused).
 */
export function planDuplicateProbe(tools: VipTools, iface: string, address: string): string[] {
  return [tools.arping, "-D", "-c", "1", "-w", "1", "-I", iface, address];
}

/** `ip -json link show dev IF`: the interface's own MAC (to tell our replies from others'). */
export function planLinkShow(tools: VipTools, iface: string): string[] {
  return [tools.ip, "-json", "link", "show", "dev", iface];
}

/** An address as `ip -json addr` reports it. */
export interface HostAddress {
  address: string;
  prefix: number;
  family: 4 | 6;
  /** IPv4 label ("eth0:vip"); equal to the interface name when none was given. */
  label?: string;
}

/** Addresses per interface name. */
export type InterfaceAddresses = Map<string, HostAddress[]>;

/** Parses `ip -json addr show` output; a string says what was wrong with it. */
export function parseAddresses(json: string): InterfaceAddresses | string {
  let data: unknown;
  try {
    data = JSON.parse(json.trim() === "" ? "[]" : json);
  } catch (err) {
    return `ip -json addr printed invalid JSON: ${(err as Error).message}`;
  }
  if (!Array.isArray(data)) return "ip -json addr did not print a JSON array";
  const out: InterfaceAddresses = new Map();
  for (const link of data as Array<Record<string, unknown>>) {
    if (typeof link?.ifname !== "string") continue;
    const list: HostAddress[] = [];
    for (const a of Array.isArray(link.addr_info) ? (link.addr_info as Array<Record<string, unknown>>) : []) {
      if (typeof a.local !== "string" || typeof a.prefixlen !== "number") continue;
      const family = a.family === "inet" ? 4 : a.family === "inet6" ? 6 : undefined;
      if (family === undefined) continue;
      list.push({ address: a.local, prefix: a.prefixlen, family, ...(typeof a.label === "string" ? { label: a.label } : {}) });
    }
    out.set(link.ifname, list);
  }
  return out;
}

/** Whether the binding's address/prefix is on its interface. IPv6 compared in canonical form. */
export function isPresent(addrs: InterfaceAddresses, b: VipBinding): boolean {
  const want = canonical(b.address);
  return (addrs.get(b.interface) ?? []).some((a) => a.prefix === b.prefix && canonical(a.address) === want);
}

function canonical(address: string): string {
  if (!address.includes(":")) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

/** The MAC `ip -json link show dev IF` reports, lower case; undefined when absent. */
export function parseLinkMac(json: string): string | undefined {
  try {
    const data = JSON.parse(json) as Array<{ address?: unknown }>;
    const mac = Array.isArray(data) ? data[0]?.address : undefined;
    return typeof mac === "string" ? mac.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** What an `ip addr add` result means. */
export type AddOutcome = "added" | "already-present" | "failed";
/** What an `ip addr del` result means. */
export type DelOutcome = "removed" | "already-absent" | "failed";

/**
 * "RTNETLINK answers: File exists" (older iproute2) and "Error: ipv4: Address
 * already assigned." (6.x with extended acks) both mean the address is there:
 * success for a level-triggered acquire.
 */
export function addOutcome(r: { exitCode: number; stderr: string }): AddOutcome {
  if (r.exitCode === 0) return "added";
  if (/File exists|already assigned/i.test(r.stderr)) return "already-present";
  return "failed";
}

/** "Cannot assign requested address" / "Address not found": already gone, success for release. */
export function delOutcome(r: { exitCode: number; stderr: string }): DelOutcome {
  if (r.exitCode === 0) return "removed";
  if (/Cannot assign requested address|Address not found/i.test(r.stderr)) return "already-absent";
  return "failed";
}

/** One ARP reply arping printed. */
export interface ArpReply {
  address: string;
  /** Lower case "aa:bb:cc:dd:ee:ff". */
  mac: string;
}

/** Parses arping's "Unicast reply from 198.18.0.100 [3E:D1:5E:A4:94:5D]  0.527ms" lines. */
export function parseArpingReplies(stdout: string): ArpReply[] {
  const out: ArpReply[] = [];
  for (const m of stdout.matchAll(/(?:Unicast|Broadcast) reply from (\S+) \[([0-9A-Fa-f:]{17})\]/g)) {
    out.push({ address: m[1], mac: m[2].toLowerCase() });
  }
  return out;
}

/** When gratuitous ARPs go out after an acquire, as data. */
export interface GarpSchedule {
  /** Offsets (ms after the address is added) of the sends of a normal acquire. */
  burstMs: number[];
  /** Offsets for a takeover from a holder that may still be in neighbours' caches. */
  takeoverBurstMs: number[];
  /** Re-announce every this many ms while held (keepalived's garp_master_refresh); 0 = off. */
  refreshMs: number;
}

/**
 * The first GARP goes out at once; the rest back off geometrically so a
 * neighbour that missed one (a busy host, a switch still learning the port
 * after a link flap) hears another within 100 ms, and slow learners within a
 * second. keepalived's default (5 GARPs back to back, then 5 more after 5 s)
 * puts its whole first burst in one instant, which a congested port loses
 * together. A takeover doubles the density: the old holder's MAC may still sit
 * in every cache, and each miss is a client sending into the void.
 */
export const DEFAULT_GARP_SCHEDULE: GarpSchedule = {
  burstMs: [...DEFAULT_GARP.burstMs],
  takeoverBurstMs: [...DEFAULT_GARP.takeoverBurstMs],
  refreshMs: DEFAULT_GARP.refreshMs,
};

/** The offsets to use for one acquire; always starts at 0, sorted, unique, non-negative. */
export function garpOffsets(schedule: GarpSchedule, takeover: boolean): number[] {
  const raw = takeover ? schedule.takeoverBurstMs : schedule.burstMs;
  return [...new Set([0, ...raw.filter((ms) => Number.isFinite(ms) && ms >= 0).map(Math.round)])].sort((a, b) => a - b);
}
