import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  capabilities,
  evaluatePreflight,
  formatChecklist,
  preflightExitCode,
  preflightJson,
  type CheckItem,
  type HostFacts,
} from "../../agent/preflight-checks.js";
import { agentInterfaces, ipv6VipInterfaces, listenAddresses } from "../../agent/preflight.js";
import { readTlsFile } from "../../shared/tls-material.js";
import type { TlsFile } from "../../shared/cert-check.js";
import { agentConfigSchema, type AgentConfig } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";
import { makePki, type Pki } from "../support/pki.js";

const BASE_YAML = `
node_id: lb1
coordinator: "198.18.0.1:7400"
tls: { ca: /etc/keepvip/pki/ca.crt, cert: /etc/keepvip/pki/agent-lb1.crt, key: /etc/keepvip/pki/agent-lb1.key }
groups: { VI_1: { interface: lan0 } }
track_interfaces: [ctl0]
`;

function config(extra = ""): AgentConfig {
  return parseConfigText(agentConfigSchema, `${BASE_YAML}${extra}`, "agent.yaml");
}

const file = (path: string) => ({ path, ok: true, detail: "" });

/** Real certificates (the project's own `keepvip certs` code, openssl for the bad ones), made once. */
let pki: Pki;
let scratch = "";
/** The good ca, cert and key of lb1, read by the preflight's own adapter. */
let goodTls: TlsFile[] = [];
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), "keepvip-preflight-pki-"));
  pki = await makePki(scratch);
  goodTls = [join(pki.dir, "ca.crt"), pki.file("agent-lb1", "crt"), pki.file("agent-lb1", "key")].map(readTlsFile);
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A host where everything is right. */
function goodFacts(): HostFacts {
  return {
    tools: { ip: file("/usr/sbin/ip"), arping: file("/usr/bin/arping"), nginx: file("/usr/sbin/nginx"), nft: file("/usr/sbin/nft"), ss: file("/usr/bin/ss") },
    capEff: "000001ffffffffff",
    links: {
      ctl0: { flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], operstate: "UP" },
      lan0: { flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], operstate: "UP" },
    },
    sysctls: {
      "net.ipv4.conf.all.arp_ignore": 0,
      "net.ipv4.conf.lan0.arp_ignore": 0,
      "net.ipv4.conf.all.arp_announce": 0,
      "net.ipv4.conf.lan0.arp_announce": 2,
      "net.ipv4.conf.all.rp_filter": 2,
      "net.ipv4.conf.lan0.rp_filter": 0,
      "net.ipv4.ip_nonlocal_bind": 0,
    },
    localAddresses: ["127.0.0.1", "198.18.0.11"],
    nginxTest: { ok: true, detail: "" },
    nginxListens: [],
    knownVips: ["198.18.0.100"],
    coordinator: { reachable: true, detail: "" },
    stateDir: { ok: true, detail: "exists and is writable" },
    tlsFiles: goodTls.map((f) => ({ ...f })),
    nowMs: Date.now(),
  };
}

const byId = (items: CheckItem[], id: string) => {
  const hit = items.find((i) => i.id === id);
  assert.ok(hit, `an item ${id} in ${items.map((i) => i.id).join(", ")}`);
  return hit;
};

test("a host with everything in place: every item ✔, exit 0", () => {
  const items = evaluatePreflight(config(), goodFacts());
  assert.deepEqual(
    items.filter((i) => i.status !== "ok"),
    [],
  );
  assert.equal(preflightExitCode(items), 0);
  assert.deepEqual(
    items.map((i) => i.id),
    [
      "tool.ip",
      "tool.arping",
      "tool.nft",
      "tool.ss",
      "capability.cap_net_admin",
      "capability.cap_net_raw",
      "capability.nginx_child",
      "interface.ctl0",
      "interface.lan0",
      "sysctl.lan0.arp_ignore",
      "sysctl.lan0.arp_announce",
      "sysctl.lan0.rp_filter",
      "nginx.binary",
      "nginx.test",
      "sysctl.ip_nonlocal_bind",
      "coordinator.reach",
      "coordinator.tls",
      "coordinator.tls.expiry",
      "coordinator.tls.ca",
      "coordinator.tls.key",
      "coordinator.tls.node",
      "state_dir",
    ],
  );
});

type Case = { name: string; config?: string; facts: (f: HostFacts) => void; id: string; status: CheckItem["status"]; title?: RegExp; fix?: RegExp };

const cases: Case[] = [
  {
    name: "nft missing is a warning (planned moves then reset open connections), naming the package and the config key",
    facts: (f) => (f.tools.nft = { path: "/usr/sbin/nft", ok: false, detail: "ENOENT" }),
    id: "tool.nft",
    status: "warn",
    title: /\/usr\/sbin\/nft is missing/,
    fix: /nftables.*nft:/,
  },
  {
    name: "arping missing blocks, naming the package and the config key",
    facts: (f) => (f.tools.arping = { path: "/usr/bin/arping", ok: false, detail: "ENOENT" }),
    id: "tool.arping",
    status: "fail",
    title: /\/usr\/bin\/arping is missing/,
    fix: /iputils-arping.*arping:/,
  },
  {
    name: "ip not executable blocks, and interfaces are not checked without it",
    facts: (f) => (f.tools.ip = { path: "/usr/sbin/ip", ok: false, detail: "EACCES" }),
    id: "interfaces",
    status: "warn",
    title: /not checked: ip is missing/,
  },
  {
    name: "no CAP_NET_RAW blocks (arping)",
    facts: (f) => (f.capEff = "0000000000001000"),
    id: "capability.cap_net_raw",
    status: "fail",
    fix: /AmbientCapabilities/,
  },
  { name: "no CAP_NET_ADMIN blocks (ip addr add)", facts: (f) => (f.capEff = "0000000000002000"), id: "capability.cap_net_admin", status: "fail" },
  {
    name: "nginx as a child without CAP_KILL and CAP_SETUID is a warning, naming both",
    facts: (f) => (f.capEff = "0000000000003440"),
    id: "capability.nginx_child",
    status: "warn",
    title: /lacks CAP_SETUID, CAP_KILL$/,
  },
  {
    name: "external nginx does not need the child capabilities",
    config: "nginx: { mode: external, start_command: [systemctl, start, nginx] }\n",
    facts: (f) => (f.capEff = "0000000000003000"),
    id: "capability.cap_net_raw",
    status: "ok",
  },
  { name: "CapEff unreadable is a warning, not a guess", facts: (f) => (f.capEff = undefined), id: "capabilities", status: "warn" },
  {
    name: "a VIP interface that does not exist blocks",
    facts: (f) => (f.links.lan0 = undefined),
    id: "interface.lan0",
    status: "fail",
    title: /VIP interface lan0 does not exist/,
  },
  {
    name: "a tracked interface administratively down blocks, with the command to bring it up",
    facts: (f) => (f.links.ctl0 = { flags: ["BROADCAST"], operstate: "DOWN" }),
    id: "interface.ctl0",
    status: "fail",
    fix: /ip link set ctl0 up/,
  },
  {
    name: "an interface up without carrier blocks (cable, switch port)",
    facts: (f) => (f.links.lan0 = { flags: ["UP", "NO-CARRIER"], operstate: "DOWN" }),
    id: "interface.lan0",
    status: "fail",
    title: /no carrier/,
  },
  {
    name: "arp_ignore 8 on the VIP interface blocks: nobody learns the VIP's MAC",
    facts: (f) => (f.sysctls["net.ipv4.conf.lan0.arp_ignore"] = 8),
    id: "sysctl.lan0.arp_ignore",
    status: "fail",
    fix: /arp_ignore=0/,
  },
  {
    name: "arp_ignore 8 on all counts for every interface (the kernel takes the larger)",
    facts: (f) => (f.sysctls["net.ipv4.conf.all.arp_ignore"] = 8),
    id: "sysctl.lan0.arp_ignore",
    status: "fail",
  },
  {
    name: "arp_ignore 1 or 2 answers for a VIP on its own interface",
    facts: (f) => (f.sysctls["net.ipv4.conf.all.arp_ignore"] = 2),
    id: "sysctl.lan0.arp_ignore",
    status: "ok",
    title: /is 2/,
  },
  {
    name: "arp_ignore 3 is a warning for a global VIP",
    facts: (f) => (f.sysctls["net.ipv4.conf.lan0.arp_ignore"] = 3),
    id: "sysctl.lan0.arp_ignore",
    status: "warn",
  },
  {
    name: "arp_announce is reported with its value",
    facts: (f) => (f.sysctls["net.ipv4.conf.lan0.arp_announce"] = 0),
    id: "sysctl.lan0.arp_announce",
    status: "ok",
    title: /is 0 .*harmless/,
  },
  {
    name: "strict rp_filter (all=1) is a warning explaining asymmetric routing, fix: loose",
    facts: (f) => (f.sysctls["net.ipv4.conf.all.rp_filter"] = 1),
    id: "sysctl.lan0.rp_filter",
    status: "warn",
    fix: /rp_filter=2/,
  },
  {
    name: "nginx -t failing on a VIP bind blocks, and the fix is ip_nonlocal_bind",
    facts: (f) => (f.nginxTest = { ok: false, detail: "nginx -t failed: [emerg] bind() to 198.18.0.100:80 failed (99: Cannot assign requested address)" }),
    id: "sysctl.ip_nonlocal_bind",
    status: "fail",
    title: /cannot bind 198\.18\.0\.100:80/,
    fix: /ip_nonlocal_bind=1/,
  },
  {
    name: "nginx -t failing on a VIP bind points from the nginx item to ip_nonlocal_bind",
    facts: (f) => (f.nginxTest = { ok: false, detail: "nginx -t failed: [emerg] bind() to 198.18.0.100:80 failed (99: Cannot assign requested address)" }),
    id: "nginx.test",
    status: "fail",
    fix: /ip_nonlocal_bind below/,
  },
  {
    name: "nginx listening on the VIP this host holds now blocks without ip_nonlocal_bind (it cannot restart after a failover)",
    facts: (f) => {
      f.nginxListens = ["198.18.0.100:80"];
      f.localAddresses.push("198.18.0.100");
    },
    id: "sysctl.ip_nonlocal_bind",
    status: "fail",
    title: /listens on 198\.18\.0\.100:80 and ip_nonlocal_bind is 0/,
  },
  {
    name: "nginx listening on the VIP with ip_nonlocal_bind=1 is fine",
    facts: (f) => {
      f.nginxListens = ["198.18.0.100:80"];
      f.sysctls["net.ipv4.ip_nonlocal_bind"] = 1;
    },
    id: "sysctl.ip_nonlocal_bind",
    status: "ok",
    title: /may listen on 198\.18\.0\.100:80/,
  },
  {
    name: "nginx listening on its own address and on wildcards needs nothing",
    facts: (f) => (f.nginxListens = ["0.0.0.0:80", "127.0.0.1:8080", "198.18.0.11:10016"]),
    id: "sysctl.ip_nonlocal_bind",
    status: "ok",
    title: /no VIP/,
  },
  {
    name: "any other nginx -t failure blocks with nginx's own line and the command to rerun",
    facts: (f) => (f.nginxTest = { ok: false, detail: 'nginx -t failed: [emerg] unknown directive "proxy_passs" in /etc/nginx/conf.d/my.conf:7' }),
    id: "nginx.test",
    status: "fail",
    title: /unknown directive "proxy_passs"/,
    fix: /\/usr\/sbin\/nginx -t -c \/etc\/nginx\/nginx\.conf/,
  },
  {
    name: "no nginx binary blocks",
    facts: (f) => {
      f.tools.nginx = { path: "/usr/sbin/nginx", ok: false, detail: "ENOENT" };
      f.nginxTest = undefined;
    },
    id: "nginx.binary",
    status: "fail",
    fix: /apt-get install nginx/,
  },
  {
    name: "an unreachable coordinator blocks (the agent would never be elected), with the reason",
    facts: (f) => (f.coordinator = { reachable: false, detail: "ECONNREFUSED" }),
    id: "coordinator.reach",
    status: "fail",
    title: /198\.18\.0\.1:7400 is not reachable \(ECONNREFUSED\)/,
  },
  {
    name: "an unreadable TLS key blocks",
    facts: (f) => (f.tlsFiles[2] = { path: "/etc/keepvip/pki/agent-lb1.key", ok: false, detail: "EACCES" }),
    id: "coordinator.tls",
    status: "fail",
    title: /agent-lb1\.key: unreadable \(EACCES\)/,
  },
  {
    name: "a state dir that cannot be written or created blocks",
    facts: (f) => (f.stateDir = { ok: false, detail: "EROFS; parent: EROFS" }),
    id: "state_dir",
    status: "fail",
    fix: /install -d -m 0700/,
  },
];

for (const c of cases) {
  test(`preflight: ${c.name}`, () => {
    const facts = goodFacts();
    c.facts(facts);
    const items = evaluatePreflight(config(c.config), facts);
    const item = byId(items, c.id);
    assert.equal(item.status, c.status, JSON.stringify(item));
    if (c.title) assert.match(item.title, c.title);
    if (c.fix) assert.match(item.fix ?? "", c.fix);
    if (item.status !== "ok") assert.ok(item.why && item.fix, "every item that is not fine says why and how to fix it");
    assert.equal(preflightExitCode(items), items.some((i) => i.status === "fail") ? 1 : 0);
  });
}

/** goodFacts, plus an IPv6 VIP on lan0 (the last welcome's), na6 and ndisc6 installed. */
function goodV6Facts(): HostFacts {
  const f = goodFacts();
  f.tools.na6 = file("/usr/sbin/na6");
  f.tools.ndisc6 = file("/usr/bin/ndisc6");
  f.ipv6VipInterfaces = ["lan0"];
  f.sysctls["net.ipv6.conf.lan0.disable_ipv6"] = 0;
  f.sysctls["net.ipv6.conf.lan0.forwarding"] = 0;
  f.sysctls["net.ipv6.conf.lan0.accept_ra"] = 1;
  return f;
}

test("a host ready for IPv6 VIPs: IPv6 on, na6 and ndisc6 there; nothing about flushing neighbours", () => {
  const items = evaluatePreflight(config(), goodV6Facts());
  assert.deepEqual(
    items.filter((i) => i.status !== "ok"),
    [],
  );
  const ids = items.map((i) => i.id);
  assert.deepEqual(ids.slice(ids.indexOf("sysctl.lan0.rp_filter") + 1, ids.indexOf("nginx.binary")), ["sysctl.lan0.disable_ipv6", "sysctl.lan0.accept_ra"]);
  assert.deepEqual(ids.slice(ids.indexOf("tool.ss") + 1, ids.indexOf("tool.ndisc6") + 1), ["tool.na6", "tool.ndisc6"]);
  assert.equal(byId(items, "tool.na6").title, "na6: /usr/sbin/na6");
  assert.ok(!items.some((i) => /ndisc_notify|flush|static neighbour/i.test(`${i.title} ${i.why ?? ""}`)), JSON.stringify(items));
});

const v6Cases: Case[] = [
  {
    name: "IPv6 disabled on an interface carrying IPv6 VIPs blocks",
    facts: (f) => (f.sysctls["net.ipv6.conf.lan0.disable_ipv6"] = 1),
    id: "sysctl.lan0.disable_ipv6",
    status: "fail",
    title: /IPv6 is disabled on lan0 \(disable_ipv6 = 1\)/,
    fix: /sysctl -w net\.ipv6\.conf\.lan0\.disable_ipv6=0/,
  },
  {
    name: "no IPv6 at all on it (no /proc/sys/net/ipv6/conf/IF) blocks",
    facts: (f) => delete f.sysctls["net.ipv6.conf.lan0.disable_ipv6"],
    id: "sysctl.lan0.disable_ipv6",
    status: "fail",
    title: /IPv6 is not available on lan0/,
  },
  {
    name: "IPv6 forwarding on with accept_ra 1 warns: router advertisements are ignored, a learned default route is lost",
    facts: (f) => (f.sysctls["net.ipv6.conf.lan0.forwarding"] = 1),
    id: "sysctl.lan0.accept_ra",
    status: "warn",
    title: /IPv6 forwarding is on for lan0 and accept_ra is 1: router advertisements are ignored there/,
    fix: /sysctl -w net\.ipv6\.conf\.lan0\.accept_ra=2/,
  },
  {
    name: "IPv6 forwarding on with accept_ra 2 is fine",
    facts: (f) => {
      f.sysctls["net.ipv6.conf.lan0.forwarding"] = 1;
      f.sysctls["net.ipv6.conf.lan0.accept_ra"] = 2;
    },
    id: "sysctl.lan0.accept_ra",
    status: "ok",
    title: /accept_ra is 2: router advertisements still count/,
  },
  {
    name: "na6 missing blocks where IPv6 VIPs are: they would be held but never announced",
    facts: (f) => (f.tools.na6 = { path: "/usr/sbin/na6", ok: false, detail: "ENOENT" }),
    id: "tool.na6",
    status: "fail",
    title: /na6: \/usr\/sbin\/na6 is missing, and lan0 carries IPv6 VIPs/,
    fix: /apt-get install ipv6toolkit.*na6:/,
  },
  {
    name: "na6 not executable blocks too",
    facts: (f) => (f.tools.na6 = { path: "/opt/na6", ok: false, detail: "EACCES" }),
    id: "tool.na6",
    status: "fail",
    title: /na6: \/opt\/na6 is not executable \(EACCES\)/,
  },
  {
    name: "na6 missing is only a note without IPv6 VIPs",
    facts: (f) => {
      f.tools.na6 = { path: "/usr/sbin/na6", ok: false, detail: "ENOENT" };
      f.ipv6VipInterfaces = [];
    },
    id: "tool.na6",
    status: "ok",
    title: /only IPv6 VIPs use it; none known here/,
  },
  {
    name: "ndisc6 missing is a warning where IPv6 VIPs are (verification weaker)",
    facts: (f) => (f.tools.ndisc6 = { path: "/usr/bin/ndisc6", ok: false, detail: "ENOENT" }),
    id: "tool.ndisc6",
    status: "warn",
    title: /\/usr\/bin\/ndisc6 is missing/,
    fix: /apt-get install ndisc6.*ndisc6:/,
  },
  {
    name: "ndisc6 missing is only a note without IPv6 VIPs",
    facts: (f) => {
      f.tools.ndisc6 = { path: "/usr/bin/ndisc6", ok: false, detail: "ENOENT" };
      f.ipv6VipInterfaces = [];
    },
    id: "tool.ndisc6",
    status: "ok",
    title: /only IPv6 VIPs use it; none known here/,
  },
];

for (const c of v6Cases) {
  test(`preflight, IPv6: ${c.name}`, () => {
    const facts = goodV6Facts();
    c.facts(facts);
    const items = evaluatePreflight(config(c.config), facts);
    const item = byId(items, c.id);
    assert.equal(item.status, c.status, JSON.stringify(item));
    if (c.title) assert.match(item.title, c.title);
    if (c.fix) assert.match(item.fix ?? "", c.fix);
    if (item.status !== "ok") assert.ok(item.why && item.fix, "every item that is not fine says why and how to fix it");
  });
}

test("ipv6VipInterfaces: where the last welcome's IPv6 VIPs go, each once; IPv4 VIPs and unplaced groups left out", () => {
  const cfg = config("default_interface: lan1\n");
  assert.deepEqual(
    ipv6VipInterfaces(cfg, [
      { name: "VI_1", vips: ["198.18.0.100/24", "2001:db8::100/64", "2001:db8::101/64"] },
      { name: "VI_9", vips: ["2001:db8::200/64"] },
    ]),
    ["lan0", "lan1"],
  );
  assert.deepEqual(ipv6VipInterfaces(config(), [{ name: "VI_1", vips: ["198.18.0.100/24"] }]), []);
  assert.deepEqual(
    ipv6VipInterfaces(config(), [{ name: "VI_9", vips: ["2001:db8::200/64"] }]),
    [],
    "no interface for an unlisted group without default_interface",
  );
});

test("preflight: arp_ignore 3 blocks a VIP added with scope host", () => {
  const facts = goodFacts();
  facts.sysctls["net.ipv4.conf.lan0.arp_ignore"] = 3;
  const item = byId(
    evaluatePreflight(parseConfigText(agentConfigSchema, BASE_YAML.replace("{ interface: lan0 }", "{ interface: lan0, scope: host }"), "a.yaml"), facts),
    "sysctl.lan0.arp_ignore",
  );
  assert.equal(item.status, "fail");
});

test("preflight: insecure without tls is a warning, not a blocker", () => {
  const cfg = parseConfigText(agentConfigSchema, BASE_YAML.replace(/^tls:.*$/m, "insecure: true"), "a.yaml");
  const items = evaluatePreflight(cfg, { ...goodFacts(), tlsFiles: [] });
  assert.equal(byId(items, "coordinator.tls").status, "warn");
  assert.equal(preflightExitCode(items), 0);
});

/**
 * The certificate checks on real files: the preflight's adapter reads them,
 * the pure checks judge them. `bad` is every certificate item that is not ✔;
 * the first names the file and what is wrong with it.
 */
type CertCase = {
  name: string;
  /** This agent's node id (default lb1). */
  node?: string;
  /** ca, cert, key paths. */
  files: () => [string, string, string];
  /** The clock, from the certificate's own dates (default: now). */
  now?: (cert: X509Certificate) => number;
  bad: Array<{ id: string; status: CheckItem["status"]; title: RegExp; fix?: RegExp }>;
};

const DAY = 86_400_000;
const lb = (n: string, ext: "crt" | "key") => pki.file(`agent-${n}`, ext);
const caFile = () => join(pki.dir, "ca.crt");

const certCases: CertCase[] = [
  { name: "good: files, dates, CA, key and node all ✔", files: () => [caFile(), lb("lb1", "crt"), lb("lb1", "key")], bad: [] },
  {
    name: "missing certificate: names the file and the keepvip certs command that makes it",
    files: () => [caFile(), join(pki.dir, "nope", "agent-lb1.crt"), lb("lb1", "key")],
    bad: [{ id: "coordinator.tls", status: "fail", title: /nope\/agent-lb1\.crt: missing$/, fix: /keepvip certs issue-agent lb1 --dir \S+\/nope\b/ }],
  },
  {
    name: "missing CA: the chain is not checked, the rest is",
    files: () => [join(pki.dir, "missing-ca.crt"), lb("lb1", "crt"), lb("lb1", "key")],
    bad: [{ id: "coordinator.tls", status: "fail", title: /missing-ca\.crt: missing$/ }],
  },
  {
    name: "expired certificate blocks, with its end date",
    node: "lb2",
    files: () => [caFile(), pki.file("expired-lb2", "crt"), pki.file("expired-lb2", "key")],
    bad: [{ id: "coordinator.tls.expiry", status: "fail", title: /expired-lb2\.crt expired on 2020-01-02$/, fix: /issue-agent lb2 .*--force/ }],
  },
  {
    name: "a certificate ending within 30 days is a warning with the days left",
    files: () => [caFile(), lb("lb1", "crt"), lb("lb1", "key")],
    now: (c) => Date.parse(c.validTo) - 10 * DAY - 60_000,
    bad: [{ id: "coordinator.tls.expiry", status: "warn", title: /agent-lb1\.crt expires on \d{4}-\d\d-\d\d \(in 10 days\)$/ }],
  },
  {
    name: "a certificate not valid yet blocks and points at the clock",
    files: () => [caFile(), lb("lb1", "crt"), lb("lb1", "key")],
    now: (c) => Date.parse(c.validFrom) - DAY,
    bad: [{ id: "coordinator.tls.expiry", status: "fail", title: /agent-lb1\.crt is not valid before/, fix: /clock/ }],
  },
  {
    name: "another node's certificate blocks: the coordinator would refuse the session",
    files: () => [caFile(), lb("lb2", "crt"), lb("lb2", "key")],
    bad: [
      {
        id: "coordinator.tls.node",
        status: "fail",
        title: /agent-lb2\.crt is for agent lb2 \(urn:keepvip:agent:lb2\), not node lb1$/,
        fix: /keepvip certs issue-agent lb1 /,
      },
    ],
  },
  {
    name: "an admin certificate is no agent's",
    files: () => [caFile(), pki.file("admin-alice", "crt"), pki.file("admin-alice", "key")],
    bad: [{ id: "coordinator.tls.node", status: "fail", title: /admin-alice\.crt is for admin alice/ }],
  },
  {
    name: "a certificate without a keepvip identity blocks",
    files: () => [caFile(), pki.file("plain", "crt"), pki.file("plain", "key")],
    bad: [
      // The helper issues it for 30 days: it also ends within the warning's window.
      { id: "coordinator.tls.expiry", status: "warn", title: /plain\.crt expires on .* \(in (29|30) days\)$/ },
      { id: "coordinator.tls.node", status: "fail", title: /plain\.crt does not name node lb1: .*no keepvip identity/ },
    ],
  },
  {
    name: "a certificate from a foreign CA blocks, naming both files",
    files: () => [caFile(), join(pki.rogue, "agent-lb1.crt"), join(pki.rogue, "agent-lb1.key")],
    bad: [{ id: "coordinator.tls.ca", status: "fail", title: /rogue\/agent-lb1\.crt is not signed by the CA in \S+\/pki\/ca\.crt/ }],
  },
  {
    name: "a key that is not the certificate's blocks, naming both files",
    files: () => [caFile(), lb("lb1", "crt"), join(pki.twin, "agent-lb1.key")],
    bad: [{ id: "coordinator.tls.key", status: "fail", title: /twin\/agent-lb1\.key does not match the certificate \S+\/pki\/agent-lb1\.crt$/ }],
  },
  {
    name: "a key where the certificate should be: not a PEM certificate",
    files: () => [caFile(), lb("lb1", "key"), lb("lb1", "key")],
    bad: [{ id: "coordinator.tls", status: "fail", title: /agent-lb1\.key is not a PEM certificate/ }],
  },
];

for (const c of certCases) {
  test(`preflight certificates: ${c.name}`, async () => {
    const node = c.node ?? "lb1";
    const [ca, cert, key] = c.files();
    const cfg = parseConfigText(
      agentConfigSchema,
      BASE_YAML.replace("node_id: lb1", `node_id: ${node}`).replace(/^tls:.*$/m, `tls: { ca: ${ca}, cert: ${cert}, key: ${key} }`),
      "agent.yaml",
    );
    const tlsFiles = [ca, cert, key].map(readTlsFile);
    const nowMs = c.now ? c.now(new X509Certificate(tlsFiles[1].text!)) : Date.now();
    const items = evaluatePreflight(cfg, { ...goodFacts(), tlsFiles, nowMs });
    const tls = items.filter((i) => i.id.startsWith("coordinator.tls"));
    assert.deepEqual(
      tls.filter((i) => i.status !== "ok").map((i) => [i.id, i.status]),
      c.bad.map((b) => [b.id, b.status]),
      formatChecklist(tls),
    );
    for (const [i, b] of c.bad.entries()) {
      const item = tls.filter((t) => t.status !== "ok")[i];
      assert.match(item.title, b.title);
      if (b.fix) assert.match(item.fix ?? "", b.fix);
      assert.ok(item.why && item.fix, "every item that is not fine says why and how to fix it");
    }
    if (c.bad.length === 0) assert.equal(tls.length, 5, "files, expiry, ca, key, node");
    assert.equal(preflightExitCode(items), c.bad.some((b) => b.status === "fail") ? 1 : 0);
  });
}

test("capabilities: CapEff masks", () => {
  assert.deepEqual([...capabilities("0000000000003000")].sort(), ["CAP_NET_ADMIN", "CAP_NET_RAW"]);
  assert.deepEqual([...capabilities("0000000000000000")], []);
  assert.equal(capabilities("000001ffffffffff").size, 6);
  assert.deepEqual([...capabilities("00000000000034e0")].sort(), [
    "CAP_KILL",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
  ]);
});

test("listenAddresses: IPv4 literals from nginx -T, default port 80, wildcards and names as they are", () => {
  const dump =
    "# configuration file /etc/nginx/nginx.conf:\nserver {\n  listen 198.18.0.100:10016;\n  listen 80 default_server;\n  listen [::]:80;\n  listen 198.18.0.100 reuseport;\n  # listen 10.0.0.1:1;\n listen unix:/run/x.sock;\n}\nhttp { server { listen 198.18.0.101:8080; return 200; } }\nproxy_set_header X-listen 198.18.0.102:1;\n";
  assert.deepEqual(listenAddresses(dump), ["198.18.0.100:10016", "198.18.0.100:80", "198.18.0.101:8080"]);
});

test("agentInterfaces: group interfaces, the default and tracked ones, once each", () => {
  assert.deepEqual(agentInterfaces(config("default_interface: lan1\n")), ["ctl0", "lan0", "lan1"]);
});

test("agentInterfaces: an address's own interface and the interface tracks too", () => {
  const cfg = parseConfigText(
    agentConfigSchema,
    `${BASE_YAML.replace("{ interface: lan0 }", "{ interface: lan0, addresses: { 198.18.0.101: { interface: lan2 } } }")}interface_tracks: [eth1]\n`,
    "a.yaml",
  );
  assert.deepEqual(agentInterfaces(cfg), ["ctl0", "eth1", "lan0", "lan2"]);
});

test("preflight: an interface track that does not exist blocks, and says it fails only for the groups tracking it", () => {
  const cfg = config("interface_tracks: [eth1]\n");
  const facts = goodFacts();
  facts.links.eth1 = undefined;
  const item = byId(evaluatePreflight(cfg, facts), "interface.eth1");
  assert.equal(item.status, "fail");
  assert.match(item.title, /tracked interface eth1 does not exist/);
  assert.match(item.why ?? "", /the groups tracking if:eth1 count it failing/);
  facts.links.eth1 = { flags: ["BROADCAST"], operstate: "DOWN" };
  const down = byId(evaluatePreflight(cfg, facts), "interface.eth1");
  assert.match(down.why ?? "", /the track if:eth1 \(interface_tracks\) fails for the groups that list it/);
  assert.doesNotMatch(down.why ?? "", /FAULT/);
});

test("preflight: arp_ignore 3 blocks a VIP address added with scope host on its own interface", () => {
  const facts = goodFacts();
  facts.links.lan2 = { flags: ["UP", "LOWER_UP"], operstate: "UP" };
  facts.sysctls["net.ipv4.conf.lan2.arp_ignore"] = 3;
  const cfg = parseConfigText(
    agentConfigSchema,
    BASE_YAML.replace("{ interface: lan0 }", "{ interface: lan0, addresses: { 198.18.0.101: { interface: lan2, scope: host } } }"),
    "a.yaml",
  );
  assert.equal(byId(evaluatePreflight(cfg, facts), "sysctl.lan2.arp_ignore").status, "fail");
  assert.equal(byId(evaluatePreflight(cfg, facts), "interface.lan2").title, "VIP interface lan2 is up");
});

test("the checklist: ✔ ! ✖ marks, why and fix under the items that need them, a verdict line; JSON for scripts", () => {
  const facts = goodFacts();
  facts.tools.arping = { path: "/usr/bin/arping", ok: false, detail: "ENOENT" };
  facts.sysctls["net.ipv4.conf.all.rp_filter"] = 1;
  const items = evaluatePreflight(config(), facts);
  const text = formatChecklist(items);
  assert.match(text, /^✔ ip: \/usr\/sbin\/ip$/m);
  assert.match(text, /^✖ arping: \/usr\/bin\/arping is missing\n {4}why: .+\n {4}fix: .+$/m);
  assert.match(text, /^! rp_filter on lan0 is 1 \(strict\)$/m);
  assert.match(text, /NOT READY: 1 problem to fix, 1 warning\n$/);
  const json = JSON.parse(preflightJson("lb1", items)) as { node: string; ready: boolean; failing: number; warnings: number; checks: CheckItem[] };
  assert.deepEqual(
    { node: json.node, ready: json.ready, failing: json.failing, warnings: json.warnings },
    { node: "lb1", ready: false, failing: 1, warnings: 1 },
  );
  assert.equal(json.checks.length, items.length);
  assert.match(formatChecklist(evaluatePreflight(config(), goodFacts())), /ready: nothing blocks the agent\n$/);
});
