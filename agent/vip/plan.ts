/**
 * Pure planning for a host's VIPs: the argv lists for `ip addr add/del/show`,
 * `arping` (IPv4), `na6` and `ndisc6` (IPv6), the parsing
 * of what they print, and the announcement schedule as data. Nothing here runs
 * a program (controller.ts does, through a CommandRunner), so every decision
 * is a table test away.
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

/** Paths of the programs the planners name (agent config `ip` / `arping` / `na6` / `ndisc6`). */
export interface VipTools {
  ip: string;
  arping: string;
  /** IPv6 only: sends the unsolicited neighbour advertisements that announce a VIP (Debian package ipv6toolkit); without it IPv6 VIPs are held but not announced. */
  na6?: string;
  /** IPv6 only: who answers neighbour solicitations for a VIP (Debian package ndisc6); optional, see confirmOwnership. */
  ndisc6?: string;
}

/** Identity of a binding on this host: the same address/prefix on the same interface. */
export function vipKey(b: Pick<VipBinding, "interface" | "address" | "prefix">): string {
  return `${b.interface}/${b.address}/${b.prefix}`;
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
  if (b.family === 6) return { error: `${b.address} is IPv6: it is announced with neighbour advertisements (planNeighbourAdvert), not ARP` };
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
  /** IPv6: duplicate address detection still runs (the address does not serve yet). Present only when set. */
  tentative?: boolean;
  /** IPv6: duplicate address detection found another host with the address (it never serves). Present only when set. */
  dadfailed?: boolean;
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
      list.push({
        address: a.local,
        prefix: a.prefixlen,
        family,
        ...(typeof a.label === "string" ? { label: a.label } : {}),
        ...(a.tentative === true ? { tentative: true } : {}),
        ...(a.dadfailed === true ? { dadfailed: true } : {}),
      });
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

/**
 * Why an address just added (or found) cannot serve, or undefined when it can:
 * missing (another prefix of the same address, say), `dadfailed` (duplicate
 * address detection found another host with it: someone added it without
 * `nodad`, and the kernel will never use it) or `tentative` (added without
 * `nodad`, detection has not finished or waits for the link's carrier: the
 * kernel neither answers for it nor sends from it). keepvip adds IPv6 VIPs
 * with `nodad` (verified: not tentative even on a link that is down), so only
 * an address someone else added shows these.
 */
export function vipAddressProblem(addrs: InterfaceAddresses, b: VipBinding): string | undefined {
  const want = canonical(b.address);
  const found = (addrs.get(b.interface) ?? []).find((a) => a.prefix === b.prefix && canonical(a.address) === want);
  const cidr = `${b.address}/${b.prefix}`;
  if (!found) return `${cidr} is not on ${b.interface} after ip addr add (is the address there with another prefix?)`;
  if (found.dadfailed)
    return `${cidr} on ${b.interface} is dadfailed: duplicate address detection found another host with it, so the kernel will not use it (it was added without nodad; remove it: ip addr del ${cidr} dev ${b.interface})`;
  if (found.tentative)
    return `${cidr} on ${b.interface} is tentative: the kernel does not use it yet (it was added without nodad and duplicate address detection has not finished; it waits for ${b.interface}'s carrier; remove it: ip addr del ${cidr} dev ${b.interface})`;
  return undefined;
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

// IPv6: unsolicited neighbour advertisements and neighbour solicitations.

/**
 * One unsolicited neighbour advertisement for an IPv6 VIP, the IPv6 twin of a
 * gratuitous ARP (RFC 4861 7.2.6): `na6 -i IF -s VIP -d ff02::1 -t VIP -o [-r]
 * -e` (na6: Debian package ipv6toolkit). To all nodes, override flag set,
 * solicited flag clear, target and source the VIP (as keepalived's own NA),
 * the router flag when the interface forwards IPv6 (a router's NA carries R:
 * one without it makes neighbours drop the sender as a default router, RFC
 * 4861 7.2.5), and `-e`: a target link-layer option holding the frame's
 * source MAC, which na6 reads from the interface as it starts (so a changed
 * MAC is announced as it is). na6's manual says it picks a random source MAC
 * when `-S` is left out; Debian's na6 2.0 takes the interface's (verified with
 * strace and tcpdump; test/integration/vip-ipv6.test.ts checks both MACs).
 * na6 writes the frame itself (hop limit 255, its default), so nothing else
 * on the interface changes.
 */
export function planNeighbourAdvert(na6: string, b: Pick<VipBinding, "address" | "interface">, router: boolean): string[] {
  return [na6, "-i", b.interface, "-s", b.address, "-d", "ff02::1", "-t", b.address, "-o", ...(router ? ["-r"] : []), "-e"];
}

/** The sysctl that says whether IF forwards IPv6 (the NA's router flag), relative to /proc/sys; slashes, since interface names may contain dots. */
export function ipv6ForwardingKey(iface: string): string {
  return `net/ipv6/conf/${iface}/forwarding`;
}

/**
 * Who answers neighbour solicitations for `address` on IF: `ndisc6 -1 -r 1 -w
 * MS VIP IF` (one solicitation, the first answer ends it; exit 0 with a
 * "Target link-layer address:" line, 2 with "No response." when nobody
 * answered within MS, 1 on errors). Sent from the interface's link-local
 * address; this host's own copy of the VIP does not answer it (verified).
 */
export function planNeighbourSolicit(ndisc6: string, iface: string, address: string, waitMs: number): string[] {
  return [ndisc6, "-1", "-r", "1", "-w", String(Math.max(1, Math.round(waitMs))), address, iface];
}

/** The MACs of ndisc6's "Target link-layer address: 06:E7:F1:B1:1A:EA" lines, lower case. */
export function parseNdisc6(stdout: string): string[] {
  return [...stdout.matchAll(/Target link-layer address:\s*([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\b/g)].map((m) => m[1].toLowerCase());
}

/** What one ndisc6 run says about the hosts answering for an address. */
export type NeighbourAnswer =
  /** Some host other than this one answered (MACs, lower case, once each). */
  | { kind: "others"; macs: string[] }
  /** Only this host's own MAC answered. */
  | { kind: "own" }
  /** Nobody answered within the wait. */
  | { kind: "nobody" }
  /** ndisc6 could not ask (a missing interface, no IPv6 on it, no CAP_NET_RAW). */
  | { kind: "error"; detail: string };

/** Reads one ndisc6 run (planNeighbourSolicit); `ownMac` (lower case) is this host's, never counted as another. */
export function neighbourAnswer(r: { exitCode: number; stdout: string; stderr: string; spawnError?: string }, ownMac?: string): NeighbourAnswer {
  const macs = [...new Set(parseNdisc6(r.stdout))];
  const others = macs.filter((m) => m !== ownMac?.toLowerCase());
  if (others.length > 0) return { kind: "others", macs: others };
  if (macs.length > 0) return { kind: "own" };
  if (r.exitCode === 2) return { kind: "nobody" };
  const why = (r.stderr || r.spawnError || r.stdout).trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";
  return { kind: "error", detail: `ndisc6 exited ${r.exitCode}${why ? `: ${why}` : ""}` };
}
