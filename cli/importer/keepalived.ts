/**
 * keepalived.conf → what keepvip needs from it, one file per node: the node's
 * id, its vrrp_instances (VIPs with their own dev/label/scope, interface,
 * priority, preempt, tracks, notify), vrrp_scripts, sync groups and LVS
 * virtual_servers. keepalived.conf(5) is the reference: what keepalived
 * would run is read as it would run it; every keyword not carried over
 * becomes a note saying why; a value keepalived would refuse is refused with
 * its file, line and column. Pure (the tree comes from source.ts).
 */
import { isIPv4, isIPv6 } from "node:net";
import { type Statement, SyntaxProblem, find, where } from "./syntax.js";

export interface Note {
  where: string;
  what: string;
}

export interface ScriptDef {
  name: string;
  argv: string[];
  intervalS: number;
  timeoutS?: number;
  weight: number;
  rise: number;
  fall: number;
  user?: string;
  /** Why the script tests keepalived itself (it would fail forever once keepalived is gone). */
  selfCheck?: string;
  where: string;
}

export interface VipDef {
  address: string;
  prefix: number;
  family: 4 | 6;
  dev?: string;
  label?: string;
  scope?: string;
  where: string;
}

export interface TrackRef {
  name: string;
  weight?: number;
  where: string;
}

export type NotifyKind = "master" | "backup" | "fault" | "stop" | "any";

export interface InstanceDef {
  name: string;
  vrid?: number;
  interface?: string;
  priority: number;
  address?: string;
  vips: VipDef[];
  preempt: boolean;
  preemptDelayS: number;
  tracks: TrackRef[];
  trackInterfaces: TrackRef[];
  notify: Partial<Record<NotifyKind, string[]>>;
  where: string;
}

export interface CheckDef {
  type: "tcp" | "http" | "https";
  port?: number;
  path?: string;
  /** keepalived's status_code: one status or a range; default 200-299 (keepalived's). */
  status?: string;
  digest?: string;
  host?: string;
  timeoutS?: number;
  retry?: number;
}

export interface RealDef {
  address: string;
  port: number;
  weight: number;
  check?: CheckDef;
  where: string;
}

export interface VirtualServerDef {
  /** What identifies it across files: "198.18.0.100:80" or "group NAME". */
  key: string;
  /** The upstream name it becomes. */
  name: string;
  port: number;
  algo: string;
  delayLoopS: number;
  reals: RealDef[];
  sorry?: RealDef;
  where: string;
}

export interface NodeDef {
  file: string;
  routerId?: string;
  defaultInterface?: string;
  scriptUser?: string;
  scripts: Map<string, ScriptDef>;
  instances: InstanceDef[];
  syncGroups: Array<{ name: string; groups: string[]; where: string }>;
  virtualServers: VirtualServerDef[];
  notes: Note[];
}

/** keepalived's script strings are split into argv on white space, honouring quotes. */
export function splitArgv(script: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(script); m; m = re.exec(script)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** A value keepalived would refuse: the import stops at it, naming where. */
function refuse(s: Statement, file: string, reason: string): SyntaxProblem {
  return new SyntaxProblem(s.file ?? file, s.line, s.col, reason);
}

/** A number argument, checked: keepalived refuses what is not one, so does the import. */
function number(s: Statement, file: string, what: string, opts: { min?: number; max?: number; integer?: boolean; arg?: number } = {}): number {
  const raw = s.args[opts.arg ?? 0];
  if (raw === undefined) throw refuse(s, file, `${what} needs a value`);
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)))
    throw refuse(s, file, `${what} "${raw}" is not ${opts.integer ? "a whole number" : "a number"}`);
  if (opts.min !== undefined && n < opts.min) throw refuse(s, file, `${what} ${raw} is below ${opts.min}`);
  if (opts.max !== undefined && n > opts.max) throw refuse(s, file, `${what} ${raw} is above ${opts.max}`);
  return n;
}

/** Words that say nothing keepvip needs, with the reason shown to the user. */
const DROPPED: Record<string, string> = {
  state: "the election decides who is MASTER; no initial state is configured",
  virtual_router_id: "no VRRP on the wire: instances are paired by it, then named by the group",
  advert_int: "keepvip uses gRPC heartbeats: set timing.heartbeat_interval / dead_interval in the coordinator config",
  authentication: "auth_pass is clear text on the LAN; keepvip sessions use mutual TLS certificates instead",
  garp_master_delay: "set timing.garp.delays in the coordinator config",
  garp_master_repeat: "set timing.garp.delays in the coordinator config",
  garp_master_refresh: "set timing.garp.refresh in the coordinator config",
  unicast_peer: "no VRRP peers: agents talk to the coordinator",
  smtp_alert: "use notify scripts or `keepvip events --follow`",
  dont_track_primary: "not applicable: the agent watches the interfaces it is told to track",
  version: "no VRRP on the wire",
  native_ipv6: "no VRRP on the wire",
};

/** A vrrp_script that tests keepalived itself: true with the reason. */
export function testsKeepalived(argv: string[]): string | undefined {
  const line = argv.join(" ");
  if (/\b(killall|pkill)\b.*\bkeepalived\b/.test(line)) return "it signals keepalived's own process";
  if (/\b(pidof|pgrep)\b.*\bkeepalived\b/.test(line)) return "it looks for keepalived's own process";
  if (/\bsystemctl\b.*\bkeepalived\b/.test(line) || /\bservice\s+keepalived\b/.test(line)) return "it asks whether the keepalived service runs";
  if (/keepalived\.pid\b/.test(line)) return "it reads keepalived's pid file";
  return undefined;
}

export function readKeepalived(file: string, tree: Statement[]): NodeDef {
  const node: NodeDef = { file, scripts: new Map(), instances: [], syncGroups: [], virtualServers: [], notes: [] };
  const note = (s: Statement, what: string) => node.notes.push({ where: where(s, file), what });
  const vsGroups = new Map<string, Statement>();
  for (const top of tree) if (top.name === "virtual_server_group" && top.args[0]) vsGroups.set(top.args[0], top);
  for (const top of tree) {
    switch (top.name) {
      case "global_defs":
        readGlobals(file, top, node);
        break;
      case "vrrp_script": {
        const name = top.args[0];
        if (!name) throw refuse(top, file, "vrrp_script without a name");
        if (node.scripts.has(name)) note(top, `vrrp_script ${name} is defined twice: the last one is used, as in keepalived`);
        node.scripts.set(name, readScript(file, top, node));
        break;
      }
      case "vrrp_instance":
        if (!top.args[0]) throw refuse(top, file, "vrrp_instance without a name");
        node.instances.push(readInstance(file, top, node));
        break;
      case "vrrp_sync_group": {
        const group = find(top.children, "group")[0];
        node.syncGroups.push({ name: top.args[0], groups: (group?.children ?? []).map((c) => c.name), where: where(top, file) });
        for (const c of top.children ?? [])
          if (c.name !== "group")
            note(
              c,
              `vrrp_sync_group ${top.args[0]} ${c.name}: not carried (keepvip runs notify scripts per group; put them on the groups' instances, each is called with its group's name)`,
            );
        break;
      }
      case "virtual_server": {
        const vs = readVirtualServer(file, top, node, vsGroups);
        if (vs) node.virtualServers.push(vs);
        break;
      }
      case "virtual_server_group":
        break;
      default:
        note(top, `${top.name}: not carried (no keepvip counterpart)`);
    }
  }
  return node;
}

function readGlobals(file: string, top: Statement, node: NodeDef): void {
  for (const g of top.children ?? []) {
    const note = (what: string) => node.notes.push({ where: where(g, file), what });
    if (g.name === "router_id") node.routerId = g.args[0];
    else if (g.name === "default_interface") node.defaultInterface = g.args[0];
    else if (g.name === "script_user") {
      node.scriptUser = g.args[0];
      if (g.args[1] !== undefined && g.args[1] !== g.args[0])
        note(`global_defs script_user ${g.args.join(" ")}: the group (${g.args[1]}) is not carried: scripts run with the user's own group`);
    } else if (g.name === "enable_script_security") note("global_defs enable_script_security: not needed — keepvip never runs a script through a shell");
    else if (g.name.startsWith("notification_email") || g.name.startsWith("smtp"))
      note(`global_defs ${g.name}: not carried (e-mail alerts: use notify scripts or \`keepvip events --follow\`)`);
    else if (g.name.startsWith("vrrp_garp") || g.name.startsWith("vrrp_gna")) note(`global_defs ${g.name}: set timing.garp in the coordinator config`);
    else note(`global_defs ${g.name}: not carried (no keepvip counterpart)`);
  }
}

function readScript(file: string, s: Statement, node: NodeDef): ScriptDef {
  const name = s.args[0];
  const def: ScriptDef = { name, argv: [], intervalS: 1, weight: 0, rise: 1, fall: 1, where: where(s, file) };
  for (const c of s.children ?? []) {
    const note = (what: string) => node.notes.push({ where: where(c, file), what: `vrrp_script ${name} ${what}` });
    switch (c.name) {
      case "script":
        def.argv = splitArgv(c.args.join(" "));
        if (/[|&;<>`]|\$\(/.test(c.args.join(" ")))
          note(`script: it has shell syntax; keepvip runs argv without a shell: wrap it as ["/bin/sh", "-c", "…"] if you need one`);
        break;
      case "interval":
        def.intervalS = number(c, file, `vrrp_script ${name} interval`, { min: 0.01, max: 3600 });
        break;
      case "timeout":
        def.timeoutS = number(c, file, `vrrp_script ${name} timeout`, { min: 0.01, max: 3600 });
        break;
      case "weight":
        def.weight = number(c, file, `vrrp_script ${name} weight`, { min: -253, max: 253, integer: true });
        if (c.args[1] === "reverse") note("weight … reverse: not carried (keepvip's weights are keepalived's plain ones)");
        break;
      case "rise":
        def.rise = number(c, file, `vrrp_script ${name} rise`, { min: 1, max: 100, integer: true });
        break;
      case "fall":
        def.fall = number(c, file, `vrrp_script ${name} fall`, { min: 1, max: 100, integer: true });
        break;
      case "user":
        def.user = c.args[0];
        if (c.args[1] !== undefined && c.args[1] !== c.args[0]) note(`user ${c.args.join(" ")}: the group (${c.args[1]}) is not carried`);
        break;
      default:
        note(`${c.name}: not carried (no keepvip counterpart)`);
    }
  }
  if (def.argv.length === 0) throw refuse(s, file, `vrrp_script ${name} has no script`);
  def.selfCheck = testsKeepalived(def.argv);
  return def;
}

const SCOPES = new Set(["global", "host", "link", "site"]);

function readVip(file: string, v: Statement, inst: InstanceDef, node: NodeDef): VipDef | undefined {
  const words = [v.name, ...v.args];
  const note = (what: string) => node.notes.push({ where: where(v, file), what: `vrrp_instance ${inst.name} virtual_ipaddress ${v.name}: ${what}` });
  const [addr, len] = v.name.split("/");
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (!family) throw refuse(v, file, `vrrp_instance ${inst.name}: "${v.name}" is not an IP address`);
  const max = family === 4 ? 32 : 128;
  // keepalived adds an address written without a mask as a host address (/32, /128).
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len)))
    throw refuse(v, file, `vrrp_instance ${inst.name}: "${v.name}" has a bad prefix length (0..${max})`);
  const vip: VipDef = { address: addr, prefix, family, where: where(v, file) };
  const unknown: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    const value = words[i + 1];
    if ((w === "dev" || w === "label" || w === "scope" || w === "brd" || w === "broadcast" || w === "preferred_lft") && value === undefined)
      throw refuse(v, file, `vrrp_instance ${inst.name}: "${w}" after ${v.name} needs a value`);
    if (w === "dev") vip.dev = words[++i];
    else if (w === "label") vip.label = words[++i];
    else if (w === "scope") {
      if (!SCOPES.has(value)) throw refuse(v, file, `vrrp_instance ${inst.name}: scope "${value}" (keepvip knows global, host, link, site)`);
      vip.scope = words[++i];
    } else if (w === "brd" || w === "broadcast" || w === "preferred_lft") {
      unknown.push(`${w} ${value}`);
      i++;
    } else unknown.push(w);
  }
  if (unknown.length > 0) note(`${unknown.join(", ")}: not carried (keepvip adds the address with ip's defaults, plus dev, label and scope)`);
  return vip;
}

function readInstance(file: string, s: Statement, node: NodeDef): InstanceDef {
  const inst: InstanceDef = {
    name: s.args[0],
    priority: 100,
    vips: [],
    preempt: true,
    preemptDelayS: 0,
    tracks: [],
    trackInterfaces: [],
    notify: {},
    where: where(s, file),
  };
  const note = (c: Statement, what: string) => node.notes.push({ where: where(c, file), what: `vrrp_instance ${inst.name} ${what}` });
  const notifyOf = (c: Statement, kind: NotifyKind) => {
    if (c.args.length === 0) throw refuse(c, file, `vrrp_instance ${inst.name} ${c.name} needs a script`);
    inst.notify[kind] = splitArgv(c.args.join(" "));
  };
  for (const c of s.children ?? []) {
    switch (c.name) {
      case "interface":
        inst.interface = c.args[0];
        break;
      case "virtual_router_id":
        inst.vrid = number(c, file, `vrrp_instance ${inst.name} virtual_router_id`, { min: 1, max: 255, integer: true });
        break;
      case "priority": {
        // keepalived: 1..255, 255 for the address owner.
        const p = number(c, file, `vrrp_instance ${inst.name} priority`, { min: 0, max: 255, integer: true });
        if (p === 0) throw refuse(c, file, `vrrp_instance ${inst.name} priority 0 is reserved in VRRP (a master letting go): use 1..255`);
        inst.priority = p;
        if (p === 255)
          note(
            c,
            "priority 255: keepalived's address owner, which always wins; keepvip's highest is 254: the import uses 254 (add preempt so it takes the VIP back, as an owner would)",
          );
        break;
      }
      case "mcast_src_ip":
      case "unicast_src_ip":
        inst.address = c.args[0];
        break;
      case "nopreempt":
        inst.preempt = false;
        break;
      case "preempt":
        inst.preempt = true;
        break;
      case "preempt_delay":
        inst.preemptDelayS = number(c, file, `vrrp_instance ${inst.name} preempt_delay`, { min: 0, max: 1000 });
        break;
      case "virtual_ipaddress":
        for (const v of c.children ?? []) {
          const vip = readVip(file, v, inst, node);
          if (!vip) continue;
          if (inst.vips.some((x) => x.address === vip.address)) {
            note(v, `virtual_ipaddress ${v.name}: listed twice; keepalived ignores the duplicate, so does the import`);
            continue;
          }
          inst.vips.push(vip);
        }
        break;
      case "virtual_ipaddress_excluded":
        note(c, "virtual_ipaddress_excluded: not carried (add them as VIPs of the group if they must move with it)");
        break;
      case "virtual_routes":
      case "virtual_rules":
        note(c, `${c.name}: not carried (keepvip moves addresses, not routes or rules: add them in notify scripts)`);
        break;
      case "track_script":
        for (const t of c.children ?? []) {
          const weight = t.args[0] === "weight" ? number(t, file, `track_script ${t.name} weight`, { min: -253, max: 253, integer: true, arg: 1 }) : undefined;
          inst.tracks.push({ name: t.name, weight, where: where(t, file) });
        }
        break;
      case "track_interface":
        for (const t of c.children ?? []) {
          const weight =
            t.args[0] === "weight" ? number(t, file, `track_interface ${t.name} weight`, { min: -253, max: 253, integer: true, arg: 1 }) : undefined;
          inst.trackInterfaces.push({ name: t.name, weight, where: where(t, file) });
        }
        break;
      case "track_file":
      case "track_process":
      case "track_bfd":
        note(c, `${c.name}: not carried (track it with a vrrp_script instead)`);
        break;
      case "notify_master":
        notifyOf(c, "master");
        break;
      case "notify_backup":
        notifyOf(c, "backup");
        break;
      case "notify_fault":
        notifyOf(c, "fault");
        break;
      case "notify_stop":
        notifyOf(c, "stop");
        break;
      case "notify":
        notifyOf(c, "any");
        break;
      default:
        note(c, `${c.name}: ${DROPPED[c.name] ? `not needed — ${DROPPED[c.name]}` : "not carried (no keepvip counterpart)"}`);
    }
  }
  return inst;
}

/** `198.18.0.21` → itself; an IPv6 address in brackets, as nginx and keepvip's host:port want it. */
export function hostPortOf(address: string, port: number): string {
  return `${isIPv6(address) ? `[${address}]` : address}:${port}`;
}

function readVirtualServer(file: string, s: Statement, node: NodeDef, vsGroups: ReadonlyMap<string, Statement>): VirtualServerDef | undefined {
  const note = (st: Statement, what: string) => node.notes.push({ where: where(st, file), what });
  let key: string;
  let name: string;
  let port: number;
  if (s.args[0] === "group") {
    const gname = s.args[1];
    const g = gname ? vsGroups.get(gname) : undefined;
    if (!g) throw refuse(s, file, `virtual_server group ${gname ?? ""}: no virtual_server_group ${gname ?? "(no name)"} in this file`);
    const ports = new Set((g.children ?? []).filter((e) => e.name !== "fwmark").map((e) => Number(e.args[0])));
    if (ports.size !== 1 || ![...ports].every((p) => Number.isInteger(p) && p > 0 && p < 65536))
      throw refuse(
        g,
        file,
        `virtual_server_group ${gname}: its entries must share one port to become one nginx upstream (they have ${[...ports].join(", ") || "none"})`,
      );
    key = `group ${gname}`;
    name = `vsg_${gname.replace(/[^A-Za-z0-9_]/g, "_")}`;
    port = [...ports][0];
  } else if (s.args[0] === "fwmark") {
    note(s, `virtual_server fwmark ${s.args[1] ?? ""}: not carried (an LVS firewall mark has no nginx counterpart)`);
    return undefined;
  } else {
    const address = s.args[0];
    if (!address) {
      note(s, "virtual_server without an address: skipped");
      return undefined;
    }
    port = number(s, file, `virtual_server ${address} port`, { min: 1, max: 65535, integer: true, arg: 1 });
    key = hostPortOf(address, port);
    name = `vs_${address.replace(/[.:]/g, "_")}_${port}`;
  }
  const label = `virtual_server ${s.args.join(" ")}`;
  const protocol = find(s.children, "protocol")[0];
  if (protocol && protocol.args[0]?.toUpperCase() !== "TCP") {
    note(
      protocol,
      `${label}: protocol ${protocol.args[0]}: not carried (keepvip's upstreams are nginx HTTP upstreams over TCP; a ${protocol.args[0]} service needs nginx's stream module, configured by hand)`,
    );
    return undefined;
  }
  const vs: VirtualServerDef = { key, name, port, algo: "rr", delayLoopS: 60, reals: [], where: where(s, file) };
  for (const c of s.children ?? []) {
    if (c.name === "delay_loop") vs.delayLoopS = number(c, file, `${label} delay_loop`, { min: 0.01, max: 3600 });
    else if (c.name === "lb_algo") vs.algo = c.args[0] ?? "rr";
    else if (c.name === "protocol") continue;
    else if (c.name === "real_server" || c.name === "sorry_server") {
      const real = readReal(file, c, vs, label, node);
      if (!real) continue;
      if (c.name === "sorry_server") vs.sorry = real;
      else vs.reals.push(real);
    } else note(c, `${label} ${c.name}: not carried (LVS ${c.name === "lb_kind" ? "forwarding" : "option"}; keepvip balances with nginx upstreams)`);
  }
  return vs;
}

function readReal(file: string, c: Statement, vs: VirtualServerDef, label: string, node: NodeDef): RealDef | undefined {
  const note = (st: Statement, what: string) => node.notes.push({ where: where(st, file), what });
  const address = c.args[0];
  if (address === undefined) {
    note(c, `${label} ${c.name} without an address: skipped`);
    return undefined;
  }
  if (!isIPv4(address) && !isIPv6(address)) throw refuse(c, file, `${label} ${c.name} "${address}" is not an IP address`);
  const port = c.args[1] === undefined ? vs.port : number(c, file, `${label} ${c.name} ${address} port`, { min: 1, max: 65535, integer: true, arg: 1 });
  const real: RealDef = { address, port, weight: 1, where: where(c, file) };
  const rlabel = `${c.name} ${hostPortOf(address, port)}`;
  for (const r of c.children ?? []) {
    if (r.name === "weight") real.weight = number(r, file, `${rlabel} weight`, { min: 0, max: 65535, integer: true });
    else if (r.name === "TCP_CHECK") {
      real.check = { type: "tcp", ...readCheckCommon(file, r, rlabel, real, node) };
      for (const x of r.children ?? []) if (!COMMON_CHECK.has(x.name)) note(x, `${rlabel} TCP_CHECK ${x.name}: not carried`);
    } else if (r.name === "HTTP_GET" || r.name === "SSL_GET") real.check = readHttpCheck(file, r, rlabel, real, node);
    else if (/_CHECK$/.test(r.name))
      note(
        r,
        `${rlabel} ${r.name}: not carried (keepvip checks upstream servers by TCP connect, HTTP or HTTPS GET; this server gets the upstream's check, if any)`,
      );
    else note(r, `${rlabel} ${r.name}: not carried`);
  }
  return real;
}

const COMMON_CHECK = new Set(["connect_port", "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "connect_ip", "bindto", "bind_port", "warmup"]);

function readCheckCommon(file: string, r: Statement, rlabel: string, real: RealDef, node: NodeDef): Omit<CheckDef, "type"> {
  const out: Omit<CheckDef, "type"> = {};
  const note = (st: Statement, what: string) => node.notes.push({ where: where(st, file), what: `${rlabel} ${r.name} ${what}` });
  for (const x of r.children ?? []) {
    switch (x.name) {
      case "connect_port": {
        out.port = number(x, file, `${rlabel} connect_port`, { min: 1, max: 65535, integer: true });
        if (out.port !== real.port) note(x, `checks port ${out.port}, not the served port ${real.port}: keepvip checks the port it serves`);
        break;
      }
      case "connect_timeout":
        out.timeoutS = number(x, file, `${rlabel} connect_timeout`, { min: 0.01, max: 60 });
        break;
      case "retry":
      case "nb_get_retry":
        out.retry = number(x, file, `${rlabel} ${x.name}`, { min: 0, max: 100, integer: true });
        break;
      case "delay_before_retry":
        note(x, "delay_before_retry: not carried (keepvip checks at the upstream's interval; a failure is retried at the next one)");
        break;
      case "connect_ip":
      case "bindto":
      case "bind_port":
      case "warmup":
        note(x, `${x.name}: not carried (keepvip checks the server's own address from the agent's)`);
        break;
    }
  }
  return out;
}

function readHttpCheck(file: string, r: Statement, rlabel: string, real: RealDef, node: NodeDef): CheckDef {
  const note = (st: Statement, what: string) => node.notes.push({ where: where(st, file), what: `${rlabel} ${r.name} ${what}` });
  const check: CheckDef = { type: r.name === "SSL_GET" ? "https" : "http", ...readCheckCommon(file, r, rlabel, real, node) };
  const urls = find(r.children, "url");
  if (urls.length === 0) check.path = "/";
  for (const [i, url] of urls.entries()) {
    if (i > 0) {
      note(url, `url ${find(url.children, "path")[0]?.args[0] ?? ""}: not carried (keepvip checks one path per upstream: the first url's)`);
      continue;
    }
    check.path = find(url.children, "path")[0]?.args[0] ?? "/";
    for (const u of url.children ?? []) {
      if (u.name === "path") continue;
      if (u.name === "status_code") {
        const v = u.args.join("");
        if (!/^\d{3}(-\d{3})?$/.test(v)) throw refuse(u, file, `${rlabel} status_code "${u.args.join(" ")}": keepvip takes one status or a range (200-299)`);
        check.status = v;
      } else if (u.name === "digest") {
        const d = (u.args[0] ?? "").toLowerCase();
        if (!/^[0-9a-f]{32}$/.test(d))
          throw refuse(u, file, `${rlabel} digest "${u.args[0] ?? ""}" is not an MD5 digest (32 hex digits, as genhash prints it)`);
        check.digest = d;
      } else if (u.name === "virtualhost") check.host = u.args[0];
      else note(u, `url ${u.name}: not carried`);
    }
  }
  for (const x of r.children ?? []) {
    if (x.name === "url" || COMMON_CHECK.has(x.name)) continue;
    if (x.name === "virtualhost") check.host = x.args[0];
    else note(x, `${x.name}: not carried`);
  }
  return check;
}
