/**
 * Cluster-wide checks: a coordinator config and agent configs, each valid on its
 * own, checked together (`keepvip validate coordinator.yaml agent-*.yaml`, and the
 * keepalived importer on what it writes). Each problem names both places as
 * `file:line:col path`, found in the files' YAML the way parseConfigText finds a
 * single file's (yamlPositions). Pure: the caller reads the files.
 *
 * Errors (the cluster would not run as configured):
 *  - track-not-run: a group lists a track that a member's agent does not run. An
 *    agent provides the keys of its `tracks`, `if:IFACE` for each link of
 *    `track_interfaces` and `interface_tracks`, and `nginx` (built in), exactly what
 *    it reports (agent/core/agent.ts). The coordinator would hold the member
 *    ineligible ("track-missing").
 *  - no-interface: a member's agent has no interface for one of the group's VIPs
 *    (no `groups.GROUP` entry with an interface, no `addresses` entry, no
 *    `default_interface`): its acquire would fail.
 *  - unknown-group: an agent `groups` entry (with its notify scripts) for a group the
 *    coordinator config does not have: a typo, or a group since removed.
 *  - unknown-address: `groups.GROUP.addresses` names an address that is not a VIP of
 *    the group: its placement would never apply.
 *  - unknown-node: an agent whose node_id is no member of any group: the
 *    coordinator refuses it.
 *  - duplicate-node: two agent files (or one file twice) for the same node_id.
 *  - transport-mismatch: one side runs mutual TLS and the other `insecure: true`:
 *    the agent cannot connect.
 *
 * Notes (printed, not failing):
 *  - no-agent-file: a member node with no agent file among those given. Validating
 *    a subset is fine (one LB's new config against the coordinator's), so this is
 *    only a note, and only when at least one agent file is given.
 *  - not-a-member: an agent `groups` entry for a group that exists but does not
 *    list this node (a template shared by every LB, or a member missing in the
 *    coordinator config): unused here, its notify scripts never run.
 *  - unused-track: an agent runs a track script (or an interface_tracks link) that
 *    no group of its node lists: the coordinator ignores it.
 */
import { formatPath, type TextPosition, yamlPositions } from "./load.js";
import { normalizeAddress } from "./net.js";

/** A place in a config file: the file, the line:column when the text is known, and the field path. */
export interface Place {
  source: string;
  line?: number;
  col?: number;
  /** formatPath's form: `groups[0].tracks[1]`, `tracks.chk_x`. */
  path: string;
  /** The same path as keys: `["groups", 0, "tracks", 1]` (to map a place back to where the config came from). */
  keys: Array<string | number>;
}

export type ClusterCheck =
  | "track-not-run"
  | "no-interface"
  | "unknown-group"
  | "unknown-address"
  | "unknown-node"
  | "duplicate-node"
  | "transport-mismatch"
  | "no-agent-file"
  | "not-a-member"
  | "unused-track";

export interface ClusterProblem {
  /** error: the files do not work together; note: worth a look, not failing. */
  severity: "error" | "note";
  check: ClusterCheck;
  /** Where to look first (where the fix usually goes). */
  at: Place;
  /** The other places involved (the coordinator's group, the first agent file, …). */
  also: Place[];
  /** The sentence; it names the `also` places as `file:line:col path`. */
  message: string;
}

/** What the checks read of a coordinator config: a parsed CoordinatorConfig fits. */
export interface CoordinatorSide {
  insecure?: boolean;
  groups: ReadonlyArray<{
    name: string;
    vips: ReadonlyArray<{ address: string; prefix: number }>;
    members: ReadonlyArray<{ node: string }>;
    tracks: ReadonlyArray<{ name: string }>;
  }>;
}

/** What the checks read of an agent config: a parsed AgentConfig fits. */
export interface AgentSide {
  node_id: string;
  insecure?: boolean;
  groups: Readonly<
    Record<
      string,
      {
        interface?: string;
        addresses?: Readonly<Record<string, { interface?: string }>>;
        notify?: object;
      }
    >
  >;
  default_interface?: string;
  tracks: Readonly<Record<string, unknown>>;
  track_interfaces: readonly string[];
  interface_tracks?: readonly string[];
}

/**
 * One config file: its parsed config, its name in messages, and its YAML text
 * (for line:column; without it a place is `file path`).
 */
export interface ClusterFile<C> {
  config: C;
  source: string;
  text?: string;
}

/** `coordinator.yaml:14:9 groups[0].tracks[1]` (`coordinator.yaml groups[0].tracks[1]` without a position). */
export function formatPlace(p: Place): string {
  return `${p.source}${p.line !== undefined ? `:${p.line}:${p.col ?? 1}` : ""} ${p.path}`;
}

/** One line: `[note: ]file:line:col path: message`, as single-file problems read. */
export function formatProblem(p: ClusterProblem): string {
  return `${p.severity === "note" ? "note: " : ""}${formatPlace(p.at)}: ${p.message}`;
}

/** Every track name an agent reports (agent/core/agent.ts report(): scripts, links, nginx). */
export function tracksProvided(agent: Pick<AgentSide, "tracks" | "track_interfaces" | "interface_tracks">): Set<string> {
  return new Set([
    ...Object.keys(agent.tracks),
    ...agent.track_interfaces.map((i) => `if:${i}`),
    ...(agent.interface_tracks ?? []).map((i) => `if:${i}`),
    "nginx",
  ]);
}

const own = <T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

/** An address in its one spelling (IPv6: "2001:db8::0100" is "2001:db8::100"); text that is no address as it is. */
const norm = (address: string) => normalizeAddress(address) ?? address;

/** An agent's `addresses` entry for a VIP, its key compared normalized (an IPv6 key may be spelt another way). */
function addressEntry<T>(addresses: Readonly<Record<string, T>> | undefined, address: string): T | undefined {
  const exact = own(addresses, address);
  if (exact !== undefined || addresses === undefined) return exact;
  const want = norm(address);
  const key = Object.keys(addresses).find((k) => norm(k) === want);
  return key === undefined ? undefined : addresses[key];
}

const list = (items: readonly string[]) => (items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`);

/** A file's places: the text is parsed once, whatever the number of lookups. */
function placer(file: ClusterFile<unknown>): (path: readonly PropertyKey[]) => Place {
  let at: ((path: readonly PropertyKey[]) => TextPosition | undefined) | undefined;
  return (path) => {
    if (file.text !== undefined && at === undefined) at = yamlPositions(file.text);
    const pos = at?.(path);
    return {
      source: file.source,
      ...(pos ? { line: pos.line, col: pos.col } : {}),
      path: formatPath(path),
      keys: path.map((k) => (typeof k === "number" ? k : String(k))),
    };
  };
}

/**
 * The cross-checks of one coordinator config and the agent configs given (any
 * subset of the cluster's nodes), errors first, each problem once. No agents: no
 * problems (there is nothing to check the coordinator config against).
 */
export function crossCheck(coordinator: ClusterFile<CoordinatorSide>, agents: ReadonlyArray<ClusterFile<AgentSide>>): ClusterProblem[] {
  const out: ClusterProblem[] = [];
  const c = coordinator.config;
  const cAt = placer(coordinator);
  const aAt = agents.map((a) => placer(a));
  const add = (severity: ClusterProblem["severity"], check: ClusterCheck, at: Place, also: Place[], message: string) =>
    out.push({ severity, check, at, also, message });
  const ref = (p: Place) => formatPlace(p);

  // node → its groups (index and member index), in config order.
  const memberships = new Map<string, Array<{ gi: number; mi: number }>>();
  c.groups.forEach((g, gi) =>
    g.members.forEach((m, mi) => {
      const of = memberships.get(m.node) ?? [];
      of.push({ gi, mi });
      memberships.set(m.node, of);
    }),
  );
  const groupIndex = new Map(c.groups.map((g, gi) => [g.name, gi]));

  // duplicate-node: the first file of a node id is the one the others are compared with.
  const firstOf = new Map<string, number>();
  agents.forEach((a, ai) => {
    const id = a.config.node_id;
    const first = firstOf.get(id);
    if (first === undefined) {
      firstOf.set(id, ai);
      return;
    }
    const there = aAt[first](["node_id"]);
    add(
      "error",
      "duplicate-node",
      aAt[ai](["node_id"]),
      [there],
      agents[first].source === a.source
        ? `${a.source} is given twice (node ${id})`
        : `node ${id} has two agent files: this one and ${ref(there)}; give one file per node`,
    );
  });

  agents.forEach((a, ai) => {
    const cfg = a.config;
    const node = cfg.node_id;
    const at = aAt[ai];
    const member = memberships.get(node) ?? [];

    // transport-mismatch
    if ((cfg.insecure ?? false) !== (c.insecure ?? false)) {
      const agentPlace = at([cfg.insecure ? "insecure" : "tls"]);
      const coordPlace = cAt([c.insecure ? "insecure" : "tls"]);
      add(
        "error",
        "transport-mismatch",
        agentPlace,
        [coordPlace],
        cfg.insecure
          ? `${node}'s agent runs without TLS (insecure: true) but the coordinator requires mutual TLS (${ref(coordPlace)}): it cannot connect; give it tls: {ca, cert, key} (keepvip certs issue-agent ${node})`
          : `${node}'s agent speaks mutual TLS but the coordinator runs without TLS (${ref(coordPlace)}): it cannot connect; use the same on both sides`,
      );
    }

    // unknown-node: nothing else about this file means much.
    if (member.length === 0) {
      const groupsPlace = cAt(["groups"]);
      add(
        "error",
        "unknown-node",
        at(["node_id"]),
        [groupsPlace],
        `${node} is no member of any group of the coordinator config (${ref(groupsPlace)}${c.groups.length > 0 ? `: ${c.groups.map((g) => g.name).join(", ")}` : ""}): the coordinator refuses its agent; add it to a group's members or fix node_id`,
      );
      return;
    }

    const provided = tracksProvided(cfg);
    const used = new Set<string>();
    for (const { gi, mi } of member) {
      const g = c.groups[gi];
      const memberPlace = cAt(["groups", gi, "members", mi]);
      // track-not-run
      g.tracks.forEach((t, ti) => {
        used.add(t.name);
        if (provided.has(t.name)) return;
        const trackPlace = cAt(["groups", gi, "tracks", ti]);
        const iface = t.name.startsWith("if:") ? t.name.slice(3) : undefined;
        const links = (cfg.interface_tracks ?? []).length === 0 && cfg.track_interfaces.length > 0 ? "track_interfaces" : "interface_tracks";
        const agentPlace = at([iface !== undefined ? links : "tracks"]);
        const fix =
          iface !== undefined
            ? `add ${iface} to interface_tracks (or track_interfaces, whose links make the whole node FAULT) in ${a.source}`
            : `add tracks.${t.name} to ${a.source}`;
        add(
          "error",
          "track-not-run",
          agentPlace,
          [trackPlace, memberPlace],
          `${node}'s agent does not run track ${t.name}, which group ${g.name} lists (${ref(trackPlace)}) and ${node} is a member of (${ref(memberPlace)}): the coordinator would hold ${node} ineligible; ${fix}, or drop the track from the group`,
        );
      });
      // no-interface: per VIP, as the agent places them (groups.NAME.addresses, the group's, default_interface).
      const binding = own(cfg.groups, g.name);
      const unplaced = g.vips.filter(
        (v) => (addressEntry(binding?.addresses, v.address)?.interface ?? binding?.interface ?? cfg.default_interface) === undefined,
      );
      if (unplaced.length > 0) {
        const agentPlace = binding ? at(["groups", g.name]) : at(["groups"]);
        add(
          "error",
          "no-interface",
          agentPlace,
          [memberPlace],
          `${node}'s agent has no interface for group ${g.name}${unplaced.length < g.vips.length ? ` (VIP ${list(unplaced.map((v) => v.address))})` : ""}, of which it is a member (${ref(memberPlace)}): its acquire would fail; add groups.${g.name}.interface or default_interface to ${a.source}`,
        );
      }
    }

    // unknown-group, not-a-member, unknown-address: the agent's groups entries.
    for (const [name, binding] of Object.entries(cfg.groups)) {
      const gi = groupIndex.get(name);
      const entry = at(["groups", name]);
      const notify = binding.notify !== undefined ? " and its notify scripts" : "";
      if (gi === undefined) {
        const groupsPlace = cAt(["groups"]);
        add(
          "error",
          "unknown-group",
          entry,
          [groupsPlace],
          `${node}'s agent config has groups.${name}${notify}, but the coordinator config has no group ${name} (${ref(groupsPlace)}: ${c.groups.map((g) => g.name).join(", ")}): a typo, or a group since removed`,
        );
        continue;
      }
      const g = c.groups[gi];
      if (!member.some((m) => m.gi === gi)) {
        const groupPlace = cAt(["groups", gi, "members"]);
        add(
          "note",
          "not-a-member",
          entry,
          [groupPlace],
          `${node}'s agent config has groups.${name}${notify}, but ${node} is no member of group ${name} (${ref(groupPlace)}): unused here${notify ? ", its notify scripts never run" : ""}`,
        );
        continue;
      }
      const vips = new Set(g.vips.map((v) => norm(v.address)));
      for (const address of Object.keys(binding.addresses ?? {})) {
        if (vips.has(norm(address))) continue;
        const vipsPlace = cAt(["groups", gi, "vips"]);
        add(
          "error",
          "unknown-address",
          at(["groups", name, "addresses", address]),
          [vipsPlace],
          `${address} is not a VIP of group ${name} (${ref(vipsPlace)}: ${g.vips.map((v) => `${v.address}/${v.prefix}`).join(", ")}): its placement never applies`,
        );
      }
    }

    // unused-track: scripts and interface_tracks links (track_interfaces count anyway: a node FAULT).
    for (const name of Object.keys(cfg.tracks)) {
      if (used.has(name)) continue;
      add(
        "note",
        "unused-track",
        at(["tracks", name]),
        [],
        `${node}'s agent runs track ${name}, which no group of ${node} lists (${member.map(({ gi }) => c.groups[gi].name).join(", ")}): the coordinator ignores it`,
      );
    }
    (cfg.interface_tracks ?? []).forEach((iface, i) => {
      if (used.has(`if:${iface}`)) return;
      add(
        "note",
        "unused-track",
        at(["interface_tracks", i]),
        [],
        `${node}'s agent reports link ${iface} as track if:${iface}, which no group of ${node} lists (${member.map(({ gi }) => c.groups[gi].name).join(", ")}): the coordinator ignores it`,
      );
    });
  });

  // no-agent-file: only against a set of agents (a subset is fine: a note).
  if (agents.length > 0) {
    for (const [node, groups] of memberships) {
      if (firstOf.has(node)) continue;
      const first = cAt(["groups", groups[0].gi, "members", groups[0].mi]);
      add(
        "note",
        "no-agent-file",
        first,
        [],
        `${node} is a member of ${list(groups.map(({ gi }) => c.groups[gi].name))}, but no agent file for ${node} was given: its agent config is not checked`,
      );
    }
  }

  const seen = new Set<string>();
  const unique = out.filter((p) => {
    const key = formatProblem(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return [...unique.filter((p) => p.severity === "error"), ...unique.filter((p) => p.severity === "note")];
}
