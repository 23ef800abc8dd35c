/**
 * keepalived.conf → what keepvip needs from it, one file per node: the node's
 * id and address, its vrrp_instances (VIPs, interface, priority, preempt,
 * tracks, notify), vrrp_scripts, sync groups and LVS virtual_servers. Every
 * keyword not carried over becomes a note saying why. Pure.
 */
import { find, type Statement } from "./syntax.js";

export interface Note {
  where: string;
  what: string;
}

export interface ScriptDef {
  argv: string[];
  intervalS: number;
  timeoutS?: number;
  weight: number;
  rise: number;
  fall: number;
}

export interface InstanceDef {
  name: string;
  interface?: string;
  priority: number;
  address?: string;
  vips: Array<{ cidr: string; dev?: string; label?: string }>;
  preempt: boolean;
  preemptDelayS: number;
  tracks: Array<{ name: string; weight?: number }>;
  trackInterfaces: string[];
  notify: Partial<Record<"master" | "backup" | "fault" | "stop" | "any", string[]>>;
}

export interface VirtualServerDef {
  address: string;
  port: number;
  algo: string;
  delayLoopS: number;
  reals: Array<{
    address: string;
    port: number;
    weight: number;
    check?: { type: "tcp" | "http"; port?: number; path?: string; status?: number; timeoutS?: number };
  }>;
}

export interface NodeDef {
  file: string;
  routerId?: string;
  scripts: Map<string, ScriptDef>;
  instances: InstanceDef[];
  syncGroups: Array<{ name: string; groups: string[] }>;
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

const num = (s: string | undefined, fallback: number) => (s !== undefined && Number.isFinite(Number(s)) ? Number(s) : fallback);
const at = (file: string, s: Statement) => `${file}:${s.line}:${s.col}`;

/** Words that say nothing keepvip needs, with the reason shown to the user. */
const DROPPED: Record<string, string> = {
  state: "the election decides who is MASTER; no initial state is configured",
  virtual_router_id: "no VRRP on the wire: the group name identifies the instance",
  advert_int: "keepvip uses gRPC heartbeats: set timing.heartbeat_interval / dead_interval in the coordinator config",
  authentication: "auth_pass is clear text on the LAN; keepvip sessions use mutual TLS certificates instead",
  garp_master_delay: "set timing.garp.delays in the coordinator config",
  garp_master_repeat: "set timing.garp.delays in the coordinator config",
  garp_master_refresh: "set timing.garp.refresh in the coordinator config",
  unicast_peer: "no VRRP peers: agents talk to the coordinator",
  smtp_alert: "use notify scripts or `keepvip events --follow`",
  dont_track_primary: "not applicable: the agent watches the interfaces it is told to track",
};

export function readKeepalived(file: string, tree: Statement[]): NodeDef {
  const node: NodeDef = { file, scripts: new Map(), instances: [], syncGroups: [], virtualServers: [], notes: [] };
  const note = (s: Statement, what: string) => node.notes.push({ where: at(file, s), what });
  for (const top of tree) {
    switch (top.name) {
      case "global_defs":
        for (const g of top.children ?? []) {
          if (g.name === "router_id") node.routerId = g.args[0];
          else
            note(
              g,
              `global_defs ${g.name}: not mapped (${g.name.startsWith("notification_email") || g.name.startsWith("smtp") ? "e-mail alerts: use notify scripts or `keepvip events --follow`" : "no keepvip counterpart"})`,
            );
        }
        break;
      case "vrrp_script":
        node.scripts.set(top.args[0], readScript(file, top, node));
        break;
      case "vrrp_instance":
        node.instances.push(readInstance(file, top, node));
        break;
      case "vrrp_sync_group": {
        const group = find(top.children, "group")[0];
        node.syncGroups.push({ name: top.args[0], groups: (group?.children ?? []).map((c) => c.name) });
        for (const c of top.children ?? [])
          if (c.name !== "group") note(c, `vrrp_sync_group ${top.args[0]} ${c.name}: not mapped (notify scripts are per group in keepvip)`);
        break;
      }
      case "virtual_server":
        if (top.args[0] === undefined) note(top, "virtual_server without an address: skipped");
        else node.virtualServers.push(readVirtualServer(file, top, node));
        break;
      default:
        note(top, `${top.name}: not mapped (no keepvip counterpart)`);
    }
  }
  return node;
}

function readScript(file: string, s: Statement, node: NodeDef): ScriptDef {
  const def: ScriptDef = { argv: [], intervalS: 1, weight: 0, rise: 1, fall: 1 };
  for (const c of s.children ?? []) {
    switch (c.name) {
      case "script":
        def.argv = splitArgv(c.args.join(" "));
        if (/[|&;<>$`]/.test(c.args.join(" ")))
          node.notes.push({
            where: at(file, c),
            what: `vrrp_script ${s.args[0]}: the script has shell syntax; keepvip runs argv without a shell, wrap it as ["/bin/sh", "-c", "…"] if you need one`,
          });
        break;
      case "interval":
        def.intervalS = num(c.args[0], 1);
        break;
      case "timeout":
        def.timeoutS = num(c.args[0], def.intervalS);
        break;
      case "weight":
        def.weight = num(c.args[0], 0);
        break;
      case "rise":
        def.rise = num(c.args[0], 1);
        break;
      case "fall":
        def.fall = num(c.args[0], 1);
        break;
      case "user":
        node.notes.push({
          where: at(file, c),
          what: `vrrp_script ${s.args[0]} user ${c.args[0]}: set script_user in the agent config (one user for all scripts)`,
        });
        break;
      default:
        node.notes.push({ where: at(file, c), what: `vrrp_script ${s.args[0]} ${c.name}: not mapped` });
    }
  }
  return def;
}

function readInstance(file: string, s: Statement, node: NodeDef): InstanceDef {
  const inst: InstanceDef = { name: s.args[0], priority: 100, vips: [], preempt: true, preemptDelayS: 0, tracks: [], trackInterfaces: [], notify: {} };
  const note = (c: Statement, what: string) => node.notes.push({ where: at(file, c), what: `vrrp_instance ${inst.name} ${what}` });
  for (const c of s.children ?? []) {
    switch (c.name) {
      case "interface":
        inst.interface = c.args[0];
        break;
      case "priority":
        inst.priority = num(c.args[0], 100);
        break;
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
        inst.preemptDelayS = num(c.args[0], 0);
        break;
      case "virtual_ipaddress":
        for (const v of c.children ?? []) {
          const words = [v.name, ...v.args];
          const dev = words.indexOf("dev") >= 0 ? words[words.indexOf("dev") + 1] : undefined;
          const label = words.indexOf("label") >= 0 ? words[words.indexOf("label") + 1] : undefined;
          // keepalived adds a VIP written without a mask as /32.
          inst.vips.push({ cidr: v.name.includes("/") ? v.name : `${v.name}/32`, dev, label });
          const extra = words.slice(1).filter((w, i, a) => !["dev", "label"].includes(w) && !["dev", "label"].includes(a[i - 1] ?? ""));
          if (extra.length > 0) note(v, `virtual_ipaddress ${v.name}: options ${extra.join(" ")} not mapped`);
        }
        break;
      case "virtual_ipaddress_excluded":
        note(c, "virtual_ipaddress_excluded: not mapped (add them as VIPs of the group if they must move with it)");
        break;
      case "track_script":
        for (const t of c.children ?? []) inst.tracks.push({ name: t.name, weight: t.args[0] === "weight" ? num(t.args[1], 0) : undefined });
        break;
      case "track_interface":
        for (const t of c.children ?? []) {
          inst.trackInterfaces.push(t.name);
          if (t.args[0] === "weight")
            note(t, `track_interface ${t.name} weight ${t.args[1]}: a tracked link going down makes the node FAULT in keepvip (weight ignored)`);
        }
        break;
      case "notify_master":
        inst.notify.master = splitArgv(c.args.join(" "));
        break;
      case "notify_backup":
        inst.notify.backup = splitArgv(c.args.join(" "));
        break;
      case "notify_fault":
        inst.notify.fault = splitArgv(c.args.join(" "));
        break;
      case "notify_stop":
        inst.notify.stop = splitArgv(c.args.join(" "));
        break;
      case "notify":
        inst.notify.any = splitArgv(c.args.join(" "));
        break;
      default:
        note(c, `${c.name}: ${DROPPED[c.name] ? `not needed — ${DROPPED[c.name]}` : "not mapped"}`);
    }
  }
  return inst;
}

function readVirtualServer(file: string, s: Statement, node: NodeDef): VirtualServerDef {
  const vs: VirtualServerDef = { address: s.args[0], port: num(s.args[1], 0), algo: "rr", delayLoopS: 60, reals: [] };
  for (const c of s.children ?? []) {
    if (c.name === "delay_loop") vs.delayLoopS = num(c.args[0], 60);
    else if (c.name === "lb_algo") vs.algo = c.args[0];
    else if (c.name === "real_server" && c.args[0] === undefined)
      node.notes.push({ where: at(file, c), what: `virtual_server ${vs.address} ${vs.port} real_server without an address: skipped` });
    else if (c.name === "real_server") {
      const real: VirtualServerDef["reals"][number] = { address: c.args[0], port: num(c.args[1], vs.port), weight: 1 };
      for (const r of c.children ?? []) {
        if (r.name === "weight") real.weight = num(r.args[0], 1);
        else if (r.name === "TCP_CHECK") {
          const cp = find(r.children, "connect_port")[0];
          real.check = { type: "tcp", port: cp ? num(cp.args[0], real.port) : undefined, timeoutS: num(find(r.children, "connect_timeout")[0]?.args[0], 3) };
          if (cp && num(cp.args[0], real.port) !== real.port)
            node.notes.push({
              where: at(file, cp),
              what: `real_server ${real.address}:${real.port} checks port ${cp.args[0]}, not the served port: keepvip checks the server's own address`,
            });
        } else if (r.name === "HTTP_GET" || r.name === "SSL_GET") {
          const url = find(r.children, "url")[0];
          real.check = {
            type: "http",
            path: find(url?.children, "path")[0]?.args[0] ?? "/",
            status: num(find(url?.children, "status_code")[0]?.args[0], 200),
            timeoutS: num(find(r.children, "connect_timeout")[0]?.args[0], 3),
          };
        } else node.notes.push({ where: at(file, r), what: `real_server ${real.address} ${r.name}: not mapped` });
      }
      vs.reals.push(real);
    } else if (!["protocol"].includes(c.name)) {
      node.notes.push({
        where: at(file, c),
        what: `virtual_server ${vs.address} ${vs.port} ${c.name}: not mapped (LVS ${c.name === "lb_kind" ? "forwarding" : "option"}; keepvip balances with nginx upstreams)`,
      });
    }
  }
  return vs;
}
