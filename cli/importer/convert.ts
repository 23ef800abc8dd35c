/**
 * keepalived (one file per node) + nginx upstreams → a keepvip coordinator
 * config and one agent config per node, plus the notes on what was not carried
 * over and why. The result is validated with keepvip's own schemas, so an
 * import never writes a config keepvip would refuse. Pure.
 */
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { ConfigError, parseConfigText } from "../../shared/config/load.js";
import { stringify } from "yaml";
import type { InstanceDef, NodeDef, Note, VirtualServerDef } from "./keepalived.js";
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

const secs = (s: number) => `${s}s`;
/** Where install.sh and the README put the certificates keepvip certs makes. */
const PKI = "/etc/keepvip/pki";

export function nodeIdFrom(raw: string | undefined, fallback: string): string {
  const id = (raw ?? fallback)
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 63);
  return id || fallback;
}

export function convert(nodes: NodeDef[], nginx: NginxDef[], opts: ImportOptions = {}): ImportResult {
  const notes: Note[] = [...nodes.flatMap((n) => n.notes), ...nginx.flatMap((n) => n.notes)];
  const ids = nodes.map((n, i) => opts.names?.[i] ?? nodeIdFrom(n.routerId, `node${i + 1}`));
  if (new Set(ids).size !== ids.length) throw new Error(`two keepalived.conf files give the same node id (${ids.join(", ")}): pass --names`);

  // Groups: one per vrrp_instance name, members from every file that has it.
  const groupNames = [...new Set(nodes.flatMap((n) => n.instances.map((i) => i.name)))];
  const listens = nginx.flatMap((n) => n.listens);
  const groups = groupNames.map((name) => {
    const copies = nodes.flatMap((n, i) => n.instances.filter((x) => x.name === name).map((inst) => ({ inst, node: ids[i], file: n.file })));
    const first = copies[0].inst;
    for (const c of copies.slice(1)) {
      if (c.inst.vips.map((v) => v.cidr).join() !== first.vips.map((v) => v.cidr).join())
        notes.push({ where: c.file, what: `vrrp_instance ${name}: its VIPs differ from ${copies[0].file}'s; the first file's are used` });
      if (c.inst.preempt !== first.preempt)
        notes.push({ where: c.file, what: `vrrp_instance ${name}: nopreempt on some nodes only; keepvip's preempt is per group: nopreempt is used` });
    }
    const vipAddrs = first.vips.map((v) => v.cidr.split("/")[0]);
    const service = listens.find((l) => l.names.some((n) => vipAddrs.includes(n))) ?? listens[0];
    if (!service)
      notes.push({ where: name, what: `group ${name}: no nginx server block found, service.port set to 80: set it to the port clients use through the VIP` });
    const tracks = new Map<string, { name: string; weight: number; rise?: number; fall?: number }>();
    for (const c of copies) {
      const scripts = nodes.find((n) => n.file === c.file)!.scripts;
      for (const t of c.inst.tracks) {
        const s = scripts.get(t.name);
        const weight = t.weight ?? s?.weight ?? 0;
        const prev = tracks.get(t.name);
        if (prev && prev.weight !== weight)
          notes.push({
            where: c.file,
            what: `track ${t.name}: weight ${weight} here but ${prev.weight} on another node; keepvip's weight is per group: ${prev.weight} is used`,
          });
        if (!prev) tracks.set(t.name, { name: t.name, weight, ...(s && s.rise > 1 ? { rise: s.rise } : {}), ...(s && s.fall > 1 ? { fall: s.fall } : {}) });
      }
    }
    return {
      name,
      vips: first.vips.map((v) => v.cidr),
      service: { port: service?.port ?? 80, ...(opts.servicePath ? { path: opts.servicePath } : {}) },
      preempt: copies.every((c) => c.inst.preempt),
      preempt_delay: secs(Math.max(...copies.map((c) => c.inst.preemptDelayS))),
      members: copies.map((c) => ({
        node: c.node,
        priority: Math.min(254, Math.max(1, c.inst.priority)),
        ...(c.inst.address ? { address: c.inst.address } : {}),
      })),
      tracks: [...tracks.values()],
    };
  });

  const syncGroups = nodes[0]?.syncGroups ?? [];
  const upstreams = [
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
    ...virtualServerUpstreams(nodes, notes),
  ];

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

  const agents = nodes.map((n, i) => ({ node: ids[i], config: agentFor(ids[i], n, opts, notes) }));
  validate(coordinator, agents);
  return { coordinator, agents, notes };
}

function agentFor(id: string, n: NodeDef, opts: ImportOptions, notes: Note[]): Record<string, unknown> {
  const used = new Set(n.instances.flatMap((i) => i.tracks.map((t) => t.name)));
  const tracks = Object.fromEntries(
    [...n.scripts]
      .filter(([name]) => used.has(name))
      .map(([name, s]) => [
        name,
        {
          script: s.argv,
          interval: secs(s.intervalS),
          timeout: secs(Math.min(s.timeoutS ?? s.intervalS, s.intervalS)),
        },
      ]),
  );
  if (Object.values(tracks).some((t) => /nginx_check/.test(t.script.join(" ")))) {
    notes.push({
      where: n.file,
      what: "the seed's nginx_check.sh restarts nginx and stops keepalived; keepvip's agent supervises nginx itself and releases the VIP when nginx cannot start: use deploy/examples/nginx_check.sh (check only) or drop the track",
    });
  }
  const notify = mergeNotify(n.instances);
  if (n.instances.length > 1 && Object.keys(notify).length > 0)
    notes.push({
      where: n.file,
      what: "notify scripts are per agent in keepvip and get the group name as an argument: the first instance's scripts are used for all groups",
    });
  return {
    node_id: id,
    coordinator: opts.coordinator ?? "127.0.0.1:7400",
    state_dir: "/var/lib/keepvip-agent",
    tls: { ca: `${PKI}/ca.crt`, cert: `${PKI}/agent-${id}.crt`, key: `${PKI}/agent-${id}.key` },
    groups: Object.fromEntries(
      n.instances
        .filter((i) => i.interface)
        .map((i) => [i.name, { interface: i.vips[0]?.dev ?? i.interface, ...(i.vips[0]?.label ? { label: i.vips[0].label } : {}) }]),
    ),
    ...(n.instances.some((i) => i.trackInterfaces.length > 0) ? { track_interfaces: [...new Set(n.instances.flatMap((i) => i.trackInterfaces))] } : {}),
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
    notify,
  };
}

function mergeNotify(instances: InstanceDef[]): InstanceDef["notify"] {
  return instances.find((i) => Object.keys(i.notify).length > 0)?.notify ?? {};
}

const ALGO: Record<string, "round_robin" | "least_conn" | "ip_hash"> = {
  rr: "round_robin",
  wrr: "round_robin",
  lc: "least_conn",
  wlc: "least_conn",
  sh: "ip_hash",
};

/** LVS virtual_servers become nginx upstreams with active checks from their real_server checkers. */
function virtualServerUpstreams(nodes: NodeDef[], notes: Note[]) {
  const byKey = new Map<string, VirtualServerDef & { reals: VirtualServerDef["reals"] }>();
  for (const n of nodes)
    for (const vs of n.virtualServers) {
      const key = `${vs.address}:${vs.port}`;
      const prev = byKey.get(key);
      if (!prev) byKey.set(key, { ...vs, reals: [...vs.reals] });
      else for (const r of vs.reals) if (!prev.reals.some((x) => x.address === r.address && x.port === r.port)) prev.reals.push(r);
    }
  return [...byKey.values()]
    .filter((vs) => vs.reals.length > 0)
    .map((vs) => {
      const name = `vs_${vs.address.replace(/[.:]/g, "_")}_${vs.port}`;
      const check = vs.reals.find((r) => r.check)?.check;
      notes.push({
        where: `virtual_server ${vs.address} ${vs.port}`,
        what: `imported as upstream ${name} (LVS ${vs.algo} → nginx ${ALGO[vs.algo] ?? "round_robin"}); LVS forwarding itself is not nginx: put a server block in front of it or drop it`,
      });
      return {
        name,
        balance: ALGO[vs.algo] ?? "round_robin",
        servers: vs.reals.map((r) => ({ address: `${r.address}:${r.port}`, weight: Math.max(1, r.weight) })),
        ...(check
          ? {
              check: {
                type: check.type,
                ...(check.path ? { path: check.path } : {}),
                ...(check.status ? { expect_status: String(check.status) } : {}),
                interval: secs(vs.delayLoopS),
                timeout: secs(Math.min(check.timeoutS ?? 3, Math.max(1, vs.delayLoopS - 1))),
              },
            }
          : {}),
      };
    });
}

function validate(coordinator: Record<string, unknown>, agents: ImportResult["agents"]): void {
  const problems: string[] = [];
  const check = (schema: typeof coordinatorConfigSchema | typeof agentConfigSchema, value: unknown, source: string) => {
    try {
      parseConfigText(schema, stringify(value), source);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  };
  check(coordinatorConfigSchema, coordinator, "coordinator.yaml");
  for (const a of agents) check(agentConfigSchema, a.config, `agent-${a.node}.yaml`);
  if (problems.length > 0)
    throw new Error(`the imported configs do not validate; fix the keepalived/nginx input or edit them by hand:\n  ${problems.join("\n  ")}`);
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
      ...(notes.length > 0 ? ["# Review before use; not carried over:", ...notes.map((n) => commentText(`#   ${n.where}: ${n.what}`))] : []),
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
