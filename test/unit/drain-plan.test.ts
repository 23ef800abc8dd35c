import { test } from "node:test";
import assert from "node:assert/strict";
import {
  drainSummary,
  drainTable,
  forwardTable,
  parseConnections,
  parseOurTables,
  planConnections,
  planDrainAdd,
  planDrainRuleset,
  planForwardRuleset,
  planRemoveTable,
  planWhoHas,
} from "../../agent/vip/drain-plan.js";
import type { VipBinding } from "../../agent/vip/plan.js";

const tools = { nft: "/usr/sbin/nft", ip: "/usr/sbin/ip", ss: "/usr/bin/ss", arping: "/usr/bin/arping" };
const vip: VipBinding = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "lan0" };
const own = "02:00:00:00:00:12";
const peer = "02:00:00:00:00:11";

test("forward ruleset: replaces any earlier table, hooks the VIP's interface, never sends back what came from the old holder", () => {
  const s = planForwardRuleset(vip, { ownMac: own, peerMac: peer, mine: [], holdMs: 90_000 });
  const lines = s.split("\n").map((l) => l.trim());
  assert.deepEqual(lines.slice(0, 3), [
    "table netdev keepvip_fwd_198_18_0_100 {}",
    "delete table netdev keepvip_fwd_198_18_0_100",
    "table netdev keepvip_fwd_198_18_0_100 {",
  ]);
  assert.ok(lines.includes('type filter hook ingress device "lan0" priority -150; policy accept;'));
  assert.ok(lines.includes("ip daddr 198.18.0.100 meta l4proto tcp jump flows"));
  assert.ok(lines.includes("timeout 90s"));
  // Order matters: the old holder's own frames first, then SYNs (new flows stay here), then known flows, then forward.
  const flows = lines.slice(lines.indexOf("chain flows {") + 1, lines.indexOf("chain flows {") + 5);
  assert.deepEqual(flows, [
    `ether saddr ${peer} accept`,
    "tcp flags & (syn | ack) == syn update @mine { ip saddr . tcp sport } accept",
    "ip saddr . tcp sport @mine update @mine { ip saddr . tcp sport } accept",
    `counter ether saddr set ${own} ether daddr set ${peer} fwd to "lan0"`,
  ]);
  assert.ok(!s.includes("elements"), "no seed: no elements line");
});

test("forward ruleset: the flows this host already serves are seeded (a move back to a node still draining keeps them)", () => {
  const s = planForwardRuleset(vip, {
    ownMac: own,
    peerMac: peer,
    mine: [
      { address: "198.18.0.50", port: 40000 },
      { address: "198.18.0.51", port: 0 },
    ],
    holdMs: 1,
  });
  assert.match(s, /elements = \{ 198\.18\.0\.50 \. 40000 \}/);
  assert.match(s, /timeout 1s/, "at least a second");
});

test("forward ruleset: what cannot go into a rule is refused, naming it", () => {
  assert.throws(() => planForwardRuleset(vip, { ownMac: "nope", peerMac: peer, mine: [], holdMs: 1000 }), /own MAC "nope" is not a MAC address/);
  assert.throws(() => planForwardRuleset(vip, { ownMac: own, peerMac: "02:00:00:00:00", mine: [], holdMs: 1000 }), /old holder's MAC/);
  assert.throws(
    () => planForwardRuleset({ ...vip, interface: 'lan0"; flush ruleset; "' }, { ownMac: own, peerMac: peer, mine: [], holdMs: 1000 }),
    /interface name/,
  );
  assert.throws(() => planForwardRuleset({ ...vip, address: "198.18.0.300" }, { ownMac: own, peerMac: peer, mine: [], holdMs: 1000 }), /not an IPv4 address/);
  assert.throws(
    () => planForwardRuleset(vip, { ownMac: own, peerMac: peer, mine: [{ address: "1.2.3.4 } ; flush ruleset", port: 1 }], holdMs: 1000 }),
    /not an IPv4 address/,
  );
});

test("drain ruleset: no answer to ARP requests for the VIP; the interface's own address as the sender of its own requests", () => {
  const s = planDrainRuleset("198.18.0.100", "198.18.0.11");
  assert.match(s, /^table arp keepvip_drain_198_18_0_100 \{\}\ndelete table arp keepvip_drain_198_18_0_100\n/);
  assert.match(s, /type filter hook input priority 0; policy accept;\n\s+arp operation request arp daddr ip 198\.18\.0\.100 drop/);
  assert.match(s, /type filter hook output priority 0; policy accept;\n\s+arp saddr ip 198\.18\.0\.100 arp saddr ip set 198\.18\.0\.11/);
  assert.throws(() => planDrainRuleset("198.18.0.100", "lan0"), /"lan0" is not an IPv4 address/);
});

test("table names and removal: one table per VIP, removed without failing when absent", () => {
  assert.equal(forwardTable("198.18.0.100"), "keepvip_fwd_198_18_0_100");
  assert.equal(drainTable("198.18.0.100"), "keepvip_drain_198_18_0_100");
  assert.equal(planRemoveTable("arp", "keepvip_drain_x"), "table arp keepvip_drain_x {}\ndelete table arp keepvip_drain_x\n");
});

test("our tables among nft -j list tables: only keepvip's forward and drain tables of the netdev and arp families", () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { table: { family: "netdev", name: "keepvip_fwd_198_18_0_100", handle: 1 } },
      { table: { family: "arp", name: "keepvip_drain_198_18_0_100", handle: 2 } },
      { table: { family: "inet", name: "filter", handle: 3 } },
      { table: { family: "inet", name: "keepvip_fwd_x", handle: 4 } },
      { table: { family: "netdev", name: "someone_elses", handle: 5 } },
    ],
  });
  assert.deepEqual(parseOurTables(json), [
    { family: "netdev", name: "keepvip_fwd_198_18_0_100" },
    { family: "arp", name: "keepvip_drain_198_18_0_100" },
  ]);
  assert.deepEqual(parseOurTables("not json"), []);
  assert.deepEqual(parseOurTables("{}"), []);
});

test("connections on the VIP: ss argv, and the live peers of its lines (IPv4, mapped; half-open, dead and odd lines skipped)", () => {
  assert.deepEqual(planConnections(tools, "198.18.0.100"), ["/usr/bin/ss", "-Htno", "state", "connected", "exclude", "time-wait", "src", "198.18.0.100"]);
  const out = [
    "ESTAB      0      0      198.18.0.100:80    198.18.0.50:41234",
    "FIN-WAIT-2 0      0      198.18.0.100:80    198.18.0.50:41236 timer:(timewait,59sec,0)",
    "ESTAB 0 0 [::ffff:198.18.0.100]:80 [::ffff:198.18.0.51]:5000 timer:(keepalive,10sec,0)",
    "ESTAB 0 0 198.18.0.100:80 198.18.0.52:6000 timer:(on,400ms,2)",
    // The new holder's own probe caught at the flip: its answer is never acknowledged.
    "ESTAB 0 1460 198.18.0.100:10016 198.18.0.12:33000 timer:(on,1.6sec,3)",
    "SYN-RECV 0 0 198.18.0.100:80 198.18.0.53:7000 timer:(on,1sec,1)",
    "garbage",
    "",
  ].join("\n");
  assert.deepEqual(parseConnections(out), [
    { address: "198.18.0.50", port: 41234 },
    { address: "198.18.0.50", port: 41236 },
    { address: "198.18.0.51", port: 5000 },
    { address: "198.18.0.52", port: 6000 },
  ]);
});

test("who answers for the VIP, and the drain's local copy on lo", () => {
  assert.deepEqual(planWhoHas(tools, "lan0", "198.18.0.100"), ["/usr/bin/arping", "-c", "1", "-w", "1", "-I", "lan0", "198.18.0.100"]);
  assert.deepEqual(planDrainAdd(tools, "198.18.0.100"), ["/usr/sbin/ip", "addr", "add", "198.18.0.100/32", "dev", "lo", "label", "lo:kvdrain"]);
});

test("drain summary: ended on its own, or cut by the timeout with the count", () => {
  assert.equal(
    drainSummary("VI_1", "198.18.0.100", { elapsedMs: 1530, left: 0, timedOut: false }),
    "VI_1: 198.18.0.100 drained in 1.5 s (every connection ended on its own)",
  );
  assert.equal(
    drainSummary("VI_1", "198.18.0.100", { elapsedMs: 30_000, left: 1, timedOut: true }),
    "VI_1: 198.18.0.100 drain timed out after 30.0 s with 1 connection still open (cut)",
  );
});
