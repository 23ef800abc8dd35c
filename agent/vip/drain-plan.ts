/**
 * Pure planning for lossless planned moves (docs/design.md, Lossless planned
 * moves): the nftables rulesets, the argv lists and the parsing of what `ss`,
 * `arping` and `ip` print. Nothing here runs a program (drain.ts does).
 *
 * - The **new holder forwards** the packets of TCP flows it does not know
 *   (not a SYN, not a flow it accepted) to the old holder's MAC, in the netdev
 *   ingress hook of the VIP's interface, for the drain window. Its own flows
 *   are recorded in a set as their SYN arrives (and seeded with the flows it
 *   already serves, for a move back to a node that is still draining).
 * - The **old holder drains**: the VIP leaves the LAN interface for `lo` (still
 *   local, so established flows go on), an ARP filter keeps it from answering
 *   for the VIP or naming it as an ARP sender, and it lets go when its last
 *   connection on the VIP ends or the drain times out.
 */
import { isIPv6 } from "node:net";
import type { VipBinding } from "./plan.js";

export interface DrainTools {
  nft: string;
  ip: string;
  ss: string;
  arping: string;
  /** IPv6 VIPs: who answers for the VIP before forwarding (absent: IPv6 flows are not forwarded). */
  ndisc6?: string;
}

/** A TCP peer of the VIP: the client's address and port. */
export interface Flow {
  address: string;
  port: number;
}

/** The interface that holds a draining VIP: local, never answering ARP on the LAN. */
export const DRAIN_INTERFACE = "lo";
/** The label of a draining VIP on `lo` (found at start: a drain the last process left behind). */
export const DRAIN_LABEL = "lo:kvdrain";

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * A draining VIP stays on lo at least as long as the new holder's planned announcements
 * last, plus this margin (the release reaches the old holder up to a round trip after the
 * new holder's first send).
 */
export const DRAIN_HOLD_MARGIN_MS = 300;

/** "198.18.0.100" → "198_18_0_100": a part of an nftables table name. */
export function tableTag(address: string): string {
  return address.replace(/[^0-9a-zA-Z]/g, "_");
}

export function forwardTable(address: string): string {
  return `keepvip_fwd_${tableTag(address)}`;
}

export function drainTable(address: string): string {
  return `keepvip_drain_${tableTag(address)}`;
}

function checkMac(mac: string, what: string): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw new Error(`${what} "${mac}" is not a MAC address`);
  return m;
}

function checkIfname(name: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) throw new Error(`interface name "${name}" cannot go into an nftables rule`);
  return name;
}

/** An IPv4 or IPv6 address, as it may go into a rule. */
function checkIp(address: string): string {
  if (isIPv6(address)) return address;
  return checkIpv4(address);
}

function checkIpv4(address: string): string {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`"${address}" is not an IPv4 address`);
  return address;
}

/**
 * The new holder's forwarding table for one VIP (an `nft -f -` script that
 * replaces any earlier one atomically). `mine` seeds the set of flows this host
 * serves itself; `holdMs` bounds how long an idle flow of its own stays known.
 */
export function planForwardRuleset(b: VipBinding, opts: { ownMac: string; peerMac: string; mine: Flow[]; holdMs: number }): string {
  const v6 = b.family === 6;
  const vip = v6 ? checkIp(b.address) : checkIpv4(b.address);
  const ip = v6 ? "ip6" : "ip";
  const dev = checkIfname(b.interface);
  const own = checkMac(opts.ownMac, "own MAC");
  const peer = checkMac(opts.peerMac, "old holder's MAC");
  const table = forwardTable(vip);
  const timeoutS = Math.max(1, Math.ceil(opts.holdMs / 1000));
  const seed = opts.mine
    .filter((f) => Number.isInteger(f.port) && f.port > 0 && f.port < 65536 && isIPv6(f.address) === v6)
    .map((f) => `${checkIp(f.address)} . ${f.port}`);
  return [
    `table netdev ${table} {}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
    "  set mine {",
    `    type ${v6 ? "ipv6_addr" : "ipv4_addr"} . inet_service`,
    "    flags dynamic, timeout",
    `    timeout ${timeoutS}s`,
    "    size 65536",
    ...(seed.length > 0 ? [`    elements = { ${seed.join(", ")} }`] : []),
    "  }",
    "  chain ingress {",
    `    type filter hook ingress device "${dev}" priority -150; policy accept;`,
    `    ${ip} daddr ${vip} meta l4proto tcp jump flows`,
    "  }",
    "  chain flows {",
    // From the old holder itself: never sent back (a flow it no longer knows ends here).
    `    ether saddr ${peer} accept`,
    `    tcp flags & (syn | ack) == syn update @mine { ${ip} saddr . tcp sport } accept`,
    `    ${ip} saddr . tcp sport @mine update @mine { ${ip} saddr . tcp sport } accept`,
    `    counter ether saddr set ${own} ether daddr set ${peer} fwd to "${dev}"`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * The old holder's ARP filter for one VIP: no answer to requests for it, and
 * `source` (the interface's own address) instead of the VIP as the sender of
 * its own requests (the kernel would pick the VIP for a reply's neighbour
 * lookup, and teach the LAN the old MAC again).
 */
export function planDrainRuleset(address: string, source: string): string {
  const vip = checkIpv4(address);
  const src = checkIpv4(source);
  const table = drainTable(vip);
  return [
    `table arp ${table} {}`,
    `delete table arp ${table}`,
    `table arp ${table} {`,
    "  chain input {",
    "    type filter hook input priority 0; policy accept;",
    `    arp operation request arp daddr ip ${vip} drop`,
    "  }",
    "  chain output {",
    "    type filter hook output priority 0; policy accept;",
    `    arp saddr ip ${vip} arp saddr ip set ${src}`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Removes a table if it exists (nft has no "delete if exists" before 1.0.8: add it empty first). */
export function planRemoveTable(family: "netdev" | "arp", table: string): string {
  return `table ${family} ${table} {}\ndelete table ${family} ${table}\n`;
}

/** `nft -f -`: a script on stdin, applied as one transaction. */
export function planNftScript(tools: DrainTools): string[] {
  return [tools.nft, "-f", "-"];
}

/** `nft -j list tables`: tables left by an earlier process. */
export function planListTables(tools: DrainTools): string[] {
  return [tools.nft, "-j", "list", "tables"];
}

/** Our tables among `nft -j list tables` output. */
export function parseOurTables(stdout: string): Array<{ family: "netdev" | "arp"; name: string }> {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return [];
  }
  const items = (doc as { nftables?: Array<{ table?: { family?: string; name?: string } }> }).nftables ?? [];
  const out: Array<{ family: "netdev" | "arp"; name: string }> = [];
  for (const i of items) {
    const t = i.table;
    if (!t?.name || !/^keepvip_(fwd|drain)_/.test(t.name)) continue;
    if (t.family === "netdev" || t.family === "arp") out.push({ family: t.family, name: t.name });
  }
  return out;
}

/**
 * `ss -Htno state connected src VIP`: TCP connections this host has on the VIP
 * (every state but listening, closed and time-wait, which holds no flow a client still
 * uses), with their timers.
 */
export function planConnections(tools: DrainTools, address: string): string[] {
  return [tools.ss, "-Htno", "state", "connected", "exclude", "time-wait", "src", checkIp(address)];
}

/**
 * Retransmissions after which a connection counts as dead for a drain: its peer no longer
 * answers (typically the new holder's own probe through the VIP, caught at the flip: the
 * answer now comes back to an address that is local there, and is dropped). A live
 * client on a LAN answers long before the third retransmission.
 */
export const DEAD_RETRANSMITS = 3;

/**
 * The live peers of `ss -Htno` lines (State Recv-Q Send-Q Local:Port Peer:Port [timer:(…)]):
 * half-open connections (SYN-RECV) and ones whose retransmission timer has fired
 * DEAD_RETRANSMITS times are left out.
 */
export function parseConnections(stdout: string): Flow[] {
  const out: Flow[] = [];
  for (const line of stdout.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    if (cols[0] === "SYN-RECV") continue;
    const timer = /timer:\(on,[^,]*,(\d+)\)/.exec(line);
    if (timer && Number(timer[1]) >= DEAD_RETRANSMITS) continue;
    const peer = cols[4];
    const i = peer.lastIndexOf(":");
    if (i <= 0) continue;
    const address = peer
      .slice(0, i)
      .replace(/^\[|\]$/g, "")
      .replace(/^::ffff:/, "");
    const port = Number(peer.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    out.push({ address, port });
  }
  return out;
}

/** `arping -c 1 -w 1 -I IF VIP`: who answers for the VIP now (the old holder, before we announce). */
export function planWhoHas(tools: DrainTools, iface: string, address: string): string[] {
  return [tools.arping, "-c", "1", "-w", "1", "-I", iface, address];
}

/**
 * `ip addr add VIP/32 dev lo label lo:kvdrain`: still local, on no LAN. IPv6: `VIP/128
 * dev lo nodad` (no labels in IPv6); the kernel answers neighbour solicitations only
 * for addresses of the receiving interface, so no filter is needed to keep it quiet.
 */
export function planDrainAdd(tools: DrainTools, address: string): string[] {
  if (isIPv6(address)) return [tools.ip, "-6", "addr", "add", `${address}/128`, "dev", DRAIN_INTERFACE, "nodad"];
  return [tools.ip, "addr", "add", `${checkIpv4(address)}/32`, "dev", DRAIN_INTERFACE, "label", DRAIN_LABEL];
}

export function planDrainDel(tools: DrainTools, address: string): string[] {
  if (isIPv6(address)) return [tools.ip, "-6", "addr", "del", `${address}/128`, "dev", DRAIN_INTERFACE];
  return [tools.ip, "addr", "del", `${checkIpv4(address)}/32`, "dev", DRAIN_INTERFACE];
}

/** The drain outcome in a sentence, for the log and the event history. */
export function drainSummary(group: string, address: string, r: { elapsedMs: number; left: number; timedOut: boolean }): string {
  const secs = (r.elapsedMs / 1000).toFixed(1);
  if (!r.timedOut) return `${group}: ${address} drained in ${secs} s (every connection ended on its own)`;
  return `${group}: ${address} drain timed out after ${secs} s with ${r.left} connection${r.left === 1 ? "" : "s"} still open (cut)`;
}
