/**
 * keepalived (one file per node) + nginx upstreams → a keepvip coordinator
 * config and one agent config per node, plus the notes on what was changed or
 * not carried over and why. Instances are paired across files by
 * virtual_router_id, as VRRP pairs them. The result is validated with keepvip's
 * own schemas; a problem is reported at the keepalived (or nginx) line that
 * produced it, never at a line of a file the import has not written. Pure.
 */
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { crossCheck } from "../../shared/config/cluster.js";
import { formatPath } from "../../shared/config/load.js";
import { stringify } from "yaml";
import type * as z from "zod";
import { type InstanceDef, type NodeDef, type Note, type RealDef, type VirtualServerDef, hostPortOf } from "./keepalived.js";
import type { NginxDef } from "./nginx.js";

export interface ImportOptions {
  /** Node ids in file order (default: each file's router_id, made a valid id). */
  names?: string[];
  /** Where the agents reach the coordinator. */
  coordinator?: string;
  /** HTTP path probed through the VIP (default: TCP connect only). */
  servicePath?: string;
}

export interface ImportResult {
  coordinator: Record<string, unknown>;
  agents: Array<{ node: string; config: Record<string, unknown> }>;
  notes: Note[];
}

/** Where in the keepalived/nginx input a generated config path comes from. */
type Sources = Map<string, string>;

const secs = (s: number) => `${Math.round(s * 1000)}ms`;
/** Where install.sh and the README put the certificates keepvip certs makes. */
const PKI = "/etc/keepvip/pki";
/** keepalived's interface when an instance names none and global_defs has no default_interface. */
const KEEPALIVED_DEFAULT_INTERFACE = "eth0";

export function nodeIdFrom(raw: string | undefined, fallback: string): string {
  const id = (raw ?? fallback)
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 63);
  return id || fallback;
}

/** One vrrp_instance as one node has it, in a group. */
interface Copy {
  inst: InstanceDef;
  node: string;
  def: NodeDef;
}

interface GroupPlan {
  name: string;
  copies: Copy[];
}

/** Instances paired across files by virtual_router_id (VRRP's own pairing), named by the first file's instance. */
export function pairInstances(nodes: NodeDef[], ids: string[], notes: Note[]): GroupPlan[] {
  const byVrid = new Map<number, GroupPlan>();
  const plans: GroupPlan[] = [];
  for (const [i, def] of nodes.entries()) {
    const seen = new Map<number, InstanceDef>();
    for (const inst of def.instances) {
      if (inst.vrid === undefined)
        throw new Error(
          `${inst.where}: vrrp_instance ${inst.name} has no virtual_router_id: keepalived refuses such an instance (it is how VRRP pairs them; keepvip pairs files by it)`,
        );
      const twin = seen.get(inst.vrid);
      if (twin)
        throw new Error(
          `${inst.where}: vrrp_instance ${inst.name} has virtual_router_id ${inst.vrid}, as ${twin.name} (${twin.where}) in the same file: keepvip pairs instances across files by it; give them different ids`,
        );
      seen.set(inst.vrid, inst);
      let plan = byVrid.get(inst.vrid);
      if (!plan) {
        let name = inst.name;
        if (plans.some((p) => p.name === name)) {
          name = `${inst.name}_vrid${inst.vrid}`;
          notes.push({
            where: inst.where,
            what: `vrrp_instance ${inst.name} (virtual_router_id ${inst.vrid}): another instance with another id has this name; the group is named ${name}`,
          });
        }
        plan = { name, copies: [] };
        byVrid.set(inst.vrid, plan);
        plans.push(plan);
      } else if (plan.copies[0] && plan.copies[0].inst.name !== inst.name) {
        notes.push({
          where: inst.where,
          what: `vrrp_instance ${inst.name} and ${plan.copies[0].inst.name} (${plan.copies[0].inst.where}) share virtual_router_id ${inst.vrid}: one group, named ${plan.name}`,
        });
      }
      plan.copies.push({ inst, node: ids[i], def });
    }
  }
  return plans;
}

export function convert(nodes: NodeDef[], nginx: NginxDef[], opts: ImportOptions = {}): ImportResult {
  const notes: Note[] = [...nodes.flatMap((n) => n.notes), ...nginx.flatMap((n) => n.notes)];
  const ids = nodes.map((n, i) => opts.names?.[i] ?? nodeIdFrom(n.routerId, `node${i + 1}`));
  if (new Set(ids).size !== ids.length) throw new Error(`two keepalived.conf files give the same node id (${ids.join(", ")}): pass --names`);
  const sources: Sources = new Map();

  const plans = pairInstances(nodes, ids, notes);
  /** Per node: its instance name → the group it is in (sync groups and agent configs name groups). */
  const groupOf = ids.map(() => new Map<string, string>());
  const listens = nginx.flatMap((n) => n.listens);
  const vipOwner = new Map<string, string>();
  const groups: Array<Record<string, unknown>> = [];
  /** Per node: the group-scoped interfaces it must watch (keepalived's per-instance track_interface). */
  const interfaceTracks = ids.map(() => new Set<string>());
  const kept: GroupPlan[] = [];
  for (const plan of plans) {
    const { name, copies } = plan;
    const first = copies[0].inst;
    for (const c of copies.slice(1)) {
      if (c.inst.vips.map((v) => `${v.address}/${v.prefix}`).join() !== first.vips.map((v) => `${v.address}/${v.prefix}`).join())
        notes.push({ where: c.inst.where, what: `vrrp_instance ${c.inst.name}: its VIPs differ from ${first.where}'s; the first file's are used` });
      if (c.inst.preempt !== first.preempt)
        notes.push({
          where: c.inst.where,
          what: `vrrp_instance ${c.inst.name}: nopreempt on some nodes only; keepvip's preempt is per group: nopreempt is used`,
        });
    }
    const vips: string[] = [];
    for (const v of first.vips) {
      const key = v.family === 6 ? new URL(`http://[${v.address}]`).hostname : v.address;
      const owner = vipOwner.get(key);
      if (owner !== undefined) {
        notes.push({
          where: v.where,
          what: `vrrp_instance ${first.name} VIP ${v.address}: already a VIP of group ${owner}; keepalived warns and ignores the duplicate, so does the import`,
        });
        continue;
      }
      vipOwner.set(key, name);
      sources.set(`groups[${groups.length}].vips[${vips.length}]`, v.where);
      vips.push(`${v.address}/${v.prefix}`);
    }
    if (vips.length === 0) {
      notes.push({ where: first.where, what: `vrrp_instance ${first.name}: no VIP keepvip can carry; the instance is left out` });
      continue;
    }
    const gi = groups.length;
    sources.set(`groups[${gi}]`, first.where);
    for (const [ci, c] of copies.entries()) {
      groupOf[ids.indexOf(c.node)].set(c.inst.name, name);
      sources.set(`groups[${gi}].members[${ci}]`, c.inst.where);
    }
    const vipAddrs = vips.map((v) => v.split("/")[0]);
    const service = listens.find((l) => l.names.some((n) => vipAddrs.includes(n))) ?? listens[0];
    if (!service)
      notes.push({
        where: first.where,
        what: `group ${name}: no nginx server block found, service.port set to 80: set it to the port clients use through the VIP`,
      });
    groups.push({
      name,
      vips,
      service: { port: service?.port ?? 80, ...(opts.servicePath ? { path: opts.servicePath } : {}) },
      preempt: copies.every((c) => c.inst.preempt),
      preempt_delay: secs(Math.max(...copies.map((c) => c.inst.preemptDelayS))),
      members: copies.map((c) => ({
        node: c.node,
        priority: Math.min(254, c.inst.priority),
        ...(c.inst.address ? { address: c.inst.address } : {}),
      })),
      tracks: groupTracks(plan, notes, interfaceTracks, ids),
    });
    kept.push(plan);
  }

  const syncGroups = syncGroupsOf(nodes[0], groupOf[0], notes);
  const upstreams: Array<Record<string, unknown>> = [
    ...nginx
      .flatMap((n) => n.upstreams)
      .map((u) => ({
        name: u.name,
        balance: u.balance,
        ...(u.hashKey ? { hash_key: u.hashKey, consistent: u.consistent } : {}),
        ...(u.keepalive ? { keepalive: u.keepalive } : {}),
        servers: u.servers.map((s) => ({
          address: s.address,
          ...(s.weight !== undefined ? { weight: s.weight } : {}),
          ...(s.maxFails !== undefined ? { max_fails: s.maxFails } : {}),
          ...(s.failTimeoutS !== undefined ? { fail_timeout: secs(s.failTimeoutS) } : {}),
          ...(s.backup ? { backup: true } : {}),
          ...(s.down ? { down: true } : {}),
        })),
      })),
  ];
  upstreams.push(...virtualServerUpstreams(nodes, notes, sources, upstreams.length));

  const coordinator = {
    listen: "0.0.0.0:7400",
    state_dir: "/var/lib/keepvip",
    tls: { ca: `${PKI}/ca.crt`, cert: `${PKI}/coordinator.crt`, key: `${PKI}/coordinator.key` },
    groups,
    ...(syncGroups.length > 0 ? { sync_groups: syncGroups } : {}),
    upstreams,
  };
  notes.push({
    where: "coordinator",
    what: `mutual TLS with the files in ${PKI} (keepalived's auth_pass protected nothing): make them with keepvip certs init, issue-coordinator --san ADDRESS and issue-agent NODE for each node (see the README's install section)`,
  });

  const agents = nodes.map((n, i) => ({ node: ids[i], config: agentFor(ids[i], n, kept, groupOf[i], [...interfaceTracks[i]], opts, notes) }));
  validate(coordinator, agents, sources, nodes, notes);
  return { coordinator, agents, notes };
}

/** A group's tracks: its instances' track_scripts (known, not testing keepalived itself) and track_interfaces every member has. */
function groupTracks(plan: GroupPlan, notes: Note[], interfaceTracks: Array<Set<string>>, ids: string[]): Array<Record<string, unknown>> {
  const tracks = new Map<string, { name: string; weight: number; rise?: number; fall?: number }>();
  for (const c of plan.copies) {
    for (const t of c.inst.tracks) {
      const s = c.def.scripts.get(t.name);
      if (!s) {
        notes.push({
          where: t.where,
          what: `vrrp_instance ${c.inst.name} track_script ${t.name}: no vrrp_script ${t.name} in this file; keepalived ignores it, so does the import`,
        });
        continue;
      }
      if (s.selfCheck) {
        notes.push({
          where: t.where,
          what: `vrrp_instance ${c.inst.name} track_script ${t.name}: left out: ${s.selfCheck} (${s.argv.join(" ")}), and keepvip replaces keepalived, so it would fail forever`,
        });
        continue;
      }
      const weight = t.weight ?? s.weight;
      const prev = tracks.get(t.name);
      if (prev && prev.weight !== weight)
        notes.push({
          where: t.where,
          what: `track ${t.name}: weight ${weight} here but ${prev.weight} on another node; keepvip's weight is per group: ${prev.weight} is used`,
        });
      if (!prev) tracks.set(t.name, { name: t.name, weight, ...(s.rise > 1 ? { rise: s.rise } : {}), ...(s.fall > 1 ? { fall: s.fall } : {}) });
    }
  }
  // keepalived's track_interface faults (or re-weighs) only its instance: a group track "if:NAME",
  // which the agents report from their interface_tracks. keepvip's group tracks are named by the
  // interface, so only an interface every member tracks is carried.
  const byName = new Map<string, { weight: number; copies: Copy[]; where: string }>();
  for (const c of plan.copies)
    for (const t of c.inst.trackInterfaces) {
      const e = byName.get(t.name) ?? { weight: t.weight ?? 0, copies: [], where: t.where };
      if ((t.weight ?? 0) !== e.weight)
        notes.push({ where: t.where, what: `track_interface ${t.name}: weight ${t.weight ?? 0} here but ${e.weight} on another node; ${e.weight} is used` });
      e.copies.push(c);
      byName.set(t.name, e);
    }
  for (const [iface, e] of byName) {
    if (e.copies.length < plan.copies.length) {
      const missing = plan.copies.filter((c) => !e.copies.includes(c)).map((c) => c.node);
      notes.push({
        where: e.where,
        what: `group ${plan.name} track_interface ${iface}: left out: ${missing.join(", ")} do${missing.length === 1 ? "es" : ""} not track it (keepvip's group tracks are named by the interface, so every member must track the same one)`,
      });
      continue;
    }
    tracks.set(`if:${iface}`, { name: `if:${iface}`, weight: e.weight });
    for (const c of e.copies) interfaceTracks[ids.indexOf(c.node)].add(iface);
  }
  return [...tracks.values()];
}

function syncGroupsOf(def: NodeDef | undefined, groupOf: ReadonlyMap<string, string>, notes: Note[]): Array<{ name: string; groups: string[] }> {
  const out: Array<{ name: string; groups: string[] }> = [];
  for (const s of def?.syncGroups ?? []) {
    const groups: string[] = [];
    for (const inst of s.groups) {
      const g = groupOf.get(inst);
      if (g === undefined) notes.push({ where: s.where, what: `vrrp_sync_group ${s.name}: ${inst} is not an imported instance; left out of the sync group` });
      else groups.push(g);
    }
    if (groups.length > 0) out.push({ name: s.name, groups });
  }
  return out;
}

function agentFor(
  id: string,
  n: NodeDef,
  plans: GroupPlan[],
  groupOf: ReadonlyMap<string, string>,
  interfaceTracks: string[],
  opts: ImportOptions,
  notes: Note[],
): Record<string, unknown> {
  const mine = n.instances.filter((i) => groupOf.has(i.name));
  const used = new Map<string, { user?: string }>();
  for (const inst of mine)
    for (const t of inst.tracks) {
      const s = n.scripts.get(t.name);
      if (s && !s.selfCheck) used.set(t.name, { user: s.user });
    }
  const tracks = Object.fromEntries(
    [...n.scripts]
      .filter(([name]) => used.has(name))
      .map(([name, s]) => [name, { script: s.argv, interval: secs(s.intervalS), timeout: secs(s.timeoutS ?? s.intervalS) }]),
  );
  if (Object.values(tracks).some((t) => /nginx_check/.test(t.script.join(" ")))) {
    notes.push({
      where: n.file,
      what: "the seed's nginx_check.sh restarts nginx and stops keepalived; keepvip's agent supervises nginx itself and releases the VIP when nginx cannot start: use deploy/examples/nginx_check.sh (check only) or drop the track",
    });
  }
  // One user for every script on a node (keepvip's script_user): global_defs', else the scripts' own when they agree.
  const users = [...new Set([...used.values()].map((u) => u.user).filter((u): u is string => u !== undefined))];
  let scriptUser = n.scriptUser;
  if (scriptUser === undefined && users.length === 1) scriptUser = users[0];
  if (users.length > 1 || (n.scriptUser !== undefined && users.some((u) => u !== n.scriptUser)))
    notes.push({
      where: n.file,
      what: `scripts run as different users (${[...new Set([n.scriptUser, ...users].filter(Boolean))].join(", ")}); keepvip runs every script of a node as one script_user: ${scriptUser ?? users[0]} is used`,
    });
  scriptUser ??= users[0];

  const groups: Record<string, Record<string, unknown>> = {};
  for (const inst of mine) {
    const group = groupOf.get(inst.name)!;
    const plan = plans.find((p) => p.name === group)!;
    let iface = inst.interface;
    if (iface === undefined) {
      iface = n.defaultInterface ?? inst.vips.find((v) => v.dev)?.dev ?? KEEPALIVED_DEFAULT_INTERFACE;
      notes.push({
        where: inst.where,
        what: `vrrp_instance ${inst.name} names no interface: ${iface} is used (${n.defaultInterface ? "global_defs default_interface" : inst.vips.some((v) => v.dev) ? "its first VIP's dev" : "keepalived's default"})`,
      });
    }
    // The group's VIPs are the first file's; this node's own instance says where each goes here.
    const groupVips = new Set(plan.copies[0].inst.vips.map((v) => v.address));
    const addresses: Record<string, Record<string, string>> = {};
    for (const v of inst.vips) {
      if (!groupVips.has(v.address)) continue;
      // IPv6 addresses have no labels: an IPv6 VIP's label is noted, its dev and scope carried.
      if (v.family === 6 && v.label)
        notes.push({ where: v.where, what: `vrrp_instance ${inst.name} VIP ${v.address}: label ${v.label} is not carried (IPv6 addresses have no labels)` });
      const o = {
        ...(v.dev && v.dev !== iface ? { interface: v.dev } : {}),
        ...(v.label && v.family === 4 ? { label: v.label } : {}),
        ...(v.scope ? { scope: v.scope } : {}),
      };
      if (Object.keys(o).length > 0) addresses[v.address] = o;
    }
    const notify = Object.fromEntries(Object.entries(inst.notify).filter(([, argv]) => argv && argv.length > 0));
    groups[group] = {
      interface: iface,
      ...(Object.keys(addresses).length > 0 ? { addresses } : {}),
      ...(Object.keys(notify).length > 0 ? { notify } : {}),
    };
  }
  return {
    node_id: id,
    coordinator: opts.coordinator ?? "127.0.0.1:7400",
    state_dir: "/var/lib/keepvip-agent",
    tls: { ca: `${PKI}/ca.crt`, cert: `${PKI}/agent-${id}.crt`, key: `${PKI}/agent-${id}.key` },
    groups,
    ...(interfaceTracks.length > 0 ? { interface_tracks: interfaceTracks } : {}),
    nginx: {
      mode: "external",
      conf: "/etc/nginx/nginx.conf",
      pid_file: "/run/nginx.pid",
      upstream_file: "/etc/nginx/conf.d/keepvip-upstreams.conf",
      start_command: ["systemctl", "start", "nginx"],
      reload_command: ["systemctl", "reload", "nginx"],
      test_command: ["/usr/sbin/nginx", "-t", "-q"],
    },
    tracks,
    ...(scriptUser !== undefined ? { script_user: scriptUser } : {}),
  };
}

/** LVS scheduler → nginx balance. */
const ALGO: Record<string, "round_robin" | "least_conn" | "ip_hash"> = {
  rr: "round_robin",
  wrr: "round_robin",
  lc: "least_conn",
  wlc: "least_conn",
  sed: "least_conn",
  nq: "least_conn",
  sh: "ip_hash",
};

/** LVS virtual_servers become nginx upstreams with active checks from their real_server checkers. */
function virtualServerUpstreams(nodes: NodeDef[], notes: Note[], sources: Sources, offset: number) {
  const byKey = new Map<string, VirtualServerDef>();
  for (const n of nodes)
    for (const vs of n.virtualServers) {
      const prev = byKey.get(vs.key);
      if (!prev) byKey.set(vs.key, { ...vs, reals: [...vs.reals] });
      else {
        for (const r of vs.reals) if (!prev.reals.some((x) => x.address === r.address && x.port === r.port)) prev.reals.push(r);
        prev.sorry ??= vs.sorry;
      }
    }
  const out: Array<Record<string, unknown>> = [];
  for (const vs of byKey.values()) {
    if (vs.reals.length === 0) {
      notes.push({ where: vs.where, what: `virtual_server ${vs.key}: no real_server; nothing to carry` });
      continue;
    }
    const balance = ALGO[vs.algo];
    notes.push({
      where: vs.where,
      what: `virtual_server ${vs.key}: imported as upstream ${vs.name} (LVS ${vs.algo} → nginx ${balance ?? "round_robin"}${balance ? "" : `: nginx has no ${vs.algo}`}); LVS forwarding itself is not nginx: put a server block in front of it or drop it`,
    });
    const ui = offset + out.length;
    sources.set(`upstreams[${ui}]`, vs.where);
    const servers: Array<Record<string, unknown>> = vs.reals.map((r, i) => {
      sources.set(`upstreams[${ui}].servers[${i}]`, r.where);
      if (r.weight === 0)
        notes.push({ where: r.where, what: `real_server ${hostPortOf(r.address, r.port)} weight 0 (LVS: no new connections): carried as down` });
      return { address: hostPortOf(r.address, r.port), ...(r.weight === 0 ? { down: true } : { weight: Math.min(1000, r.weight) }) };
    });
    if (vs.sorry) {
      sources.set(`upstreams[${ui}].servers[${servers.length}]`, vs.sorry.where);
      servers.push({ address: hostPortOf(vs.sorry.address, vs.sorry.port), backup: true });
    }
    out.push({ name: vs.name, balance: balance ?? "round_robin", servers, ...checkOf(vs, notes, sources, ui) });
  }
  return out;
}

function checkOf(vs: VirtualServerDef, notes: Note[], sources: Sources, ui: number): Record<string, unknown> {
  const checked = vs.reals.filter((r): r is RealDef & { check: NonNullable<RealDef["check"]> } => r.check !== undefined);
  if (checked.length === 0) return {};
  const first = checked[0];
  const c = first.check;
  const differ = checked.filter((r) => JSON.stringify(r.check) !== JSON.stringify(c));
  if (differ.length > 0 || checked.length < vs.reals.length)
    notes.push({
      where: first.where,
      what: `virtual_server ${vs.key}: its real servers are checked differently; keepvip checks an upstream's servers alike: ${hostPortOf(first.address, first.port)}'s ${c.type} check is used for all`,
    });
  sources.set(`upstreams[${ui}].check`, first.where);
  const intervalS = vs.delayLoopS;
  // keepalived's connect_timeout defaults to 5 s; keepvip's timeout must be shorter than the interval.
  let timeoutS = c.timeoutS ?? 5;
  if (timeoutS >= intervalS) {
    const cut = Math.max(0.01, intervalS * 0.8);
    notes.push({
      where: first.where,
      what: `virtual_server ${vs.key}: connect_timeout ${timeoutS}s is not shorter than delay_loop ${intervalS}s; keepvip checks once per interval: the timeout is ${secs(cut)}`,
    });
    timeoutS = cut;
  }
  return {
    check: {
      type: c.type,
      ...(c.type !== "tcp" ? { path: c.path ?? "/", expect_status: c.status ?? "200-299" } : {}),
      ...(c.digest ? { expect_digest: c.digest } : {}),
      ...(c.host ? { host: c.host } : {}),
      interval: secs(intervalS),
      timeout: secs(timeoutS),
      ...(c.retry !== undefined && c.retry > 0 ? { fall: Math.min(100, c.retry) } : {}),
    },
  };
}

/**
 * The generated configs against keepvip's schemas. A problem names the input
 * line it came from (the longest known prefix of its path), never a line of a
 * file that was never written; each problem once.
 */
function validate(coordinator: Record<string, unknown>, agents: ImportResult["agents"], sources: Sources, nodes: NodeDef[], notes: Note[]): void {
  const problems = new Set<string>();
  const coordinatorWhere = (path: string) => {
    let best = "";
    for (const k of sources.keys()) if ((path === k || path.startsWith(`${k}.`) || path.startsWith(`${k}[`)) && k.length > best.length) best = k;
    return best ? sources.get(best)! : "the imported coordinator config";
  };
  const agentWhere = (i: number) => nodes[i]?.file ?? agents[i]?.node ?? "an agent config";
  const check = <S extends z.ZodType>(schema: S, value: unknown, what: string, whereOf: (path: string) => string): z.output<S> | undefined => {
    // As the files will be read: plain data, no undefined.
    const r = schema.safeParse(JSON.parse(JSON.stringify(value)));
    if (r.success) return r.data;
    for (const issue of r.error.issues) {
      const path = formatPath(issue.path);
      problems.add(`${whereOf(path)}: ${what} ${path}: ${issue.message}`);
    }
    return undefined;
  };
  const parsedCoordinator = check(coordinatorConfigSchema, coordinator, "coordinator config", coordinatorWhere);
  const parsedAgents = agents.map((a, i) => check(agentConfigSchema, a.config, `agent config of ${a.node}`, () => agentWhere(i)));
  if (parsedCoordinator && parsedAgents.every((a) => a !== undefined)) {
    // The files together, as `keepvip validate` checks them: each problem at the input line it came from.
    const files = parsedAgents.map((config, i) => ({ config: config!, source: `agent-${agents[i].node}.yaml` }));
    for (const p of crossCheck({ config: parsedCoordinator, source: "coordinator.yaml" }, files)) {
      const place = (pl: (typeof p)["at"]) => {
        const i = files.findIndex((f) => f.source === pl.source);
        return i >= 0 ? agentWhere(i) : coordinatorWhere(formatPath(pl.keys));
      };
      const line = `${place(p.at)}: ${p.message}${p.also.length > 0 ? ` (also ${[...new Set(p.also.map(place))].join(", ")})` : ""}`;
      if (p.severity === "error") problems.add(line);
      else notes.push({ where: place(p.at), what: p.message });
    }
  }
  if (problems.size > 0)
    throw new Error(
      `the import would write configs keepvip refuses; fix the keepalived/nginx input there, or edit the result by hand:\n  ${[...problems].join("\n  ")}`,
    );
}

/**
 * Notes quote the input, and a line break in a quoted value (a CR passes the
 * lexer) would end the comment line: the rest would be YAML in the imported
 * config. Control characters are written as \uXXXX.
 */
function commentText(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\x85\u2028\u2029]/g, (ch) => (ch === "\t" ? " " : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`));
}

/** YAML files with a header listing the notes. */
export function renderImport(r: ImportResult, sources: string[], nodeSources: string[] = []): Array<{ name: string; text: string }> {
  const header = (what: string, notes: Note[]) =>
    [
      commentText(`# ${what} — imported by \`keepvip import-keepalived\` from ${sources.join(", ")}`),
      ...(notes.length > 0 ? ["# Review before use; changed or not carried over:", ...notes.map((n) => commentText(`#   ${n.where}: ${n.what}`))] : []),
      "",
    ].join("\n");
  return [
    { name: "coordinator.yaml", text: header("keepvip coordinator config", r.notes) + stringify(r.coordinator, { lineWidth: 0 }) },
    ...r.agents.map((a, i) => ({
      name: `agent-${a.node}.yaml`,
      // An agent file lists only what concerns its own keepalived.conf.
      text:
        header(
          `keepvip agent config for ${a.node}`,
          r.notes.filter((n) => nodeSources[i] !== undefined && n.where.startsWith(nodeSources[i])),
        ) + stringify(a.config, { lineWidth: 0 }),
    })),
  ];
}
