/**
 * Where a group's VIPs go on this host (agent/vip/bindings.ts), as tables: the
 * group's interface/label/scope, default_interface, and per-address overrides
 * (`groups.NAME.addresses`, keepalived's `virtual_ipaddress { ADDR dev label scope }`);
 * then the config errors for a bad address key and a missing interface.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bindVips, configuredPlacements, vipInterfaces, type BindResult } from "../../agent/vip/bindings.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { ConfigError, parseConfigText } from "../../shared/config/load.js";

const HEAD = 'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\n';
const cfg = (yaml: string) => parseConfigText(agentConfigSchema, `${HEAD}${yaml}`, "agent.yaml");

/** "ADDR/LEN on IF [label L] [scope S]" per binding, or the error. */
const shown = (r: BindResult) =>
  r.ok
    ? r.vips.map((b) => `${b.address}/${b.prefix} on ${b.interface}${b.label ? ` label ${b.label}` : ""}${b.scope ? ` scope ${b.scope}` : ""}`)
    : `error: ${r.error}`;

const GROUP = `groups:
  VI_1:
    interface: lan0
    label: "lan0:vip"
    scope: global
    addresses:
      10.0.1.1: { interface: eth1 }
      10.0.1.2: { label: "lan0:two" }
      10.0.1.3: { interface: eth1, label: "eth1:vip", scope: link }
      10.0.1.4: { interface: lan0 }
      10.0.1.5: { scope: host }
`;

const cases: Array<[name: string, yaml: string, group: string, vips: string[], expected: string[] | string]> = [
  [
    "no addresses listed: every VIP on the group's interface, label and scope",
    "groups: { VI_1: { interface: lan0, label: 'lan0:vip', scope: link } }\n",
    "VI_1",
    ["198.18.0.100/24", "198.18.0.101"],
    ["198.18.0.100/24 on lan0 label lan0:vip scope link", "198.18.0.101/32 on lan0 label lan0:vip scope link"],
  ],
  [
    "an address override: its own interface; the group's scope; not the group's label (a label names its device)",
    GROUP,
    "VI_1",
    ["10.0.1.1/24"],
    ["10.0.1.1/24 on eth1 scope global"],
  ],
  ["a label override: the group's interface and scope, its own label", GROUP, "VI_1", ["10.0.1.2/24"], ["10.0.1.2/24 on lan0 label lan0:two scope global"]],
  ["interface, label and scope all overridden", GROUP, "VI_1", ["10.0.1.3/24"], ["10.0.1.3/24 on eth1 label eth1:vip scope link"]],
  ["an override naming the group's own interface keeps the group's label", GROUP, "VI_1", ["10.0.1.4/24"], ["10.0.1.4/24 on lan0 label lan0:vip scope global"]],
  ["a scope override alone", GROUP, "VI_1", ["10.0.1.5/24"], ["10.0.1.5/24 on lan0 label lan0:vip scope host"]],
  ["an address not listed: the group's binding", GROUP, "VI_1", ["10.0.1.9/24"], ["10.0.1.9/24 on lan0 label lan0:vip scope global"]],
  [
    "listed and unlisted VIPs of one group, in the coordinator's order",
    GROUP,
    "VI_1",
    ["10.0.1.9/24", "10.0.1.1/24", "10.0.1.3/24"],
    ["10.0.1.9/24 on lan0 label lan0:vip scope global", "10.0.1.1/24 on eth1 scope global", "10.0.1.3/24 on eth1 label eth1:vip scope link"],
  ],
  [
    "an IPv6 VIP: its entry found whatever the key's spelling, its interface and scope; never a label",
    "groups: { VI_1: { interface: lan0, label: 'lan0:vip', addresses: { '2001:DB8:0:0::0100': { interface: eth1, scope: global } } } }\n",
    "VI_1",
    ["2001:db8::100/64", "2001:db8::101/64", "198.18.0.100/24"],
    ["2001:db8::100/64 on eth1 scope global", "2001:db8::101/64 on lan0", "198.18.0.100/24 on lan0 label lan0:vip"],
  ],
  ["another group's override does not apply", `${GROUP}  VI_2: { interface: lan2 }\n`, "VI_2", ["10.0.1.1/24"], ["10.0.1.1/24 on lan2"]],
  ["a group not listed: default_interface", "groups: {}\ndefault_interface: lan9\n", "VI_7", ["10.0.7.1/24"], ["10.0.7.1/24 on lan9"]],
  [
    "a group listed without interface (default_interface set): the default, with the group's label and overrides",
    "default_interface: lan9\ngroups: { VI_1: { label: 'lan9:vip', addresses: { 10.0.1.1: { interface: eth1 } } } }\n",
    "VI_1",
    ["10.0.1.1/24", "10.0.1.2/24"],
    ["10.0.1.1/24 on eth1", "10.0.1.2/24 on lan9 label lan9:vip"],
  ],
  [
    "a group not listed and no default_interface: why not",
    "groups: { VI_1: { interface: lan0 } }\n",
    "VI_7",
    ["10.0.7.1/24"],
    "error: no interface for group VI_7 in the agent config (groups.VI_7.interface or default_interface)",
  ],
  ["a bad VIP from the coordinator", GROUP, "VI_1", ["10.0.1/24"], 'error: bad VIP from the coordinator: "10.0.1" is not an IPv4 or IPv6 address'],
  [
    "a prototype name is no group",
    "groups: { VI_1: { interface: lan0 } }\n",
    "constructor",
    ["10.0.1.1/24"],
    "error: no interface for group constructor in the agent config (groups.constructor.interface or default_interface)",
  ],
];
for (const [name, yaml, group, vips, expected] of cases) {
  test(`bindVips: ${name}`, () => {
    assert.deepEqual(shown(bindVips(cfg(yaml), group, vips)), expected);
  });
}

test("vipInterfaces / configuredPlacements: the groups', the overrides' and the default, once each", () => {
  const c = cfg(`${GROUP}  VI_2: { interface: lan2 }\ndefault_interface: lan9\n`);
  assert.deepEqual(vipInterfaces(c), ["lan0", "eth1", "lan2", "lan9"]);
  assert.deepEqual(
    configuredPlacements(c).filter((p) => p.scope === "host"),
    [{ interface: "lan0", label: "lan0:vip", scope: "host" }],
  );
});

/** The config's problems, one line each. */
function problems(yaml: string): string[] {
  try {
    cfg(yaml);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

const refused: Array<[name: string, yaml: string, problem: RegExp]> = [
  [
    "an address key with a prefix: the path and what to write",
    "groups: { VI_1: { interface: lan0, addresses: { 10.0.1.1/24: { interface: eth1 } } } }\n",
    /^agent\.yaml:\d+:\d+ groups\.VI_1\.addresses\.10\.0\.1\.1\/24: "10\.0\.1\.1\/24": write the VIP address alone, without \/prefix/,
  ],
  [
    "an address key that is no IPv4 address",
    "groups: { VI_1: { interface: lan0, addresses: { vip-one: { interface: eth1 } } } }\n",
    /groups\.VI_1\.addresses\.vip-one: "vip-one" is not a VIP address: an IPv4 address like 10\.0\.1\.1 or an IPv6 one/,
  ],
  [
    "a label on an IPv6 address key",
    "groups: { VI_1: { interface: lan0, addresses: { '2001:db8::1': { interface: eth1, label: 'eth1:v6' } } } }\n",
    /groups\.VI_1\.addresses\.2001:db8::1\.label: IPv6 addresses have no labels/,
  ],
  [
    "an IPv6 address key with a prefix",
    "groups: { VI_1: { interface: lan0, addresses: { '2001:db8::1/64': { interface: eth1 } } } }\n",
    /"2001:db8::1\/64": write the VIP address alone, without \/prefix/,
  ],
  [
    "an address's interface is checked as the group's",
    "groups: { VI_1: { interface: lan0, addresses: { 10.0.1.1: { interface: 'eth 1' } } } }\n",
    /groups\.VI_1\.addresses\.10\.0\.1\.1\.interface: must be a Linux interface name/,
  ],
  [
    "an address's scope is checked as the group's",
    "groups: { VI_1: { interface: lan0, addresses: { 10.0.1.1: { scope: universe } } } }\n",
    /groups\.VI_1\.addresses\.10\.0\.1\.1\.scope: must be one of "global", "host", "link", "site"/,
  ],
  [
    "an unknown field of an address",
    "groups: { VI_1: { interface: lan0, addresses: { 10.0.1.1: { dev: eth1 } } } }\n",
    /groups\.VI_1\.addresses\.10\.0\.1\.1: unknown field "dev"/,
  ],
  [
    "a group without interface and no default_interface (a group listed for its notify scripts alone too)",
    "groups: { VI_1: { notify: { master: [/m.sh] } } }\n",
    /groups\.VI_1\.interface: is required: name the interface carrying this group's VIPs, or set default_interface/,
  ],
];
for (const [name, yaml, problem] of refused) {
  test(`agent config refuses ${name}`, () => {
    const got = problems(yaml);
    assert.ok(
      got.some((p) => problem.test(p)),
      got.join("\n") || "accepted",
    );
  });
}

test("agent config: with default_interface a listed group may leave its interface out", () => {
  assert.deepEqual(problems("default_interface: lan9\ngroups: { VI_1: { notify: { master: [/m.sh] } } }\n"), []);
});
