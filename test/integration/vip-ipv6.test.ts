/**
 * IPv6 VIPs on real interfaces: two namespaces, kv6t-a (the holder, running the
 * real VipController through `ip netns exec`) and kv6t-b (a neighbour running
 * tcpdump), joined by one veth, on 2001:2::/64. What goes on the wire when
 * kv6t-a takes over 2001:2::100: unsolicited neighbour advertisements with the
 * override flag, to ff02::1, kv6t-a's MAC in the target link-layer option, one
 * per tick of the takeover schedule (docs/design.md, Announcing IPv6 VIPs).
 * Also: the address serves (not tentative), a dadfailed one is refused, the
 * takeover is confirmed (or not) with ndisc6, and release removes the VIP.
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

async function sysctlIn(ns: string, key: string): Promise<string> {
  return (await sh([IP, "netns", "exec", ns, SYSCTL ?? "sysctl", "-n", key])).trim();
}

before(async () => {
  requireRoot();
  assert.ok(TCPDUMP, "tcpdump is missing (/usr/bin/tcpdump): this test reads the neighbour advertisements off the wire; apt-get install tcpdump");
  assert.ok(NDISC6, "ndisc6 is missing (/usr/bin/ndisc6): this test confirms the takeover with it; apt-get install ndisc6");
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
    tools: { ip: IP, arping: ARPING, ndisc6: NDISC6 },
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

/** One neighbour advertisement as `tcpdump -tt -v` prints it (two lines: the header, then the option). */
interface Advert {
  atMs: number;
  source: string;
  destination: string;
  target: string;
  flags: string;
  /** The target link-layer address option (tcpdump: "destination link-address option (2)"). */
  mac?: string;
}

function parseAdverts(text: string): Advert[] {
  const out: Advert[] = [];
  for (const line of text.split("\n")) {
    const na = /^(\d+\.\d+) IP6 .*\) (\S+) > (\S+): \[icmp6 sum ok\] ICMP6, neighbor advertisement, length \d+, tgt is (\S+), Flags \[([^\]]*)\]/.exec(line);
    if (na) {
      out.push({ atMs: Number(na[1]) * 1000, source: na[2], destination: na[3], target: na[4], flags: na[5] });
      continue;
    }
    const option = /destination link-address option \(2\), length 8 \(1\): ([0-9a-f:]{17})/.exec(line);
    if (option && out.length > 0) out[out.length - 1].mac = option[1];
  }
  return out;
}

test("a takeover of an IPv6 VIP: nodad, not tentative, and one override NA to ff02::1 with our MAC per tick of the takeover schedule", async (t) => {
  assert.equal(await sysctlIn(NS.a, `net.ipv6.conf.${IF.a}.ndisc_notify`), "0", "the kernel's default, before the agent");
  const macA = await macOf(NS.a, IF.a);
  // kv6t-b still points the VIP at an old holder's MAC, as every client does at a takeover.
  const OLD_MAC = "02:00:00:00:0b:0b";
  await sh([IP, "-n", NS.b, "neigh", "replace", ADDR.vip, "lladdr", OLD_MAC, "dev", IF.b, "nud", "stale"]);

  let stdout = "";
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  // Bounded by `timeout` should this test die; ended by pid once the burst is over.
  capture = base.start([TIMEOUT, "30", IP, "netns", "exec", NS.b, TCPDUMP!, "-tt", "-l", "-n", "-i", IF.b, "-v", "icmp6"], {
    onStdoutLine: (line) => (stdout += `${line}\n`),
    onStderrLine: (line) => {
      if (line.includes("listening on")) listening();
    },
  });
  await Promise.race([ready, capture.exited.then((r) => assert.fail(`tcpdump ended before it listened: ${r.stderr || r.spawnError}`))]);

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
  assert.equal(await sysctlIn(NS.a, `net.ipv6.conf.${IF.a}.ndisc_notify`), "1", "the controller set ndisc_notify");

  // The burst's last tick, late as it may be, then a margin for anything extra.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, asked + TICKS[TICKS.length - 1] + LATE_MS + 400 - Date.now())));
  capture.kill("SIGTERM");
  const done = await capture.exited;
  capture = undefined;
  const adverts = parseAdverts(done.stdout || stdout);
  const forVip = adverts.filter((a) => a.target === ADDR.vip);
  t.diagnostic(`NAs for ${ADDR.vip}: ${forVip.map((a) => Math.round(a.atMs - forVip[0].atMs)).join(", ")} ms after the first`);
  assert.equal(forVip.length, TICKS.length, `one NA per tick of the takeover schedule (${TICKS.join(", ")} ms); got:\n${done.stdout || stdout}`);
  for (const a of forVip) {
    assert.equal(a.flags, "override", "unsolicited (no solicited flag), override set");
    assert.equal(a.destination, "ff02::1", "to all nodes");
    assert.equal(a.source, ADDR.vip);
    assert.equal(a.mac, macA, "kv6t-a's MAC in the target link-layer option");
  }
  assert.ok(forVip[0].atMs - asked < 1000, `the first NA ${Math.round(forVip[0].atMs - asked)} ms after the acquire began`);
  forVip.forEach((a, i) => {
    const at = a.atMs - forVip[0].atMs;
    const want = TICKS[i] - TICKS[0];
    assert.ok(at >= want - EARLY_MS && at <= want + LATE_MS, `NA ${i + 1} at ${Math.round(at)} ms, its tick at ${want} ms`);
  });
  // Every round advertises every IPv6 address of the interface: kv6t-a's own too.
  assert.equal(adverts.filter((a) => a.target === ADDR.a).length, TICKS.length);
  assert.equal(events.filter((e) => e.kind === "garp-failed").length, 0, JSON.stringify(events));

  // The neighbour's entry moved from the old holder's MAC to ours on the advertisements alone (override).
  const neigh = JSON.parse(await sh([IP, "-n", NS.b, "-json", "neigh", "show", "to", ADDR.vip, "dev", IF.b])) as Array<{ lladdr?: string }>;
  assert.equal(neigh[0]?.lladdr?.toLowerCase(), macA, `kv6t-b's entry for ${ADDR.vip} no longer names ${OLD_MAC}`);
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
