import { test } from "node:test";
import assert from "node:assert/strict";
import { VipController, type VipEvent } from "../../agent/vip/controller.js";
import type { VipBinding } from "../../agent/vip/plan.js";
import { GarpBurst } from "../../agent/vip/garp.js";
import type { CommandRunner, RunResult, RunningProcess, StartOptions } from "../../shared/exec/runner.js";
import { waitFor } from "../support/wait.js";

/**
 * An in-memory twin of one host's `ip` and `arping`: addresses per interface,
 * every argv it was given, and arping processes that linger like the real one
 * until they end or are killed.
 */
class FakeHost implements CommandRunner {
  readonly addrs = new Map<string, Array<{ local: string; prefixlen: number }>>([["eth0", []]]);
  readonly runs: string[][] = [];
  readonly garps: Array<{ atMs: number; proc: RunningProcess; killed: boolean }> = [];
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
      return res(0, JSON.stringify([...this.addrs].map(([ifname, list]) => ({ ifname, addr_info: list.map((a) => ({ family: "inet", ...a })) }))));
    }
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
      stderr: exitCode === 2 ? "arping: bind: Cannot assign requested address" : "",
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
    } else {
      const code = this.garpExit;
      linger = setTimeout(() => end(result(code)), code === 0 ? 60 : 1);
      this.garps.push(Object.assign(entry, { atMs: Date.now() - this.born }));
    }
    return proc;
  }
}

const vip: VipBinding = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "eth0" };
const tools = { ip: "ip", arping: "arping" };

function setup(schedule = { burstMs: [0, 20, 40], takeoverBurstMs: [0, 10, 20, 30, 40], refreshMs: 0 }) {
  const host = new FakeHost();
  const events: VipEvent[] = [];
  const c = new VipController({ runner: host, tools, schedule, onEvent: (e) => events.push(e), pollMs: 0 });
  return { host, events, c };
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

test("an IPv6 VIP is refused with a clear reason and nothing is run", async () => {
  const { host, c } = setup();
  try {
    const [r] = await c.acquire([{ ...vip, address: "2001:db8::100", prefix: 64, family: 6 }]);
    assert.equal(r.outcome, "unsupported");
    assert.match(r.detail, /IPv6 VIPs are not supported yet/);
    assert.ok(host.runs.every((a) => !a.includes("add")));
    assert.equal(host.garps.length, 0);
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
