/** keepalived.conf / nginx import: the parser's errors, and the seed's files turning into configs equivalent to deploy/examples. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { importKeepalived } from "../../cli/importer/index.js";
import { splitArgv } from "../../cli/importer/keepalived.js";
import { parseBlocks, SyntaxProblem } from "../../cli/importer/syntax.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { loadConfigFile, parseConfigText } from "../../shared/config/load.js";
import { stringify } from "yaml";

const malformed: Array<[string, string, "keepalived" | "nginx", RegExp]> = [
  [
    "an unclosed vrrp_instance names where it opened",
    "global_defs {\n  router_id a\n}\nvrrp_instance VI_1 {\n  state MASTER\n",
    "keepalived",
    /^k\.conf:4:1: block "vrrp_instance VI_1" is never closed/,
  ],
  ["a stray closing brace", "vrrp_script x {\n  interval 2\n}\n}\n", "keepalived", /^k\.conf:4:1: unexpected "}" \(no block is open\)/],
  [
    "an unterminated script string",
    'vrrp_script chk {\n  script "/etc/keepalived/check.sh\n  interval 2\n}\n',
    "keepalived",
    /^k\.conf:2:10: unterminated double-quoted string/,
  ],
  ["a brace with no block name", "{\n}\n", "keepalived", /^k\.conf:1:1: "\{" without a block name/],
  [
    "an nginx directive missing its semicolon",
    "upstream u {\n    server 198.18.0.21:80\n}\n",
    "nginx",
    /^k\.conf:2:5: "server 198\.18\.0\.21:80" is missing its ";"/,
  ],
  ["an nginx semicolon alone", "upstream u {\n  ;\n}\n", "nginx", /^k\.conf:2:3: unexpected ";"/],
];
for (const [name, text, dialect, expected] of malformed) {
  test(`parser: ${name}`, () => {
    assert.throws(
      () => parseBlocks(text, "k.conf", dialect),
      (err: unknown) => err instanceof SyntaxProblem && expected.test(err.message),
    );
  });
}

test("parser: comments (# and !), quotes and nesting", () => {
  const tree = parseBlocks("! header\nvrrp_script chk { # trailing\n  script \"/bin/check --x 'y z'\"\n}\n", "k.conf", "keepalived");
  assert.equal(tree[0].name, "vrrp_script");
  assert.deepEqual(tree[0].children?.[0], { name: "script", args: ["/bin/check --x 'y z'"], line: 3, col: 3, file: "k.conf" });
  assert.deepEqual(splitArgv("/bin/check --x 'y z'"), ["/bin/check", "--x", "y z"]);
});

const seed = "test/fixtures/seed";
const imported = () =>
  importKeepalived([`${seed}/keepalived-lb1.conf`, `${seed}/keepalived-lb2.conf`], [`${seed}/my.conf`], { names: ["lb1", "lb2"], servicePath: "/aaa" });

test("the seed's keepalived.conf files and my.conf import into configs equivalent to deploy/examples", () => {
  const { result } = imported();
  const got = parseConfigText(coordinatorConfigSchema, stringify(result.coordinator), "imported.yaml");
  const want = loadConfigFile(coordinatorConfigSchema, "deploy/examples/coordinator.yaml");
  const g = got.groups[0];
  const w = want.groups[0];
  assert.deepEqual(
    [g.name, g.vips, g.preempt, g.preempt_delay, g.service.port, g.service.path],
    [w.name, w.vips, w.preempt, w.preempt_delay, w.service.port, w.service.path],
  );
  assert.deepEqual(g.members, w.members);
  assert.deepEqual(
    g.tracks.map((t) => [t.name, t.weight]),
    w.tracks.map((t) => [t.name, t.weight]),
  );
  const gu = got.upstreams.find((u) => u.name === "my10016")!;
  const wu = want.upstreams.find((u) => u.name === "my10016")!;
  assert.deepEqual([gu.balance, gu.servers], [wu.balance, wu.servers]);
  for (const node of ["lb1", "lb2"]) {
    const a = parseConfigText(agentConfigSchema, stringify(result.agents.find((x) => x.node === node)!.config), `agent-${node}.yaml`);
    const e = loadConfigFile(agentConfigSchema, `deploy/examples/agent-${node}.yaml`);
    assert.deepEqual(a.groups, e.groups, `${node}: interface per group`);
    assert.deepEqual([a.tracks.chk_nginx.interval, a.tracks.chk_nginx.timeout], [e.tracks.chk_nginx.interval, e.tracks.chk_nginx.timeout]);
    assert.equal(a.nginx.mode, e.nginx.mode);
  }
});

test("the import lists what it did not carry over, with file:line:col and why", () => {
  const notes = imported().result.notes.map((n) => `${n.where}: ${n.what}`);
  const expect = [
    /keepalived-lb1\.conf:\d+:\d+: vrrp_instance VI_1 authentication: not needed — auth_pass is clear text/,
    /keepalived-lb1\.conf:\d+:\d+: vrrp_instance VI_1 advert_int: not needed — keepvip uses gRPC heartbeats/,
    /keepalived-lb2\.conf:\d+:\d+: vrrp_instance VI_1 state: not needed — the election decides/,
    /keepalived-lb1\.conf:\d+:\d+: global_defs notification_email: not carried/,
    /my\.conf:\d+:\d+: upstream my10016: nginx open source checks it only passively/,
    /virtual_server 192\.168\.177\.100:443: imported as upstream vs_192_168_177_100_443/,
    /nginx_check\.sh restarts nginx and stops keepalived/,
  ];
  for (const re of expect)
    assert.ok(
      notes.some((n) => re.test(n)),
      `no note matches ${re}:\n${notes.join("\n")}`,
    );
});

test("node ids default to each file's router_id, made valid", () => {
  const { result } = importKeepalived([`${seed}/keepalived-lb1.conf`, `${seed}/keepalived-lb2.conf`], []);
  assert.deepEqual(
    result.agents.map((a) => a.node),
    ["lvs_devel_181", "lvs_devel_191"],
  );
  assert.deepEqual((result.coordinator.groups as Array<{ service: { port: number } }>)[0].service.port, 80, "no nginx server block: port 80 and a note");
  assert.ok(result.notes.some((n) => /service\.port set to 80/.test(n.what)));
});

test("a file that is not a keepalived.conf is refused", () => {
  assert.throws(() => importKeepalived([`${seed}/my.conf`], []), /no vrrp_instance found — is this a keepalived\.conf\?/);
});
