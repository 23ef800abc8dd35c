/**
 * The coordinator's cluster config: listener, timing, VIP groups (vrrp_instance),
 * sync groups (vrrp_sync_group) and upstreams. Field names follow keepalived and
 * nginx where one exists; docs/configuration.md maps each one.
 */
import * as z from "zod";
import { duration, formatMs } from "./duration.js";
import { absolutePath, cidr, hostPort, ipv6VipProblem, isLoopbackHost, name, nodeId, normalizeHostPort, parseHostPort, port } from "./net.js";
import { DEFAULT_STARTUP_GRACE_MS } from "../session-timing.js";
import { DEFAULT_GARP } from "../protocol.js";

/** Where the status page listens unless `status_page.listen` says otherwise (the agent's metrics use 9741). */
export const DEFAULT_STATUS_PAGE_LISTEN = "127.0.0.1:9742";

const track = z.strictObject({
  /** The track's name as the agent reports it (a track script, "nginx", "if:lan0"). */
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be a track name (letters, digits, '_', '.', ':', '-')"),
  /** keepalived semantics: > 0 added while passing, < 0 added while failing, 0 = FAULT while failing. */
  weight: z.number().int().min(-253).max(253).default(0),
  rise: z.number().int().min(1).max(100).default(1),
  fall: z.number().int().min(1).max(100).default(1),
});

const member = z.strictObject({
  node: nodeId,
  priority: z.number().int().min(1).max(254),
  /** The node's LAN address: tie-break (higher wins, like VRRP) and display. */
  address: z.string().optional(),
});

const group = z.strictObject({
  name,
  vips: z.array(cidr).min(1),
  /** The service probed through the VIP (LAN verification, peer reachability). */
  service: z.strictObject({
    port,
    path: z
      .string()
      .regex(/^\/[\x21-\x7e]*$/, "must be an HTTP path starting with '/'")
      .optional(),
  }),
  /** host:port addresses a peer checks to tell "my own LAN works"; default: the upstream servers. */
  lan_references: z.array(hostPort).default([]),
  preempt: z.boolean().default(true),
  preempt_delay: duration(0, 3_600_000).default(0),
  /**
   * Planned moves keep the old holder's connections: it serves the flows it has
   * (unannounced, the new holder forwarding their packets) until they end or
   * this long has passed. 0: let go at once (connections open on it are reset).
   */
  drain_timeout: duration(0, 600_000).default(30_000),
  members: z.array(member).min(1),
  tracks: z.array(track).default([]),
});

const server = z.strictObject({
  address: hostPort,
  weight: z.number().int().min(1).max(1000).default(1),
  max_fails: z.number().int().min(0).max(1000).default(1),
  fail_timeout: duration(0, 3_600_000).default(10_000),
  backup: z.boolean().default(false),
  down: z.boolean().default(false),
});

const statusRange = z
  .string()
  .regex(/^\d{3}(-\d{3})?$/, 'must be a status or range like "200-399"')
  .transform((v) => {
    const [lo, hi] = v.split("-").map(Number);
    return { min: lo, max: hi ?? lo };
  });

const check = z.strictObject({
  /** tcp: a connect; http: a GET; https: a GET over TLS, the certificate not verified (keepalived SSL_GET). */
  type: z.enum(["tcp", "http", "https"]).default("tcp"),
  path: z
    .string()
    .regex(/^\/[\x21-\x7e]*$/, "must be an HTTP path starting with '/'")
    .default("/"),
  host: z
    .string()
    .regex(/^[A-Za-z0-9.:[\]-]{1,253}$/, "must be a host name")
    .optional(),
  expect_status: statusRange.default({ min: 200, max: 399 }),
  expect_body: z.string().max(1024).optional(),
  /** MD5 of the whole response body in hex, as keepalived's genhash prints it (keepalived `digest`); kept lower-case. */
  expect_digest: z
    .string()
    .regex(/^[0-9A-Fa-f]{32}$/, "must be an MD5 digest: 32 hex digits, as genhash prints it")
    .transform((v) => v.toLowerCase())
    .optional(),
  interval: duration(10, 3_600_000).default(1000),
  timeout: duration(10, 60_000).default(500),
  rise: z.number().int().min(1).max(100).default(2),
  fall: z.number().int().min(1).max(100).default(2),
  /** A server is down when MORE than this share of reporting agents see it fail: 0.5 = a majority, 0 = any one agent. */
  down_share: z.number().min(0).lt(1).default(0.5),
});

const upstream = z.strictObject({
  name,
  balance: z.enum(["round_robin", "least_conn", "ip_hash", "hash"]).default("round_robin"),
  hash_key: z
    .string()
    .regex(/^[$A-Za-z0-9_]{1,64}$/, "must be an nginx variable expression like $remote_addr")
    .optional(),
  consistent: z.boolean().default(false),
  keepalive: z.number().int().min(0).max(10_000).default(0),
  slow_start: duration(0, 3_600_000).default(0),
  servers: z.array(server).min(1),
  check: check.optional(),
});

const timing = z.strictObject({
  heartbeat_interval: duration(10, 60_000).default(200),
  dead_interval: duration(30, 300_000).default(1000),
  /** After a (re)start, wait this long for agents' hellos before electing anything. */
  startup_grace: duration(0, 300_000).optional(),
  /**
   * Replicated coordinators: a new leader of a running cluster waits this long for the agents
   * (they were connected a moment ago and come straight back) before electing.
   */
  takeover_grace: duration(0, 300_000).optional(),
  verify_timeout: duration(20, 5000).default(150),
  planned_overlap: duration(0, 5000).default(50),
  reach_interval: duration(5, 60_000).default(100),
  /** Consecutive failed probes through the VIP before a peer counts as "cannot reach". */
  reach_fall: z.number().int().min(1).max(100).default(3),
  ack_timeout: duration(50, 60_000).default(2000),
  garp: z
    .strictObject({
      delays: z
        .array(duration(0, 60_000))
        .min(1)
        .max(20)
        .default([...DEFAULT_GARP.burstMs]),
      refresh: duration(0, 3_600_000).default(DEFAULT_GARP.refreshMs),
    })
    .default({ delays: [...DEFAULT_GARP.burstMs], refresh: DEFAULT_GARP.refreshMs }),
  /** Highest rate of nginx reloads an upstream push may cause. */
  reload_min_interval: duration(0, 60_000).default(500),
});

/**
 * Replicated coordinators: every replica runs with the same cluster config and
 * its own `ha.name` and `ha.advertise`; one leads through an etcd lease.
 */
const ha = z.strictObject({
  etcd: z.strictObject({
    /** etcd client URLs or host:port, e.g. ["https://10.0.0.21:2379", …]. */
    endpoints: z
      .array(z.string().regex(/^(https?:\/\/)?[^\s/]+:\d{1,5}$/, "must be host:port or http(s)://host:port"))
      .min(1)
      .max(16),
    /** Client TLS to etcd (the CA that signed etcd's certificates; cert and key for --client-cert-auth). */
    tls: z.strictObject({ ca: absolutePath, cert: absolutePath.optional(), key: absolutePath.optional() }).optional(),
    /** One etcd call's deadline across the endpoints. */
    call_timeout: duration(100, 30_000).default(1000),
  }),
  /** Keys of this cluster live under it (several clusters can share one etcd). */
  prefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/, "must be an absolute key path such as /keepvip/prod")
    .default("/keepvip"),
  /** Leader lease TTL in whole seconds: a dead leader is replaced after about this long. */
  lease_ttl: duration(1000, 60_000).default(2000),
  /** This replica's name (unique among the replicas). */
  name,
  /** Where agents and the CLI reach this replica (host:port): what a follower names as the leader. */
  advertise: hostPort,
});

const coordinatorShape = z.strictObject({
  listen: hostPort.default("127.0.0.1:7400"),
  state_dir: absolutePath.default("/var/lib/keepvip"),
  insecure: z.boolean().default(false),
  /** insecure: true on a listen address that is not loopback needs this, word for word (INSECURE_LISTEN_ACK). */
  insecure_listen_ack: z.string().optional(),
  tls: z.strictObject({ ca: absolutePath, cert: absolutePath, key: absolutePath }).optional(),
  timing: timing.default(() => timing.parse({})),
  groups: z.array(group).min(1),
  sync_groups: z.array(z.strictObject({ name, groups: z.array(name).min(2) })).default([]),
  upstreams: z.array(upstream).default([]),
  /** Prometheus metrics on their own HTTP listener (GET /metrics); absent = off. */
  metrics: z.strictObject({ listen: hostPort.default("127.0.0.1:9740") }).optional(),
  /**
   * The read-only live status page on its own listener (docs/status-page.md); absent = off.
   * HTTPS with the listener's certificate and CA when `tls` is set (admin and reader
   * certificates only), plain HTTP with `insecure: true`.
   */
  status_page: z.strictObject({ listen: hostPort.default(DEFAULT_STATUS_PAGE_LISTEN) }).optional(),
  /** Replicated coordinators on etcd; absent: one coordinator with its state file. */
  ha: ha.optional(),
});

export const coordinatorConfigSchema = coordinatorShape.superRefine(crossCheck);

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
export type GroupConfig = CoordinatorConfig["groups"][number];
export type MemberConfig = GroupConfig["members"][number];
export type TrackConfig = GroupConfig["tracks"][number];
export type UpstreamConfigSpec = CoordinatorConfig["upstreams"][number];
export type ServerConfig = UpstreamConfigSpec["servers"][number];
export type TimingConfig = CoordinatorConfig["timing"];

type Cfg = z.output<typeof coordinatorShape>;

function duplicates<T>(items: T[], key: (t: T) => string): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const it of items) {
    const k = key(it);
    if (seen.has(k)) dup.add(k);
    seen.add(k);
  }
  return [...dup];
}

/** What an operator writes to run without TLS on an address other hosts reach. */
export const INSECURE_LISTEN_ACK = "I understand anyone on this network can control the cluster";

/**
 * Why a coordinator may not listen on `listen` as configured, or undefined. Without TLS
 * anyone who reaches the port can join as an agent or move a VIP, so insecure is for
 * loopback unless the config says, in words, that this is understood.
 */
export function insecureListenProblem(listen: string, cfg: { insecure: boolean; insecure_listen_ack?: string }): string | undefined {
  if (!cfg.insecure) return undefined;
  // Not parseHostPort: a --listen override may name port 0 (any free port).
  const host = listen.slice(0, Math.max(0, listen.lastIndexOf(":")));
  if (isLoopbackHost(host) || cfg.insecure_listen_ack === INSECURE_LISTEN_ACK) return undefined;
  return `insecure: true on ${listen}, which is not loopback: anyone who reaches it can join as an agent or move a VIP. Set tls: {ca, cert, key} (keepvip certs), listen on 127.0.0.1, or add insecure_listen_ack: "${INSECURE_LISTEN_ACK}"`;
}

/**
 * Why the status page may not listen on `listen` as configured, or undefined: without TLS
 * it is plain HTTP without authentication, so the same rule as for the gRPC listener holds
 * (loopback, or the acknowledgement word for word).
 */
export function insecureStatusPageProblem(listen: string, cfg: { insecure: boolean; insecure_listen_ack?: string }): string | undefined {
  if (!cfg.insecure) return undefined;
  const host = listen.slice(0, Math.max(0, listen.lastIndexOf(":")));
  if (isLoopbackHost(host) || cfg.insecure_listen_ack === INSECURE_LISTEN_ACK) return undefined;
  return `insecure: true serves the status page as plain HTTP without authentication on ${listen}, which is not loopback: anyone who reaches it reads the cluster's status. Set tls: {ca, cert, key} (keepvip certs), listen on 127.0.0.1, or add insecure_listen_ack: "${INSECURE_LISTEN_ACK}"`;
}

/** Rules that span fields; each message prints both values. */
function crossCheck(cfg: Cfg, ctx: z.RefinementCtx) {
  if (!cfg.tls && !cfg.insecure)
    ctx.addIssue({ code: "custom", path: ["tls"], message: "set tls: {ca, cert, key} for mutual TLS (keepvip certs), or insecure: true for a lab" });
  if (cfg.tls && cfg.insecure) ctx.addIssue({ code: "custom", path: ["insecure"], message: "insecure: true contradicts the tls section: remove one" });
  if (cfg.insecure_listen_ack !== undefined && !cfg.insecure)
    ctx.addIssue({ code: "custom", path: ["insecure_listen_ack"], message: "insecure_listen_ack without insecure: true acknowledges nothing: remove it" });
  else if (cfg.insecure_listen_ack !== undefined && cfg.insecure_listen_ack !== INSECURE_LISTEN_ACK)
    ctx.addIssue({ code: "custom", path: ["insecure_listen_ack"], message: `must read exactly "${INSECURE_LISTEN_ACK}"` });
  else {
    const problem = insecureListenProblem(cfg.listen, cfg);
    if (problem) ctx.addIssue({ code: "custom", path: ["insecure"], message: problem });
  }
  if (cfg.status_page) {
    const page = cfg.status_page.listen;
    const problem = insecureStatusPageProblem(page, cfg);
    if (problem) ctx.addIssue({ code: "custom", path: ["status_page", "listen"], message: problem });
    for (const [field, other] of [
      ["listen", cfg.listen],
      ["metrics.listen", cfg.metrics?.listen],
    ] as const) {
      if (other !== undefined && normalizeHostPort(other) === normalizeHostPort(page))
        ctx.addIssue({ code: "custom", path: ["status_page", "listen"], message: `${page} is also ${field}: give the status page a port of its own` });
    }
  }
  if (cfg.ha) {
    if (cfg.ha.lease_ttl % 1000 !== 0)
      ctx.addIssue({ code: "custom", path: ["ha", "lease_ttl"], message: `etcd leases are whole seconds, got ${formatMs(cfg.ha.lease_ttl)}` });
    if (!cfg.ha.etcd.tls?.cert !== !cfg.ha.etcd.tls?.key)
      ctx.addIssue({ code: "custom", path: ["ha", "etcd", "tls"], message: "cert and key go together (both for etcd's --client-cert-auth, or neither)" });
    if (!cfg.ha.etcd.tls && !cfg.insecure)
      ctx.addIssue({ code: "custom", path: ["ha", "etcd", "tls"], message: "set ha.etcd.tls (ca, cert, key) or, for a lab, insecure: true" });
  }
  const t = cfg.timing;
  if (t.dead_interval < 3 * t.heartbeat_interval) {
    ctx.addIssue({
      code: "custom",
      path: ["timing", "dead_interval"],
      message: `dead_interval (${formatMs(t.dead_interval)}) must be at least 3 × heartbeat_interval (${formatMs(t.heartbeat_interval)})`,
    });
  }
  if (t.verify_timeout >= t.dead_interval) {
    ctx.addIssue({
      code: "custom",
      path: ["timing", "verify_timeout"],
      message: `verify_timeout (${formatMs(t.verify_timeout)}) must be shorter than dead_interval (${formatMs(t.dead_interval)})`,
    });
  }
  for (const d of duplicates(cfg.groups, (g) => g.name)) ctx.addIssue({ code: "custom", path: ["groups"], message: `group name "${d}" is used twice` });
  const vipOwner = new Map<string, string>();
  cfg.groups.forEach((g, gi) => {
    for (const d of duplicates(g.members, (m) => m.node))
      ctx.addIssue({ code: "custom", path: ["groups", gi, "members"], message: `node "${d}" is listed twice in group "${g.name}"` });
    for (const d of duplicates(g.tracks, (tr) => tr.name))
      ctx.addIssue({ code: "custom", path: ["groups", gi, "tracks"], message: `track "${d}" is listed twice in group "${g.name}"` });
    // IPv4 and IPv6 VIPs alike, alone or together: a group's VIPs move as one. Addresses
    // are normalized by parseCidr, so two spellings of one IPv6 address are one VIP.
    g.vips.forEach((v, vi) => {
      const problem = v.family === 6 ? ipv6VipProblem(v.address) : undefined;
      if (problem !== undefined) ctx.addIssue({ code: "custom", path: ["groups", gi, "vips", vi], message: `not a VIP: ${problem}` });
      const other = vipOwner.get(v.address);
      if (other !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["groups", gi, "vips", vi],
          message: other === g.name ? `VIP ${v.address} is listed twice in group "${g.name}"` : `VIP ${v.address} is already in group "${other}"`,
        });
      vipOwner.set(v.address, g.name);
    });
  });
  const groupNames = new Set(cfg.groups.map((g) => g.name));
  const inSync = new Map<string, string>();
  cfg.sync_groups.forEach((s, si) => {
    s.groups.forEach((gname, i) => {
      if (!groupNames.has(gname))
        ctx.addIssue({ code: "custom", path: ["sync_groups", si, "groups", i], message: `group "${gname}" is not defined in groups` });
      const prev = inSync.get(gname);
      if (prev !== undefined)
        ctx.addIssue({ code: "custom", path: ["sync_groups", si, "groups", i], message: `group "${gname}" is already in sync group "${prev}"` });
      inSync.set(gname, s.name);
    });
    const members = s.groups.map((gname) => cfg.groups.find((g) => g.name === gname)).filter((g) => g !== undefined);
    const sets = members.map((g) =>
      g.members
        .map((m) => m.node)
        .sort()
        .join(","),
    );
    if (new Set(sets).size > 1)
      ctx.addIssue({
        code: "custom",
        path: ["sync_groups", si],
        message: `groups of sync group "${s.name}" must have the same members (${sets.map((x) => `[${x}]`).join(" vs ")})`,
      });
  });
  for (const d of duplicates(cfg.upstreams, (u) => u.name))
    ctx.addIssue({ code: "custom", path: ["upstreams"], message: `upstream name "${d}" is used twice` });
  cfg.upstreams.forEach((u, ui) => {
    for (const d of duplicates(u.servers, (s) => normalizeHostPort(s.address)))
      ctx.addIssue({ code: "custom", path: ["upstreams", ui, "servers"], message: `server ${d} is listed twice in upstream "${u.name}"` });
    if (u.balance === "hash" && !u.hash_key)
      ctx.addIssue({ code: "custom", path: ["upstreams", ui, "hash_key"], message: `balance "hash" needs hash_key (e.g. "$remote_addr")` });
    if (u.balance !== "hash" && u.hash_key)
      ctx.addIssue({ code: "custom", path: ["upstreams", ui, "hash_key"], message: `hash_key is only used with balance "hash", not "${u.balance}"` });
    if (u.balance === "ip_hash" && u.servers.some((s) => s.backup))
      ctx.addIssue({ code: "custom", path: ["upstreams", ui, "servers"], message: `nginx does not allow backup servers with balance "ip_hash"` });
    if (u.check && u.check.timeout >= u.check.interval)
      ctx.addIssue({
        code: "custom",
        path: ["upstreams", ui, "check", "timeout"],
        message: `timeout (${formatMs(u.check.timeout)}) must be shorter than interval (${formatMs(u.check.interval)})`,
      });
    if (u.check?.expect_digest !== undefined && u.check.type === "tcp")
      ctx.addIssue({
        code: "custom",
        path: ["upstreams", ui, "check", "expect_digest"],
        message: 'a digest is of an HTTP body: set type "http" or "https" (a tcp check reads no body)',
      });
    if (u.servers.every((s) => s.backup))
      ctx.addIssue({ code: "custom", path: ["upstreams", ui, "servers"], message: `upstream "${u.name}" needs at least one server that is not a backup` });
    u.servers.forEach((s, si) => {
      const hp = parseHostPort(s.address);
      if (!hp.ok) ctx.addIssue({ code: "custom", path: ["upstreams", ui, "servers", si, "address"], message: hp.error.message });
    });
  });
}

/**
 * Startup grace defaults to what the agents' reconnect back-off needs (7 s),
 * or the dead interval if longer; it ends early once every node said hello.
 */
export function startupGraceMs(cfg: CoordinatorConfig): number {
  return cfg.timing.startup_grace ?? Math.max(cfg.timing.dead_interval, DEFAULT_STARTUP_GRACE_MS);
}

/** A takeover's grace: at least a second, a dead interval if longer (agents notice a silent leader within it). */
export const MIN_TAKEOVER_GRACE_MS = 1000;

/**
 * How long a replica that takes over a running cluster (etcd already names holders) listens
 * before electing. Short: the agents were connected a moment ago, and a holder that is not
 * back in time is verified on the LAN before anything moves.
 */
export function takeoverGraceMs(cfg: CoordinatorConfig): number {
  return cfg.timing.takeover_grace ?? Math.max(cfg.timing.dead_interval, MIN_TAKEOVER_GRACE_MS);
}
