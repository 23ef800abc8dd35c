/**
 * Structure-level mutations of keepalived.conf and nginx.conf for the importer
 * fuzz: the seed's files parsed into statements, then statements renamed to
 * other keywords, arguments replaced with hostile values or dropped,
 * statements duplicated, removed or given odd children, and the tree written
 * back as text. Character edits (fuzz-mutate.ts) mostly end in a syntax error;
 * these reach the readers and the conversion with nearly valid input.
 */
import fc from "fast-check";
import { parseBlocks, type Dialect, type Statement } from "../../cli/importer/syntax.js";
import { fragment } from "./fuzz-mutate.js";

/** Keywords the readers act on, so renamed statements land in real code paths. */
const KEYWORDS = [
  "global_defs",
  "router_id",
  "vrrp_script",
  "script",
  "interval",
  "timeout",
  "weight",
  "rise",
  "fall",
  "user",
  "vrrp_instance",
  "interface",
  "priority",
  "mcast_src_ip",
  "unicast_src_ip",
  "nopreempt",
  "preempt",
  "preempt_delay",
  "virtual_ipaddress",
  "track_script",
  "track_interface",
  "notify_master",
  "notify_backup",
  "notify_fault",
  "notify",
  "vrrp_sync_group",
  "group",
  "virtual_server",
  "real_server",
  "delay_loop",
  "lb_algo",
  "TCP_CHECK",
  "HTTP_GET",
  "url",
  "path",
  "status_code",
  "connect_port",
  "connect_timeout",
  "upstream",
  "server",
  "least_conn",
  "ip_hash",
  "hash",
  "keepalive",
  "listen",
  "server_name",
  "http",
  "location",
];

/** Argument values: plausible ones (so conversion proceeds) and hostile ones. */
const argument: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "VI_1",
      "VI_2",
      "eth0",
      "ens32",
      "lan0:vip",
      "100",
      "90",
      "254",
      "255",
      "0",
      "-20",
      "2",
      "198.18.0.100",
      "198.18.0.100/24",
      "198.18.0.21:10016",
      "10016",
      "443",
      "dev",
      "label",
      "weight",
      "consistent",
      "$remote_addr",
      "max_fails=3",
      "fail_timeout=30s",
      "weight=0",
      "backup",
      "down",
      "/etc/keepalived/check.sh",
      "rr",
      "wlc",
      "sh",
      "/aaa",
      "200",
    ),
  },
  { weight: 2, arbitrary: fragment },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "1e999",
      "99999999999999999999",
      "-99999",
      "NaN",
      "0x1F",
      "1.5",
      "::1",
      "[::1]:80",
      "fe80::1/64",
      "unix:/run/x.sock",
      "a b",
      "x=y=z",
      "=",
    ),
  },
);

export type TreeEdit =
  | { kind: "rename"; at: number; name: string }
  | { kind: "setArg"; at: number; index: number; value: string }
  | { kind: "dropArgs"; at: number }
  | { kind: "remove"; at: number }
  | { kind: "duplicate"; at: number }
  | { kind: "addChild"; at: number; name: string; args: string[]; block: boolean };

export const treeEdit: fc.Arbitrary<TreeEdit> = fc.oneof(
  fc.record({ kind: fc.constant("rename" as const), at: fc.nat(), name: fc.constantFrom(...KEYWORDS) }),
  fc.record({ kind: fc.constant("setArg" as const), at: fc.nat(), index: fc.nat(3), value: argument }),
  fc.record({ kind: fc.constant("dropArgs" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("addChild" as const),
    at: fc.nat(),
    name: fc.constantFrom(...KEYWORDS),
    args: fc.array(argument, { maxLength: 3 }),
    block: fc.boolean(),
  }),
);

/** Every statement with the list that holds it, depth first. */
function flatten(list: Statement[]): Array<{ list: Statement[]; s: Statement }> {
  return list.flatMap((s) => [{ list, s }, ...flatten(s.children ?? [])]);
}

export function applyTreeEdits(tree: Statement[], edits: readonly TreeEdit[]): Statement[] {
  const root = structuredClone(tree);
  for (const e of edits) {
    const all = flatten(root);
    if (all.length === 0) break;
    const { list, s } = all[e.at % all.length];
    switch (e.kind) {
      case "rename":
        s.name = e.name;
        break;
      case "setArg":
        s.args[Math.min(e.index, s.args.length)] = e.value;
        break;
      case "dropArgs":
        s.args = [];
        break;
      case "remove":
        list.splice(list.indexOf(s), 1);
        break;
      case "duplicate":
        list.splice(list.indexOf(s), 0, structuredClone(s));
        break;
      case "addChild":
        s.children ??= [];
        s.children.push({ name: e.name, args: e.args, line: 0, col: 0, ...(e.block ? { children: [] } : {}) });
        break;
    }
  }
  return root;
}

/** A word as the lexer reads it back: bare when it can be, else quoted. */
function word(w: string): string {
  if (/^[^\s{};"'#!\\]+$/.test(w)) return w;
  return w.includes('"') ? `'${w}'` : `"${w}"`;
}

/** Statements back to text in `dialect` (nginx ends statements with ";"). */
export function renderTree(list: Statement[], dialect: Dialect, indent = ""): string {
  return list
    .map((s) => {
      const head = `${indent}${[s.name, ...s.args].map(word).join(" ")}`;
      if (s.children) return `${head} {\n${renderTree(s.children, dialect, `${indent}  `)}${indent}}\n`;
      return `${head}${dialect === "nginx" ? ";" : ""}\n`;
    })
    .join("");
}

/** One of `texts` (valid files of `dialect`) with 1..maxEdits structural edits. */
export function mutatedTree(texts: readonly string[], dialect: Dialect, maxEdits = 5): fc.Arbitrary<string> {
  const trees = texts.map((t) => parseBlocks(t, "seed", dialect));
  return fc
    .tuple(fc.constantFrom(...trees), fc.array(treeEdit, { minLength: 1, maxLength: maxEdits }))
    .map(([tree, edits]) => renderTree(applyTreeEdits(tree, edits), dialect));
}
