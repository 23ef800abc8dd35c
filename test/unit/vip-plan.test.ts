import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_GARP_SCHEDULE,
  addOutcome,
  delOutcome,
  garpOffsets,
  isPresent,
  parseAddresses,
  parseArpingReplies,
  parseLinkMac,
  planAddressAdd,
  planAddressDel,
  planAddressShow,
  planDuplicateProbe,
  planGarp,
  planNeighbourAdvert,
  planNeighbourSolicit,
  ipv6ForwardingKey,
  neighbourAnswer,
  parseNdisc6,
  vipAddressProblem,
  vipKey,
  type NeighbourAnswer,
  type VipBinding,
} from "../../agent/vip/plan.js";

const tools = { ip: "/usr/sbin/ip", arping: "/usr/bin/arping" };
const v4: VipBinding = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "eth0" };
const v6: VipBinding = { group: "VI_6", address: "2001:db8::100", prefix: 64, family: 6, interface: "eth0" };

const addCases: Array<[string, VipBinding, string[]]> = [
  ["a bare IPv4 VIP is added to its interface with its prefix", v4, ["/usr/sbin/ip", "addr", "add", "198.18.0.100/24", "dev", "eth0"]],
  ["a label is passed through for IPv4", { ...v4, label: "eth0:vip" }, ["/usr/sbin/ip", "addr", "add", "198.18.0.100/24", "dev", "eth0", "label", "eth0:vip"]],
  [
    "a scope follows the label",
    { ...v4, label: "eth0:vip", scope: "global" },
    ["/usr/sbin/ip", "addr", "add", "198.18.0.100/24", "dev", "eth0", "label", "eth0:vip", "scope", "global"],
  ],
  ["an IPv6 VIP skips duplicate address detection so it serves at once", v6, ["/usr/sbin/ip", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"]],
  ["IPv6 has no labels, so one is left out", { ...v6, label: "eth0:vip" }, ["/usr/sbin/ip", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"]],
];
for (const [name, b, argv] of addCases) test(name, () => assert.deepEqual(planAddressAdd(tools, b), argv));

test("delete, show and duplicate probe are plain argv lists", () => {
  assert.deepEqual(planAddressDel(tools, { ...v4, label: "eth0:vip" }), ["/usr/sbin/ip", "addr", "del", "198.18.0.100/24", "dev", "eth0"]);
  assert.deepEqual(planAddressShow(tools), ["/usr/sbin/ip", "-json", "addr", "show"]);
  assert.deepEqual(planAddressShow(tools, "eth0"), ["/usr/sbin/ip", "-json", "addr", "show", "dev", "eth0"]);
  assert.deepEqual(planDuplicateProbe(tools, "eth0", "198.18.0.100"), ["/usr/bin/arping", "-D", "-c", "1", "-w", "1", "-I", "eth0", "198.18.0.100"]);
});

test("a gratuitous ARP is one unsolicited request from the VIP", () => {
  assert.deepEqual(planGarp(tools, v4), { argv: ["/usr/bin/arping", "-U", "-c", "1", "-I", "eth0", "198.18.0.100"] });
});

test("an IPv6 VIP gets no gratuitous ARP: it is announced with neighbour advertisements", () => {
  const plan = planGarp(tools, v6);
  assert.ok("error" in plan);
  assert.match(plan.error, /2001:db8::100 is IPv6: it is announced with neighbour advertisements/);
});

const adverts: Array<[string, VipBinding, boolean, string[]]> = [
  [
    "a host: from and for the VIP, to all nodes, override only, the interface's MAC in the target link-layer option",
    v6,
    false,
    ["/usr/sbin/na6", "-i", "eth0", "-s", "2001:db8::100", "-d", "ff02::1", "-t", "2001:db8::100", "-o", "-e"],
  ],
  [
    "a router (IPv6 forwarding on): the router flag too",
    v6,
    true,
    ["/usr/sbin/na6", "-i", "eth0", "-s", "2001:db8::100", "-d", "ff02::1", "-t", "2001:db8::100", "-o", "-r", "-e"],
  ],
  [
    "a VLAN interface, the VIP as written",
    { ...v6, interface: "eth0.100", address: "2001:db8:0:1::1" },
    false,
    ["/usr/sbin/na6", "-i", "eth0.100", "-s", "2001:db8:0:1::1", "-d", "ff02::1", "-t", "2001:db8:0:1::1", "-o", "-e"],
  ],
];
for (const [name, b, router, argv] of adverts)
  test(`an unsolicited neighbour advertisement (na6): ${name}`, () => {
    const plan = planNeighbourAdvert("/usr/sbin/na6", b, router);
    assert.deepEqual(plan, argv);
    assert.ok(!plan.includes("-c"), "never the solicited flag");
  });

test("IPv6 forwarding is named with slashes, so a VLAN interface's dots stay part of its name", () => {
  assert.equal(ipv6ForwardingKey("eth0"), "net/ipv6/conf/eth0/forwarding");
  assert.equal(ipv6ForwardingKey("eth0.100"), "net/ipv6/conf/eth0.100/forwarding");
});

test("a neighbour solicitation asks once and waits whole milliseconds", () => {
  assert.deepEqual(planNeighbourSolicit("/usr/bin/ndisc6", "eth0", "2001:db8::100", 1000), [
    "/usr/bin/ndisc6",
    "-1",
    "-r",
    "1",
    "-w",
    "1000",
    "2001:db8::100",
    "eth0",
  ]);
  assert.equal(planNeighbourSolicit("/usr/bin/ndisc6", "eth0", "2001:db8::100", 0.4)[5], "1");
});

const OWN = "06:e7:f1:b1:1a:ea";
const answered = (mac: string) => `Soliciting 2001:2::100 (2001:2::100) on kv6tb...\nTarget link-layer address: ${mac}\n from 2001:2::100\n`;
const ndiscRuns: Array<[string, { exitCode: number; stdout: string; stderr: string }, NeighbourAnswer]> = [
  [
    "another host's MAC answering is another holder",
    { exitCode: 0, stdout: answered("16:9C:FB:EA:22:19"), stderr: "" },
    { kind: "others", macs: ["16:9c:fb:ea:22:19"] },
  ],
  ["our own MAC answering is nobody else", { exitCode: 0, stdout: answered("06:E7:F1:B1:1A:EA"), stderr: "" }, { kind: "own" }],
  [
    "ours and another (ndisc6 -m) is the other one",
    { exitCode: 0, stdout: `${answered("06:E7:F1:B1:1A:EA")}${answered("16:9C:FB:EA:22:19")}${answered("16:9c:fb:ea:22:19")}`, stderr: "" },
    { kind: "others", macs: ["16:9c:fb:ea:22:19"] },
  ],
  [
    "no answer (exit 2) is nobody",
    { exitCode: 2, stdout: "Soliciting 2001:2::99 (2001:2::99) on kv6tb...\nTimed out.\nNo response.\n", stderr: "" },
    { kind: "nobody" },
  ],
  [
    "a missing interface is an error",
    { exitCode: 1, stdout: "", stderr: "nosuch0: No such device\n" },
    { kind: "error", detail: "ndisc6 exited 1: nosuch0: No such device" },
  ],
  [
    "an interface without IPv6 is an error",
    { exitCode: 1, stdout: "Soliciting 2001:2::11 (2001:2::11) on lo...\n", stderr: "Sending ICMPv6 packet: Network is unreachable\n" },
    { kind: "error", detail: "ndisc6 exited 1: Sending ICMPv6 packet: Network is unreachable" },
  ],
];
for (const [name, r, want] of ndiscRuns) test(`ndisc6: ${name}`, () => assert.deepEqual(neighbourAnswer(r, OWN), want));

test("ndisc6's answers are read with their MACs in lower case; without our MAC known every answer is another host", () => {
  assert.deepEqual(parseNdisc6(answered("16:9C:FB:EA:22:19")), ["16:9c:fb:ea:22:19"]);
  assert.deepEqual(parseNdisc6("Timed out.\nNo response.\n"), []);
  assert.deepEqual(neighbourAnswer({ exitCode: 0, stdout: answered(OWN), stderr: "" }), { kind: "others", macs: [OWN] });
});

const ipJson = JSON.stringify([
  {
    ifindex: 1,
    ifname: "lo",
    addr_info: [
      { family: "inet", local: "127.0.0.1", prefixlen: 8, label: "lo" },
      { family: "inet6", local: "::1", prefixlen: 128 },
    ],
  },
  {
    ifindex: 2,
    ifname: "eth0",
    addr_info: [
      { family: "inet", local: "198.18.0.11", prefixlen: 24, label: "eth0" },
      { family: "inet", local: "198.18.0.100", prefixlen: 24, label: "eth0:vip" },
      { family: "inet6", local: "2001:db8:0:0::100", prefixlen: 64 },
    ],
  },
  { ifindex: 3, ifname: "eth1" },
]);

test("ip -json addr output becomes the addresses of each interface", () => {
  const addrs = parseAddresses(ipJson);
  assert.ok(typeof addrs !== "string");
  assert.deepEqual([...addrs.keys()], ["lo", "eth0", "eth1"]);
  assert.deepEqual(addrs.get("eth0")?.[1], { address: "198.18.0.100", prefix: 24, family: 4, label: "eth0:vip" });
  assert.deepEqual(addrs.get("eth1"), []);
});

const flagged = JSON.stringify([
  {
    ifname: "eth0",
    addr_info: [
      { family: "inet6", local: "2001:db8::100", prefixlen: 64, scope: "global", nodad: true },
      { family: "inet6", local: "2001:db8::101", prefixlen: 64, scope: "global", tentative: true },
      { family: "inet6", local: "2001:db8::102", prefixlen: 64, scope: "global", dadfailed: true, tentative: true },
    ],
  },
]);

test("ip -json addr's tentative and dadfailed flags are kept, and only when set", () => {
  const addrs = parseAddresses(flagged);
  assert.ok(typeof addrs !== "string");
  assert.deepEqual(addrs.get("eth0"), [
    { address: "2001:db8::100", prefix: 64, family: 6 },
    { address: "2001:db8::101", prefix: 64, family: 6, tentative: true },
    { address: "2001:db8::102", prefix: 64, family: 6, tentative: true, dadfailed: true },
  ]);
});

const problems: Array<[string, VipBinding, RegExp | undefined]> = [
  ["an address added with nodad serves", v6, undefined],
  ["in another spelling too", { ...v6, address: "2001:DB8:0::100" }, undefined],
  ["a tentative one does not yet", { ...v6, address: "2001:db8::101" }, /2001:db8::101\/64 on eth0 is tentative: the kernel does not use it yet/],
  [
    "a dadfailed one never will",
    { ...v6, address: "2001:db8::102" },
    /2001:db8::102\/64 on eth0 is dadfailed: duplicate address detection found another host with it.*ip addr del 2001:db8::102\/64 dev eth0/,
  ],
  ["one missing after the add is named", { ...v6, prefix: 128 }, /2001:db8::100\/128 is not on eth0 after ip addr add/],
];
for (const [name, b, want] of problems) {
  test(`an IPv6 VIP after its add: ${name}`, () => {
    const addrs = parseAddresses(flagged);
    assert.ok(typeof addrs !== "string");
    const problem = vipAddressProblem(addrs, b);
    if (want === undefined) assert.equal(problem, undefined);
    else assert.match(problem ?? "", want);
  });
}

test("empty output is no interfaces, and garbage is explained", () => {
  assert.deepEqual(parseAddresses(""), new Map());
  assert.match(parseAddresses("not json") as string, /invalid JSON/);
  assert.match(parseAddresses("{}") as string, /not print a JSON array/);
});

const presence: Array<[string, VipBinding, boolean]> = [
  ["a VIP on its interface with its prefix is present", v4, true],
  ["the same address on another interface is not", { ...v4, interface: "eth1" }, false],
  ["the same address with another prefix is not", { ...v4, prefix: 32 }, false],
  ["an IPv6 VIP matches in any spelling", { ...v6, address: "2001:DB8::100" }, true],
  ["an interface that does not exist holds nothing", { ...v4, interface: "nope0" }, false],
];
for (const [name, b, want] of presence) {
  test(name, () => {
    const addrs = parseAddresses(ipJson);
    assert.ok(typeof addrs !== "string");
    assert.equal(isPresent(addrs, b), want);
  });
}

const outcomes: Array<[string, { exitCode: number; stderr: string }, string, string]> = [
  ["a clean add is added", { exitCode: 0, stderr: "" }, "added", "removed"],
  ["old iproute2's File exists means already there", { exitCode: 2, stderr: "RTNETLINK answers: File exists" }, "already-present", "failed"],
  ["iproute2 6's already assigned means already there", { exitCode: 2, stderr: "Error: ipv4: Address already assigned." }, "already-present", "failed"],
  ["Address not found on delete means already gone", { exitCode: 2, stderr: "Error: ipv4: Address not found." }, "failed", "already-absent"],
  [
    "Cannot assign requested address on delete means already gone",
    { exitCode: 2, stderr: "RTNETLINK answers: Cannot assign requested address" },
    "failed",
    "already-absent",
  ],
  ["a missing device is a failure both ways", { exitCode: 1, stderr: 'Cannot find device "eth9"' }, "failed", "failed"],
];
for (const [name, r, add, del] of outcomes) {
  test(name, () => {
    assert.equal(addOutcome(r), add);
    assert.equal(delOutcome(r), del);
  });
}

test("arping replies are read with their MACs in lower case", () => {
  const out =
    "ARPING 198.18.0.100 from 0.0.0.0 eth0\nUnicast reply from 198.18.0.100 [3E:D1:5E:A4:94:5D]  0.527ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n";
  assert.deepEqual(parseArpingReplies(out), [{ address: "198.18.0.100", mac: "3e:d1:5e:a4:94:5d" }]);
  assert.deepEqual(parseArpingReplies("Sent 1 probes (1 broadcast(s))\nReceived 0 response(s)\n"), []);
});

test("the interface's MAC is read from ip -json link", () => {
  assert.equal(parseLinkMac('[{"ifname":"eth0","address":"FE:73:B7:DF:40:D9"}]'), "fe:73:b7:df:40:d9");
  assert.equal(parseLinkMac("[]"), undefined);
  assert.equal(parseLinkMac("nonsense"), undefined);
});

const schedules: Array<[string, boolean, Partial<typeof DEFAULT_GARP_SCHEDULE>, number[]]> = [
  ["a normal acquire announces at once and backs off", false, {}, [0, 100, 300, 700]],
  ["a takeover announces twice as densely over a second", true, {}, [0, 50, 100, 200, 300, 500, 700, 1000]],
  ["a schedule without 0 still sends the first at once", false, { burstMs: [200, 100] }, [0, 100, 200]],
  ["negative, duplicate and non-finite offsets are dropped", false, { burstMs: [0, -5, 100, 100, Number.NaN] }, [0, 100]],
];
for (const [name, takeover, over, want] of schedules) {
  test(name, () => assert.deepEqual(garpOffsets({ ...DEFAULT_GARP_SCHEDULE, ...over }, takeover), want));
}

test("a binding's key is its interface, address and prefix, not its group or label", () => {
  const relabelled: VipBinding = { ...v4, group: "other", label: "eth0:x" };
  assert.equal(vipKey(v4), vipKey(relabelled));
  assert.notEqual(vipKey(v4), vipKey({ ...v4, interface: "eth1" }));
});
