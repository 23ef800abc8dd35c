import assert from "node:assert/strict";
import { test } from "node:test";
import { monitorKind, routeMonitorLine, sharingIpMonitor } from "../../agent/link/ip-monitor.js";
import type { CommandRunner, RunningProcess, RunResult, StartOptions } from "../../shared/exec/runner.js";

const IP = "/usr/sbin/ip";

/** A runner whose started processes the test feeds lines to and ends. */
function fakeRunner() {
  const started: Array<{ argv: string[]; options: StartOptions; kills: string[]; end: (r: Partial<RunResult>) => void }> = [];
  const ran: string[][] = [];
  let pid = 100;
  const runner: CommandRunner = {
    run: async (argv) => {
      ran.push(argv);
      return { argv, exitCode: 0, stdout: "", stderr: "", timedOut: false, spawnError: "", signal: "", durationMs: 1 };
    },
    start(argv, options = {}): RunningProcess {
      let resolve: (r: RunResult) => void = () => {};
      const exited = new Promise<RunResult>((r) => (resolve = r));
      const entry = {
        argv,
        options,
        kills: [] as string[],
        end: (r: Partial<RunResult>) =>
          resolve({ argv, exitCode: 1, stdout: "", stderr: "", timedOut: false, spawnError: "", signal: "", durationMs: 5, ...r }),
      };
      started.push(entry);
      return {
        pid: ++pid,
        exited,
        kill: (signal = "SIGTERM") => {
          entry.kills.push(signal);
          return true;
        },
      };
    },
  };
  return { runner, started, ran };
}

test("routeMonitorLine: the label picks the watcher and comes off; a continuation line follows the line before", () => {
  const cases: Array<[line: string, previous: "link" | "address" | undefined, kind: string | undefined, out: string]> = [
    ["[LINK]3: lan0@if4: <BROADCAST,UP,LOWER_UP> mtu 1500 state UP", undefined, "link", "3: lan0@if4: <BROADCAST,UP,LOWER_UP> mtu 1500 state UP"],
    ["[ADDR]Deleted 3: lan0    inet 198.18.0.100/24 scope global lan0", "link", "address", "Deleted 3: lan0    inet 198.18.0.100/24 scope global lan0"],
    ["    link/ether 2e:f4:ce:c6:9e:b0 brd ff:ff:ff:ff:ff:ff", "link", "link", "    link/ether 2e:f4:ce:c6:9e:b0 brd ff:ff:ff:ff:ff:ff"],
    ["       valid_lft forever preferred_lft forever", "address", "address", "       valid_lft forever preferred_lft forever"],
    ["[ROUTE]198.18.0.0/24 dev lan0", "address", undefined, "[ROUTE]198.18.0.0/24 dev lan0"],
    ["    continuation of nothing", undefined, undefined, "    continuation of nothing"],
  ];
  for (const [line, previous, kind, out] of cases) assert.deepEqual(routeMonitorLine(line, previous), { kind, line: out }, line);
});

test("monitorKind: only `IP monitor link` and `IP monitor address` are shared", () => {
  assert.equal(monitorKind([IP, "monitor", "link"], IP), "link");
  assert.equal(monitorKind([IP, "monitor", "address"], IP), "address");
  assert.equal(monitorKind([IP, "monitor", "route"], IP), undefined);
  assert.equal(monitorKind(["/bin/ip", "monitor", "link"], IP), undefined, "another ip binary");
  assert.equal(monitorKind([IP, "-json", "link", "show"], IP), undefined);
});

test("two watchers share one `ip monitor label link address`, each seeing its own lines unlabelled; other commands pass through", async () => {
  const f = fakeRunner();
  const shared = sharingIpMonitor(f.runner, IP);
  const link: string[] = [];
  const addr: string[] = [];
  const a = shared.start([IP, "monitor", "link"], { onStdoutLine: (l) => link.push(l) });
  const b = shared.start([IP, "monitor", "address"], { onStdoutLine: (l) => addr.push(l) });
  assert.equal(f.started.length, 1);
  assert.deepEqual(f.started[0].argv, [IP, "monitor", "label", "link", "address"]);
  assert.equal(a.pid, b.pid);
  const feed = f.started[0].options.onStdoutLine!;
  for (const l of ["[LINK]3: lan0: <UP,LOWER_UP> state UP", "    link/ether aa", "[ADDR]3: lan0    inet 198.18.0.100/24", "       valid_lft forever"]) feed(l);
  assert.deepEqual(link, ["3: lan0: <UP,LOWER_UP> state UP", "    link/ether aa"]);
  assert.deepEqual(addr, ["3: lan0    inet 198.18.0.100/24", "       valid_lft forever"]);
  await shared.run([IP, "-json", "addr", "show"]);
  const nft = shared.start(["/usr/sbin/nft", "monitor"], {});
  assert.deepEqual(f.ran, [[IP, "-json", "addr", "show"]]);
  assert.equal(f.started.length, 2, "another long-lived command starts on its own");
  assert.notEqual(nft.pid, a.pid);
});

test("killing a view detaches it; the last one ends the process, and the next start opens a new one", async () => {
  const f = fakeRunner();
  const shared = sharingIpMonitor(f.runner, IP);
  const addr: string[] = [];
  const a = shared.start([IP, "monitor", "link"], {});
  const b = shared.start([IP, "monitor", "address"], { onStdoutLine: (l) => addr.push(l) });
  assert.equal(a.kill("SIGTERM"), true);
  assert.equal(a.kill("SIGTERM"), false, "already gone");
  assert.equal((await a.exited).signal, "SIGTERM");
  assert.deepEqual((await a.exited).argv, [IP, "monitor", "link"]);
  assert.deepEqual(f.started[0].kills, [], "the address watcher still reads it");
  f.started[0].options.onStdoutLine!("[ADDR]3: lan0    inet 198.18.0.100/24");
  assert.equal(addr.length, 1);
  b.kill("SIGTERM");
  assert.deepEqual(f.started[0].kills, ["SIGTERM"]);
  shared.start([IP, "monitor", "link"], {});
  assert.equal(f.started.length, 2, "a new process for the next watcher, not the dying one");
});

test("when the process ends by itself every view ends with its result, and a restart opens a new process", async () => {
  const f = fakeRunner();
  const shared = sharingIpMonitor(f.runner, IP);
  const a = shared.start([IP, "monitor", "link"], {});
  const b = shared.start([IP, "monitor", "address"], {});
  f.started[0].end({ exitCode: 1, stderr: "Cannot open netlink socket" });
  const [ra, rb] = await Promise.all([a.exited, b.exited]);
  assert.deepEqual([ra.exitCode, ra.stderr, ra.argv], [1, "Cannot open netlink socket", [IP, "monitor", "link"]]);
  assert.deepEqual([rb.exitCode, rb.argv], [1, [IP, "monitor", "address"]]);
  assert.equal(a.kill(), false, "an ended view cannot be killed");
  shared.start([IP, "monitor", "address"], {});
  shared.start([IP, "monitor", "link"], {});
  assert.equal(f.started.length, 2, "the two restarts share one new process");
});
