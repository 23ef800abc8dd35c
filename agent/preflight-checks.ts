/**
 * The preflight's decisions, pure: host facts in, a checklist out. Each item
 * that is not fine says why it matters for a VIP and how to fix it, in one
 * sentence each (gathering the facts: preflight.ts).
 */
import { checkTlsFiles, type CertCheck, type TlsFile } from "../shared/cert-check.js";
import { coordinatorAddresses, type AgentConfig } from "../shared/config/agent.js";
import { configuredPlacements } from "./vip/bindings.js";

export type CheckStatus = "ok" | "warn" | "fail";

export interface CheckItem {
  /** Stable key ("tool.arping", "sysctl.lan0.arp_ignore") for scripts (--json). */
  id: string;
  status: CheckStatus;
  /** What was found, in one line. */
  title: string;
  /** Why it matters (not-ok items). */
  why?: string;
  /** What to do (not-ok items). */
  fix?: string;
}

export interface FileFact {
  path: string;
  ok: boolean;
  /** errno code when not ok ("ENOENT", "EACCES"). */
  detail: string;
}

export interface HostFacts {
  tools: { ip: FileFact; arping: FileFact; nginx: FileFact; nft?: FileFact; ss?: FileFact; na6?: FileFact; ndisc6?: FileFact };
  /** /proc/self/status CapEff (hex); undefined when unreadable. */
  capEff?: string;
  /** `ip -j link show dev X` per interface; undefined: no such interface. */
  links: Record<string, { flags: string[]; operstate: string } | undefined>;
  /** "net.ipv4.conf.lan0.arp_ignore", "net.ipv6.conf.lan0.disable_ipv6" → value; undefined when unreadable. */
  sysctls: Record<string, number | undefined>;
  /** Interfaces carrying IPv6 VIPs as of the agent's last welcome (state_dir); absent or empty: none known. */
  ipv6VipInterfaces?: string[];
  /** IPv4 addresses on this host's interfaces now. */
  localAddresses: string[];
  /** `nginx -t` (undefined: no nginx binary to run). */
  nginxTest?: { ok: boolean; detail: string };
  /** "addr:port" of nginx's listen directives with an IPv4 address (undefined: unknown). */
  nginxListens?: string[];
  /** VIP addresses the agent knows from its last welcome (state_dir). */
  knownVips: string[];
  coordinator: { reachable: boolean; detail: string };
  stateDir: { ok: boolean; detail: string };
  /** The tls section's ca, cert, key in that order, each with its text when readable (empty without tls). */
  tlsFiles: TlsFile[];
  /** When the facts were gathered (ms since the epoch): certificate dates are judged against it. */
  nowMs: number;
}

const CAP = { CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13 } as const;
type CapName = keyof typeof CAP;

const ok = (id: string, title: string): CheckItem => ({ id, status: "ok", title });
const fail = (id: string, title: string, why: string, fix: string): CheckItem => ({ id, status: "fail", title, why, fix });
const warn = (id: string, title: string, why: string, fix: string): CheckItem => ({ id, status: "warn", title, why, fix });

/** The checklist for `config` on a host described by `facts`. */
export function evaluatePreflight(config: AgentConfig, facts: HostFacts): CheckItem[] {
  return [
    ...checkTools(config, facts),
    ...checkCapabilities(config, facts.capEff),
    ...checkInterfaces(config, facts),
    ...checkIpv6(facts),
    ...checkNginx(config, facts),
    ...checkNonlocalBind(facts),
    ...checkCoordinator(config, facts),
    facts.stateDir.ok
      ? ok("state_dir", `state_dir ${config.state_dir} ${facts.stateDir.detail}`)
      : fail(
          "state_dir",
          `state_dir ${config.state_dir} is not writable (${facts.stateDir.detail})`,
          "the agent remembers the newest epoch per group there; without it a restarted agent could obey a stale command",
          `create it (install -d -m 0700 ${config.state_dir}) or set state_dir to a writable directory`,
        ),
  ];
}

function checkTools(_config: AgentConfig, facts: HostFacts): CheckItem[] {
  const tool = (id: string, f: FileFact, what: string, pkg: string, key: string) =>
    f.ok
      ? ok(id, `${what}: ${f.path}`)
      : fail(
          id,
          `${what}: ${f.path} is ${f.detail === "ENOENT" ? "missing" : `not executable (${f.detail})`}`,
          `the agent runs it to ${id === "tool.ip" ? "add and remove VIPs and watch links" : "announce a VIP (gratuitous ARP) and probe for it"}`,
          `apt-get install ${pkg}, or set ${key}: in ${"the agent config"} to where it is`,
        );
  // Lossless planned moves need these; without them a planned move still happens, resetting open connections.
  const optional = (id: string, f: FileFact | undefined, what: string, pkg: string, key: string): CheckItem[] =>
    f === undefined
      ? []
      : [
          f.ok
            ? ok(id, `${what}: ${f.path}`)
            : warn(
                id,
                `${what}: ${f.path} is ${f.detail === "ENOENT" ? "missing" : `not executable (${f.detail})`}`,
                "planned moves keep open connections with it (the new holder forwards them, the old one drains them); without it they are reset at each planned move",
                `apt-get install ${pkg}, or set ${key}: in the agent config to where it is`,
              ),
        ];
  return [
    tool("tool.ip", facts.tools.ip, "ip", "iproute2", "ip"),
    tool("tool.arping", facts.tools.arping, "arping", "iputils-arping", "arping"),
    ...optional("tool.nft", facts.tools.nft, "nft", "nftables", "nft"),
    ...optional("tool.ss", facts.tools.ss, "ss", "iproute2", "ss"),
    ...checkNa6(facts),
    ...checkNdisc6(facts),
  ];
}

/**
 * na6 announces IPv6 VIPs: missing blocks where the last welcome put one here
 * (such a VIP would be held but never announced), else it is a note.
 */
function checkNa6(facts: HostFacts): CheckItem[] {
  const f = facts.tools.na6;
  if (f === undefined) return [];
  if (f.ok) return [ok("tool.na6", `na6: ${f.path}`)];
  const state = f.detail === "ENOENT" ? "missing" : `not executable (${f.detail})`;
  const v6 = facts.ipv6VipInterfaces ?? [];
  if (v6.length === 0) return [ok("tool.na6", `na6: ${f.path} is ${state} (only IPv6 VIPs use it; none known here)`)];
  return [
    fail(
      "tool.na6",
      `na6: ${f.path} is ${state}, and ${v6.join(", ")} carr${v6.length === 1 ? "ies" : "y"} IPv6 VIPs`,
      "it sends the unsolicited neighbour advertisements that announce an IPv6 VIP, as arping sends gratuitous ARP for IPv4: without it the VIP is held but not announced, and after a takeover the LAN's neighbours keep sending to the old holder's MAC until their own reachability checks give it up (tens of seconds)",
      "apt-get install ipv6toolkit, or set na6: in the agent config to where it is",
    ),
  ];
}

/** ndisc6 matters only for IPv6 VIPs: missing is a warning where the last welcome put one here, else a note. */
function checkNdisc6(facts: HostFacts): CheckItem[] {
  const f = facts.tools.ndisc6;
  if (f === undefined) return [];
  if (f.ok) return [ok("tool.ndisc6", `ndisc6: ${f.path}`)];
  const state = f.detail === "ENOENT" ? "missing" : `not executable (${f.detail})`;
  if ((facts.ipv6VipInterfaces ?? []).length === 0) return [ok("tool.ndisc6", `ndisc6: ${f.path} is ${state} (only IPv6 VIPs use it; none known here)`)];
  return [
    warn(
      "tool.ndisc6",
      `ndisc6: ${f.path} is ${state}`,
      "it asks who answers for an IPv6 VIP, as arping does for IPv4: without it a VIP is verified before a takeover by the service probe through the VIP alone, and a takeover is not confirmed on the LAN",
      "apt-get install ndisc6, or set ndisc6: in the agent config to where it is",
    ),
  ];
}

/** Capability numbers set in a CapEff hex mask. */
export function capabilities(capEff: string): Set<CapName> {
  const mask = BigInt(`0x${capEff}`);
  return new Set((Object.keys(CAP) as CapName[]).filter((name) => (mask >> BigInt(CAP[name])) & 1n));
}

function checkCapabilities(config: AgentConfig, capEff: string | undefined): CheckItem[] {
  if (capEff === undefined)
    return [
      warn(
        "capabilities",
        "capabilities: cannot read CapEff from /proc/self/status",
        "without CAP_NET_ADMIN and CAP_NET_RAW the agent cannot add VIPs or send ARP",
        "run the agent as root or with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW (deploy/systemd/keepvip-agent.service)",
      ),
    ];
  const have = capabilities(capEff);
  const items: CheckItem[] = [];
  for (const [cap, use] of [
    ["CAP_NET_ADMIN", "ip addr add/del of the VIPs"],
    ["CAP_NET_RAW", "arping and na6: gratuitous ARP, neighbour advertisements and ARP probes"],
  ] as const) {
    items.push(
      have.has(cap)
        ? ok(`capability.${cap.toLowerCase()}`, `${cap} (${use})`)
        : fail(
            `capability.${cap.toLowerCase()}`,
            `${cap} is missing`,
            `needed for ${use}`,
            "run the agent from deploy/systemd/keepvip-agent.service (root with CapabilityBoundingSet) or grant it with AmbientCapabilities",
          ),
    );
  }
  if (config.nginx.mode === "child") {
    const missing = (["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"] as const).filter((c) => !have.has(c));
    items.push(
      missing.length === 0
        ? ok("capability.nginx_child", "capabilities nginx needs as the agent's child (bind :80, drop to www-data, signal workers)")
        : warn(
            "capability.nginx_child",
            `nginx (child mode) lacks ${missing.join(", ")}`,
            "nginx started by the agent inherits its capabilities: it binds ports below 1024, switches workers to the `user` of nginx.conf and is signalled with its workers",
            "use the capability set of deploy/systemd/keepvip-agent.service, or run nginx under systemd (nginx.mode: external)",
          ),
    );
  }
  return items;
}

function effective(facts: HostFacts, iface: string, key: string): number | undefined {
  const all = facts.sysctls[`net.ipv4.conf.all.${key}`];
  const own = facts.sysctls[`net.ipv4.conf.${iface}.${key}`];
  if (all === undefined && own === undefined) return undefined;
  // arp_ignore, arp_announce and rp_filter: the kernel uses the larger of "all" and the interface's.
  return Math.max(all ?? 0, own ?? 0);
}

function checkInterfaces(config: AgentConfig, facts: HostFacts): CheckItem[] {
  if (!facts.tools.ip.ok)
    return [
      warn(
        "interfaces",
        "interfaces and their sysctls not checked: ip is missing",
        "the interface checks read `ip -j link`",
        "install iproute2, then run the preflight again",
      ),
    ];
  const items: CheckItem[] = [];
  const placements = configuredPlacements(config);
  const vipInterfaces = new Set(placements.map((p) => p.interface));
  /** Interfaces carrying a VIP added with scope host (arp_ignore 3 leaves it unanswered). */
  const hostScoped = new Set(placements.filter((p) => p.scope === "host").map((p) => p.interface));
  const nodeTracked = new Set(config.track_interfaces);
  for (const [name, link] of Object.entries(facts.links).sort(([a], [b]) => a.localeCompare(b))) {
    const role = vipInterfaces.has(name) ? "VIP interface" : "tracked interface";
    const downMeans = [
      vipInterfaces.has(name) ? "a VIP on it reaches nobody" : "",
      nodeTracked.has(name) ? "a tracked interface down makes the node FAULT" : "",
      config.interface_tracks.includes(name) ? `the track if:${name} (interface_tracks) fails for the groups that list it` : "",
    ]
      .filter(Boolean)
      .join(", and ");
    if (!link) {
      items.push(
        fail(
          `interface.${name}`,
          `${role} ${name} does not exist`,
          vipInterfaces.has(name)
            ? "VIPs of the groups bound to it cannot be added"
            : nodeTracked.has(name)
              ? "a tracked interface that is missing counts as down: the node is FAULT"
              : `an interface track that is missing counts as down: the groups tracking if:${name} count it failing`,
          `check the name (ip link) and the agent config's groups/track_interfaces/interface_tracks`,
        ),
      );
      continue;
    }
    if (!link.flags.includes("UP"))
      items.push(fail(`interface.${name}`, `${role} ${name} is administratively down`, downMeans, `ip link set ${name} up (and bring it up at boot)`));
    else if (!link.flags.includes("LOWER_UP") || link.operstate === "DOWN")
      items.push(
        fail(
          `interface.${name}`,
          `${role} ${name} has no carrier (${link.operstate})`,
          "the link is up but nothing is plugged in, or the switch port is down",
          "check the cable, the switch port and the VLAN",
        ),
      );
    else items.push(ok(`interface.${name}`, `${role} ${name} is up`));
    if (!vipInterfaces.has(name)) continue;

    const ignore = effective(facts, name, "arp_ignore");
    if (ignore === 8)
      items.push(
        fail(
          `sysctl.${name}.arp_ignore`,
          `arp_ignore on ${name} is 8: this host answers no ARP request`,
          "neighbours cannot learn the VIP's MAC from ARP, only from our gratuitous ARPs, and forget it when their cache entry expires",
          `sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.${name}.arp_ignore=0 (persist it in /etc/sysctl.d/)`,
        ),
      );
    else if (ignore !== undefined && ignore >= 3)
      items.push(
        (ignore === 3 && hostScoped.has(name) ? fail : warn)(
          `sysctl.${name}.arp_ignore`,
          `arp_ignore on ${name} is ${ignore}`,
          ignore === 3
            ? "3 answers ARP only for global and link scope addresses: a VIP added with scope host goes unanswered"
            : "values 4-7 are reserved and behave like 8 on some kernels",
          `sysctl -w net.ipv4.conf.${name}.arp_ignore=1 (1 or 2 suit a VIP on its own interface)`,
        ),
      );
    else if (ignore !== undefined) items.push(ok(`sysctl.${name}.arp_ignore`, `arp_ignore on ${name} is ${ignore} (the VIP on ${name} is answered)`));

    const announce = effective(facts, name, "arp_announce");
    if (announce !== undefined)
      items.push(
        ok(
          `sysctl.${name}.arp_announce`,
          `arp_announce on ${name} is ${announce}${announce === 0 ? " (the VIP may be the source of this host's own ARP requests while held: harmless)" : ""}`,
        ),
      );

    const rp = effective(facts, name, "rp_filter");
    if (rp === 1)
      items.push(
        warn(
          `sysctl.${name}.rp_filter`,
          `rp_filter on ${name} is 1 (strict)`,
          `packets to the VIP that arrive on ${name} while the route back to their source leaves by another interface are dropped silently (asymmetric routing, a VIP on a second NIC)`,
          `sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.${name}.rp_filter=2 (loose) unless you rely on strict filtering`,
        ),
      );
    else if (rp !== undefined) items.push(ok(`sysctl.${name}.rp_filter`, `rp_filter on ${name} is ${rp}${rp === 2 ? " (loose)" : " (off)"}`));
  }
  return items;
}

/**
 * Interfaces carrying IPv6 VIPs (as of the last welcome): IPv6 must be on
 * there, and forwarding is weighed against accept_ra. (na6, which announces
 * them, is checked with the tools.)
 */
function checkIpv6(facts: HostFacts): CheckItem[] {
  const items: CheckItem[] = [];
  for (const name of [...(facts.ipv6VipInterfaces ?? [])].sort()) {
    const disabled = facts.sysctls[`net.ipv6.conf.${name}.disable_ipv6`];
    if (disabled === undefined)
      items.push(
        fail(
          `sysctl.${name}.disable_ipv6`,
          `IPv6 is not available on ${name} (no /proc/sys/net/ipv6/conf/${name})`,
          "it carries IPv6 VIPs: they cannot be added there",
          `check that ${name} exists and that the kernel runs with IPv6 (no ipv6.disable=1 on its command line)`,
        ),
      );
    else if (disabled !== 0)
      items.push(
        fail(
          `sysctl.${name}.disable_ipv6`,
          `IPv6 is disabled on ${name} (disable_ipv6 = ${disabled})`,
          "it carries IPv6 VIPs: they cannot be added there",
          `sysctl -w net.ipv6.conf.${name}.disable_ipv6=0 and persist it (/etc/sysctl.d/), minding net.ipv6.conf.all and .default`,
        ),
      );
    else items.push(ok(`sysctl.${name}.disable_ipv6`, `IPv6 is enabled on ${name}`));

    // Forwarding on makes the interface ignore router advertisements unless accept_ra is 2:
    // a host that learns its IPv6 default route from them loses it, and the VIPs answer only
    // clients on the LAN. (Its neighbour advertisements then carry the router flag, as they must.)
    const forwarding = facts.sysctls[`net.ipv6.conf.${name}.forwarding`];
    const acceptRa = facts.sysctls[`net.ipv6.conf.${name}.accept_ra`];
    if (forwarding !== undefined && acceptRa !== undefined)
      items.push(
        forwarding === 1 && acceptRa < 2
          ? warn(
              `sysctl.${name}.accept_ra`,
              `IPv6 forwarding is on for ${name} and accept_ra is ${acceptRa}: router advertisements are ignored there`,
              `if this host learns its IPv6 default route from router advertisements, it loses it, and the IPv6 VIPs on ${name} answer only clients on that LAN`,
              `sysctl -w net.ipv6.conf.${name}.accept_ra=2 (accept them while forwarding) and persist it, or give the host a static IPv6 default route`,
            )
          : ok(
              `sysctl.${name}.accept_ra`,
              forwarding === 1
                ? `IPv6 forwarding is on for ${name}, accept_ra is ${acceptRa}: router advertisements still count`
                : `IPv6 forwarding is off for ${name} (accept_ra ${acceptRa}): it learns routes as a host`,
            ),
      );
  }
  return items;
}

const WILDCARD = /^(0\.0\.0\.0|127\.\d+\.\d+\.\d+):/;
const BIND_FAILED = /bind\(\) to (\S+) failed \(99: Cannot assign requested address\)/;

/**
 * nginx listening on the VIP itself (`listen 192.168.177.100:80`) starts only
 * where the VIP is, unless net.ipv4.ip_nonlocal_bind=1: a backup's nginx then
 * cannot start, and a former holder's nginx cannot restart after a failover.
 */
function checkNonlocalBind(facts: HostFacts): CheckItem[] {
  const id = "sysctl.ip_nonlocal_bind";
  const value = facts.sysctls["net.ipv4.ip_nonlocal_bind"];
  const fix = "sysctl -w net.ipv4.ip_nonlocal_bind=1 and persist it (/etc/sysctl.d/90-keepvip.conf), or listen on the port alone (listen 80;)";
  const failed = facts.nginxTest && !facts.nginxTest.ok ? BIND_FAILED.exec(facts.nginxTest.detail)?.[1] : undefined;
  if (failed)
    return [
      fail(
        id,
        `nginx cannot bind ${failed}: not an address of this host, and ip_nonlocal_bind is ${value ?? "unknown"}`,
        "nginx listens on an address this host does not hold (a VIP): it can only start where the VIP is",
        fix,
      ),
    ];
  const foreign = (facts.nginxListens ?? []).filter(
    (l) => !WILDCARD.test(l) && (!facts.localAddresses.includes(l.split(":")[0]) || facts.knownVips.includes(l.split(":")[0])),
  );
  if (foreign.length === 0)
    return [
      ok(
        id,
        `ip_nonlocal_bind is ${value ?? "unknown"}; ${facts.nginxListens ? "nginx listens on no VIP or foreign address" : "nginx's listen addresses are unknown"}`,
      ),
    ];
  if (value === 1) return [ok(id, `ip_nonlocal_bind is 1: nginx may listen on ${foreign.join(", ")} without holding it`)];
  return [
    fail(
      id,
      `nginx listens on ${foreign.join(", ")} and ip_nonlocal_bind is ${value ?? "unknown"}`,
      "that is a VIP (or an address this host lacks): it works while this host holds it, but nginx cannot restart here once the VIP has moved away",
      fix,
    ),
  ];
}

function checkNginx(config: AgentConfig, facts: HostFacts): CheckItem[] {
  const n = config.nginx;
  const bin = facts.tools.nginx;
  if (!bin.ok)
    return [
      fail(
        "nginx.binary",
        `nginx: ${bin.path} is ${bin.detail === "ENOENT" ? "missing" : `not executable (${bin.detail})`}`,
        "the agent supervises nginx and reports it to the coordinator; without it this node is never eligible",
        "apt-get install nginx, or set nginx.binary in the agent config",
      ),
    ];
  const items = [ok("nginx.binary", `nginx: ${bin.path} (${n.mode} mode)`)];
  if (!facts.nginxTest) return items;
  if (facts.nginxTest.ok) items.push(ok("nginx.test", `nginx config test passes (${n.conf})`));
  else {
    const bind = BIND_FAILED.test(facts.nginxTest.detail);
    items.push(
      fail(
        "nginx.test",
        `nginx config test fails: ${facts.nginxTest.detail.replace(/^nginx -t failed: /, "")}`,
        "nginx cannot start with this config, so this node would be FAULT; pushed upstreams are only applied on top of a config that tests clean",
        bind ? "see ip_nonlocal_bind below" : `fix ${n.conf} until \`${n.binary} -t${n.prefix ? ` -p ${n.prefix}` : ""} -c ${n.conf}\` passes`,
      ),
    );
  }
  return items;
}

function checkCoordinator(config: AgentConfig, facts: HostFacts): CheckItem[] {
  const addresses = coordinatorAddresses(config).join(", ");
  const items: CheckItem[] = facts.coordinator.reachable
    ? [
        ok(
          "coordinator.reach",
          facts.coordinator.detail
            ? `coordinator ${addresses}: one accepts connections (not: ${facts.coordinator.detail})`
            : `coordinator ${addresses} accepts connections`,
        ),
      ]
    : [
        fail(
          "coordinator.reach",
          `coordinator ${addresses} is not reachable (${facts.coordinator.detail})`,
          "the agent starts anyway and keeps what it holds (fail-static), but it is never elected and gets no upstreams",
          "start keepvip-coordinator there, or fix the address, routing or firewall (TCP to the coordinator's listen port)",
        ),
      ];
  items.push(...checkCertificates(config, facts));
  return items;
}

/** Item ids of the certificate checks: "coordinator.tls" (the files) stays what it was before the others existed. */
const TLS_ID: Record<CertCheck, string> = {
  files: "coordinator.tls",
  expiry: "coordinator.tls.expiry",
  ca: "coordinator.tls.ca",
  key: "coordinator.tls.key",
  identity: "coordinator.tls.node",
};

/** The tls section: files readable, certificate in date, from the CA, with its key, naming this node (shared/cert-check.ts). */
function checkCertificates(config: AgentConfig, facts: HostFacts): CheckItem[] {
  if (!config.tls) {
    return config.insecure
      ? [
          warn(
            "coordinator.tls",
            "insecure: true — no TLS to the coordinator",
            "anyone who reaches the coordinator can act as this node, and reports travel in clear text",
            "create certificates (keepvip certs) and set tls: { ca, cert, key }",
          ),
        ]
      : [];
  }
  const [ca, cert, key] = facts.tlsFiles;
  const missing = (path: string): TlsFile => ({ path, ok: false, detail: "not read" });
  return checkTlsFiles(
    { ca: ca ?? missing(config.tls.ca), cert: cert ?? missing(config.tls.cert), key: key ?? missing(config.tls.key) },
    { nowMs: facts.nowMs, agentNode: config.node_id },
  ).map((f) => ({ id: TLS_ID[f.check], status: f.status, title: f.title, ...(f.why ? { why: f.why } : {}), ...(f.fix ? { fix: f.fix } : {}) }));
}

const MARK: Record<CheckStatus, string> = { ok: "✔", warn: "!", fail: "✖" };

/** The checklist for people: one line per item, why and fix under each one that is not fine. */
export function formatChecklist(items: CheckItem[]): string {
  const lines: string[] = [];
  for (const i of items) {
    lines.push(`${MARK[i.status]} ${i.title}`);
    if (i.why) lines.push(`    why: ${i.why}`);
    if (i.fix) lines.push(`    fix: ${i.fix}`);
  }
  const failing = items.filter((i) => i.status === "fail").length;
  const warnings = items.filter((i) => i.status === "warn").length;
  lines.push(
    "",
    failing === 0
      ? `ready: nothing blocks the agent${warnings ? ` (${warnings} warning${warnings > 1 ? "s" : ""})` : ""}`
      : `NOT READY: ${failing} problem${failing > 1 ? "s" : ""} to fix${warnings ? `, ${warnings} warning${warnings > 1 ? "s" : ""}` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

/** 0 when nothing blocks, 1 otherwise. */
export function preflightExitCode(items: CheckItem[]): number {
  return items.some((i) => i.status === "fail") ? 1 : 0;
}

export function preflightJson(node: string, items: CheckItem[]): string {
  return `${JSON.stringify({ node, ready: preflightExitCode(items) === 0, failing: items.filter((i) => i.status === "fail").length, warnings: items.filter((i) => i.status === "warn").length, checks: items }, null, 2)}\n`;
}
