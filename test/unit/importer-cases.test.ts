/**
 * keepalived import, case by case: each minimal config is read the way
 * keepalived would run it, refused with the keepalived file's line and column,
 * or carried with a note saying what changed. keepalived.conf(5) is the
 * reference. Files come from memory (the importer's Files seam).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { importKeepalived } from "../../cli/importer/index.js";
import type { Files } from "../../cli/importer/source.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";

/** A file system in memory: path → text. */
function memory(files: Record<string, string>): Files {
  return {
    read(path) {
      const t = files[path];
      if (t === undefined) throw new Error(`cannot read ${path}: ENOENT`);
      return t;
    },
    list(dir) {
      const prefix = dir.endsWith("/") ? dir : `${dir}/`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/")[0]);
      return [...names];
    },
  };
}

interface Imported {
  coordinator: ReturnType<typeof coordinatorConfigSchema.parse>;
  agents: Record<string, ReturnType<typeof agentConfigSchema.parse>>;
  notes: string[];
}

/** Imports, then reads every written config back through keepvip's own schemas. */
function imp(files: Record<string, string>, keepalived: string[], names = keepalived.map((_, i) => `lb${i + 1}`)): Imported {
  const { result } = importKeepalived(keepalived, [], { names }, memory(files));
  return {
    coordinator: parseConfigText(coordinatorConfigSchema, stringify(result.coordinator), "coordinator.yaml"),
    agents: Object.fromEntries(result.agents.map((a) => [a.node, parseConfigText(agentConfigSchema, stringify(a.config), `agent-${a.node}.yaml`)])),
    notes: result.notes.map((n) => `${n.where}: ${n.what}`),
  };
}

const has = (notes: string[], re: RegExp) =>
  assert.ok(
    notes.some((n) => re.test(n)),
    `no note matches ${re}:\n${notes.join("\n")}`,
  );

const instance = (body: string, name = "VI_1", vrid = 51) =>
  `vrrp_instance ${name} {\n  interface eth0\n  virtual_router_id ${vrid}\n  priority 100\n${body}\n}\n`;

test("1. a track_script naming no vrrp_script is ignored with a note (keepalived ignores it), not a track nobody runs", () => {
  const r = imp({ "/k/a.conf": instance("  virtual_ipaddress {\n    10.0.0.100\n  }\n  track_script {\n    chk_missing\n  }") }, ["/k/a.conf"]);
  assert.deepEqual(r.coordinator.groups[0].tracks, []);
  assert.deepEqual(r.agents.lb1.tracks, {});
  has(r.notes, /\/k\/a\.conf:9:5: vrrp_instance VI_1 track_script chk_missing: no vrrp_script chk_missing in this file; keepalived ignores it/);
});

test("2. notify scripts belong to their instance: each group runs its own", () => {
  const text =
    instance('  virtual_ipaddress {\n    10.0.0.100\n  }\n  notify_master "/etc/ka/start haproxy"\n  notify_backup "/etc/ka/stop haproxy"') +
    instance("  virtual_ipaddress {\n    10.0.0.101\n  }\n  notify /etc/ka/any.sh", "VI_2", 52);
  const r = imp({ "/k/a.conf": text }, ["/k/a.conf"]);
  const g = r.agents.lb1.groups;
  assert.deepEqual(g.VI_1.notify?.master, ["/etc/ka/start", "haproxy"]);
  assert.deepEqual(g.VI_1.notify?.backup, ["/etc/ka/stop", "haproxy"]);
  assert.equal(g.VI_1.notify?.any, undefined);
  assert.deepEqual(g.VI_2.notify?.any, ["/etc/ka/any.sh"]);
  assert.equal(g.VI_2.notify?.backup, undefined, "VI_2 going BACKUP does not run VI_1's stop haproxy");
  assert.deepEqual(r.agents.lb1.notify.master, undefined, "nothing node-wide");
});

test("3. include FILE with wildcards reads the files in place (relative to the including file), naming their own lines", () => {
  const r = imp(
    {
      "/etc/keepalived/keepalived.conf": "global_defs {\n  router_id a\n}\ninclude conf.d/*.conf\ninclude /nowhere/*.conf\n",
      "/etc/keepalived/conf.d/10-vi1.conf": instance("  virtual_ipaddress {\n    10.0.0.100\n  }"),
      "/etc/keepalived/conf.d/20-vi2.conf": instance("  virtual_ipaddress {\n    10.0.0.101\n  }\n  bogus_keyword 1", "VI_2", 52),
      "/etc/keepalived/conf.d/README": "not a conf",
    },
    ["/etc/keepalived/keepalived.conf"],
  );
  assert.deepEqual(
    r.coordinator.groups.map((g) => g.name),
    ["VI_1", "VI_2"],
  );
  has(r.notes, /\/etc\/keepalived\/conf\.d\/20-vi2\.conf:8:3: vrrp_instance VI_2 bogus_keyword: not carried/);
  has(r.notes, /\/etc\/keepalived\/keepalived\.conf:5:1: include \/nowhere\/\*\.conf: no file matches/);
  assert.throws(() => imp({ "/k/a.conf": "include a.conf\n" }, ["/k/a.conf"]), /\/k\/a\.conf:1:1: include a\.conf: \/k\/a\.conf includes itself/);
});

test("4. SSL_GET is an HTTPS check; status defaults to 200-299; digest, a second url, retries and UDP are carried or noted", () => {
  const vs = `virtual_server 10.0.0.100 443 {
  delay_loop 6
  lb_algo wlc
  protocol TCP
  real_server 10.0.1.21 443 {
    weight 2
    SSL_GET {
      url {
        path /health
        digest 9B3A0C85A887A256D6939DA88AABD8CD
      }
      url {
        path /second
      }
      connect_timeout 3
      retry 3
      delay_before_retry 2
    }
  }
  real_server 10.0.1.22 443 {
    SSL_GET {
      url {
        path /health
        digest 9b3a0c85a887a256d6939da88aabd8cd
      }
      connect_timeout 3
      retry 3
      delay_before_retry 2
    }
  }
}
virtual_server 10.0.0.100 53 {
  protocol UDP
  real_server 10.0.1.21 53 {
  }
}
virtual_server 10.0.0.100 80 {
  delay_loop 5
  real_server 10.0.1.21 80 {
    HTTP_GET {
      url {
        path /
        status_code 200
      }
    }
  }
}
`;
  const r = imp({ "/k/a.conf": instance("  virtual_ipaddress {\n    10.0.0.100\n  }") + vs }, ["/k/a.conf"]);
  const https = r.coordinator.upstreams.find((u) => u.name === "vs_10_0_0_100_443");
  assert.ok(https?.check);
  assert.equal(https.check.type, "https");
  assert.equal(https.check.path, "/health");
  assert.deepEqual(https.check.expect_status, { min: 200, max: 299 }, "keepalived's default status range");
  assert.equal(https.check.expect_digest, "9b3a0c85a887a256d6939da88aabd8cd");
  assert.equal(https.check.fall, 3, "retry 3");
  assert.equal(https.balance, "least_conn");
  has(r.notes, /url \/second: not carried \(keepvip checks one path per upstream: the first url's\)/);
  has(r.notes, /delay_before_retry: not carried/);
  has(r.notes, /\/k\/a\.conf:\d+:\d+: virtual_server 10\.0\.0\.100 53: protocol UDP: not carried/);
  assert.equal(
    r.coordinator.upstreams.some((u) => u.name === "vs_10_0_0_100_53"),
    false,
    "a UDP service is not an HTTP upstream",
  );
  const http = r.coordinator.upstreams.find((u) => u.name === "vs_10_0_0_100_80");
  assert.deepEqual(http?.check?.expect_status, { min: 200, max: 200 });
});

test("5. a VIP's own dev, label and scope are kept per address; an instance without interface uses keepalived's default interface, with a note", () => {
  const text =
    instance("  virtual_ipaddress {\n    10.0.0.100/24\n    10.0.1.1/24 dev eth1 label eth1:vip\n    10.0.2.1/32 scope link\n  }") +
    "vrrp_instance VI_2 {\n  virtual_router_id 52\n  virtual_ipaddress {\n    10.0.3.1/24\n  }\n}\n";
  const r = imp({ "/k/a.conf": `global_defs {\n  default_interface bond0\n}\n${text}` }, ["/k/a.conf"]);
  const g = r.agents.lb1.groups;
  assert.equal(g.VI_1.interface, "eth0");
  assert.deepEqual(g.VI_1.addresses, { "10.0.1.1": { interface: "eth1", label: "eth1:vip" }, "10.0.2.1": { scope: "link" } });
  assert.equal(g.VI_2.interface, "bond0");
  has(r.notes, /vrrp_instance VI_2 names no interface: bond0 is used \(global_defs default_interface\)/);
});

test("6. track_interface stays with its instance: a group track if:NAME the agent reports, never a node-wide fault", () => {
  const text =
    instance("  virtual_ipaddress {\n    10.0.0.100\n  }\n  track_interface {\n    eth1\n    eth2 weight -30\n  }") +
    instance("  virtual_ipaddress {\n    10.0.0.101\n  }", "VI_2", 52);
  const r = imp({ "/k/a.conf": text, "/k/b.conf": text }, ["/k/a.conf", "/k/b.conf"]);
  const [vi1, vi2] = r.coordinator.groups;
  assert.deepEqual(
    vi1.tracks.map((t) => [t.name, t.weight]),
    [
      ["if:eth1", 0],
      ["if:eth2", -30],
    ],
  );
  assert.deepEqual(vi2.tracks, [], "VI_2 does not fault when eth1 goes down");
  assert.deepEqual(r.agents.lb1.interface_tracks, ["eth1", "eth2"]);
  assert.deepEqual(r.agents.lb1.track_interfaces, [], "nothing node-wide");
});

test("7. values are carried as keepalived runs them: a timeout above the interval, $PRIO, and 255 only with a note", () => {
  const text = `$PRIO=150
$IFACE=eth0
vrrp_script chk {
  script /bin/check
  interval 2
  timeout 5
}
vrrp_instance VI_1 {
  interface \${IFACE}
  virtual_router_id 51
  priority $PRIO
  virtual_ipaddress {
    10.0.0.100
  }
  track_script {
    chk
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  priority 255
  virtual_ipaddress {
    10.0.0.101
  }
}
`;
  const r = imp({ "/k/a.conf": text }, ["/k/a.conf"]);
  assert.equal(r.agents.lb1.tracks.chk.interval, 2000);
  assert.equal(r.agents.lb1.tracks.chk.timeout, 5000, "not cut to the interval");
  assert.equal(r.coordinator.groups[0].members[0].priority, 150);
  assert.equal(r.agents.lb1.groups.VI_1.interface, "eth0");
  assert.equal(r.coordinator.groups[1].members[0].priority, 254);
  has(r.notes, /\/k\/a\.conf:22:3: vrrp_instance VI_2 priority 255: keepalived's address owner.*the import uses 254/);
  assert.throws(() => imp({ "/k/a.conf": text.replace("$PRIO=150\n", "\n") }, ["/k/a.conf"]), /\/k\/a\.conf:11:12: \$PRIO is not defined/);
  assert.throws(
    () => imp({ "/k/a.conf": text.replace("priority $PRIO", "priority high") }, ["/k/a.conf"]),
    /\/k\/a\.conf:11:3: vrrp_instance VI_1 priority "high" is not a whole number/,
  );
});

test("8. valid keepalived input is read: { on its own line, a duplicate VIP, IPv6 VIPs next to IPv4 ones and alone, IPv6 real servers, virtual_server group, @host lines", () => {
  const text = `vrrp_instance VI_1
{
  interface eth0
  virtual_router_id 51
  @lb1 priority 150
  @^lb1 priority 90
  virtual_ipaddress
  {
    10.0.0.100
    10.0.0.100
    2001:db8::100/64
  }
}
vrrp_instance VI_6 {
  interface eth0
  virtual_router_id 56
  virtual_ipaddress {
    2001:db8::106/64
  }
}
virtual_server_group web {
  10.0.0.100 80
  10.0.0.101 80
}
virtual_server group web {
  real_server 2001:db8::21 80 {
    TCP_CHECK {
      connect_timeout 2
    }
  }
  real_server 10.0.1.22 80 {
  }
}
`;
  const r = imp({ "/k/a.conf": text }, ["/k/a.conf", "/k/a.conf"], ["lb1", "lb2"]);
  const g = r.coordinator.groups;
  assert.deepEqual(
    g.map((x) => [x.name, x.vips.map((v) => `${v.address}/${v.prefix}`)]),
    [
      ["VI_1", ["10.0.0.100/32", "2001:db8::100/64"]],
      ["VI_6", ["2001:db8::106/64"]],
    ],
    "dual-stack and IPv6-only instances are carried",
  );
  assert.deepEqual(
    g[0].members.map((m) => [m.node, m.priority]),
    [
      ["lb1", 150],
      ["lb2", 90],
    ],
  );
  has(r.notes, /\/k\/a\.conf:10:5: vrrp_instance VI_1 virtual_ipaddress 10\.0\.0\.100: listed twice; keepalived ignores the duplicate/);
  assert.ok(!r.notes.some((n) => /IPv6|2001:db8::10[06]/.test(n)), r.notes.join("\n"));
  const web = r.coordinator.upstreams.find((u) => u.name === "vsg_web");
  assert.deepEqual(
    web?.servers.map((s) => s.address),
    ["[2001:db8::21]:80", "10.0.1.22:80"],
  );
  assert.throws(
    () => importKeepalived(["/k/a.conf"], [], {}, memory({ "/k/a.conf": text })),
    /\/k\/a\.conf:5:3: "@lb1" applies this line to some hosts only: pass --names/,
  );
});

test("9. instances pair by virtual_router_id, not by name", () => {
  const a = instance("  virtual_ipaddress {\n    10.0.0.100\n  }", "VI_MASTER", 51);
  const b = instance("  virtual_ipaddress {\n    10.0.0.100\n  }", "VI_BACKUP", 51).replace("priority 100", "priority 90");
  const r = imp({ "/k/a.conf": a, "/k/b.conf": b }, ["/k/a.conf", "/k/b.conf"]);
  assert.equal(r.coordinator.groups.length, 1);
  assert.equal(r.coordinator.groups[0].name, "VI_MASTER");
  assert.deepEqual(
    r.coordinator.groups[0].members.map((m) => [m.node, m.priority]),
    [
      ["lb1", 100],
      ["lb2", 90],
    ],
  );
  assert.ok(r.agents.lb2.groups.VI_MASTER, "lb2's agent binds the group by its name");
  has(r.notes, /vrrp_instance VI_BACKUP and VI_MASTER \(\/k\/a\.conf:1:1\) share virtual_router_id 51: one group, named VI_MASTER/);
});

test("10. a check that tests keepalived itself is left out with a note (it would fail forever once keepalived is gone)", () => {
  for (const script of ['"/usr/bin/killall -0 keepalived"', "/usr/bin/pidof keepalived", '"systemctl is-active keepalived"']) {
    const text = `vrrp_script chk_ka {\n  script ${script}\n  interval 2\n}\n${instance("  virtual_ipaddress {\n    10.0.0.100\n  }\n  track_script {\n    chk_ka\n  }")}`;
    const r = imp({ "/k/a.conf": text }, ["/k/a.conf"]);
    assert.deepEqual(r.coordinator.groups[0].tracks, [], script);
    assert.deepEqual(r.agents.lb1.tracks, {}, script);
    has(r.notes, /track_script chk_ka: left out: .*keepalived.*it would fail forever/);
  }
});

test("11. errors name the keepalived file, line and column, once each; script_user and scope are carried", () => {
  const bad = instance("  virtual_ipaddress {\n    10.0.0.100\n  }", "VI@1");
  assert.throws(
    () => imp({ "/k/a.conf": bad }, ["/k/a.conf"]),
    (err: Error) => {
      assert.match(err.message, /\/k\/a\.conf:1:1: coordinator config groups\[0\]\.name: must be 1-63 characters/);
      assert.doesNotMatch(err.message, /coordinator\.yaml:\d/);
      const lines = err.message.split("\n").filter((l) => l.trim().startsWith("/k/"));
      assert.equal(new Set(lines).size, lines.length, "each problem once");
      return true;
    },
  );
  const r = imp(
    {
      "/k/a.conf": `global_defs {\n  script_user keepalived_script\n}\nvrrp_script chk {\n  script /bin/check\n}\n${instance("  virtual_ipaddress {\n    10.0.0.100 scope host\n  }\n  track_script {\n    chk\n  }")}`,
    },
    ["/k/a.conf"],
  );
  assert.equal(r.agents.lb1.script_user, "keepalived_script");
  assert.deepEqual(r.agents.lb1.groups.VI_1.addresses, { "10.0.0.100": { scope: "host" } });
  assert.ok(!r.notes.some((n) => /script_user|scope/.test(n)), r.notes.join("\n"));
});
