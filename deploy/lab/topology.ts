/**
 * The lab's network as data: which namespaces exist, which host sits on which
 * bridge with which address, and the argv lists that build it. Pure: nothing
 * here runs anything (netns.ts applies the plan).
 *
 * Layout (docs/design.md, Lab): a switch namespace P-sw holds two bridges, `lan`
 * (LBs, backends, client, VIP) and `ctl` (coordinator <-> agents), so the control
 * path can be cut alone. Each host gets a veth pair: `lan0`/`ctl0` on the host,
 * `HOST-lan`/`HOST-ctl` as the switch port. Nothing touches the root namespace.
 */

/** Hosts of the lab, in start order. */
export const HOSTS = ["coord", "lb1", "lb2", "b1", "b2", "client"] as const;
/** `up --ha`: three etcd members and three coordinator replicas instead of `coord`, all on ctl. */
export const ETCD_HOSTS = ["etcd1", "etcd2", "etcd3"] as const;
export const REPLICA_HOSTS = ["coord1", "coord2", "coord3"] as const;
export type EtcdHost = (typeof ETCD_HOSTS)[number];
export type ReplicaHost = (typeof REPLICA_HOSTS)[number];
export const HA_HOSTS = [...ETCD_HOSTS, ...REPLICA_HOSTS, "lb1", "lb2", "b1", "b2", "client"] as const;
export type Host = (typeof HOSTS)[number] | EtcdHost | ReplicaHost;
export const LB_HOSTS = ["lb1", "lb2"] as const;
export type LbHost = (typeof LB_HOSTS)[number];
export const NETS = ["lan", "ctl"] as const;
export type Net = (typeof NETS)[number];

export const DEFAULT_PREFIX = "kv";
export const VIP = "198.18.0.100";
export const LAN_PREFIX_LEN = 24;
/** The group's second VIP: the LAN is dual-stack (IPv6 from the benchmarking range 2001:2::/48). */
export const VIP6 = "2001:2::100";
export const LAN6_PREFIX_LEN = 64;
export const SERVICE_PORT = 10016;
export const COORDINATOR_PORT = 7400;
/** The coordinator's status page (config `status_page.listen`), on its control-network address. */
export const STATUS_PAGE_PORT = 9742;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** RFC 2544 benchmark range only (the network rules): LAN 198.18.0.0/24, CTL 198.19.0.0/24. */
export const ADDRESSES: Record<Net, Partial<Record<Host, string>>> = {
  lan: { lb1: "198.18.0.11", lb2: "198.18.0.12", b1: "198.18.0.21", b2: "198.18.0.22", client: "198.18.0.50" },
  ctl: {
    coord: "198.19.0.1",
    lb1: "198.19.0.11",
    lb2: "198.19.0.12",
    // --ha only (the two layouts never share a lab, so coord1 may reuse coord's address).
    coord1: "198.19.0.1",
    coord2: "198.19.0.2",
    coord3: "198.19.0.3",
    etcd1: "198.19.0.31",
    etcd2: "198.19.0.32",
    etcd3: "198.19.0.33",
  },
};

/** IPv6 on the LAN only (2001:2::/48, the benchmarking range, inside the lab's namespaces); ctl stays IPv4. */
export const ADDRESSES6: Partial<Record<Host, string>> = {
  lb1: "2001:2::11",
  lb2: "2001:2::12",
  b1: "2001:2::21",
  b2: "2001:2::22",
  client: "2001:2::50",
};

/** The hosts of a lab, in start order: the single-coordinator layout or the replicated one. */
export function labHosts(ha: boolean): readonly Host[] {
  return ha ? HA_HOSTS : HOSTS;
}

/** "host:port" of every coordinator the agents and the CLI know in this layout. */
export function coordinatorAddresses(ha: boolean): string[] {
  const hosts: readonly Host[] = ha ? REPLICA_HOSTS : ["coord"];
  return hosts.map((h) => `${ADDRESSES.ctl[h]}:${COORDINATOR_PORT}`);
}

/** One host's attachment to one bridge. */
export interface Attachment {
  host: Host;
  net: Net;
  /** The host's namespace, e.g. "kv-lb1". */
  ns: string;
  /** Interface inside the host namespace: "lan0" / "ctl0". */
  ifname: string;
  /** The switch-side veth inside P-sw, e.g. "lb1-lan" (≤ 15 characters). */
  port: string;
  /** "198.18.0.11" */
  address: string;
  /** The LAN's IPv6 address ("2001:2::11"); none on ctl. */
  address6?: string;
}

export interface TopologyPlan {
  prefix: string;
  /** The switch namespace holding both bridges. */
  switchNs: string;
  /** Every namespace of this lab, switch first. */
  namespaces: string[];
  /** The replicated layout (`up --ha`). */
  ha: boolean;
  attachments: Attachment[];
}

/** Prefixes are short and dash-free so "kv" can never match another lab's "kv-x-…" names. */
export function checkPrefix(prefix: string): string | undefined {
  return /^[A-Za-z][A-Za-z0-9]{0,11}$/.test(prefix) ? undefined : `prefix must be 1-12 letters or digits starting with a letter (no '-'), got "${prefix}"`;
}

export function hostNs(prefix: string, host: Host | "sw"): string {
  return `${prefix}-${host}`;
}

export function ifnameFor(net: Net): string {
  return `${net}0`;
}

export function isHost(value: string): value is Host {
  return (HOSTS as readonly string[]).includes(value) || (HA_HOSTS as readonly string[]).includes(value);
}

export function isNet(value: string): value is Net {
  return (NETS as readonly string[]).includes(value);
}

export function isLbHost(value: string): value is LbHost {
  return (LB_HOSTS as readonly string[]).includes(value);
}

export function planTopology(prefix: string, ha = false): TopologyPlan {
  const attachments: Attachment[] = [];
  const hosts = labHosts(ha);
  for (const net of NETS) {
    for (const host of hosts) {
      const address = ADDRESSES[net][host];
      if (address === undefined) continue;
      const address6 = net === "lan" ? ADDRESSES6[host] : undefined;
      attachments.push({ host, net, ns: hostNs(prefix, host), ifname: ifnameFor(net), port: `${host}-${net}`, address, ...(address6 ? { address6 } : {}) });
    }
  }
  return { prefix, ha, switchNs: hostNs(prefix, "sw"), namespaces: [hostNs(prefix, "sw"), ...hosts.map((h) => hostNs(prefix, h))], attachments };
}

/** The attachment of HOST to NET, or an error sentence naming the hosts that have one. */
export function findAttachment(plan: TopologyPlan, host: string, net: string): Attachment | string {
  const a = plan.attachments.find((x) => x.host === host && x.net === net);
  if (a) return a;
  const on = plan.attachments.filter((x) => x.net === net).map((x) => x.host);
  return `host "${host}" has no ${net} link (hosts on ${net}: ${on.join(", ") || "none"})`;
}

/** Per-namespace sysctls, set right after the namespace is made (before its links exist). */
export function namespaceSysctls(host: Host | "sw"): string[] {
  // IPv6 off by default: only the LAN interfaces of the hosts that have an IPv6 address turn it
  // on (interfaceSysctls); elsewhere link-locals would only add DAD/RS/MLD chatter (and a
  // detached switch port would start talking IPv6 to its host).
  const out = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
  if (host === "client" || host === "lb1" || host === "lb2") {
    // A neighbour records a gratuitous ARP only with arp_accept=1: the client
    // (and the peer LB) must learn the VIP's new MAC from the new holder's GARP.
    out.push("net.ipv4.conf.all.arp_accept=1", "net.ipv4.conf.default.arp_accept=1");
  }
  if (host === "lb1" || host === "lb2") {
    // arp_announce=2: ARP requests an LB sends carry its primary address (.11/.12), never the
    // VIP, so neighbours learn VIP→MAC only from the holder's replies and GARPs.
    // arp_ignore=1: answer ARP only for addresses on the receiving interface (lan0 holds both
    // the primary and the VIP; ctl0's address is not answered on the LAN).
    // ip_nonlocal_bind stays 0: nginx listens on 0.0.0.0:10016, so it serves the VIP whenever
    // the VIP arrives without binding to it.
    out.push("net.ipv4.conf.all.arp_announce=2", "net.ipv4.conf.all.arp_ignore=1");
    // IPv6 on lo: a planned move's old holder keeps a draining IPv6 VIP on lo (agent/vip/drain.ts),
    // which fails on an lo without IPv6, and the VIP is then let go at once.
    if (ADDRESSES6[host] !== undefined) out.push("net.ipv6.conf.lo.disable_ipv6=0");
  }
  return out;
}

/** Sysctls on an interface once it exists (the "all" value alone is not enough for every knob). */
export function interfaceSysctls(a: Attachment): string[] {
  const out: string[] = [];
  if (a.net === "lan" && (a.host === "client" || a.host === "lb1" || a.host === "lb2")) out.push(`net.ipv4.conf.${a.ifname}.arp_accept=1`);
  if (a.address6 !== undefined) {
    // No DAD (addresses serve at once), no router advertisements: the lab has no router.
    // A neighbour takes a new MAC for an address it knows from an unsolicited NA with the
    // override flag (the VIP's takeover); nothing to turn on for that.
    out.push(`net.ipv6.conf.${a.ifname}.disable_ipv6=0`, `net.ipv6.conf.${a.ifname}.accept_dad=0`, `net.ipv6.conf.${a.ifname}.accept_ra=0`);
  }
  return out;
}

/** argv lists that build the topology, in order. */
export function planUpCommands(plan: TopologyPlan, ip = "ip"): string[][] {
  const cmds: string[][] = [];
  const sw = plan.switchNs;
  for (const ns of plan.namespaces) {
    cmds.push([ip, "netns", "add", ns]);
    const host = ns.slice(plan.prefix.length + 1) as Host | "sw";
    cmds.push([ip, "netns", "exec", ns, "sysctl", "-q", "-w", ...namespaceSysctls(host)]);
    cmds.push([ip, "-n", ns, "link", "set", "lo", "up"]);
  }
  for (const net of NETS) {
    // STP off: ports forward at once; multicast snooping off: VRRP adverts (224.0.0.18) flood.
    cmds.push([ip, "-n", sw, "link", "add", net, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"]);
    cmds.push([ip, "-n", sw, "link", "set", net, "up"]);
  }
  for (const a of plan.attachments) {
    cmds.push([ip, "-n", sw, "link", "add", a.port, "type", "veth", "peer", "name", a.ifname, "netns", a.ns]);
    cmds.push([ip, "-n", sw, "link", "set", a.port, "master", a.net]);
    cmds.push([ip, "-n", sw, "link", "set", a.port, "up"]);
    cmds.push([ip, "-n", a.ns, "addr", "add", `${a.address}/${LAN_PREFIX_LEN}`, "dev", a.ifname]);
    cmds.push([ip, "-n", a.ns, "link", "set", a.ifname, "up"]);
    const sysctls = interfaceSysctls(a);
    if (sysctls.length > 0) cmds.push([ip, "netns", "exec", a.ns, "sysctl", "-q", "-w", ...sysctls]);
    if (a.address6 !== undefined) cmds.push([ip, "-n", a.ns, "-6", "addr", "add", `${a.address6}/${LAN6_PREFIX_LEN}`, "dev", a.ifname, "nodad"]);
  }
  return cmds;
}

/** A host's own link up/down (the carrier its peer sees goes with it). */
export function planLink(a: Attachment, state: "up" | "down", ip = "ip"): string[] {
  return [ip, "-n", a.ns, "link", "set", a.ifname, state];
}

/**
 * Partition = detach the host's switch port from its bridge while the port stays up: the
 * host's link keeps its carrier, and nothing crosses either way. Chosen over
 * `bridge link set … state 0` because a disabled bridge port is re-enabled by the kernel on
 * any carrier flap (a `link down/up` drill would silently heal it), and tc drop filters
 * need classifier modules this kernel does not have.
 */
export function planPartition(plan: TopologyPlan, a: Attachment, ip = "ip"): string[] {
  return [ip, "-n", plan.switchNs, "link", "set", a.port, "nomaster"];
}

export function planHeal(plan: TopologyPlan, a: Attachment, ip = "ip"): string[] {
  return [ip, "-n", plan.switchNs, "link", "set", a.port, "master", a.net];
}
