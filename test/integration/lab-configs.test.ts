/**
 * The lab's generated files are valid for the programs that read them (keepvip's config
 * schemas, nginx -t), its pure parts (topology plan, probe and VIP analysis) say what they
 * should, and the keepvip stack refuses to start without its bins.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile } from "../../shared/config/load.js";
import { coordinatorConfigSchema, INSECURE_LISTEN_ACK } from "../../shared/config/coordinator.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { BROKEN_DIRECTIVE, renderKeepalivedConf, writeLabConfigs } from "../../deploy/lab/configs.js";
import type { LabManifest } from "../../deploy/lab/manifest.js";
import { defaultKeepvipBins, hostPrograms, labPaths } from "../../deploy/lab/paths.js";
import { checkPrefix, planTopology, planUpCommands } from "../../deploy/lab/topology.js";
import { analyzeProbes, type ProbeRecord } from "../../deploy/lab/probe-analysis.js";
import { summarizeVipEvents } from "../../deploy/lab/vip-timeline.js";
import { backendBody } from "../../deploy/lab/backend.js";
import { labDown, labUp, missingForStack } from "../../deploy/lab/lab.js";
import { processSpecs } from "../../deploy/lab/stacks.js";
import { labPki } from "../../deploy/lab/pki.js";
import { AGENT_NODE_FLAGS } from "../../shared/node-flags.js";
import { collectStatus as labStatus } from "../../deploy/lab/status.js";
import { startLabProcess as startProcess, stopLabProcess as stopProcess } from "../../deploy/lab/drills.js";
import { namespaces, run } from "./helpers/lab-client.js";

function manifest(over: Partial<LabManifest> = {}): LabManifest {
  return {
    prefix: "kvC",
    stack: "keepvip",
    timing: "seed",
    advertSec: 1,
    connectTimeoutMs: 3000,
    bins: defaultKeepvipBins(),
    createdAt: "2026-01-01T00:00:00Z",
    ...over,
  };
}

function withLabDir(fn: (root: string) => Promise<void> | void) {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), "kvlab-"));
    try {
      await fn(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test(
  "up --insecure: the old plaintext mode, acknowledged out loud on the coordinator's control-network listener; etcd over http",
  withLabDir((root) => {
    const paths = labPaths("kvC", root);
    writeLabConfigs(manifest({ insecure: true }), paths, hostPrograms());
    const c = loadConfigFile(coordinatorConfigSchema, paths.coordinatorConfig);
    assert.equal(c.insecure, true);
    assert.equal(c.insecure_listen_ack, INSECURE_LISTEN_ACK);
    assert.equal(c.tls, undefined);
    // Plain HTTP off loopback: the same acknowledgement admits the status page.
    assert.deepEqual(c.status_page, { listen: "198.19.0.1:9742" });
    assert.equal(loadConfigFile(agentConfigSchema, paths.agentConfig("lb1")).insecure, true);
    const ha = manifest({ ha: true, insecure: true });
    writeLabConfigs(ha, paths, hostPrograms());
    const r = loadConfigFile(coordinatorConfigSchema, paths.replicaConfig("coord1"));
    assert.deepEqual(r.ha?.etcd.endpoints[0], "http://198.19.0.31:2379");
    assert.equal(r.ha?.etcd.tls, undefined);
    const etcd = processSpecs(ha, paths, hostPrograms()).filter((x) => x.name === "etcd");
    assert.ok(etcd.every((x) => !x.argv.includes("--client-cert-auth")));
  }),
);

for (const timing of ["seed", "tuned"] as const) {
  test(
    `the generated coordinator and agent configs load with keepvip's schemas (timing ${timing})`,
    withLabDir((root) => {
      const paths = labPaths("kvC", root);
      writeLabConfigs(manifest({ timing }), paths, hostPrograms());
      const c = loadConfigFile(coordinatorConfigSchema, paths.coordinatorConfig);
      assert.equal(c.listen, "198.19.0.1:7400");
      assert.equal(c.state_dir, paths.stateDir("coord"));
      assert.deepEqual(c.status_page, { listen: "198.19.0.1:9742" });
      // Mutual TLS with the lab's own certificates (issued by `keepvip certs` at up).
      const pki = labPki(paths);
      assert.equal(c.insecure, false);
      assert.deepEqual(c.tls, { ca: pki.ca, cert: pki.coordinator.cert, key: pki.coordinator.key });
      for (const lb of ["lb1", "lb2"] as const) {
        const a = loadConfigFile(agentConfigSchema, paths.agentConfig(lb));
        assert.deepEqual(a.tls, { ca: pki.ca, ...pki.agent(lb) });
        assert.equal(a.insecure, false);
      }
      const g = c.groups[0];
      assert.equal(g.name, "VI_1");
      assert.deepEqual(
        g.vips,
        [
          { address: "198.18.0.100", prefix: 24, family: 4 },
          { address: "2001:2::100", prefix: 64, family: 6 },
        ],
        "dual-stack: both VIPs in one group",
      );
      assert.deepEqual(g.service, { port: 10016, path: "/aaa" });
      assert.deepEqual(
        g.members.map((m) => [m.node, m.priority, m.address]),
        [
          ["lb1", 100, "198.18.0.11"],
          ["lb2", 90, "198.18.0.12"],
        ],
      );
      assert.equal(g.preempt, true);
      assert.deepEqual(
        g.tracks.map((t) => [t.name, t.weight]),
        [["chk_nginx", -20]],
      );
      assert.deepEqual(g.lan_references, ["198.18.0.21:10016", "198.18.0.22:10016"]);
      const u = c.upstreams[0];
      assert.equal(u.name, "my10016");
      assert.equal(u.balance, "least_conn");
      assert.deepEqual(
        u.servers.map((s) => [s.address, s.max_fails, s.fail_timeout]),
        [
          ["198.18.0.21:10016", 3, 30_000],
          ["198.18.0.22:10016", 3, 30_000],
        ],
      );
      assert.equal(u.check?.type, "http");
      assert.equal(u.check?.path, "/aaa");
      if (timing === "tuned") {
        assert.deepEqual([c.timing.heartbeat_interval, c.timing.dead_interval, c.timing.verify_timeout, c.timing.reach_interval], [20, 100, 50, 10]);
      } else {
        assert.deepEqual([c.timing.heartbeat_interval, c.timing.dead_interval, c.timing.verify_timeout], [200, 1000, 150]);
      }
      for (const lb of ["lb1", "lb2"] as const) {
        const a = loadConfigFile(agentConfigSchema, paths.agentConfig(lb));
        assert.equal(a.node_id, lb);
        assert.equal(a.coordinator, "198.19.0.1:7400");
        assert.deepEqual(a.groups, { VI_1: { interface: "lan0" } });
        assert.deepEqual(a.track_interfaces, ["lan0"]);
        assert.equal(a.nginx.mode, "child");
        assert.equal(a.nginx.pid_file, join(root, "kvC", "pids", `${lb}-nginx.pid`));
        assert.equal(a.nginx.conf, paths.nginxConf(lb));
        assert.equal(a.nginx.upstream_file, paths.upstreamFile(lb));
        assert.equal(a.state_dir, paths.stateDir(lb));
        assert.ok(a.tracks.chk_nginx.script.includes(paths.pidFile(lb, "nginx")));
        assert.equal(a.arping, hostPrograms().arping);
      }
    }),
  );
}

test(
  "the generated nginx.conf passes nginx -t, and fails it once break-nginx's directive is in",
  withLabDir(async (root) => {
    const paths = labPaths("kvC", root);
    writeLabConfigs(manifest({ connectTimeoutMs: 100 }), paths, hostPrograms());
    const nginxT = () =>
      run([hostPrograms().nginx, "-t", "-q", "-p", paths.nginxPrefix("lb1"), "-c", paths.nginxConf("lb1"), "-e", paths.nginxErrorLog("lb1")]);
    const ok = await nginxT();
    assert.equal(ok.exitCode, 0, ok.stderr);
    writeFileSync(paths.breakFile("lb1"), BROKEN_DIRECTIVE);
    const broken = await nginxT();
    assert.notEqual(broken.exitCode, 0);
    assert.match(broken.stderr, /unknown directive "keepvip_lab_broken_on_purpose"/);
  }),
);

test("keepalived.conf: whole-second adverts are the seed's VRRPv2 with auth_pass, sub-second ones VRRPv3 without", () => {
  const paths = labPaths("kvC", "/tmp/x");
  const seed = renderKeepalivedConf("lb1", paths, 1);
  assert.match(seed, /state MASTER/);
  assert.match(seed, /priority 100/);
  assert.match(seed, /advert_int 1\n/);
  assert.match(seed, /auth_pass 1111/);
  assert.doesNotMatch(seed, /vrrp_version/);
  assert.match(seed, /weight -20/);
  const fast = renderKeepalivedConf("lb2", paths, 0.1);
  assert.match(fast, /state BACKUP/);
  assert.match(fast, /priority 90/);
  assert.match(fast, /vrrp_version 3/);
  assert.match(fast, /advert_int 0.1\n/);
  assert.doesNotMatch(fast, /auth_pass/);
});

test(
  "keepalived.conf: the IPv6 VIP as an excluded address of VI_1 by default, or in a VRRPv3 IPv6 instance synced with VI_1; keepalived -t takes both",
  withLabDir(async (root) => {
    const paths = labPaths("kvC", root);
    const excluded = renderKeepalivedConf("lb1", paths, 1);
    assert.match(excluded, /virtual_ipaddress_excluded \{\s+2001:2::100\/64\s+\}/);
    assert.doesNotMatch(excluded, /VI_6|vrrp_sync_group/);
    const native = renderKeepalivedConf("lb2", paths, 1, "vrrp3");
    assert.doesNotMatch(native, /virtual_ipaddress_excluded/);
    assert.match(native, /vrrp_sync_group VG_1 \{\s+group \{\s+VI_1\s+VI_6\s+\}/);
    const vi6 = native.slice(native.indexOf("vrrp_instance VI_6"));
    for (const line of [/version 3\n/, /native_ipv6\n/, /state BACKUP/, /priority 90/, /2001:2::100\/64/, /chk_nginx/]) assert.match(vi6, line);
    assert.doesNotMatch(vi6, /auth_pass/, "VRRPv3 has no authentication");
    for (const [name, text] of [
      ["excluded", excluded],
      ["vrrp3", native],
    ]) {
      const file = join(root, `keepalived-${name}.conf`);
      writeFileSync(file, text);
      // -t checks the file and exits. lan0 exists only in the lab's namespaces: keepalived says
      // so (exit 5) and that must be all it says (an unknown keyword or bad value is a line more).
      const r = await run([hostPrograms().keepalived, "-t", "-f", file, "-l", "-n"]);
      const complaints = `${r.stdout}${r.stderr}`
        .split("\n")
        .filter((l) => l.trim() !== "" && !/interface lan0 for vrrp_instance VI_[16] doesn't exist|Non-existent interface specified/.test(l));
      assert.deepEqual(complaints, [], name);
      assert.ok(r.exitCode === 0 || r.exitCode === 5, `${name}: exit ${r.exitCode}`);
    }
  }),
);

test("the topology: exact namespace names, switch ports fit IFNAMSIZ, no command touches the root namespace", () => {
  const plan = planTopology("kvC");
  assert.deepEqual(plan.namespaces, ["kvC-sw", "kvC-coord", "kvC-lb1", "kvC-lb2", "kvC-b1", "kvC-b2", "kvC-client"]);
  for (const a of plan.attachments) assert.ok(a.port.length <= 15, a.port);
  assert.deepEqual(
    plan.attachments.filter((a) => a.net === "ctl").map((a) => [a.host, a.address]),
    [
      ["coord", "198.19.0.1"],
      ["lb1", "198.19.0.11"],
      ["lb2", "198.19.0.12"],
    ],
  );
  for (const argv of planUpCommands(plan)) {
    // Every command names a lab namespace: `ip netns add|exec NS` or `ip -n NS`.
    const ns = argv[1] === "-n" ? argv[2] : argv[1] === "netns" ? argv[3] : undefined;
    assert.ok(ns !== undefined && plan.namespaces.includes(ns), argv.join(" "));
  }
  assert.equal(checkPrefix("kv"), undefined);
  assert.match(checkPrefix("kv-x") ?? "", /no '-'/);
  assert.match(checkPrefix("") ?? "", /prefix must be/);
});

test("the --ha topology: three etcd members and three replicas on ctl instead of coord, ports fit IFNAMSIZ", () => {
  const plan = planTopology("kvC", true);
  assert.deepEqual(plan.namespaces, [
    "kvC-sw",
    "kvC-etcd1",
    "kvC-etcd2",
    "kvC-etcd3",
    "kvC-coord1",
    "kvC-coord2",
    "kvC-coord3",
    "kvC-lb1",
    "kvC-lb2",
    "kvC-b1",
    "kvC-b2",
    "kvC-client",
  ]);
  for (const a of plan.attachments) assert.ok(a.port.length <= 15, a.port);
  assert.deepEqual(
    plan.attachments.filter((a) => a.net === "ctl").map((a) => a.host),
    ["etcd1", "etcd2", "etcd3", "coord1", "coord2", "coord3", "lb1", "lb2"],
  );
  assert.deepEqual(
    plan.attachments.filter((a) => a.net === "lan").map((a) => a.host),
    ["lb1", "lb2", "b1", "b2", "client"],
    "etcd and the replicas are on the control network only",
  );
  const ctl = plan.attachments.filter((a) => a.net === "ctl").map((a) => a.address);
  assert.equal(new Set(ctl).size, ctl.length, "every ctl address is distinct");
});

test(
  "the --ha configs: each replica's ha section, the agents list every replica, etcd members form one cluster",
  withLabDir((root) => {
    const paths = labPaths("kvC", root);
    const m = manifest({ ha: true });
    writeLabConfigs(m, paths, hostPrograms());
    const addresses = ["198.19.0.1:7400", "198.19.0.2:7400", "198.19.0.3:7400"];
    for (const [i, host] of (["coord1", "coord2", "coord3"] as const).entries()) {
      const c = loadConfigFile(coordinatorConfigSchema, paths.replicaConfig(host));
      assert.equal(c.listen, addresses[i]);
      assert.equal(c.state_dir, paths.stateDir(host));
      // Each replica serves the status page on its own control-network address.
      assert.deepEqual(c.status_page, { listen: addresses[i].replace(":7400", ":9742") });
      assert.deepEqual(c.ha && { name: c.ha.name, advertise: c.ha.advertise, ttl: c.ha.lease_ttl, prefix: c.ha.prefix }, {
        name: host,
        advertise: addresses[i],
        ttl: 1000,
        prefix: "/keepvip/lab/kvC",
      });
      assert.deepEqual(c.ha?.etcd.endpoints, ["https://198.19.0.31:2379", "https://198.19.0.32:2379", "https://198.19.0.33:2379"]);
      assert.deepEqual(c.ha?.etcd.tls, { ca: labPki(paths).ca, ...labPki(paths).coordinator });
    }
    for (const lb of ["lb1", "lb2"] as const) {
      const a = loadConfigFile(agentConfigSchema, paths.agentConfig(lb));
      assert.deepEqual(a.coordinators, addresses);
      assert.equal(a.coordinator, undefined);
    }
    const specs = processSpecs(m, paths, hostPrograms());
    // The agents start with the flags their bin's first line carries, as systemd starts them.
    for (const agent of specs.filter((x) => x.name === "agent"))
      assert.deepEqual(agent.argv.slice(1, 1 + AGENT_NODE_FLAGS.length), [...AGENT_NODE_FLAGS], `${agent.host}'s agent argv`);
    assert.equal(specs.filter((x) => x.name === "agent").length, 2);
    const etcd = specs.filter((x) => x.name === "etcd");
    assert.deepEqual(
      etcd.map((x) => [x.host, x.ns, x.pidFile.endsWith(`/pids/${x.host}-etcd.pid`)]),
      [
        ["etcd1", "kvC-etcd1", true],
        ["etcd2", "kvC-etcd2", true],
        ["etcd3", "kvC-etcd3", true],
      ],
    );
    // Clients over https with a certificate of the lab's CA; peers on their own port.
    for (const x of etcd) {
      assert.ok(x.argv.includes("--client-cert-auth"), `${x.host} checks client certificates`);
      assert.ok(x.argv.includes(`--trusted-ca-file=${labPki(paths).ca}`), `${x.host} trusts the lab's CA`);
      assert.match(x.argv.find((v) => v.startsWith("--listen-client-urls=")) ?? "", /^--listen-client-urls=https:\/\//);
    }
    const cluster = etcd.map((x) => x.argv.find((v) => v.startsWith("--initial-cluster="))).filter((v) => v !== undefined);
    assert.equal(new Set(cluster).size, 1, "one initial cluster for all members");
    assert.match(cluster[0]!, /etcd1=http:\/\/198\.19\.0\.31:2380,etcd2=http:\/\/198\.19\.0\.32:2380,etcd3=http:\/\/198\.19\.0\.33:2380/);
    assert.deepEqual(
      specs.filter((x) => x.name === "coordinator").map((x) => [x.host, x.pidFile.endsWith(`/pids/${x.host}-coordinator.pid`)]),
      [
        ["coord1", true],
        ["coord2", true],
        ["coord3", true],
      ],
    );
    assert.match(
      missingForStack("keepalived", hostPrograms(), defaultKeepvipBins(), true).join("\n"),
      /--ha replicates the keepvip coordinator: it needs --stack keepvip/,
    );
  }),
);

const rec = (seq: number, ok: boolean, by?: string): ProbeRecord => ({ seq, t: 1000 + seq * 10, ok, ms: 1, ...(ok ? { by } : { err: "timeout" }) });

test("probe analysis: the longest failure run runs from the first failure to the next answer", () => {
  const records = [rec(0, true, "a"), rec(1, false), rec(2, false), rec(3, true, "b"), rec(4, false), rec(5, true, "a")];
  const s = analyzeProbes(records.reverse(), 10);
  assert.equal(s.total, 6);
  assert.equal(s.failed, 3);
  assert.deepEqual(s.answeredBy, { a: 2, b: 1 });
  assert.deepEqual(s.errors, { timeout: 3 });
  assert.equal(s.longestFailureMs, 20);
  assert.deepEqual(
    s.failureRuns.map((r) => [r.startT, r.endT, r.count]),
    [
      [1010, 1030, 2],
      [1040, 1050, 1],
    ],
  );
  const trailing = analyzeProbes([rec(0, true, "a"), rec(1, false), rec(2, false)], 10);
  assert.equal(trailing.longestFailureMs, 20);
  assert.equal(analyzeProbes([], 10).longestFailureMs, 0);
});

test("VIP timeline: time on both and on none, counted only once both watchers reported", () => {
  const s = summarizeVipEvents(
    [
      { t: 100, host: "lb1", has: true },
      { t: 105, host: "lb2", has: false },
      { t: 200, host: "lb2", has: true },
      { t: 230, host: "lb1", has: false },
      { t: 300, host: "lb2", has: false },
      { t: 350, host: "lb1", has: true },
    ],
    ["lb1", "lb2"],
    400,
  );
  assert.equal(s.from, 105);
  assert.equal(s.bothMs, 30);
  assert.equal(s.longestBothMs, 30);
  assert.equal(s.noneMs, 50);
  assert.deepEqual(
    s.changes.map((c) => c.holders.join("+")),
    ["lb1", "lb1+lb2", "lb2", "", "lb1"],
  );
});

test("the backend's body is exactly the seed's JSON", () => {
  assert.equal(backendBody("198.18.0.21"), '{"msg":"success","status":"1","server_ip":"198.18.0.21"}');
});

test("up --stack keepvip without built bins fails naming the missing file, and builds nothing", async () => {
  const before = (await namespaces()).filter((n) => n.startsWith("kvC-"));
  await assert.rejects(
    labUp({ prefix: "kvC", stack: "keepvip", bins: { coordinator: "/nonexistent/coordinator/main.js", agent: "/nonexistent/agent/main.js" } }),
    /keepvip coordinator is not built: \/nonexistent\/coordinator\/main\.js is missing[\s\S]*npm run build/,
  );
  assert.deepEqual(
    (await namespaces()).filter((n) => n.startsWith("kvC-")),
    before,
  );
});

test(
  "an up that fails half-way (the coordinator exits at start) tears down what it built and shows the log",
  withLabDir(async (root) => {
    const crash = join(root, "crash.js");
    writeFileSync(crash, 'console.error("boom: config rejected"); process.exit(3);\n');
    try {
      await assert.rejects(
        labUp({ prefix: "kvC", stack: "keepvip", bins: { coordinator: crash, agent: crash } }),
        /coord coordinator exited at start[\s\S]*boom: config rejected/,
      );
      assert.deepEqual(
        (await namespaces()).filter((n) => n.startsWith("kvC-")),
        [],
      );
      const status = await labStatus("kvC");
      assert.deepEqual([status.up, status.processes], [false, []]);
    } finally {
      await labDown("kvC");
    }
  }),
);

test(
  "the keepvip stack's wiring, with stand-in bins: coordinator in kvC-coord on 198.19.0.1:7400, agents ready once :10016 listens",
  withLabDir(async (root) => {
    const coordinator = join(root, "coordinator.js");
    const agent = join(root, "agent.js");
    // Stand-ins: each checks it got --config with a file that exists, then listens where the real one would.
    const stub = (listen: string) => `const fs = require("node:fs"); const i = process.argv.indexOf("--config");
if (i < 0 || !fs.existsSync(process.argv[i + 1])) { console.error("no --config"); process.exit(2); }
require("node:net").createServer().listen(${listen});\n`;
    writeFileSync(coordinator, stub("7400, '198.19.0.1'"));
    writeFileSync(agent, stub("10016"));
    try {
      const up = await labUp({ prefix: "kvC", stack: "keepvip", bins: { coordinator, agent } });
      assert.deepEqual(Object.keys(up.pids).sort(), ["b1-backend", "b2-backend", "coord-coordinator", "lb1-agent", "lb2-agent"]);
      const s = await labStatus("kvC");
      assert.deepEqual(
        s.processes.map((p) => [p.host, p.name, p.alive, p.startedBy]),
        [
          ["b1", "backend", true, "lab"],
          ["b2", "backend", true, "lab"],
          ["coord", "coordinator", true, "lab"],
          ["lb1", "nginx", false, "agent"],
          ["lb1", "agent", true, "lab"],
          ["lb2", "nginx", false, "agent"],
          ["lb2", "agent", true, "lab"],
        ],
      );
      await assert.rejects(startProcess("kvC", "lb1", "nginx"), /the keepvip agent starts and supervises nginx in this stack; start the agent instead/);
      await stopProcess("kvC", "lb1", "agent");
      assert.equal((await startProcess("kvC", "lb1", "agent")) > 0, true);
    } finally {
      await labDown("kvC");
    }
  }),
);
