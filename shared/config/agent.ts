/**
 * The agent's host config: who it is, where the coordinator is, which interface
 * carries each group's VIPs, how nginx runs here, track and notify scripts.
 * Scripts are argv arrays, never shell strings (nothing is run through a shell).
 */
import { isIPv4, isIPv6 } from "node:net";
import * as z from "zod";
import { duration, formatMs } from "./duration.js";
import { absolutePath, hostPort, interfaceName, name, nodeId } from "./net.js";

const argv = z.array(z.string().min(1).max(4096)).min(1, "must name a program (an argv array, not a shell string)");

const trackScript = z.strictObject({
  /** argv: ["/etc/keepalived/nginx_check.sh"]; exit 0 = pass. */
  script: argv,
  interval: duration(10, 3_600_000).default(2000),
  /** A script still running at its timeout is killed and counts as failed. */
  timeout: duration(10, 3_600_000).optional(),
  rise: z.number().int().min(1).max(100).default(1),
  fall: z.number().int().min(1).max(100).default(1),
});

/** `ip addr add ... label` (e.g. "lan0:vip"). */
const vipLabel = z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, "must be an interface label (max 15 characters)");
/** `ip addr add ... scope`. */
const vipScope = z.enum(["global", "host", "link", "site"]);

/**
 * One VIP's own placement (keepalived: `virtual_ipaddress { 10.0.1.1/24 dev eth1
 * label eth1:vip scope link }`). A field left out is the group's; the group's label
 * only when the address stays on the group's interface (a label names its device).
 */
const addressBinding = z.strictObject({
  interface: interfaceName.optional(),
  label: vipLabel.optional(),
  scope: vipScope.optional(),
});

/**
 * A VIP address as a key of `addresses`: an IPv4 address or an IPv6 one (any spelling: it is
 * matched to the coordinator's VIP by value), no prefix (the prefix is the coordinator's).
 */
export function vipAddressKeyProblem(key: string): string | undefined {
  if (isIPv4(key) || isIPv6(key)) return undefined;
  const bare = key.split("/")[0];
  if (key.includes("/") && (isIPv4(bare) || isIPv6(bare)))
    return `"${key}": write the VIP address alone, without /prefix (the coordinator's groups[].vips give the prefix)`;
  return `"${key}" is not a VIP address: an IPv4 address like 10.0.1.1 or an IPv6 one like 2001:db8::100`;
}

const addresses = z.record(z.string(), addressBinding).superRefine((map, ctx) => {
  for (const [key, entry] of Object.entries(map)) {
    const problem = vipAddressKeyProblem(key);
    if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
    else if (isIPv6(key) && entry.label !== undefined)
      ctx.addIssue({ code: "custom", path: [key, "label"], message: "IPv6 addresses have no labels (ip addr add takes label for IPv4 only): remove it" });
  }
});

const notifyScripts = {
  master: argv.optional(),
  backup: argv.optional(),
  fault: argv.optional(),
  stop: argv.optional(),
  /** keepalived's generic `notify`: called as argv... INSTANCE GROUP STATE PRIORITY. */
  any: argv.optional(),
};

const groupBinding = z.strictObject({
  /** Required unless `default_interface` is set (then it is the default). */
  interface: interfaceName.optional(),
  /** `ip addr add ... label` (e.g. "lan0:vip"); optional. */
  label: vipLabel.optional(),
  scope: vipScope.optional(),
  /** Per VIP address: its own interface / label / scope (keepalived's `dev`, `label`, `scope` on one address). */
  addresses: addresses.optional(),
  /**
   * This group's own notify scripts (keepalived: a vrrp_instance's notify_*): run only for
   * this group's transitions, before the node-wide `notify`, within its timeout.
   */
  notify: z.strictObject(notifyScripts).optional(),
});

const nginx = z.strictObject({
  mode: z.enum(["child", "external"]).default("child"),
  binary: absolutePath.default("/usr/sbin/nginx"),
  /** nginx -p PREFIX */
  prefix: absolutePath.optional(),
  /** nginx -c CONF */
  conf: absolutePath.default("/etc/nginx/nginx.conf"),
  pid_file: absolutePath.default("/run/nginx.pid"),
  /** The include file keepvip renders pushed upstreams into. */
  upstream_file: absolutePath.default("/etc/nginx/conf.d/keepvip-upstreams.conf"),
  /** external mode: how to start / reload / test nginx (argv). */
  start_command: argv.optional(),
  reload_command: argv.optional(),
  test_command: argv.optional(),
  restart_backoff: z
    .strictObject({
      initial: duration(10, 60_000).default(200),
      max: duration(10, 600_000).default(5000),
    })
    .default({ initial: 200, max: 5000 }),
  /** external mode: how often the master pid is checked. */
  watch_interval: duration(10, 60_000).default(100),
});

const notify = z.strictObject({
  ...notifyScripts,
  timeout: duration(100, 600_000).default(30_000),
});

export const agentConfigSchema = z
  .strictObject({
    node_id: nodeId,
    /** The coordinator, one address (a single coordinator). */
    coordinator: hostPort.optional(),
    /** Every coordinator replica (replicated coordinators): the agent follows the leader among them. */
    coordinators: z.array(hostPort).min(1).max(16).optional(),
    state_dir: absolutePath.default("/var/lib/keepvip-agent"),
    insecure: z.boolean().default(false),
    tls: z.strictObject({ ca: absolutePath, cert: absolutePath, key: absolutePath }).optional(),
    /** The interface (and label/scope, per address too) carrying each group's VIPs, and the group's own notify scripts. */
    groups: z.record(name, groupBinding),
    /** Used for groups not listed in `groups`, and for listed groups that name no interface. */
    default_interface: interfaceName.optional(),
    nginx: nginx.default(() => nginx.parse({})),
    tracks: z.record(name, trackScript).default({}),
    /** Links whose loss makes the whole node FAULT; each is also a track named "if:<name>" (down = failing). */
    track_interfaces: z.array(interfaceName).default([]),
    /**
     * Links reported only as tracks named "if:<name>" (down = failing), never a node FAULT:
     * only groups whose coordinator `tracks` list "if:<name>" count them (keepalived's
     * per-instance `track_interface`; weight 0 = this node is FAULT for that group alone).
     */
    interface_tracks: z.array(interfaceName).default([]),
    notify: notify.default(() => notify.parse({})),
    /** User the track and notify scripts run as (default: the agent's own). */
    script_user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name")
      .optional(),
    arping: absolutePath.default("/usr/bin/arping"),
    /**
     * ndisc6 (Debian package ndisc6): who answers neighbour solicitations for an IPv6 VIP,
     * as `arping` does for IPv4: supporting evidence when verifying a VIP before a takeover,
     * and the check after one. Optional: when missing, the service probe through the VIP
     * alone decides and a takeover is not confirmed on the LAN (the agent logs it once).
     */
    ndisc6: absolutePath.default("/usr/bin/ndisc6"),
    /**
     * na6 (Debian package ipv6toolkit): sends the unsolicited neighbour advertisements that
     * announce an IPv6 VIP, as `arping` does gratuitous ARP for IPv4. Without it IPv6 VIPs are
     * held but not announced (the preflight fails where IPv6 VIPs are).
     */
    na6: absolutePath.default("/usr/sbin/na6"),
    ip: absolutePath.default("/usr/sbin/ip"),
    /** nftables (lossless planned moves: forwarding the old holder's flows, the drain's ARP filter). */
    nft: absolutePath.default("/usr/sbin/nft"),
    /** ss (iproute2): the connections a draining VIP still serves. */
    ss: absolutePath.default("/usr/bin/ss"),
    /** On SIGTERM with the coordinator unreachable: release VIPs anyway (default: keep them, nginx keeps serving). */
    force_release_on_stop: z.boolean().default(false),
    /** Longest a clean stop waits for the planned handover. */
    stop_timeout: duration(100, 120_000).default(5000),
    /** Prometheus metrics on their own HTTP listener (GET /metrics); absent = off. */
    metrics: z.strictObject({ listen: hostPort.default("127.0.0.1:9741") }).optional(),
    /**
     * Failover drills (`keepvip drill`): this agent always probes through the VIP when asked;
     * `allow_nginx_kill` lets `keepvip drill --kill-nginx` kill its nginx and keep it down for a
     * moment (labs and test pairs; off by default).
     */
    drills: z.strictObject({ allow_nginx_kill: z.boolean().default(false) }).default({ allow_nginx_kill: false }),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.coordinator === undefined && cfg.coordinators === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["coordinator"],
        message: 'set coordinator: "host:port", or coordinators: [a list] for replicated coordinators',
      });
    if (cfg.coordinator !== undefined && cfg.coordinators !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["coordinators"],
        message: "coordinator and coordinators both set: use coordinators alone (list the one address in it too)",
      });
    const dup = cfg.coordinators?.find((a, i) => cfg.coordinators!.indexOf(a) !== i);
    if (dup !== undefined) ctx.addIssue({ code: "custom", path: ["coordinators"], message: `${dup} is listed twice` });
    if (!cfg.tls && !cfg.insecure)
      ctx.addIssue({
        code: "custom",
        path: ["tls"],
        message: "set tls: {ca, cert, key} for mutual TLS (keepvip certs issue-agent), or insecure: true for a lab",
      });
    if (cfg.tls && cfg.insecure) ctx.addIssue({ code: "custom", path: ["insecure"], message: "insecure: true contradicts the tls section: remove one" });
    if (cfg.nginx.mode === "external" && !cfg.nginx.start_command) {
      ctx.addIssue({
        code: "custom",
        path: ["nginx", "start_command"],
        message: 'nginx mode "external" needs start_command (e.g. ["systemctl", "start", "nginx"])',
      });
    }
    if (cfg.nginx.restart_backoff.max < cfg.nginx.restart_backoff.initial) {
      ctx.addIssue({
        code: "custom",
        path: ["nginx", "restart_backoff", "max"],
        message: `max (${formatMs(cfg.nginx.restart_backoff.max)}) must be at least initial (${formatMs(cfg.nginx.restart_backoff.initial)})`,
      });
    }
    for (const [group, g] of Object.entries(cfg.groups)) {
      if (g.interface === undefined && cfg.default_interface === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["groups", group, "interface"],
          message: "is required: name the interface carrying this group's VIPs, or set default_interface",
        });
    }
    cfg.interface_tracks.forEach((iface, i) => {
      if (cfg.track_interfaces.includes(iface))
        ctx.addIssue({
          code: "custom",
          path: ["interface_tracks", i],
          message: `${iface} is in track_interfaces too: list it in one of them (track_interfaces: its loss makes the whole node FAULT; interface_tracks: only the groups whose tracks list "if:${iface}" count it)`,
        });
    });
    // A track's timeout may exceed its interval, as in keepalived: the next run starts when
    // the previous one has ended (scripts.ts), never two at once.
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

/** Every coordinator address the agent may talk to, in the configured order. */
export function coordinatorAddresses(cfg: Pick<AgentConfig, "coordinator" | "coordinators">): string[] {
  return cfg.coordinators ?? (cfg.coordinator === undefined ? [] : [cfg.coordinator]);
}
export type TrackScriptConfig = AgentConfig["tracks"][string];
export type NginxConfig = AgentConfig["nginx"];
export type NotifyConfig = AgentConfig["notify"];
/** A group's own notify scripts (`groups.NAME.notify`): the node-wide ones without the timeout. */
export type GroupNotifyConfig = NonNullable<AgentConfig["groups"][string]["notify"]>;
export type GroupBindingConfig = AgentConfig["groups"][string];
