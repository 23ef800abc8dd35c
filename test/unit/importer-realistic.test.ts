/**
 * keepalived import of realistic configs, written in the styles found in the
 * wild (test/fixtures/keepalived/): a Kubernetes control-plane pair with
 * unicast peers, a Chinese nginx tutorial pair, a sync-group gateway pair, an
 * LVS director with every checker type, a dual-stack pair, and one file shared
 * by two hosts through @host lines, parameters and conf.d includes. Each
 * imports, its files read back through keepvip's schemas, and what matters
 * is checked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { importKeepalived } from "../../cli/importer/index.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { crossCheck } from "../../shared/config/cluster.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";

const dir = "test/fixtures/keepalived";

function imp(files: string[], names: string[]) {
  const { result } = importKeepalived(
    files.map((f) => `${dir}/${f}`),
    [],
    { names },
  );
  const coordinator = parseConfigText(coordinatorConfigSchema, stringify(result.coordinator), "coordinator.yaml");
  const agents = Object.fromEntries(result.agents.map((a) => [a.node, parseConfigText(agentConfigSchema, stringify(a.config), `agent-${a.node}.yaml`)]));
  // What the importer wrote is consistent as a whole (no error of keepvip validate).
  const problems = crossCheck(
    { config: coordinator, source: "coordinator.yaml" },
    Object.entries(agents).map(([n, config]) => ({ config, source: `agent-${n}.yaml` })),
  ).filter((p) => p.severity === "error");
  assert.deepEqual(problems, []);
  return { coordinator, agents, notes: result.notes.map((n) => `${n.where}: ${n.what}`) };
}

const has = (notes: string[], re: RegExp) =>
  assert.ok(
    notes.some((n) => re.test(n)),
    `no note matches ${re}:\n${notes.join("\n")}`,
  );
const group = (r: ReturnType<typeof imp>, name: string) => {
  const g = r.coordinator.groups.find((x) => x.name === name);
  assert.ok(g, `group ${name}`);
  return g;
};

test("Kubernetes control plane: unicast peers, the apiserver check with rise/fall, script_user", () => {
  const r = imp(["k8s/master.conf", "k8s/backup.conf"], ["cp1", "cp2"]);
  const g = group(r, "VI_1");
  assert.deepEqual(
    g.members.map((m) => [m.node, m.priority, m.address]),
    [
      ["cp1", 101, "10.10.10.11"],
      ["cp2", 100, "10.10.10.12"],
    ],
  );
  assert.deepEqual(
    g.tracks.map((t) => [t.name, t.weight, t.rise, t.fall]),
    [["check_apiserver", -2, 2, 10]],
  );
  assert.equal(r.agents.cp1.script_user, "root");
  assert.equal(r.agents.cp1.tracks.check_apiserver.interval, 3000);
  assert.equal(r.agents.cp2.groups.VI_1.interface, "ens192");
  has(r.notes, /master\.conf:\d+:\d+: vrrp_instance VI_1 unicast_peer: not needed/);
  has(r.notes, /enable_script_security: not needed/);
});

test("nginx tutorial pair: { on its own line, killall -0 nginx, a keepalived self-check and an unknown track, a label, notify per instance", () => {
  const r = imp(["cn-nginx/lb1.conf", "cn-nginx/lb2.conf"], ["lb1", "lb2"]);
  const g = group(r, "VI_1");
  assert.deepEqual(
    g.members.map((m) => [m.node, m.priority]),
    [
      ["lb1", 100],
      ["lb2", 90],
    ],
  );
  assert.deepEqual(
    g.tracks.map((t) => [t.name, t.weight]),
    [["chk_nginx", -5]],
  );
  assert.deepEqual(r.agents.lb1.tracks.chk_nginx.script, ["killall", "-0", "nginx"]);
  assert.deepEqual(r.agents.lb1.groups.VI_1.addresses, { "192.168.1.200": { label: "eth0:1" } });
  assert.deepEqual(r.agents.lb2.groups.VI_1.notify?.backup, ["/etc/keepalived/notify.sh", "backup"]);
  has(r.notes, /lb1\.conf:\d+:\d+: vrrp_instance VI_1 track_script chk_keepalived: left out: it looks for keepalived's own process/);
  has(r.notes, /lb1\.conf:\d+:\d+: vrrp_instance VI_1 track_script chk_http_port: no vrrp_script chk_http_port in this file/);
});

test("gateway pair: a sync group, nopreempt, interface tracks per group, a weight-0 check with its own user and a timeout above its interval", () => {
  const r = imp(["sync/gw1.conf", "sync/gw2.conf"], ["gw1", "gw2"]);
  assert.deepEqual(r.coordinator.sync_groups, [{ name: "VG_1", groups: ["VI_PUBLIC", "VI_PRIVATE"] }]);
  const pub = group(r, "VI_PUBLIC");
  assert.equal(pub.preempt, false);
  assert.deepEqual(
    pub.tracks.map((t) => [t.name, t.weight]),
    [
      ["chk_haproxy", 0],
      ["if:eth0", 0],
      ["if:eth1", 0],
    ],
  );
  assert.deepEqual(
    group(r, "VI_PRIVATE").tracks.map((t) => t.name),
    ["if:eth0", "if:eth1"],
  );
  assert.deepEqual(r.agents.gw1.interface_tracks, ["eth0", "eth1"]);
  assert.deepEqual(r.agents.gw1.track_interfaces, []);
  assert.equal(r.agents.gw1.script_user, "haproxy");
  assert.deepEqual([r.agents.gw1.tracks.chk_haproxy.interval, r.agents.gw1.tracks.chk_haproxy.timeout], [2000, 4000]);
  assert.deepEqual(r.agents.gw2.groups.VI_PUBLIC.addresses, { "203.0.113.11": { label: "eth0:web" } });
  assert.deepEqual(r.agents.gw2.groups.VI_PRIVATE.notify?.any, ["/etc/keepalived/private.sh"]);
  assert.equal(r.agents.gw2.groups.VI_PRIVATE.interface, "eth1");
  has(r.notes, /vrrp_instance VI_PRIVATE virtual_routes: not carried/);
  has(r.notes, /vrrp_sync_group VG_1 notify_master: not carried/);
  has(r.notes, /global_defs vrrp_garp_master_delay: set timing\.garp/);
});

test("LVS director: a virtual_server group, HTTP_GET with a status range, SSL_GET with a digest, TCP_CHECK, sorry server, weight 0, MISC/UDP/fwmark noted", () => {
  const r = imp(["lvs/director.conf"], ["director1"]);
  const web = r.coordinator.upstreams.find((u) => u.name === "vsg_WEB");
  assert.ok(web);
  assert.equal(web.balance, "least_conn");
  assert.deepEqual(
    web.servers.map((s) => [s.address, s.weight, s.backup]),
    [
      ["10.0.0.21:80", 3, false],
      ["10.0.0.22:80", 1, false],
      ["10.0.0.99:80", 1, true],
    ],
  );
  assert.deepEqual(
    [web.check?.type, web.check?.path, web.check?.expect_status, web.check?.fall, web.check?.interval],
    ["http", "/healthz", { min: 200, max: 204 }, 3, 6000],
  );
  const tls = r.coordinator.upstreams.find((u) => u.name === "vs_198_51_100_80_443");
  assert.deepEqual(
    [tls?.check?.type, tls?.check?.expect_digest, tls?.check?.expect_status, tls?.check?.fall],
    ["https", "9b3a0c85a887a256d6939da88aabd8cd", { min: 200, max: 299 }, 2],
  );
  const app = r.coordinator.upstreams.find((u) => u.name === "vs_198_51_100_80_8080");
  assert.equal(app?.balance, "ip_hash");
  assert.deepEqual(
    app?.servers.map((s) => [s.address, s.down]),
    [
      ["10.0.0.21:8080", false],
      ["10.0.0.23:8080", true],
    ],
  );
  assert.equal(app?.check?.type, "tcp");
  assert.deepEqual(
    r.coordinator.upstreams.map((u) => u.name),
    ["vsg_WEB", "vs_198_51_100_80_443", "vs_198_51_100_80_8080"],
  );
  has(r.notes, /url \/ready: not carried/);
  has(r.notes, /MISC_CHECK: not carried/);
  has(r.notes, /virtual_server 198\.51\.100\.80 53: protocol UDP: not carried/);
  has(r.notes, /virtual_server fwmark 7: not carried/);
  has(r.notes, /lb_kind: not carried/);
});

test("dual-stack pair: IPv4 and IPv6 VIPs float (a dual-stack group and an IPv6 one), IPv6 real servers are bracketed", () => {
  const r = imp(["dualstack/a.conf", "dualstack/b.conf"], ["ds-a", "ds-b"]);
  assert.deepEqual(
    r.coordinator.groups.map((g) => [g.name, g.vips.map((v) => `${v.address}/${v.prefix}`)]),
    [
      ["V4", ["192.0.2.20/24", "2001:db8:20::20/64"]],
      ["V6", ["2001:db8:20::21/64"]],
    ],
  );
  has(r.notes, /vrrp_instance V6 native_ipv6: not needed/);
  assert.deepEqual(Object.keys(r.agents["ds-a"].groups), ["V4", "V6"]);
  // An IPv6 VIP's own dev and scope are carried (its key as keepalived wrote it); a label is not.
  assert.deepEqual(r.agents["ds-a"].groups.V6.addresses, { "2001:db8:20::21": { interface: "bond1", scope: "global" } });
  has(r.notes, /VIP 2001:db8:20::21: label bond1:v6 is not carried \(IPv6 addresses have no labels\)/);
  assert.deepEqual(
    r.coordinator.upstreams[0].servers.map((s) => s.address),
    ["[2001:db8:20::101]:80", "192.0.2.101:80"],
  );
});

test("one file for two hosts: @host lines, $parameters and conf.d includes give each host its own priority", () => {
  const r = imp(["shared/keepalived.conf", "shared/keepalived.conf"], ["lb1", "lb2"]);
  const g = group(r, "VI_SHARED");
  assert.deepEqual(
    g.members.map((m) => [m.node, m.priority]),
    [
      ["lb1", 120],
      ["lb2", 110],
    ],
  );
  assert.deepEqual(
    g.vips.map((v) => `${v.address}/${v.prefix}`),
    ["172.16.5.100/24"],
  );
  assert.equal(g.preempt_delay, 10_000);
  assert.deepEqual(
    g.tracks.map((t) => [t.name, t.weight, t.rise, t.fall]),
    [["chk_nginx", -30, 2, 3]],
  );
  assert.deepEqual([r.agents.lb2.tracks.chk_nginx.interval, r.agents.lb2.tracks.chk_nginx.timeout], [1000, 3000]);
  assert.equal(r.agents.lb1.groups.VI_SHARED.interface, "eth0");
});
