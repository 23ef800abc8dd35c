import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfigText, loadConfigFile, ConfigError } from "../../shared/config/load.js";
import { coordinatorConfigSchema, INSECURE_LISTEN_ACK, insecureListenProblem } from "../../shared/config/coordinator.js";
import { agentConfigSchema, coordinatorAddresses } from "../../shared/config/agent.js";
import { parseDuration } from "../../shared/config/duration.js";
import { type Cidr, formatCidr, normalizeAddress, normalizeHostPort, parseCidr, parseHostPort } from "../../shared/config/net.js";
import { ok, type Result } from "../../shared/result.js";

/** The failure's message ("" when it did not fail). */
const failure = (r: Result<unknown>) => (r.ok ? "" : r.error.message);

const minimal = `
insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members:
      - { node: lb1, priority: 100 }
      - { node: lb2, priority: 90 }
`;

function problems(text: string, schema: typeof coordinatorConfigSchema | typeof agentConfigSchema = coordinatorConfigSchema): string[] {
  try {
    parseConfigText(schema, text, "c.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("config was accepted");
}

test("the seed's example configs load with the seed's values", () => {
  const c = loadConfigFile(coordinatorConfigSchema, "deploy/examples/coordinator.yaml");
  const g = c.groups[0];
  assert.equal(g.name, "VI_1");
  assert.deepEqual(g.vips[0], { address: "192.168.177.100", prefix: 32, family: 4 });
  assert.deepEqual(
    g.members.map((m) => [m.node, m.priority]),
    [
      ["lb1", 100],
      ["lb2", 90],
    ],
  );
  assert.equal(g.preempt, true);
  assert.deepEqual(g.tracks, [{ name: "chk_nginx", weight: -20, rise: 1, fall: 2 }]);
  const u = c.upstreams[0];
  assert.equal(u.name, "my10016");
  assert.equal(u.balance, "least_conn");
  assert.deepEqual(
    u.servers.map((s) => [s.address, s.max_fails, s.fail_timeout]),
    [
      ["192.168.177.167:10016", 3, 30_000],
      ["192.168.177.176:10016", 3, 30_000],
    ],
  );
  for (const n of [1, 2]) {
    const a = loadConfigFile(agentConfigSchema, `deploy/examples/agent-lb${n}.yaml`);
    assert.equal(a.node_id, `lb${n}`);
    assert.equal(a.tracks.chk_nginx.interval, 2000);
  }
});

test("defaults fill a minimal coordinator config", () => {
  const c = parseConfigText(coordinatorConfigSchema, minimal, "c.yaml");
  assert.equal(c.timing.heartbeat_interval, 200);
  assert.equal(c.timing.dead_interval, 1000);
  assert.equal(c.groups[0].preempt, true);
  assert.equal(c.groups[0].preempt_delay, 0);
});

test("a group may have IPv6 VIPs alone, or next to IPv4 ones, normalized", () => {
  const v6 = parseConfigText(coordinatorConfigSchema, minimal.replace('["198.18.0.100/24"]', '["2001:DB8::0100/64"]'), "c.yaml");
  assert.deepEqual(v6.groups[0].vips, [{ address: "2001:db8::100", prefix: 64, family: 6 }]);
  const dual = parseConfigText(coordinatorConfigSchema, minimal.replace('["198.18.0.100/24"]', '["198.18.0.100/24", "2001:db8::100/64", "fd00::1"]'), "c.yaml");
  assert.deepEqual(dual.groups[0].vips, [
    { address: "198.18.0.100", prefix: 24, family: 4 },
    { address: "2001:db8::100", prefix: 64, family: 6 },
    { address: "fd00::1", prefix: 128, family: 6 },
  ]);
  const first = parseConfigText(coordinatorConfigSchema, minimal.replace('["198.18.0.100/24"]', '["2001:db8::100/128", "198.18.0.100/24"]'), "c.yaml");
  assert.deepEqual(
    first.groups[0].vips.map((v) => v.family),
    [6, 4],
    "the order is kept: the first VIP is the one probed",
  );
});

const cases: Array<[string, string, RegExp]> = [
  [
    "a priority above 254 names the field and the value",
    minimal.replace("priority: 100", "priority: 300"),
    /c\.yaml:8:\d+ groups\[0\]\.members\[0\]\.priority: must be at most 254, got 300/,
  ],
  ["an unknown field is named", minimal.replace("preempt", "x").replace("name: VI_1", "name: VI_1\n    prempt: true"), /groups\[0\]: unknown field "prempt"/],
  ["a bad prefix length is explained", minimal.replace("/24", "/33"), /groups\[0\]\.vips\[0\]: prefix length "\/33" must be 1\.\.32/],
  ["a duplicate member is refused", minimal.replace("node: lb2", "node: lb1"), /node "lb1" is listed twice/],
  [
    "dead_interval shorter than 3 heartbeats prints both values",
    `${minimal}timing:\n  heartbeat_interval: 500ms\n  dead_interval: 1s\n`,
    /dead_interval \(1s\) must be at least 3 × heartbeat_interval \(500ms\)/,
  ],
  [
    "a missing required field is named",
    "groups:\n  - name: VI_1\n    service: {port: 1}\n    members: [{node: a, priority: 1}]\n",
    /groups\[0\]\.vips: is required/,
  ],
  ["broken YAML reports line and column", "groups: [\n  - a: 1\n", /c\.yaml:\d+:\d+ /],
  ["a sync group naming an unknown group is refused", `${minimal}sync_groups:\n  - {name: S, groups: [VI_1, VI_9]}\n`, /group "VI_9" is not defined/],
  [
    "balance hash without key is refused",
    `${minimal}upstreams:\n  - name: u\n    balance: hash\n    servers: [{address: '198.18.0.21:80'}]\n`,
    /balance "hash" needs hash_key/,
  ],
  [
    "a server address with an nginx directive in it is refused",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:80; include /etc/passwd'}]\n`,
    /servers\[0\]\.address: .*must be host:port/,
  ],
  [
    "an IPv6 prefix longer than 128 is explained",
    minimal.replace("198.18.0.100/24", "2001:db8::100/129"),
    /groups\[0\]\.vips\[0\]: prefix length "\/129" must be 1\.\.128 for an IPv6 address/,
  ],
  ["an IPv6 prefix of 0 is refused", minimal.replace("198.18.0.100/24", "2001:db8::100/0"), /groups\[0\]\.vips\[0\]: prefix length "\/0" must be 1\.\.128/],
  ["an IPv4 prefix of 0 is refused", minimal.replace("/24", "/0"), /groups\[0\]\.vips\[0\]: prefix length "\/0" must be 1\.\.32 for an IPv4 address/],
  [
    "one IPv6 VIP in two groups is refused, whatever its spelling",
    `${minimal}  - name: VI_2\n    vips: ["2001:db8::100/64"]\n    service: { port: 10016 }\n    members: [{ node: lb1, priority: 100 }]\n`.replace(
      '["198.18.0.100/24"]',
      '["198.18.0.100/24", "2001:DB8:0:0::0100/64"]',
    ),
    /groups\[1\]\.vips\[0\]: VIP 2001:db8::100 is already in group "VI_1"/,
  ],
  [
    "one IPv6 VIP twice in a group is refused, whatever its spelling",
    minimal.replace('["198.18.0.100/24"]', '["2001:db8::100/64", "2001:db8:0::100/64"]'),
    /groups\[0\]\.vips\[1\]: VIP 2001:db8::100 is listed twice in group "VI_1"/,
  ],
  [
    "an IPv6 VIP with a zone index is refused",
    minimal.replace("198.18.0.100/24", "fe80::1%eth0/64"),
    /groups\[0\]\.vips\[0\]: "fe80::1%eth0" has a zone index \(%eth0\)/,
  ],
  ["a link-local IPv6 VIP is refused", minimal.replace("198.18.0.100/24", "fe80::100/64"), /groups\[0\]\.vips\[0\]: not a VIP: fe80::100 is link-local/],
  ["a multicast IPv6 VIP is refused", minimal.replace("198.18.0.100/24", "ff02::1"), /groups\[0\]\.vips\[0\]: not a VIP: ff02::1 is a multicast address/],
  ["the IPv6 loopback as a VIP is refused", minimal.replace("198.18.0.100/24", "::1"), /groups\[0\]\.vips\[0\]: not a VIP: ::1 is the loopback address/],
  [
    "the unspecified IPv6 address as a VIP is refused",
    minimal.replace("198.18.0.100/24", "::/64"),
    /groups\[0\]\.vips\[0\]: not a VIP: :: is the unspecified address/,
  ],
  [
    "an IPv4-mapped IPv6 VIP is refused, naming the IPv4 form",
    minimal.replace("198.18.0.100/24", "::ffff:198.18.0.100/120"),
    /groups\[0\]\.vips\[0\]: not a VIP: ::ffff:c612:64 is IPv4-mapped .*write the IPv4 address 198\.18\.0\.100$/,
  ],
  [
    "one IPv6 server spelt two ways is listed twice",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '[2001:db8::21]:80'}, {address: '[2001:DB8:0::0021]:80'}]\n`,
    /upstreams\[0\]\.servers: server \[2001:db8::21\]:80 is listed twice in upstream "u"/,
  ],
  [
    "an IPv6 server without brackets is refused",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '2001:db8::21:80'}]\n`,
    /upstreams\[0\]\.servers\[0\]\.address: .*IPv6 as \[addr\]:port/,
  ],
  [
    "a check digest that is not 32 hex digits is refused, the path named",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:80'}]\n    check: {type: https, expect_digest: "9e107d9d372bb6826bd81d3542a419d"}\n`,
    /upstreams\[0\]\.check\.expect_digest: must be an MD5 digest: 32 hex digits, as genhash prints it/,
  ],
  [
    "a check digest on a tcp check is refused: there is no body",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:80'}]\n    check: {expect_digest: "9e107d9d372bb6826bd81d3542a419d6"}\n`,
    /upstreams\[0\]\.check\.expect_digest: a digest is of an HTTP body: set type "http" or "https"/,
  ],
  [
    "an unknown check type lists the ones there are",
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:80'}]\n    check: {type: ssl}\n`,
    /upstreams\[0\]\.check\.type: .*"https"/,
  ],
  ["a prototype name is refused", minimal.replace("name: VI_1", "name: __proto__"), /groups\[0\]\.name: is a reserved name/],
  [
    "a malformed duration is explained",
    `${minimal}timing:\n  verify_timeout: fast\n`,
    /timing\.verify_timeout: must be a duration like "200ms" or "2s", got "fast"/,
  ],
];
for (const [name, text, expected] of cases) {
  test(`coordinator config: ${name}`, () => {
    const got = problems(text);
    assert.ok(
      got.some((p) => expected.test(p)),
      `no problem matched ${expected}:\n${got.join("\n")}`,
    );
  });
}

test("coordinator config: an https check with a digest is accepted, the digest kept lower-case (keepalived SSL_GET + digest)", () => {
  const c = parseConfigText(
    coordinatorConfigSchema,
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:443'}]\n    check: {type: https, path: /health, host: www.example.test, expect_digest: 9E107D9D372BB6826BD81D3542A419D6}\n`,
    "c.yaml",
  );
  const check = c.upstreams[0].check;
  assert.equal(check?.type, "https");
  assert.equal(check?.host, "www.example.test");
  assert.equal(check?.expect_digest, "9e107d9d372bb6826bd81d3542a419d6");
  const plain = parseConfigText(
    coordinatorConfigSchema,
    `${minimal}upstreams:\n  - name: u\n    servers: [{address: '198.18.0.21:80'}]\n    check: {type: http}\n`,
    "c.yaml",
  );
  assert.equal(plain.upstreams[0].check?.expect_digest, undefined, "no digest unless asked");
});

test("no tls and no insecure: true is refused, naming what to set", () => {
  const got = problems(minimal.replace("insecure: true\n", ""));
  assert.ok(
    got.some((p) => /tls: set tls: \{ca, cert, key\} for mutual TLS \(keepvip certs\), or insecure: true for a lab/.test(p)),
    got.join("\n"),
  );
  const agent = problems('node_id: lb1\ncoordinator: "127.0.0.1:7400"\ngroups: {VI_1: {interface: lan0}}\n', agentConfigSchema);
  assert.ok(
    agent.some((p) => /tls: set tls: \{ca, cert, key\}/.test(p)),
    agent.join("\n"),
  );
});

test("agent config: a shell string where argv is expected is refused", () => {
  const got = problems(
    'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\ngroups: {VI_1: {interface: lan0}}\ntracks:\n  chk: {script: "/bin/check.sh; rm -rf /"}\n',
    agentConfigSchema,
  );
  assert.ok(
    got.some((p) => /tracks\.chk\.script: must be array/.test(p)),
    got.join("\n"),
  );
});

test("agent config: a track's timeout may exceed its interval, as in keepalived (runs never overlap)", () => {
  const a = parseConfigText(
    agentConfigSchema,
    'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\ngroups: {VI_1: {interface: lan0}}\ntracks:\n  chk: {script: ["/bin/true"], interval: 2s, timeout: 5s}\n',
    "a.yaml",
  );
  assert.equal(a.tracks.chk.interval, 2000);
  assert.equal(a.tracks.chk.timeout, 5000);
});

test("agent config: coordinators lists every replica; one of coordinator / coordinators, no address twice", () => {
  const base = "node_id: lb1\ninsecure: true\ngroups: {VI_1: {interface: lan0}}\n";
  const list = parseConfigText(agentConfigSchema, `${base}coordinators: ["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"]\n`, "a.yaml");
  assert.deepEqual(coordinatorAddresses(list), ["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"]);
  assert.deepEqual(coordinatorAddresses(parseConfigText(agentConfigSchema, `${base}coordinator: "10.0.0.1:7400"\n`, "a.yaml")), ["10.0.0.1:7400"]);
  assert.ok(
    problems(base, agentConfigSchema).some((p) => /coordinator: set coordinator: "host:port", or coordinators/.test(p)),
    "neither is named",
  );
  assert.ok(
    problems(`${base}coordinator: "10.0.0.1:7400"\ncoordinators: ["10.0.0.1:7400"]\n`, agentConfigSchema).some((p) =>
      /coordinators: coordinator and coordinators both set/.test(p),
    ),
    "both is refused",
  );
  assert.ok(
    problems(`${base}coordinators: ["10.0.0.1:7400", "10.0.0.1:7400"]\n`, agentConfigSchema).some((p) => /10\.0\.0\.1:7400 is listed twice/.test(p)),
    "a duplicate is named",
  );
  assert.ok(
    problems(`${base}coordinators: ["10.0.0.1"]\n`, agentConfigSchema).some((p) => /coordinators\[0\]: "10\.0\.0\.1" must be host:port/.test(p)),
    "a bad address is named with its place",
  );
});

test("agent config: external nginx needs a start command", () => {
  const got = problems(
    'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\ngroups: {VI_1: {interface: lan0}}\nnginx: {mode: external}\n',
    agentConfigSchema,
  );
  assert.ok(
    got.some((p) => /nginx\.start_command: nginx mode "external" needs start_command/.test(p)),
    got.join("\n"),
  );
});

test("agent config: keepalived's per-instance settings: a group's notify, per-address placement, interface tracks", () => {
  const base = 'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\n';
  const a = parseConfigText(
    agentConfigSchema,
    `${base}groups:\n  VI_1:\n    interface: lan0\n    addresses: { 10.0.1.1: { interface: eth1, label: "eth1:vip", scope: link } }\n    notify: { master: [/m.sh], any: [/n.sh, --x] }\ninterface_tracks: [eth1]\n`,
    "a.yaml",
  );
  assert.deepEqual(a.groups.VI_1.addresses, { "10.0.1.1": { interface: "eth1", label: "eth1:vip", scope: "link" } });
  assert.deepEqual(a.groups.VI_1.notify, { master: ["/m.sh"], any: ["/n.sh", "--x"] });
  assert.deepEqual(a.interface_tracks, ["eth1"]);
  assert.deepEqual(parseConfigText(agentConfigSchema, `${base}groups: {VI_1: {interface: lan0}}\n`, "a.yaml").interface_tracks, [], "none by default");

  const refused: Array<[string, string, RegExp]> = [
    [
      "an interface in both track lists",
      "groups: {VI_1: {interface: lan0}}\ntrack_interfaces: [lan0, eth1]\ninterface_tracks: [eth1]\n",
      /^c\.yaml:\d+:\d+ interface_tracks\[0\]: eth1 is in track_interfaces too: list it in one of them/,
    ],
    ["a bad interface track", "groups: {VI_1: {interface: lan0}}\ninterface_tracks: ['eth 1']\n", /interface_tracks\[0\]: must be a Linux interface name/],
    [
      "a group's notify timeout (the node-wide one counts)",
      "groups: {VI_1: {interface: lan0, notify: {timeout: 5s}}}\n",
      /groups\.VI_1\.notify: unknown field "timeout"/,
    ],
    [
      "a shell string as a group's notify script",
      "groups: {VI_1: {interface: lan0, notify: {master: '/m.sh arg'}}}\n",
      /groups\.VI_1\.notify\.master: must be array/,
    ],
    [
      "a bad address key",
      "groups: {VI_1: {interface: lan0, addresses: {10.0.1: {interface: eth1}}}}\n",
      /groups\.VI_1\.addresses\.10\.0\.1: "10\.0\.1" is not a VIP address/,
    ],
    ["a group without interface and no default_interface", "groups: {VI_1: {label: 'lan0:vip'}}\n", /groups\.VI_1\.interface: is required/],
  ];
  for (const [what, text, problem] of refused) {
    const got = problems(`${base}${text}`, agentConfigSchema);
    assert.ok(
      got.some((p) => problem.test(p)),
      `${what}: ${got.join("\n")}`,
    );
  }
});

test("durations, addresses and host:port parse or explain", () => {
  assert.deepEqual(parseDuration("150ms"), ok(150));
  assert.deepEqual(parseDuration("2s"), ok(2000));
  assert.deepEqual(parseDuration(2), ok(2000));
  assert.deepEqual(parseDuration("1.5s"), ok(1500));
  assert.match(failure(parseDuration("2 weeks")), /must be a duration/);
  assert.deepEqual(parseCidr("198.18.0.100"), ok({ address: "198.18.0.100", prefix: 32, family: 4 }));
  assert.deepEqual(parseCidr("2001:db8::1/64"), ok({ address: "2001:db8::1", prefix: 64, family: 6 }));
  assert.match(failure(parseCidr("198.18.0.300/24")), /not an IPv4 or IPv6 address/);
  assert.deepEqual(parseHostPort("[::1]:80"), ok({ host: "::1", port: 80 }));
  assert.match(failure(parseHostPort("1.2.3.4:99999")), /port 99999 must be 1\.\.65535/);
  assert.equal(parseHostPort("1.2.3.4:99999").ok || parseHostPort("x").ok, false);
});

test("normalizeAddress: one spelling per address, the one WHATWG URLs (and the agent's address scan) give", () => {
  const table: Array<[string, string | undefined]> = [
    ["198.18.0.100", "198.18.0.100"],
    ["2001:db8::100", "2001:db8::100"],
    ["2001:db8::0100", "2001:db8::100"],
    ["2001:DB8:0:0:0:0:0:100", "2001:db8::100"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"],
    ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::", "::"],
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["FE80::A", "fe80::a"],
    ["::ffff:198.18.0.100", "::ffff:c612:64"],
    ["64:ff9b::198.18.0.1", "64:ff9b::c612:1"],
    ["fe80::1%eth0", undefined],
    ["198.18.0.300", undefined],
    ["010.0.0.1", undefined],
    ["2001:db8::1::2", undefined],
    ["db8", undefined],
    ["", undefined],
  ];
  for (const [input, want] of table) {
    assert.equal(normalizeAddress(input), want, input);
    if (want?.includes(":")) assert.equal(`[${want}]`, new URL(`http://[${input}]/`).hostname, `${input}: as a URL spells it`);
  }
  assert.equal(normalizeHostPort("[2001:DB8::0021]:080"), "[2001:db8::21]:80");
  assert.equal(normalizeHostPort("Backend-1.LAB:8080"), "backend-1.lab:8080");
  assert.equal(normalizeHostPort("198.18.0.21:80"), "198.18.0.21:80");
  assert.equal(normalizeHostPort("nonsense"), "nonsense");
});

test("parseCidr and formatCidr round-trip IPv4 and IPv6, IPv6 printed compressed", () => {
  const table: Array<[input: string, cidr: Cidr, printed: string]> = [
    ["198.18.0.100/24", { address: "198.18.0.100", prefix: 24, family: 4 }, "198.18.0.100/24"],
    ["198.18.0.100", { address: "198.18.0.100", prefix: 32, family: 4 }, "198.18.0.100/32"],
    ["2001:db8::100/64", { address: "2001:db8::100", prefix: 64, family: 6 }, "2001:db8::100/64"],
    ["2001:db8::0100/64", { address: "2001:db8::100", prefix: 64, family: 6 }, "2001:db8::100/64"],
    ["2001:DB8:0000:0000:0000:0000:0000:0100/64", { address: "2001:db8::100", prefix: 64, family: 6 }, "2001:db8::100/64"],
    ["2001:db8::100", { address: "2001:db8::100", prefix: 128, family: 6 }, "2001:db8::100/128"],
    ["fd00:0:0:1::/1", { address: "fd00:0:0:1::", prefix: 1, family: 6 }, "fd00:0:0:1::/1"],
    [" fd00::a/128 ", { address: "fd00::a", prefix: 128, family: 6 }, "fd00::a/128"],
  ];
  for (const [input, want, printed] of table) {
    const parsed = parseCidr(input);
    assert.deepEqual(parsed, ok(want), input);
    assert.equal(formatCidr(want), printed, input);
    assert.deepEqual(parseCidr(printed), ok(want), `${printed} parses back to itself`);
  }
  // A Cidr built by hand in another spelling still prints compressed.
  assert.equal(formatCidr({ address: "2001:DB8:0:0::0100", prefix: 64, family: 6 }), "2001:db8::100/64");
  const refused: Array<[string, RegExp]> = [
    ["2001:db8::100/129", /prefix length "\/129" must be 1\.\.128 for an IPv6 address/],
    ["2001:db8::100/0", /prefix length "\/0" must be 1\.\.128/],
    ["2001:db8::100/", /prefix length "\/" must be 1\.\.128/],
    ["198.18.0.1/33", /must be 1\.\.32 for an IPv4 address/],
    ["2001:db8::100/64/1", /not an address with an optional \/prefix/],
    ["fe80::1%eth0/64", /has a zone index \(%eth0\)/],
    ["[2001:db8::100]/64", /not an IPv4 or IPv6 address/],
  ];
  for (const [input, want] of refused) assert.match(failure(parseCidr(input)), want, input);
});

test("insecure: true is for loopback; another listen address needs the acknowledgement, word for word", () => {
  const ack = `insecure_listen_ack: "${INSECURE_LISTEN_ACK}"\n`;
  const accepted: Array<[string, string]> = [
    ["the default listen (127.0.0.1:7400)", minimal],
    ["127.0.0.2 (all of 127.0.0.0/8 is loopback)", `listen: "127.0.0.2:7400"\n${minimal}`],
    ["[::1]", `listen: "[::1]:7400"\n${minimal}`],
    ["localhost", `listen: "localhost:7400"\n${minimal}`],
    ["0.0.0.0 with the acknowledgement", `listen: "0.0.0.0:7400"\n${ack}${minimal}`],
  ];
  for (const [what, text] of accepted) assert.doesNotThrow(() => parseConfigText(coordinatorConfigSchema, text, "c.yaml"), what);
  const refused: Array<[string, string, RegExp]> = [
    [
      "0.0.0.0",
      `listen: "0.0.0.0:7400"\n${minimal}`,
      /insecure: insecure: true on 0\.0\.0\.0:7400, which is not loopback: .*insecure_listen_ack: "I understand anyone on this network can control the cluster"/,
    ],
    ["a LAN address", `listen: "198.18.0.1:7400"\n${minimal}`, /insecure: true on 198\.18\.0\.1:7400, which is not loopback/],
    ["[::]", `listen: "[::]:7400"\n${minimal}`, /insecure: true on \[::\]:7400, which is not loopback/],
    ["a near-miss acknowledgement", `listen: "0.0.0.0:7400"\ninsecure_listen_ack: "yes"\n${minimal}`, /insecure_listen_ack: must read exactly "I understand/],
    [
      "an acknowledgement without insecure",
      `${ack}${minimal.replace("insecure: true\n", "tls: {ca: /p/ca.crt, cert: /p/c.crt, key: /p/c.key}\n")}`,
      /insecure_listen_ack: insecure_listen_ack without insecure: true acknowledges nothing/,
    ],
  ];
  for (const [what, text, expected] of refused) {
    const got = problems(text);
    assert.ok(
      got.some((p) => expected.test(p)),
      `${what}: no problem matched ${expected}:\n${got.join("\n")}`,
    );
  }
  // The coordinator checks a --listen override the same way.
  assert.match(insecureListenProblem("198.18.0.1:7400", { insecure: true }) ?? "", /not loopback/);
  assert.equal(insecureListenProblem("198.18.0.1:7400", { insecure: false }), undefined);
  assert.equal(insecureListenProblem("127.0.0.1:0", { insecure: true }), undefined);
});
