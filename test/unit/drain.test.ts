/** The Drainer's sequence over a fake runner: what runs, in which order, and what it reports. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Drainer, type DrainEvent } from "../../agent/vip/drain.js";
import type { VipBinding } from "../../agent/vip/plan.js";
import { FakeRunner, type FakeReply } from "../support/fake-runner.js";
import { DRAIN_HOLD_MARGIN_MS, forwardTable, planRemoveTable } from "../../agent/vip/drain-plan.js";
import { DEFAULT_GARP } from "../../shared/protocol.js";
import { vipPort } from "../../agent/wiring.js";
import { VipController } from "../../agent/vip/controller.js";

const tools = { nft: "nft", ip: "ip", ss: "ss", arping: "arping", ndisc6: "ndisc6" };
const vip: VipBinding = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "lan0" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ss answers from a list, one per count; everything else succeeds. */
function rig(counts: string[][], extra: (argv: string[]) => FakeReply | undefined = () => undefined) {
  let n = 0;
  const runner = new FakeRunner({
    reply: (argv) => {
      const e = extra(argv);
      if (e) return e;
      if (argv[0] === "ss") {
        const peers = counts[Math.min(n++, counts.length - 1)];
        return { stdout: peers.map((p) => `ESTAB 0 0 198.18.0.100:10016 ${p}`).join("\n") };
      }
      return {};
    },
  });
  const events: DrainEvent[] = [];
  let changes = 0;
  const drainer = new Drainer({
    runner,
    tools,
    macOf: async () => "02:00:00:00:00:11",
    sourceOf: async () => "198.18.0.11",
    pollMs: 5,
    onEvent: (e) => events.push(e),
    onChange: () => changes++,
  });
  const line = (argv: string[]) => (argv[0] === "nft" ? `nft ${argv.slice(1).join(" ")}` : argv.join(" "));
  return { runner, drainer, events, changes: () => changes, lines: () => runner.argvs.map(line) };
}

test("a drain: the ARP filter and the copy on lo go in before anything is counted; it ends when the last client flow ends, and takes both away", async () => {
  const r = rig([["198.18.0.50:40000", "198.18.0.50:40002"], ["198.18.0.50:40002"], []]);
  assert.equal(await r.drainer.startDrain(vip, 30_000), true);
  assert.deepEqual(r.lines(), ["nft -f -", "ip addr add 198.18.0.100/32 dev lo label lo:kvdrain"], "two programs before the VIP may leave the LAN");
  assert.match(String(r.runner.calls[0].options.input), /table arp keepvip_drain_198_18_0_100/);
  for (let i = 0; i < 100 && r.events.length < 2; i++) await sleep(5);
  assert.deepEqual(
    r.events.map((e) => [e.kind, e.detail]),
    [
      ["drain-started", "VI_1: 198.18.0.100 drains 2 connections (at most 30 s)"],
      ["drain-ended", r.events[1]?.detail],
    ],
  );
  assert.match(r.events[1].detail, /drained in \d+\.\d s \(every connection ended on its own\)/);
  assert.deepEqual(r.lines().slice(-2), ["ip addr del 198.18.0.100/32 dev lo", "nft -f -"]);
  assert.match(String(r.runner.calls.at(-1)?.options.input), /delete table arp keepvip_drain_198_18_0_100/);
  assert.deepEqual(r.drainer.status(), []);
  assert.ok(r.changes() >= 2, "reported when it started, changed and ended");
});

test("a drain of nothing (no client flow, only this host's own probes through the VIP) ends quietly: no event, no report", async () => {
  const r = rig([["198.18.0.11:50000", "198.18.0.100:50002", "127.0.0.1:1"]]);
  assert.equal(await r.drainer.startDrain(vip, 30_000), true);
  for (let i = 0; i < 100 && r.lines().at(-1) !== "nft -f -"; i++) await sleep(5);
  await sleep(20);
  assert.deepEqual(r.events, []);
  assert.equal(r.changes(), 0);
  assert.ok(r.lines().includes("ip addr del 198.18.0.100/32 dev lo"), "the copy on lo is gone");
});

test("a drain does not wait for the group's members' probes: the new holder routes the VIP to itself, so its half-open probe here never ends", async () => {
  // 198.18.0.12 is a member (its agent probed the service through the VIP); 198.18.0.50 a client.
  const r = rig([["198.18.0.12:41000", "198.18.0.50:40000"], ["198.18.0.12:41000"]]);
  assert.equal(await r.drainer.startDrain(vip, 30_000, ["198.18.0.11", "198.18.0.12"]), true);
  for (let i = 0; i < 100 && r.events.length < 2; i++) await sleep(5);
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ["drain-started", "drain-ended"],
  );
  assert.equal(r.events[0].detail, "VI_1: 198.18.0.100 drains 1 connection (at most 30 s)");
  assert.match(r.events[1].detail, /every connection ended on its own/);
});

test("a drain cut by its timeout says how many connections it cut", async () => {
  const r = rig([["198.18.0.50:40000"]]);
  await r.drainer.startDrain(vip, 30);
  for (let i = 0; i < 200 && r.events.length < 2; i++) await sleep(5);
  assert.equal(r.events[1]?.kind, "drain-ended");
  assert.match(r.events[1].detail, /timed out after \d+\.\d s with 1 connection still open \(cut\)/);
});

test("a refused ARP filter means no drain (the release goes on as before), nothing left behind", async () => {
  const r = rig([["198.18.0.50:40000"]], (argv) => (argv[0] === "nft" ? { exitCode: 1, stderr: "Error: Could not process rule" } : undefined));
  assert.equal(await r.drainer.startDrain(vip, 30_000), false);
  assert.deepEqual(r.lines(), ["nft -f -"]);
  assert.deepEqual(r.drainer.status(), []);
});

test("forwarding: asks the LAN who answers for the VIP, seeds this host's flows, installs the table; nothing answers = nothing to forward", async () => {
  const r = rig([["198.18.0.50:40000"]], (argv) =>
    argv[0] === "arping" ? { stdout: "Unicast reply from 198.18.0.100 [02:00:00:00:00:12]  0.700ms\n" } : undefined,
  );
  await r.drainer.forward(vip, 30_000);
  assert.deepEqual(r.lines(), ["arping -c 1 -w 1 -I lan0 198.18.0.100", "ss -Htno state connected exclude time-wait src 198.18.0.100", "nft -f -"]);
  const script = String(r.runner.calls[2].options.input);
  assert.match(script, /ether saddr set 02:00:00:00:00:11 ether daddr set 02:00:00:00:00:12 fwd to "lan0"/);
  assert.match(script, /elements = \{ 198\.18\.0\.50 \. 40000 \}/);
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ["forward-started"],
  );
  await r.drainer.close();
  assert.match(String(r.runner.calls.at(-1)?.options.input), /delete table netdev keepvip_fwd_198_18_0_100/);

  const quiet = rig([[]]);
  await quiet.drainer.forward(vip, 30_000);
  assert.deepEqual(quiet.lines(), ["arping -c 1 -w 1 -I lan0 198.18.0.100"], "no reply: no table");
  assert.deepEqual(quiet.events, []);
});

const vip6: VipBinding = { group: "VI_1", address: "2001:db8::100", prefix: 64, family: 6, interface: "lan0" };

test("an IPv6 VIP drains on lo as a /128 (no filter: the kernel answers solicitations only for the receiving interface) and ends when its flows end", async () => {
  const r = rig([["[2001:db8::50]:40000", "[2001:db8::12]:41000"], ["[2001:db8::12]:41000"]]);
  assert.equal(await r.drainer.startDrain(vip6, 30_000, ["2001:db8::12"]), true);
  assert.deepEqual(r.lines(), ["ip -6 addr add 2001:db8::100/128 dev lo nodad"], "one program before the VIP may leave the LAN, no ARP filter");
  for (let i = 0; i < 100 && r.events.length < 2; i++) await sleep(5);
  assert.deepEqual(
    r.events.map((e) => [e.kind, e.detail.split(" (")[0]]),
    [
      ["drain-started", "VI_1: 2001:db8::100 drains 1 connection"],
      ["drain-ended", r.events[1]?.detail.split(" (")[0]],
    ],
    "a member's probe (2001:db8::12) is not waited for",
  );
  assert.ok(r.lines().includes("ss -Htno state connected exclude time-wait src 2001:db8::100"));
  assert.equal(r.lines().at(-1), "ip -6 addr del 2001:db8::100/128 dev lo");
  assert.ok(!r.lines().some((l) => l.startsWith("nft")), "no nftables for an IPv6 drain");
});

test("an IPv6 planned acquire forwards the flows it does not know to whoever ndisc6 says answers (ip6 rules)", async () => {
  const r = rig([[]], (argv) =>
    argv[0] === "ndisc6"
      ? { stdout: "Soliciting 2001:db8::100 (2001:db8::100) on lan0...\nTarget link-layer address: 02:00:00:00:00:12\n from 2001:db8::12\n" }
      : undefined,
  );
  await r.drainer.forward(vip6, 30_000);
  assert.deepEqual(r.lines(), ["ndisc6 -1 -r 1 -w 1000 2001:db8::100 lan0", "ss -Htno state connected exclude time-wait src 2001:db8::100", "nft -f -"]);
  const script = String(r.runner.calls.at(-1)?.options.input);
  assert.match(script, /type ipv6_addr \. inet_service/);
  assert.match(script, /ip6 daddr 2001:db8::100 meta l4proto tcp jump flows/);
  assert.match(script, /ether daddr set 02:00:00:00:00:12 fwd to "lan0"/);
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ["forward-started"],
  );
  await r.drainer.close();
});

test("a dual-stack group's planned release drains both VIPs; its planned acquire forwards both", async () => {
  const r = rig([["198.18.0.50:40000"], []], (argv) =>
    argv[0] === "arping"
      ? { stdout: "Unicast reply from 198.18.0.100 [02:00:00:00:00:12]  0.700ms\n" }
      : argv[0] === "ndisc6"
        ? { stdout: "Target link-layer address: 02:00:00:00:00:12\n" }
        : undefined,
  );
  const released: VipBinding[][] = [];
  const acquired: VipBinding[][] = [];
  const controller = {
    quiet: async () => {},
    burstSpanMs: () => 700,
    release: async (vips: VipBinding[]) => {
      released.push(vips);
      return vips.map((binding) => ({ binding, outcome: "removed", present: false, detail: "" }));
    },
    acquire: async (vips: VipBinding[]) => {
      acquired.push(vips);
      return vips.map((binding) => ({ binding, outcome: "added", present: true, detail: "" }));
    },
  } as unknown as VipController;
  const port = vipPort(controller, r.drainer);
  await port.release([vip, vip6], { drainMs: 30_000, members: [] });
  assert.deepEqual(released, [[vip, vip6]], "both leave the LAN interface");
  assert.deepEqual(
    r.lines().slice(0, 3).sort(),
    ["ip -6 addr add 2001:db8::100/128 dev lo nodad", "ip addr add 198.18.0.100/32 dev lo label lo:kvdrain", "nft -f -"],
    "both go to lo first (the IPv4 one behind the ARP filter), side by side",
  );
  assert.ok(r.lines().indexOf("nft -f -") < r.lines().indexOf("ip addr add 198.18.0.100/32 dev lo label lo:kvdrain"), "the ARP filter before the IPv4 copy");
  await r.drainer.close();
  const before = r.lines().length;
  const r2 = rig([[]], (argv) =>
    argv[0] === "arping"
      ? { stdout: "Unicast reply from 198.18.0.100 [02:00:00:00:00:12]  0.700ms\n" }
      : argv[0] === "ndisc6"
        ? { stdout: "Target link-layer address: 02:00:00:00:00:12\n" }
        : undefined,
  );
  const port2 = vipPort(controller, r2.drainer);
  await port2.acquire([vip, vip6], { takeover: false, garp: { offsetsMs: [], refreshMs: 0 }, forwardMs: 30_000 });
  assert.ok(before > 0);
  assert.deepEqual(acquired, [[vip, vip6]]);
  assert.deepEqual(
    r2.events.map((e) => [e.kind, e.address]),
    [
      ["forward-started", "198.18.0.100"],
      ["forward-started", "2001:db8::100"],
    ],
    "the old holder's flows are forwarded for both VIPs",
  );
  await r2.drainer.close();
});

test("a planned release falls silent before anything else and keeps this host's forwarding for its window; a release without a drain ends it", async () => {
  const answers = (argv: string[]) => (argv[0] === "arping" ? { stdout: "Unicast reply from 198.18.0.100 [02:00:00:00:00:12]  0.700ms\n" } : undefined);
  const steps: string[] = [];
  const controller = {
    burstSpanMs: () => 700,
    quiet: async (vips: VipBinding[]) => {
      steps.push(`quiet ${vips.map((v) => v.address).join(",")}`);
    },
    release: async (vips: VipBinding[]) => {
      steps.push("release");
      return vips.map((binding) => ({ binding, outcome: "removed", present: false, detail: "" }));
    },
    acquire: async (vips: VipBinding[]) => vips.map((binding) => ({ binding, outcome: "added", present: true, detail: "" })),
  } as unknown as VipController;
  const removesForward = (r: ReturnType<typeof rig>) => r.runner.calls.some((c) => c.options.input === planRemoveTable("netdev", forwardTable(vip.address)));
  const r = rig([["198.18.0.50:40000"], []], answers);
  const port = vipPort(controller, r.drainer);
  await port.acquire([vip], { takeover: false, garp: { offsetsMs: [], refreshMs: 0 }, forwardMs: 30_000 });
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ["forward-started"],
  );
  const before = r.runner.calls.length;
  await port.release([vip], { drainMs: 30_000, members: [] });
  assert.equal(steps[0], "quiet 198.18.0.100", "no announcement of this host after the release begins");
  assert.equal(r.runner.calls.length > before, true, "the drain was set up");
  assert.equal(steps.indexOf("quiet 198.18.0.100") < steps.indexOf("release"), true);
  assert.equal(removesForward(r), false, "the flows this host does not know still go to their owner while it drains");
  // Taken over again (the other node died): nothing is forwarded to it any more.
  await port.acquire([vip], { takeover: true, garp: { offsetsMs: [], refreshMs: 0 } });
  assert.equal(removesForward(r), true, "a takeover ends the forwarding the release kept");
  await r.drainer.close();

  const r2 = rig([[]], answers);
  const port2 = vipPort(controller, r2.drainer);
  await port2.acquire([vip], { takeover: false, garp: { offsetsMs: [], refreshMs: 0 }, forwardMs: 30_000 });
  steps.length = 0;
  await port2.release([vip], { drainMs: 0, members: [] });
  assert.deepEqual(steps, ["quiet 198.18.0.100", "release"]);
  assert.equal(removesForward(r2), true, "a release without a drain (a FAULT) lets go of everything at once");
  await r2.drainer.close();
});

test("a drain stays on lo at least its minimum hold, connections or not: a client turned back here meanwhile is served, then drained", async () => {
  const r = rig([[], [], ["198.18.0.50:40000"], []]);
  const t0 = Date.now();
  assert.equal(await r.drainer.startDrain(vip, 30_000, [], 60), true);
  for (let i = 0; i < 100 && r.events.length < 2; i++) await sleep(5);
  assert.deepEqual(
    r.events.map((e) => e.kind),
    ["drain-started", "drain-ended"],
    "the flow that came during the hold was drained",
  );
  assert.ok(Date.now() - t0 >= 60, "not let go before the hold");

  const quiet = rig([[]]);
  const q0 = Date.now();
  await quiet.drainer.startDrain(vip, 30_000, [], 40);
  await sleep(20);
  assert.deepEqual(quiet.drainer.localGroups(), ["VI_1"], "nothing to drain, still local during the hold");
  for (let i = 0; i < 100 && quiet.drainer.localGroups().length > 0; i++) await sleep(5);
  assert.deepEqual(quiet.drainer.localGroups(), []);
  assert.ok(Date.now() - q0 >= 40);
  assert.deepEqual(quiet.events, [], "a drain of nothing still ends quietly");
  assert.equal(quiet.lines().at(-2), "ip addr del 198.18.0.100/32 dev lo");
});

test("a planned release holds the VIP on lo for the new holder's announcement burst plus a margin, never past the drain timeout", async () => {
  const holds: number[] = [];
  const drainer = {
    startDrain: async (_b: VipBinding, _t: number, _m: readonly string[], hold: number) => {
      holds.push(hold);
      return true;
    },
    unforward: async () => {},
  } as unknown as Drainer;
  // The real controller: the hold follows the GARP schedule it was given.
  const controller = new VipController({ runner: new FakeRunner({ reply: () => ({}) }), tools: { ip: "ip", arping: "arping" }, pollMs: 0 });
  const port = vipPort(controller, drainer);
  await port.release([vip], { drainMs: 30_000 });
  port.setGarp({ offsetsMs: [0, 100, 300, 1500], refreshMs: 0 });
  await port.release([vip], { drainMs: 30_000 });
  await port.release([vip], { drainMs: 1000 });
  assert.deepEqual(holds, [Math.max(...DEFAULT_GARP.burstMs) + DRAIN_HOLD_MARGIN_MS, 1500 + DRAIN_HOLD_MARGIN_MS, 1000]);
});

test("a drain keeps its group local here, reported or not, until its removal begins: what the deletion cuts is this host's own move", async () => {
  let localAtDelete: string[] | undefined;
  let drainer: Drainer | undefined;
  // Only this host's own probe: a drain that is never reported (status() stays empty).
  const r = rig([["198.18.0.11:50000"]], (argv) => {
    if (argv.join(" ") === "ip addr del 198.18.0.100/32 dev lo") localAtDelete = drainer?.localGroups();
    return undefined;
  });
  drainer = r.drainer;
  assert.equal(await r.drainer.startDrain(vip, 30_000), true);
  assert.deepEqual(r.drainer.localGroups(), ["VI_1"], "the VIP is on lo: local here");
  assert.deepEqual(r.drainer.status(), [], "a drain of this host's own probes is not reported");
  for (let i = 0; i < 100 && localAtDelete === undefined; i++) await sleep(5);
  assert.deepEqual(localAtDelete, [], "no longer local once the deletion begins");
  assert.deepEqual(r.drainer.localGroups(), []);
});
