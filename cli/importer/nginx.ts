/**
 * nginx.conf → its upstream blocks (balance method, keepalive, servers with
 * weight, max_fails, fail_timeout, backup, down) and the ports its server
 * blocks listen on (the service a VIP carries). Everything else in a server
 * block stays in the user's nginx config: keepvip renders upstreams only. Pure.
 */
import { parseDuration } from "../../shared/config/duration.js";
import type { Note } from "./keepalived.js";
import type { Statement } from "./syntax.js";

export interface UpstreamDef {
  name: string;
  balance: "round_robin" | "least_conn" | "ip_hash" | "hash";
  hashKey?: string;
  consistent: boolean;
  keepalive: number;
  servers: Array<{ address: string; weight?: number; maxFails?: number; failTimeoutS?: number; backup: boolean; down: boolean }>;
}

export interface NginxDef {
  upstreams: UpstreamDef[];
  /** listen port → server_names of that server block. */
  listens: Array<{ port: number; names: string[] }>;
  notes: Note[];
}

export function readNginx(file: string, tree: Statement[]): NginxDef {
  const def: NginxDef = { upstreams: [], listens: [], notes: [] };
  const walk = (list: Statement[]) => {
    for (const s of list) {
      if (s.name === "upstream") def.upstreams.push(readUpstream(file, s, def));
      else if (s.name === "server" && s.children) readServer(file, s, def);
      else if (s.children) walk(s.children);
    }
  };
  walk(tree);
  return def;
}

function readUpstream(file: string, s: Statement, def: NginxDef): UpstreamDef {
  const u: UpstreamDef = { name: s.args[0], balance: "round_robin", consistent: false, keepalive: 0, servers: [] };
  const note = (c: Statement, what: string) => def.notes.push({ where: `${file}:${c.line}:${c.col}`, what: `upstream ${u.name} ${what}` });
  for (const c of s.children ?? []) {
    switch (c.name) {
      case "least_conn":
        u.balance = "least_conn";
        break;
      case "ip_hash":
        u.balance = "ip_hash";
        break;
      case "hash":
        u.balance = "hash";
        u.hashKey = c.args[0];
        u.consistent = c.args[1] === "consistent";
        break;
      case "keepalive":
        u.keepalive = Number(c.args[0]) || 0;
        break;
      case "server": {
        if (c.args[0] === undefined) {
          note(c, "server without an address: skipped");
          break;
        }
        const srv: UpstreamDef["servers"][number] = { address: c.args[0], backup: false, down: false };
        for (const p of c.args.slice(1)) {
          const [k, v] = p.split("=");
          if (k === "weight") srv.weight = Number(v);
          else if (k === "max_fails") srv.maxFails = Number(v);
          else if (k === "fail_timeout") {
            const ms = parseDuration(/^\d+$/.test(v) ? `${v}s` : v);
            if (ms.ok) srv.failTimeoutS = ms.value / 1000;
          } else if (k === "backup") srv.backup = true;
          else if (k === "down") srv.down = true;
          else note(c, `server ${srv.address} ${p}: not mapped`);
        }
        if (!/:\d+$/.test(srv.address)) {
          note(c, `server ${srv.address}: no port given; nginx means :80, written as ${srv.address}:80`);
          srv.address = `${srv.address}:80`;
        }
        u.servers.push(srv);
        break;
      }
      default:
        note(c, `${c.name}: not mapped (keepvip renders balance method, keepalive and servers)`);
    }
  }
  def.notes.push({
    where: `${file}:${s.line}:${s.col}`,
    what: `upstream ${u.name}: nginx open source checks it only passively; add a \`check:\` (type http, path, interval, rise, fall) for keepvip's active checks`,
  });
  return u;
}

function readServer(file: string, s: Statement, def: NginxDef): void {
  const names = (s.children ?? []).filter((c) => c.name === "server_name").flatMap((c) => c.args);
  def.notes.push({
    where: `${file}:${s.line}:${s.col}`,
    what: "server block: stays in your nginx config as it is (keepvip renders upstreams only); remove the upstream blocks keepvip now renders into its include file",
  });
  for (const l of (s.children ?? []).filter((c) => c.name === "listen")) {
    const port = Number(/(\d+)$/.exec(l.args[0])?.[1]);
    if (Number.isInteger(port)) def.listens.push({ port, names });
  }
}
