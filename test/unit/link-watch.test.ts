import { test } from "node:test";
import assert from "node:assert/strict";
import { isLinkUp, parseLinks, parseMonitorLinkLine } from "../../agent/link/watch.js";

const lines: Array<[string, string, { interface: string; up: boolean } | undefined]> = [
  [
    "an admin-down veth is down",
    "2: kvA-h1-l@if3: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default ",
    { interface: "kvA-h1-l", up: false },
  ],
  [
    "a veth set up whose peer is down has no carrier",
    "2: kvA-h1-l@if3: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state DOWN group default ",
    { interface: "kvA-h1-l", up: false },
  ],
  [
    "a veth with carrier is up",
    "2: kvA-h1-l@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default ",
    { interface: "kvA-h1-l", up: true },
  ],
  [
    "a peer's loss of carrier shows as LOWERLAYERDOWN",
    "5: eth0.100@eth0: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN",
    { interface: "eth0.100", up: false },
  ],
  [
    "loopback reports UNKNOWN and is up by its flags",
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000",
    { interface: "lo", up: true },
  ],
  [
    "a deleted interface is down",
    "Deleted 2: kvA-h1-l@if3: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default ",
    { interface: "kvA-h1-l", up: false },
  ],
  ["continuation lines are ignored", "    link/ether fe:73:b7:df:40:d9 brd ff:ff:ff:ff:ff:ff link-netns kvA-sw", undefined],
  ["an empty line is ignored", "", undefined],
];
for (const [name, line, want] of lines) {
  test(name, () => {
    const s = parseMonitorLinkLine(line);
    assert.deepEqual(s === undefined ? undefined : { interface: s.interface, up: s.up }, want);
  });
}

const states: Array<[string, string[], string | undefined, boolean]> = [
  ["operstate UP is up", ["UP", "LOWER_UP"], "UP", true],
  ["operstate DOWN is down whatever the flags say", ["UP", "LOWER_UP"], "DOWN", false],
  ["operstate DORMANT is down", ["UP", "LOWER_UP"], "DORMANT", false],
  ["UNKNOWN without carrier is down", ["UP", "LOWER_UP", "NO-CARRIER"], "UNKNOWN", false],
  ["UNKNOWN without admin up is down", ["LOWER_UP"], "UNKNOWN", false],
];
for (const [name, flags, op, want] of states) test(name, () => assert.equal(isLinkUp(flags, op), want));

test("ip -json link output becomes state per interface", () => {
  const links = parseLinks(
    JSON.stringify([
      { ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], operstate: "UNKNOWN" },
      { ifname: "kvA-h1-l", flags: ["NO-CARRIER", "BROADCAST", "UP"], operstate: "LOWERLAYERDOWN" },
    ]),
  );
  assert.ok(typeof links !== "string");
  assert.deepEqual(
    [...links.values()].map((l) => [l.interface, l.up]),
    [
      ["lo", true],
      ["kvA-h1-l", false],
    ],
  );
  assert.match(links.get("kvA-h1-l")!.detail, /operstate LOWERLAYERDOWN/);
  assert.match(parseLinks("{") as string, /invalid JSON/);
});
