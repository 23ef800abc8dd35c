/**
 * IPv6 VIPs on real interfaces: two namespaces, kv6t-a (the holder, running the
 * real VipController through `ip netns exec`) and kv6t-b (a neighbour running
 * tcpdump), joined by one veth, on 2001:2::/64. What goes on the wire when
 * kv6t-a takes over 2001:2::100: na6's unsolicited neighbour advertisements,
 * from and for the VIP, with the override flag, to ff02::1, hop limit 255,
 * kv6t-a's MAC as the frame's source and in the target link-layer option, one
 * per tick of the takeover schedule, and the router flag once kv6t-a forwards
 * IPv6 (docs/design.md, Announcing IPv6 VIPs). kv6t-a's static neighbour
 * entries, IPv4 and IPv6, survive the announcements. Also: the address serves
 * (not tentative), a dadfailed one is refused, the takeover is confirmed (or
 * not) with ndisc6, and release removes the VIP.
 *
 * Nothing touches the root namespace: the veth ends are created straight into
 * the two namespaces; every process started here is kept by pid and ended by it.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { ndisc6Prober } from "../../agent/probe/verify.js";
import { VipController, type VipEvent } from "../../agent/vip/controller.js";
import { DEFAULT_GARP_SCHEDULE, garpOffsets, type VipBinding } from "../../agent/vip/plan.js";
import { runnerSysctl } from "../../agent/vip/sysctl.js";
import { createCommandRunner, type RunningProcess } from "../../shared/exec/runner.js";
import { ARPING, IP, nsRunner, requireRoot, sh } from "./helpers/netns-kvA.js";
import { waitFor } from "../support/wait.js";

const NS = { a: "kv6t-a", b: "kv6t-b" } as const;
const IF = { a: "kv6ta", b: "kv6tb" } as const;
const ADDR = { a: "2001:2::11", b: "2001:2::12", vip: "2001:2::100", dad: "2001:2::200" } as const;
const TCPDUMP = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].find((p) => existsSync(p));
const NDISC6 = ["/usr/bin/ndisc6", "/usr/sbin/ndisc6"].find((p) => existsSync(p));
const NA6 = ["/usr/sbin/na6", "/usr/bin/na6"].find((p) => existsSync(p));
const SYSCTL = ["/usr/sbin/sysctl", "/sbin/sysctl", "/usr/bin/sysctl"].find((p) => existsSync(p));
const TIMEOUT = ["/usr/bin/timeout", "/bin/timeout"].find((p) => existsSync(p)) ?? "timeout";

const vip: VipBinding = { group: "VI_6", address: ADDR.vip, prefix: 64, family: 6, interface: IF.a };
/** The takeover schedule's ticks, as the controller runs them (the first at once). */
const TICKS = garpOffsets(DEFAULT_GARP_SCHEDULE, true);
/** How far a round may land from its tick: two programs through `ip netns exec` on a busy 2-core host. */
const EARLY_MS = 30;
const LATE_MS = 90;

const base = createCommandRunner();
const events: VipEvent[] = [];
let controller: VipController | undefined;
let capture: RunningProcess | undefined;

async function destroy(): Promise<void> {
  for (const ns of Object.values(NS)) await base.run([IP, "netns", "del", ns], { timeoutMs: 10_000 });
}

/** One address's entry in `ip -json addr show dev IF` inside `ns`. */
async function addressInfo(ns: string, iface: string, address: string): Promise<Record<string, unknown> | undefined> {
  const out = JSON.parse(await sh([IP, "-n", ns, "-json", "addr", "show", "dev", iface])) as Array<{ addr_info: Array<Record<string, unknown>> }>;
  return out[0]?.addr_info.find((a) => a.local === address);
}

async function macOf(ns: string, iface: string): Promise<string> {
  const out = JSON.parse(await sh([IP, "-n", ns, "-json", "link", "show", "dev", iface])) as Array<{ address: string }>;
  return out[0].address.toLowerCase();
}

before(async () => {
  requireRoot();
  assert.ok(TCPDUMP, "tcpdump is missing (/usr/bin/tcpdump): this test reads the neighbour advertisements off the wire; apt-get install tcpdump");
  assert.ok(NDISC6, "ndisc6 is missing (/usr/bin/ndisc6): this test confirms the takeover with it; apt-get install ndisc6");
  assert.ok(NA6, "na6 is missing (/usr/sbin/na6): the agent announces IPv6 VIPs with it; apt-get install ipv6toolkit (bash deploy/ensure-deps.sh)");
  assert.ok(SYSCTL, "sysctl is missing: apt-get install procps");
  await destroy();
  for (const ns of Object.values(NS)) await sh([IP, "netns", "add", ns]);
  await sh([IP, "link", "add", IF.a, "netns", NS.a, "type", "veth", "peer", "name", IF.b, "netns", NS.b]);
  for (const h of ["a", "b"] as const) {
    await sh([IP, "-n", NS[h], "link", "set", "lo", "up"]);
    await sh([IP, "-n", NS[h], "addr", "add", `${ADDR[h]}/64`, "dev", IF[h], "nodad"]);
    await sh([IP, "-n", NS[h], "link", "set", IF[h], "up"]);
  }
  // ndisc6 solicits from the link-local address: wait until its own DAD is done on both sides.
  for (const h of ["a", "b"] as const)
    await waitFor(
      async () => {
        const out = JSON.parse(await sh([IP, "-n", NS[h], "-json", "addr", "show", "dev", IF[h], "scope", "link"])) as Array<{
          addr_info: Array<{ tentative?: boolean }>;
        }>;
        return (out[0]?.addr_info.length ?? 0) > 0 && out[0].addr_info.every((a) => !a.tentative);
      },
      { what: `${IF[h]}'s link-local address to leave DAD`, timeoutMs: 5000, intervalMs: 50 },
    );
  const runner = nsRunner(NS.a);
  controller = new VipController({
    runner,
    tools: { ip: IP, arping: ARPING, na6: NA6, ndisc6: NDISC6 },
    sysctl: runnerSysctl(runner, SYSCTL),
    schedule: { ...DEFAULT_GARP_SCHEDULE, refreshMs: 0 },
    pollMs: 0,
    onEvent: (e) => events.push(e),
  });
});

after(async () => {
  await controller?.close();
  if (capture) {
    capture.kill("SIGTERM");
    await capture.exited;
  }
  await destroy();
});

/** One neighbour advertisement as `tcpdump -tt -e -v` prints it (two lines: the header, then the option). */
interface Advert {
  atMs: number;
  /** The frame's source and destination MACs. */
  frameSource: string;
  frameDestination: string;
  hopLimit: number;
  source: string;
  destination: string;
  target: string;
  flags: string;
  /** The target link-layer address option (tcpdump: "destination link-address option (2)"). */
  mac?: string;
}

const NA_LINE =
  /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype IPv6 \(0x86dd\), length \d+: \(hlim (\d+), .*?\) (\S+) > (\S+): \[icmp6 sum ok\] ICMP6, neighbor advertisement, length \d+, tgt is (\S+), Flags \[([^\]]*)\]/;

function parseAdverts(text: string): Advert[] {
  const out: Advert[] = [];
  for (const line of text.split("\n")) {
    const na = NA_LINE.exec(line);
    if (na) {
      out.push({
        atMs: Number(na[1]) * 1000,
        frameSource: na[2],
        frameDestination: na[3],
        hopLimit: Number(na[4]),
        source: na[5],
        destination: na[6],
        target: na[7],
        flags: na[8],
      });
      continue;
    }
    const option = /destination link-address option \(2\), length 8 \(1\): ([0-9a-f:]{17})/.exec(line);
    if (option && out.length > 0) out[out.length - 1].mac = option[1];
  }
  return out;
}

/** Starts tcpdump on kv6t-b's end (bounded by `timeout` should this test die); resolves once it listens. */
async function startCapture(): Promise<{ stop: () => Promise<string> }> {
  let stdout = "";
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  capture = base.start([TIMEOUT, "30", IP, "netns", "exec", NS.b, TCPDUMP!, "-tt", "-l", "-n", "-e", "-i", IF.b, "-v", "icmp6"], {
    onStdoutLine: (line) => (stdout += `${line}\n`),
    onStderrLine: (line) => {
      if (line.includes("listening on")) listening();
    },
  });
  const proc = capture;
  await Promise.race([ready, proc.exited.then((r) => assert.fail(`tcpdump ended before it listened: ${r.stderr || r.spawnError}`))]);
  return {
    stop: async () => {
      proc.kill("SIGTERM");
      const done = await proc.exited;
      capture = undefined;
      return done.stdout || stdout;
    },
  };
}

/** kv6t-a's static neighbour entries (`ip -json neigh show nud permanent`): "address lladdr" per entry, sorted. */
async function staticNeighbours(family: "-4" | "-6"): Promise<string[]> {
  const out = JSON.parse(await sh([IP, "-n", NS.a, "-json", family, "neigh", "show", "dev", IF.a, "nud", "permanent"])) as Array<{
    dst: string;
    lladdr?: string;
  }>;
  return out.map((n) => `${n.dst} ${n.lladdr ?? "-"}`).sort();
}

const STATIC = { v6: "2001:2::77", v4: "198.18.0.77", mac6: "02:00:00:00:77:06", mac4: "02:00:00:00:77:04" } as const;

test("a takeover of an IPv6 VIP: nodad, not tentative, one na6 NA per tick of the takeover schedule, and kv6t-a's static neighbours survive", async (t) => {
  const macA = await macOf(NS.a, IF.a);
  // kv6t-b still points the VIP at an old holder's MAC, as every client does at a takeover.
  const OLD_MAC = "02:00:00:00:0b:0b";
  await sh([IP, "-n", NS.b, "neigh", "replace", ADDR.vip, "lladdr", OLD_MAC, "dev", IF.b, "nud", "stale"]);
  // Static entries an operator pinned on the VIP's interface, IPv6 and IPv4: announcing must not touch them.
  await sh([IP, "-n", NS.a, "-6", "neigh", "add", STATIC.v6, "lladdr", STATIC.mac6, "dev", IF.a, "nud", "permanent"]);
  await sh([IP, "-n", NS.a, "-4", "neigh", "add", STATIC.v4, "lladdr", STATIC.mac4, "dev", IF.a, "nud", "permanent"]);
  const pinned = { v6: [`${STATIC.v6} ${STATIC.mac6}`], v4: [`${STATIC.v4} ${STATIC.mac4}`] };
  assert.deepEqual({ v6: await staticNeighbours("-6"), v4: await staticNeighbours("-4") }, pinned);

  const cap = await startCapture();
  const asked = Date.now();
  const [r] = await controller!.acquire([vip], { takeover: true });
  assert.equal(r.outcome, "added", r.detail);
  assert.equal(r.present, true);
  const info = await addressInfo(NS.a, IF.a, ADDR.vip);
  assert.ok(info, "the VIP is on kv6ta");
  assert.equal(info.prefixlen, 64);
  assert.equal(info.nodad, true, "added with nodad");
  assert.equal(info.tentative, undefined, "not tentative: it serves at once");
  assert.equal(info.dadfailed, undefined);

  // The burst's last tick, late as it may be, then a margin for anything extra.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, asked + TICKS[TICKS.length - 1] + LATE_MS + 400 - Date.now())));
  const text = await cap.stop();
  const adverts = parseAdverts(text);
  const forVip = adverts.filter((a) => a.target === ADDR.vip);
  t.diagnostic(`NAs for ${ADDR.vip}: ${forVip.map((a) => Math.round(a.atMs - forVip[0].atMs)).join(", ")} ms after the first`);
  t.diagnostic(`first NA on the wire: ${text.split("\n").find((l) => l.includes(`tgt is ${ADDR.vip}`))}`);
  assert.equal(forVip.length, TICKS.length, `one NA per tick of the takeover schedule (${TICKS.join(", ")} ms); got:\n${text}`);
  for (const a of forVip) {
    assert.equal(a.flags, "override", "unsolicited (no solicited flag), override set, no router flag (kv6t-a does not forward)");
    assert.equal(a.destination, "ff02::1", "to all nodes");
    assert.equal(a.frameDestination, "33:33:00:00:00:01", "all nodes' multicast MAC");
    assert.equal(a.source, ADDR.vip, "from the VIP itself, as keepalived sends it");
    assert.equal(a.hopLimit, 255, "hop limit 255, without which neighbours drop an NA");
    assert.equal(a.frameSource, macA, "kv6t-a's MAC as the frame's source");
    assert.equal(a.mac, macA, "kv6t-a's MAC in the target link-layer option");
  }
  assert.ok(forVip[0].atMs - asked < 1000, `the first NA ${Math.round(forVip[0].atMs - asked)} ms after the acquire began`);
  forVip.forEach((a, i) => {
    const at = a.atMs - forVip[0].atMs;
    const want = TICKS[i] - TICKS[0];
    assert.ok(at >= want - EARLY_MS && at <= want + LATE_MS, `NA ${i + 1} at ${Math.round(at)} ms, its tick at ${want} ms`);
  });
  // Only the VIP is announced: kv6t-a's own address is not advertised to all nodes.
  assert.equal(adverts.filter((a) => a.target === ADDR.a && a.destination === "ff02::1").length, 0);
  assert.equal(events.filter((e) => e.kind === "garp-failed").length, 0, JSON.stringify(events));

  // The neighbour's entry moved from the old holder's MAC to ours on the advertisements alone (override).
  const neigh = JSON.parse(await sh([IP, "-n", NS.b, "-json", "neigh", "show", "to", ADDR.vip, "dev", IF.b])) as Array<{ lladdr?: string }>;
  assert.equal(neigh[0]?.lladdr?.toLowerCase(), macA, `kv6t-b's entry for ${ADDR.vip} no longer names ${OLD_MAC}`);
  // Nothing was flushed: the static entries are still there, and so is kv6t-a's MAC.
  assert.deepEqual({ v6: await staticNeighbours("-6"), v4: await staticNeighbours("-4") }, pinned, "the static neighbour entries survive the announcements");
  assert.equal(await macOf(NS.a, IF.a), macA);
});

test("a router announces with the router flag: kv6t-a forwarding IPv6 sends R with override", async () => {
  await sh([IP, "netns", "exec", NS.a, SYSCTL!, "-q", "-w", `net.ipv6.conf.${IF.a}.forwarding=1`]);
  try {
    const cap = await startCapture();
    const asked = Date.now();
    // Acquiring a VIP already held announces it again (the normal burst).
    const [r] = await controller!.acquire([vip]);
    assert.equal(r.outcome, "already-present", r.detail);
    const normal = garpOffsets(DEFAULT_GARP_SCHEDULE, false);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, asked + normal[normal.length - 1] + LATE_MS + 400 - Date.now())));
    const forVip = parseAdverts(await cap.stop()).filter((a) => a.target === ADDR.vip && a.destination === "ff02::1");
    assert.equal(forVip.length, normal.length, `one NA per tick of the normal schedule (${normal.join(", ")} ms)`);
    for (const a of forVip) assert.equal(a.flags, "router, override");
  } finally {
    await sh([IP, "netns", "exec", NS.a, SYSCTL!, "-q", "-w", `net.ipv6.conf.${IF.a}.forwarding=0`]);
  }
});

test("confirming the takeover with ndisc6: nobody else answers; a second holder is named by its MAC", async () => {
  const alone = await controller!.confirmOwnership(vip);
  assert.equal(alone.confirmed, true, alone.detail);
  assert.match(alone.detail, /no other host answered neighbour solicitations for 2001:2::100 on kv6ta within 1 s/);

  // The candidate's view before a takeover: kv6t-a answers for the VIP.
  const seen = await ndisc6Prober(nsRunner(NS.b), NDISC6!)(IF.b, ADDR.vip, new AbortController().signal);
  assert.deepEqual(seen, {
    answered: true,
    mac: await macOf(NS.a, IF.a),
    detail: `${await macOf(NS.a, IF.a)} answered neighbour solicitation for ${ADDR.vip}`,
  });

  await sh([IP, "-n", NS.b, "addr", "add", `${ADDR.vip}/64`, "dev", IF.b, "nodad"]);
  try {
    const both = await controller!.confirmOwnership(vip);
    assert.equal(both.confirmed, false);
    assert.equal(both.detail, `${ADDR.vip} also answered by ${await macOf(NS.b, IF.b)}`);
  } finally {
    await sh([IP, "-n", NS.b, "addr", "del", `${ADDR.vip}/64`, "dev", IF.b]);
  }
});

test("an address another host holds, added without nodad, ends dadfailed: the acquire fails and says so", async () => {
  await sh([IP, "-n", NS.b, "addr", "add", `${ADDR.dad}/64`, "dev", IF.b, "nodad"]);
  await sh([IP, "-n", NS.a, "addr", "add", `${ADDR.dad}/64`, "dev", IF.a]);
  try {
    await waitFor(async () => (await addressInfo(NS.a, IF.a, ADDR.dad))?.dadfailed === true, {
      what: "DAD to fail on kv6ta",
      timeoutMs: 5000,
      intervalMs: 50,
    });
    const dad: VipBinding = { ...vip, address: ADDR.dad };
    const [r] = await controller!.acquire([dad], { takeover: true });
    assert.equal(r.outcome, "unusable");
    assert.equal(r.present, false);
    assert.match(r.detail, /2001:2::200\/64 on kv6ta is dadfailed: duplicate address detection found another host with it/);
    assert.ok(!controller!.held().some((b) => b.address === ADDR.dad));
  } finally {
    await sh([IP, "-n", NS.a, "addr", "del", `${ADDR.dad}/64`, "dev", IF.a]);
    await sh([IP, "-n", NS.b, "addr", "del", `${ADDR.dad}/64`, "dev", IF.b]);
  }
});

test("release removes the IPv6 VIP from the interface", async () => {
  const [r] = await controller!.release([vip]);
  assert.equal(r.outcome, "removed", r.detail);
  assert.equal(await addressInfo(NS.a, IF.a, ADDR.vip), undefined);
  assert.deepEqual(controller!.held(), []);
  const [again] = await controller!.release([vip]);
  assert.equal(again.outcome, "already-absent");
});
