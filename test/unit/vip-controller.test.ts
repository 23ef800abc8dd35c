import { test } from "node:test";
import assert from "node:assert/strict";
import { VipController, type VipEvent } from "../../agent/vip/controller.js";
import type { VipBinding } from "../../agent/vip/plan.js";
import { GarpBurst } from "../../agent/vip/garp.js";
import type { SysctlPort } from "../../agent/vip/sysctl.js";
import type { CommandRunner, RunResult, RunningProcess, StartOptions } from "../../shared/exec/runner.js";
import { waitFor } from "../support/wait.js";

/**
 * An in-memory twin of one host's `ip`, `arping`, `na6` and `ndisc6`: addresses
 * per interface (IPv6 ones with their DAD flags), every argv it was given,
 * arping processes that linger like the real one until they end or are killed,
 * and the na6 runs that announce IPv6 VIPs.
 */
type FakeAddr = { local: string; prefixlen: number; tentative?: boolean; dadfailed?: boolean };
class FakeHost implements CommandRunner {
  readonly addrs = new Map<string, FakeAddr[]>([["eth0", []]]);
  readonly runs: string[][] = [];
  readonly garps: Array<{ atMs: number; proc: RunningProcess; killed: boolean }> = [];
  /** na6 runs (IPv6 announcements), when each started. */
  readonly adverts: Array<{ atMs: number; argv: string[] }> = [];
  /** Exit code of each na6 (1 = failure). */
  na6Exit = 0;
  /** The MAC `ip -json link show dev IF` reports. */
  readonly mac = "02:00:00:00:00:11";
  /** What `ndisc6` answers. */
  ndisc6: { exitCode: number; stdout: string; stderr?: string } = { exitCode: 2, stdout: "Timed out.\nNo response.\n" };
  monitor: { onLine?: (line: string) => void; proc: RunningProcess; killed: boolean } | undefined;
  /** Exit code of each arping -U (2 = failure). */
  garpExit = 0;
  /** Runs just before an `addr add` is applied (someone else adding the address first). */
  beforeAdd?: () => void;
  private readonly born = Date.now();

  async run(argv: string[]): Promise<RunResult> {
    this.runs.push(argv);
    const [, ...args] = argv;
    const res = (exitCode: number, stdout = "", stderr = ""): RunResult => ({
      argv,
      exitCode,
      stdout,
      stderr,
      timedOut: false,
      spawnError: "",
      signal: "",
      durationMs: 1,
    });
    if (args.join(" ") === "-json addr show") {
      return res(
        0,
        JSON.stringify(
          [...this.addrs].map(([ifname, list]) => ({ ifname, addr_info: list.map((a) => ({ family: a.local.includes(":") ? "inet6" : "inet", ...a })) })),
        ),
      );
    }
    if (args.slice(0, 4).join(" ") === "-json link show dev") return res(0, JSON.stringify([{ ifname: args[4], address: this.mac.toUpperCase() }]));
    if (argv[0] === "ndisc6") return res(this.ndisc6.exitCode, this.ndisc6.stdout, this.ndisc6.stderr ?? "");
    if (args[0] === "addr" && (args[1] === "add" || args[1] === "del")) {
      const [local, len] = args[2].split("/");
      const list = this.addrs.get(args[4]);
      if (!list) return res(1, "", `Cannot find device "${args[4]}"`);
      const i = list.findIndex((a) => a.local === local && a.prefixlen === Number(len));
      if (args[1] === "add") {
        this.beforeAdd?.();
        if (i >= 0 || list.some((a) => a.local === local && a.prefixlen === Number(len))) return res(2, "", "Error: ipv4: Address already assigned.");
        list.push({ local, prefixlen: Number(len) });
      } else {
        if (i < 0) return res(2, "", "Error: ipv4: Address not found.");
        list.splice(i, 1);
      }
      return res(0);
    }
    return res(1, "", `fake host: unexpected ${argv.join(" ")}`);
  }

  start(argv: string[], options?: StartOptions): RunningProcess {
    let end!: (r: RunResult) => void;
    const exited = new Promise<RunResult>((resolve) => (end = resolve));
    const result = (exitCode: number, signal = ""): RunResult => ({
      argv,
      exitCode,
      stdout: "",
      stderr: exitCode === 2 ? "arping: bind: Cannot assign requested address" : exitCode === 1 ? "pcap_open_live(eth0): eth0: That device is not up" : "",
      timedOut: false,
      spawnError: "",
      signal,
      durationMs: 1,
    });
    const entry = { killed: false } as { killed: boolean; proc: RunningProcess };
    const proc: RunningProcess = {
      pid: 1000 + this.garps.length,
      exited,
      kill: (signal = "SIGTERM") => {
        if (entry.killed) return false;
        entry.killed = true;
        clearTimeout(linger);
        end(result(-1, signal));
        return true;
      },
    };
    entry.proc = proc;
    let linger: NodeJS.Timeout | undefined;
    if (argv.includes("monitor")) {
      this.monitor = { onLine: options?.onStdoutLine, proc, killed: false };
      Object.defineProperty(this.monitor, "killed", { get: () => entry.killed });
    } else if (argv[0] === "na6") {
      this.adverts.push({ atMs: Date.now() - this.born, argv });
      const code = this.na6Exit;
      linger = setTimeout(() => end(result(code)), 1);
    } else {
      const code = this.garpExit;
      linger = setTimeout(() => end(result(code)), code === 0 ? 60 : 1);
      this.garps.push(Object.assign(entry, { atMs: Date.now() - this.born }));
    }
    return proc;
  }
}

const vip: VipBinding = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "eth0" };
const vip6: VipBinding = { group: "VI_1", address: "2001:db8::100", prefix: 64, family: 6, interface: "eth0" };
const tools = { ip: "ip", arping: "arping", na6: "na6", ndisc6: "ndisc6" };

/** net.ipv6.conf.*: what the fake kernel holds, and every read. */
class FakeSysctl implements SysctlPort {
  readonly values = new Map<string, string>([["net/ipv6/conf/eth0/forwarding", "0"]]);
  readonly reads: string[] = [];
  async read(key: string) {
    this.reads.push(key);
    const v = this.values.get(key);
    return v === undefined ? { error: "ENOENT" } : { value: v };
  }
}

function setup(
  schedule = { burstMs: [0, 20, 40], takeoverBurstMs: [0, 10, 20, 30, 40], refreshMs: 0 },
  extra: { ndisc6Installed?: boolean; na6Installed?: boolean } = {},
) {
  const host = new FakeHost();
  const sysctl = new FakeSysctl();
  const events: VipEvent[] = [];
  const c = new VipController({
    runner: host,
    tools,
    schedule,
    onEvent: (e) => events.push(e),
    pollMs: 0,
    sysctl,
    toolExists: async (path) => (path === "na6" ? (extra.na6Installed ?? true) : (extra.ndisc6Installed ?? true)),
  });
  return { host, events, c, sysctl };
}

test("acquire resolves with the first GARP out and the rest of the burst follows on schedule", async () => {
  const { host, c } = setup();
  try {
    const [r] = await c.acquire([vip]);
    assert.equal(r.outcome, "added");
    assert.equal(host.garps.length, 1, "only the first send happened before acquire resolved");
    await waitFor(() => host.garps.length === 3, { what: "three sends", timeoutMs: 1000, intervalMs: 2 });
    const gaps = host.garps.map((g) => g.atMs - host.garps[0].atMs);
    assert.ok(gaps[1] >= 15 && gaps[2] >= 35, `sends at ${gaps.join(", ")} ms`);
  } finally {
    await c.close();
  }
});

test("a takeover sends the denser burst", async () => {
  const { host, c } = setup();
  try {
    await c.acquire([vip], { takeover: true });
    await waitFor(() => host.garps.length === 5, { what: "five sends", timeoutMs: 1000, intervalMs: 2 });
  } finally {
    await c.close();
  }
});

test("acquiring a held VIP again adds nothing but announces again (neighbours may point elsewhere)", async () => {
  const { host, c, events } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
  try {
    await c.acquire([vip]);
    const runs = host.runs.length;
    const [r] = await c.acquire([vip]);
    assert.equal(r.outcome, "already-present");
    assert.equal(host.garps.length, 2, "announced again");
    assert.deepEqual(
      host.runs
        .slice(runs)
        .filter((a) => a[0] !== "arping")
        .map((a) => a.slice(1).join(" ")),
      ["-json addr show"],
      "no second ip addr add",
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ["acquired"],
    );
    await c.acquire([vip], { takeover: true });
    assert.equal(host.garps.length, 3, "a takeover announces again too");
  } finally {
    await c.close();
  }
});

test("an address that appears between the read and the add counts as present (File exists is success)", async () => {
  const { host, c } = setup();
  host.beforeAdd = () => host.addrs.get("eth0")!.push({ local: vip.address, prefixlen: 24 });
  try {
    const [r] = await c.acquire([vip], { garp: false });
    assert.equal(r.outcome, "already-present");
    assert.equal(r.present, true);
    assert.deepEqual(c.held(), [vip]);
  } finally {
    await c.close();
  }
});

test("release stops the burst and ends the arping still lingering", async () => {
  const { host, c, events } = setup({ burstMs: [0, 200], takeoverBurstMs: [0], refreshMs: 0 });
  try {
    await c.acquire([vip]);
    const [r] = await c.release([vip]);
    assert.equal(r.outcome, "removed");
    assert.equal(host.garps[0].killed, true);
    await new Promise((res) => setTimeout(res, 250));
    assert.equal(host.garps.length, 1, "the send at 200 ms never happened");
    assert.deepEqual(
      events.map((e) => e.kind),
      ["acquired", "released"],
    );
    const [again] = await c.release([vip]);
    assert.equal(again.outcome, "already-absent");
    assert.equal(events.length, 2);
  } finally {
    await c.close();
  }
});

test("beforeChange runs right before each `ip addr add` and `ip addr del` (a drill records this node's own move then), never for an address already there", async () => {
  const { host, c } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
  // What `ip` had been asked when the hook ran (arping aside): the read, not yet the change.
  const seen: string[] = [];
  const beforeChange = (b: VipBinding) =>
    void seen.push(
      `${b.address}: ${host.runs
        .filter((a) => a[0] === "ip")
        .map((a) => a.slice(1, 3).join(" "))
        .join(", ")}`,
    );
  try {
    await c.acquire([vip, vip6], { beforeChange });
    assert.deepEqual(seen, ["198.18.0.100: -json addr", "2001:db8::100: -json addr, addr add"]);
    await c.acquire([vip], { beforeChange });
    assert.equal(seen.length, 2, "already there: no add, no hook");
    host.runs.length = 0;
    seen.length = 0;
    await c.release([vip], { beforeChange });
    assert.deepEqual(seen, ["198.18.0.100: "]);
    assert.deepEqual(
      host.runs.filter((a) => a[0] === "ip").map((a) => a.slice(1, 3).join(" ")),
      ["addr del"],
    );
  } finally {
    await c.close();
  }
});

test("a GARP that fails is reported with arping's reason", async () => {
  const { host, c, events } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
  host.garpExit = 2;
  try {
    await c.acquire([vip]);
    await waitFor(() => events.some((e) => e.kind === "garp-failed"), { what: "garp-failed", timeoutMs: 1000, intervalMs: 2 });
    assert.match(events.find((e) => e.kind === "garp-failed")!.detail, /exited 2: arping: bind: Cannot assign requested address/);
  } finally {
    await c.close();
  }
});

test("a monitor line after a deletion makes the controller re-add and announce the VIP", async () => {
  const { host, c, events } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
  try {
    await c.start();
    await c.acquire([vip]);
    host.addrs.get("eth0")!.length = 0;
    host.monitor!.onLine!("Deleted 2: eth0    inet 198.18.0.100/24 scope global secondary eth0");
    await waitFor(() => events.some((e) => e.kind === "drift-repaired"), { what: "drift-repaired", timeoutMs: 1000, intervalMs: 2 });
    assert.deepEqual(host.addrs.get("eth0"), [{ local: vip.address, prefixlen: 24 }]);
    assert.equal(host.garps.length, 2);
  } finally {
    await c.close();
  }
  assert.equal(host.monitor!.killed, true, "close ends the monitor it started");
});

test("a burst of monitor lines is coalesced into few re-reads", async () => {
  const { host, c } = setup();
  try {
    await c.start();
    const before = host.runs.length;
    for (let i = 0; i < 50; i++) host.monitor!.onLine!("2: eth0    inet 198.18.0.11/24 scope global eth0");
    await c.reconcile();
    assert.ok(host.runs.length - before <= 3, `${host.runs.length - before} re-reads for 50 lines`);
  } finally {
    await c.close();
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const na6 = (address: string, router = false) => ["na6", "-i", "eth0", "-s", address, "-d", "ff02::1", "-t", address, "-o", ...(router ? ["-r"] : []), "-e"];

test("an IPv6 VIP is added with nodad and announced with one na6 per tick; no MAC is set, nothing else runs", async () => {
  const { host, c, events, sysctl } = setup();
  try {
    const [r] = await c.acquire([vip6]);
    assert.equal(r.outcome, "added");
    assert.equal(r.present, true);
    assert.deepEqual(c.held(), [vip6]);
    assert.ok(host.runs.some((a) => a.join(" ") === "ip addr add 2001:db8::100/64 dev eth0 nodad"));
    assert.equal(host.adverts.length, 1, "the first NA is out when acquire resolves");
    assert.deepEqual(host.adverts[0].argv, na6("2001:db8::100"), "forwarding 0: no router flag");
    await waitFor(() => host.adverts.length === 3, { what: "three sends", timeoutMs: 1000, intervalMs: 2 });
    const gaps = host.adverts.map((a) => a.atMs - host.adverts[0].atMs);
    assert.ok(gaps[1] >= 15 && gaps[2] >= 35, `sends at ${gaps.join(", ")} ms`);
    await sleep(30);
    assert.equal(host.adverts.length, 3, "the schedule's three ticks, no more");
    assert.equal(host.garps.length, 0, "no arping for an IPv6 VIP");
    assert.ok(!host.runs.some((a) => a[1] === "link" && a[2] === "set"), "the interface's MAC is never set");
    assert.ok(!host.runs.some((a) => a[1] === "-json" && a[2] === "link"), "na6 reads the MAC itself");
    assert.deepEqual(sysctl.reads, Array(3).fill("net/ipv6/conf/eth0/forwarding"), "forwarding read at every send");
    assert.deepEqual(
      events.map((e) => e.kind),
      ["acquired"],
    );
  } finally {
    await c.close();
  }
});

test("IPv6: forwarding is read at every send: a host turned router announces with R from its next send on", async () => {
  const { host, c, sysctl } = setup();
  try {
    await c.acquire([vip6]);
    sysctl.values.set("net/ipv6/conf/eth0/forwarding", "1");
    await waitFor(() => host.adverts.length === 3, { what: "three sends", timeoutMs: 1000, intervalMs: 2 });
    assert.deepEqual(
      host.adverts.map((a) => a.argv),
      [na6("2001:db8::100"), na6("2001:db8::100", true), na6("2001:db8::100", true)],
    );
  } finally {
    await c.close();
  }
});

test("each IPv6 VIP gets its own na6 at each tick; a dual-stack IPv4 VIP keeps its own arping burst", async () => {
  const { host, c } = setup({ burstMs: [0, 20, 40], takeoverBurstMs: [0, 10, 20, 30, 40], refreshMs: 0 });
  const vip6b = { ...vip6, address: "2001:db8::101" };
  const vip6c = { ...vip6, address: "2001:db8::102", group: "VI_2" };
  try {
    const results = await c.acquire([vip6, vip, vip6b, vip6c], { takeover: true });
    assert.deepEqual(
      results.map((r) => [r.binding.address, r.outcome]),
      [
        ["2001:db8::100", "added"],
        ["198.18.0.100", "added"],
        ["2001:db8::101", "added"],
        ["2001:db8::102", "added"],
      ],
      "results in the order asked",
    );
    await waitFor(() => host.adverts.length === 15 && host.garps.length === 5, { what: "15 NAs and five GARPs", timeoutMs: 1000, intervalMs: 2 });
    await sleep(30);
    assert.equal(host.adverts.length, 15, "the takeover schedule's five ticks for each of the three IPv6 VIPs");
    for (const address of ["2001:db8::100", "2001:db8::101", "2001:db8::102"])
      assert.equal(host.adverts.filter((a) => a.argv[4] === address && a.argv[8] === address).length, 5, address);
    assert.equal(host.garps.length, 5);
  } finally {
    await c.close();
  }
});

test("releasing one IPv6 VIP stops its announcements; another one's on the interface go on", async () => {
  const { host, c } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 1000 });
  const vip6b = { ...vip6, address: "2001:db8::101" };
  try {
    await c.acquire([vip6, vip6b]);
    assert.equal(host.adverts.length, 2);
    await c.release([vip6]);
    assert.deepEqual(c.held(), [vip6b]);
    await waitFor(() => host.adverts.length === 3, { what: "the refresh of the VIP still held", timeoutMs: 1500, intervalMs: 5 });
    assert.equal(host.adverts[2].argv[8], "2001:db8::101");
    await c.release([vip6b]);
    await sleep(1100);
    assert.equal(host.adverts.length, 3, "nothing once no IPv6 VIP is held there");
  } finally {
    await c.close();
  }
});

const unusable: Array<[string, Partial<FakeAddr>, RegExp]> = [
  ["dadfailed", { dadfailed: true, tentative: true }, /is dadfailed: duplicate address detection found another host with it/],
  ["tentative", { tentative: true }, /is tentative: the kernel does not use it yet/],
];
for (const [flag, flags, why] of unusable) {
  test(`an IPv6 VIP left ${flag} is an acquire failure: not held, not announced`, async () => {
    const { host, c, events } = setup();
    host.addrs.get("eth0")!.push({ local: vip6.address, prefixlen: 64, ...flags });
    try {
      const [r] = await c.acquire([vip6], { takeover: true });
      assert.equal(r.outcome, "unusable");
      assert.equal(r.present, false);
      assert.match(r.detail, why);
      assert.deepEqual(c.held(), []);
      assert.equal(host.adverts.length, 0);
      await c.reconcile();
      assert.deepEqual(events, [], "neither acquired nor, at the next look, unexpected");
    } finally {
      await c.close();
    }
  });
}

test("without na6 installed an IPv6 VIP is held but not announced, and that is reported once per acquire", async () => {
  const { host, c, events } = setup(undefined, { na6Installed: false });
  try {
    const [r] = await c.acquire([vip6], { takeover: true });
    assert.equal(r.outcome, "added", "the VIP is there: only its announcement failed");
    await sleep(60);
    assert.equal(host.adverts.length, 0);
    const failed = events.filter((e) => e.kind === "garp-failed");
    assert.equal(failed.length, 1);
    assert.match(failed[0].detail, /na6 is not installed \(Debian package ipv6toolkit\): 2001:db8::100 on eth0 is held but not announced/);
  } finally {
    await c.close();
  }
});

const sendFailures: Array<[string, (h: { host: FakeHost; sysctl: FakeSysctl }) => void, RegExp]> = [
  [
    "IPv6 forwarding cannot be read",
    ({ sysctl }) => sysctl.values.clear(),
    /cannot read net\.ipv6\.conf\.eth0\.forwarding \(ENOENT\) for the router flag of 2001:db8::100's neighbour advertisement/,
  ],
  ["na6 fails", ({ host }) => (host.na6Exit = 1), /^na6 -i eth0 -s 2001:db8::100 .* exited 1: pcap_open_live\(eth0\): eth0: That device is not up$/],
];
for (const [name, arrange, detail] of sendFailures)
  test(`an IPv6 announcement that cannot go out is reported with the reason, per VIP: ${name}`, async () => {
    const { host, c, events, sysctl } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
    arrange({ host, sysctl });
    try {
      await c.acquire([vip6, { ...vip6, address: "2001:db8::101" }]);
      await waitFor(() => events.filter((e) => e.kind === "garp-failed").length === 2, { what: "two garp-failed", timeoutMs: 1000, intervalMs: 2 });
      const failed = events.filter((e) => e.kind === "garp-failed");
      assert.deepEqual(
        failed.map((e) => e.address),
        ["2001:db8::100", "2001:db8::101"],
      );
      assert.match(failed[0].detail, detail);
    } finally {
      await c.close();
    }
  });

test("an na6 that hangs is killed at the command timeout and reported", async () => {
  const host = new FakeHost();
  const events: VipEvent[] = [];
  const hanging: CommandRunner = {
    run: (argv) => host.run(argv),
    start: (argv, options) => {
      if (argv[0] !== "na6") return host.start(argv, options);
      let end!: (r: RunResult) => void;
      const exited = new Promise<RunResult>((resolve) => (end = resolve));
      return {
        pid: 4242,
        exited,
        kill: (signal = "SIGTERM") => (end({ argv, exitCode: -1, stdout: "", stderr: "", timedOut: false, spawnError: "", signal, durationMs: 0 }), true),
      };
    },
  };
  const c = new VipController({
    runner: hanging,
    tools,
    schedule: { burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 },
    commandTimeoutMs: 50,
    pollMs: 0,
    sysctl: new FakeSysctl(),
    toolExists: async () => true,
    onEvent: (e) => events.push(e),
  });
  try {
    const started = Date.now();
    await c.acquire([vip6]);
    assert.ok(Date.now() - started < 1000, "acquire waits for the first NA no longer than the bound");
    const failed = events.find((e) => e.kind === "garp-failed");
    assert.match(failed?.detail ?? "", /^na6 -i eth0 .* did not exit within 50 ms: killed$/);
  } finally {
    await c.close();
  }
});

test("an IPv6 VIP deleted behind the agent's back is re-added with nodad and announced", async () => {
  const { host, c, events } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
  try {
    await c.start();
    await c.acquire([vip6]);
    host.addrs.get("eth0")!.length = 0;
    host.monitor!.onLine!("Deleted 2: eth0    inet6 2001:db8::100/64 scope global");
    await waitFor(() => events.some((e) => e.kind === "drift-repaired"), { what: "drift-repaired", timeoutMs: 1000, intervalMs: 2 });
    assert.deepEqual(host.addrs.get("eth0"), [{ local: vip6.address, prefixlen: 64 }]);
    assert.equal(host.adverts.length, 2);
  } finally {
    await c.close();
  }
});

const confirms: Array<[string, { exitCode: number; stdout: string; stderr?: string }, boolean, RegExp]> = [
  [
    "another host's MAC answering: not confirmed",
    { exitCode: 0, stdout: "Target link-layer address: 16:9C:FB:EA:22:19\n from 2001:db8::100\n" },
    false,
    /2001:db8::100 also answered by 16:9c:fb:ea:22:19/,
  ],
  [
    "nobody answering: confirmed",
    { exitCode: 2, stdout: "Timed out.\nNo response.\n" },
    true,
    /no other host answered neighbour solicitations for 2001:db8::100 on eth0/,
  ],
  ["only our own MAC: confirmed", { exitCode: 0, stdout: "Target link-layer address: 02:00:00:00:00:11\n" }, true, /no other host answered/],
  [
    "ndisc6 failing: not confirmed, with its reason",
    { exitCode: 1, stdout: "", stderr: "eth0: No such device" },
    false,
    /ndisc6 exited 1: eth0: No such device/,
  ],
];
for (const [name, answer, confirmed, detail] of confirms) {
  test(`confirming an IPv6 takeover with ndisc6: ${name}`, async () => {
    const { host, c } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 });
    host.ndisc6 = answer;
    try {
      await c.acquire([vip6], { takeover: true });
      const r = await c.confirmOwnership(vip6);
      assert.equal(r.confirmed, confirmed);
      assert.match(r.detail, detail);
      assert.ok(host.runs.some((a) => a.join(" ") === "ndisc6 -1 -r 1 -w 1000 2001:db8::100 eth0"));
    } finally {
      await c.close();
    }
  });
}

test("confirming an IPv6 takeover without ndisc6 installed: confirmed, saying it could not ask", async () => {
  const { host, c } = setup({ burstMs: [0], takeoverBurstMs: [0], refreshMs: 0 }, { ndisc6Installed: false });
  try {
    await c.acquire([vip6], { takeover: true });
    const r = await c.confirmOwnership(vip6);
    assert.equal(r.confirmed, true);
    assert.match(r.detail, /could not ask who answers for 2001:db8::100 on eth0: ndisc6 is not installed/);
    assert.ok(host.runs.every((a) => a[0] !== "ndisc6"));
  } finally {
    await c.close();
  }
});

test("close ends every arping it started and sends nothing after", async () => {
  const { host, c } = setup({ burstMs: [0, 30, 60], takeoverBurstMs: [0], refreshMs: 0 });
  await c.acquire([vip]);
  await c.close();
  assert.ok(host.garps.every((g) => g.killed));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(host.garps.length, 1);
});

test("while held, the VIP is re-announced every refresh period, never faster than once a second", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const starts: number[] = [];
  let now = 0;
  const runner: CommandRunner = {
    run: () => Promise.reject(new Error("not used")),
    start: (argv) => {
      starts.push(now);
      let end!: (r: RunResult) => void;
      const exited = new Promise<RunResult>((resolve) => (end = resolve));
      return {
        pid: 1,
        exited,
        kill: () => (end({ argv, exitCode: -1, stdout: "", stderr: "", timedOut: false, spawnError: "", signal: "SIGTERM", durationMs: 0 }), true),
      };
    },
  };
  const tick = (ms: number): void => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  const fast = new GarpBurst(vip, false, { runner, tools, schedule: { burstMs: [0, 100], takeoverBurstMs: [0], refreshMs: 200 }, onFailure: () => undefined });
  tick(100);
  assert.deepEqual(starts, [0, 100]);
  tick(1000);
  assert.deepEqual(starts, [0, 100, 1100], "a 200 ms refresh is raised to 1 s");
  tick(1000);
  assert.deepEqual(starts, [0, 100, 1100, 2100]);
  const cancelled = fast.cancel();
  tick(5000);
  await cancelled;
  assert.equal(starts.length, 4, "nothing after cancel");
});

test("quiet stops the burst at once, ahead of the queue, and leaves the address held; a release afterwards still removes it", async () => {
  const { host, c, events } = setup({ burstMs: [0, 100, 200], takeoverBurstMs: [0], refreshMs: 0 });
  try {
    await c.acquire([vip]);
    assert.equal(host.garps.length, 1);
    await c.quiet([vip]);
    assert.equal(host.garps[0].killed, true, "the lingering arping is ended");
    await new Promise((res) => setTimeout(res, 250));
    assert.equal(host.garps.length, 1, "the sends at 100 and 200 ms never happened");
    assert.deepEqual(
      c.held().map((b) => b.address),
      [vip.address],
      "still held: quiet only silences",
    );
    const [r] = await c.release([vip]);
    assert.equal(r.outcome, "removed");
    assert.deepEqual(
      events.map((e) => e.kind),
      ["acquired", "released"],
    );
  } finally {
    await c.close();
  }
});
