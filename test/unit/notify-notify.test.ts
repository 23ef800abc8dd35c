/**
 * Notify scripts: keepalived's argument convention, per-group ordering, no
 * blocking of the caller, failures logged with event keys and never thrown.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { RunResult } from "../../shared/exec/runner.js";
import { FakeRunner } from "../support/fake-runner.js";
import { groupNotify, Notifier, planNotify } from "../../agent/notify/notify.js";
import { agentConfigSchema, type GroupNotifyConfig, type NotifyConfig } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";

const ALL: NotifyConfig = {
  master: ["/etc/keepvip/to_master.sh", "VI_1-arg"],
  backup: ["/etc/keepvip/to_backup.sh"],
  fault: ["/etc/keepvip/fault.sh", "VG_1"],
  stop: ["/etc/keepvip/stop.sh"],
  any: ["/etc/keepvip/notify.sh", "--from-keepvip"],
  timeout: 30_000,
};

const plans: Array<[string, NotifyConfig, Parameters<typeof planNotify>[2], string[][]]> = [
  [
    "MASTER runs notify_master as configured, then notify with TYPE NAME STATE PRIORITY appended",
    ALL,
    "MASTER",
    [
      ["/etc/keepvip/to_master.sh", "VI_1-arg"],
      ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "MASTER", "100"],
    ],
  ],
  ["BACKUP", ALL, "BACKUP", [["/etc/keepvip/to_backup.sh"], ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "BACKUP", "100"]]],
  [
    "FAULT keeps the configured extra argument",
    ALL,
    "FAULT",
    [
      ["/etc/keepvip/fault.sh", "VG_1"],
      ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "FAULT", "100"],
    ],
  ],
  ["STOP", ALL, "STOP", [["/etc/keepvip/stop.sh"], ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "STOP", "100"]]],
  ["only the generic notify configured", { any: ["/n.sh"], timeout: 1000 }, "MASTER", [["/n.sh", "INSTANCE", "VI_1", "MASTER", "100"]]],
  ["only notify_master configured, BACKUP runs nothing", { master: ["/m.sh"], timeout: 1000 }, "BACKUP", []],
];
for (const [name, cfg, state, expected] of plans) {
  test(`planNotify: ${name}`, () => assert.deepEqual(planNotify(cfg, "VI_1", state, 100), expected));
}

/** A runner whose runs finish on the next turn of the event loop (or when the test says so, without `auto`). */
function fakeRunner(outcome: (argv: string[]) => Partial<RunResult> | "throw" | "hang" = () => ({}), auto = true): FakeRunner {
  return new FakeRunner({
    reply: (argv) => {
      const o = outcome(argv);
      return o === "throw" ? { throws: "runner broke" } : o === "hang" ? { hang: true } : o;
    },
    finish: auto ? "immediate" : "manual",
  });
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

test("a group's notifications run in order, one at a time; another group is not held up", async () => {
  const runner = fakeRunner(undefined, false);
  const n = new Notifier({ config: { master: ["/m.sh"], backup: ["/b.sh"], timeout: 30_000 }, runner });
  assert.equal(n.notify("VI_1", "MASTER", 100), undefined, "returns at once");
  n.notify("VI_1", "BACKUP", 80);
  n.notify("VI_2", "MASTER", 90);
  await settle();
  assert.deepEqual(runner.argvs, [["/m.sh"], ["/m.sh"]], "VI_1 MASTER and VI_2 MASTER run; VI_1 BACKUP waits");
  runner.finishOne();
  await settle();
  assert.deepEqual(runner.argvs.at(-1), ["/b.sh"]);
  runner.finishOne();
  runner.finishOne();
  await n.flush();
});

test("specific script first, then the generic one, as keepalived does", async () => {
  const runner = fakeRunner();
  const n = new Notifier({ config: ALL, runner });
  n.notify("VI_1", "FAULT", 80);
  await n.flush();
  assert.deepEqual(runner.argvs, [
    ["/etc/keepvip/fault.sh", "VG_1"],
    ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "FAULT", "80"],
  ]);
});

test("the same state twice is not a transition and runs nothing the second time", async () => {
  const runner = fakeRunner();
  const n = new Notifier({ config: { any: ["/n.sh"], timeout: 1000 }, runner });
  n.notify("VI_1", "MASTER", 100);
  n.notify("VI_1", "MASTER", 90);
  n.notify("VI_1", "BACKUP", 90);
  n.notify("VI_1", "MASTER", 100);
  await n.flush();
  assert.deepEqual(
    runner.argvs.map((a) => a[3]),
    ["MASTER", "BACKUP", "MASTER"],
  );
});

test("failures are logged with event keys and never thrown; later notifications still run", async () => {
  const { log, lines } = capturingLog();
  const runner = fakeRunner((argv) => (argv[0] === "/bad.sh" ? { exitCode: 3, stderr: "no mail relay" } : argv[0] === "/broken.sh" ? "throw" : {}));
  const n = new Notifier({ config: { master: ["/bad.sh"], backup: ["/broken.sh"], any: ["/ok.sh"], timeout: 1000 }, runner, log });
  n.notify("VI_1", "MASTER", 100);
  n.notify("VI_1", "BACKUP", 90);
  await n.flush();
  const failed = lines.filter((l) => l.event === "notify.failed");
  assert.equal(failed[0].error, "exit code 3: no mail relay");
  assert.ok(failed.length >= 2, JSON.stringify(lines));
  assert.ok(lines.some((l) => l.event === "notify.run" && (l.argv as string[])[0] === "/ok.sh" && l.state === "MASTER"));
});

test("a hung script is killed at notify.timeout and the group's next notification then runs", async () => {
  const { log, lines } = capturingLog();
  const runner = fakeRunner((argv) => (argv[0] === "/hang.sh" ? "hang" : {}));
  const n = new Notifier({ config: { master: ["/hang.sh"], backup: ["/b.sh"], timeout: 100 }, runner, log });
  const t0 = Date.now();
  n.notify("VI_1", "MASTER", 100);
  n.notify("VI_1", "BACKUP", 90);
  assert.ok(Date.now() - t0 < 20, "the caller is never blocked");
  await n.flush();
  assert.deepEqual(runner.argvs, [["/hang.sh"], ["/b.sh"]]);
  assert.ok(lines.some((l) => l.event === "notify.failed" && l.error === "timed out after 100ms (killed)"));
});

test("script_user: notify scripts run with the user's uid/gid; an unknown user is logged, not thrown", async () => {
  const runner = new FakeRunner({ users: { kvscript: [2001, 2002] } });
  const seen = () => runner.calls.map((c) => c.options);

  const n = new Notifier({ config: { any: ["/n.sh"], timeout: 1000 }, runner, scriptUser: "kvscript" });
  n.notify("VI_1", "MASTER", 100);
  await n.flush();
  assert.equal(seen()[0].uid, 2001);
  assert.equal(seen()[0].gid, 2002);

  const { log, lines } = capturingLog();
  const m = new Notifier({ config: { any: ["/n.sh"], timeout: 1000 }, runner, scriptUser: "ghost", log });
  m.notify("VI_1", "MASTER", 100);
  await m.flush();
  assert.equal(seen().length, 1, "nothing ran as the wrong user");
  assert.ok(lines.some((l) => l.event === "notify.failed" && /script_user "ghost"/.test(String(l.error))));
});

test("reconfigure (an agent SIGHUP): the next transition runs the new scripts", async () => {
  const runner = fakeRunner();
  const n = new Notifier({ config: { master: ["/old-master.sh"], timeout: 1000 }, runner });
  n.notify("VI_1", "MASTER", 100);
  await n.flush();
  n.reconfigure({ master: ["/new-master.sh"], backup: ["/new-backup.sh"], timeout: 1000 });
  n.notify("VI_1", "BACKUP", 90);
  n.notify("VI_1", "MASTER", 100);
  await n.flush();
  assert.deepEqual(runner.argvs, [["/old-master.sh"], ["/new-backup.sh"], ["/new-master.sh"]]);
});

// ------------------------------------------------------------------ a group's own scripts (groups.NAME.notify)

const OWN: GroupNotifyConfig = {
  master: ["/etc/keepvip/vi1-master.sh"],
  fault: ["/etc/keepvip/vi1-fault.sh", "page"],
  any: ["/etc/keepvip/vi1-notify.sh"],
};

const groupPlans: Array<[string, NotifyConfig, GroupNotifyConfig | undefined, Parameters<typeof planNotify>[2], string[][]]> = [
  [
    "the group's specific, the group's any, the node-wide specific, the node-wide any",
    ALL,
    OWN,
    "MASTER",
    [
      ["/etc/keepvip/vi1-master.sh"],
      ["/etc/keepvip/vi1-notify.sh", "INSTANCE", "VI_1", "MASTER", "100"],
      ["/etc/keepvip/to_master.sh", "VI_1-arg"],
      ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "MASTER", "100"],
    ],
  ],
  [
    "the group has no script for the state: its any, then the node-wide ones",
    ALL,
    OWN,
    "BACKUP",
    [
      ["/etc/keepvip/vi1-notify.sh", "INSTANCE", "VI_1", "BACKUP", "100"],
      ["/etc/keepvip/to_backup.sh"],
      ["/etc/keepvip/notify.sh", "--from-keepvip", "INSTANCE", "VI_1", "BACKUP", "100"],
    ],
  ],
  [
    "group scripts only (no node-wide notify): the group's extra argument kept",
    { timeout: 1000 },
    OWN,
    "FAULT",
    [
      ["/etc/keepvip/vi1-fault.sh", "page"],
      ["/etc/keepvip/vi1-notify.sh", "INSTANCE", "VI_1", "FAULT", "100"],
    ],
  ],
  ["a group without scripts of its own: the node-wide ones alone", { stop: ["/s.sh"], timeout: 1000 }, undefined, "STOP", [["/s.sh"]]],
  ["an empty group notify adds nothing", { any: ["/n.sh"], timeout: 1000 }, {}, "MASTER", [["/n.sh", "INSTANCE", "VI_1", "MASTER", "100"]]],
  ["neither runs anything for this state", { master: ["/m.sh"], timeout: 1000 }, { backup: ["/b.sh"] }, "FAULT", []],
];
for (const [name, cfg, own, state, expected] of groupPlans) {
  test(`planNotify with the group's scripts: ${name}`, () => assert.deepEqual(planNotify(cfg, "VI_1", state, 100, own), expected));
}

test("groupNotify: the groups with scripts of their own, from the agent config", () => {
  const config = parseConfigText(
    agentConfigSchema,
    'node_id: lb1\ncoordinator: "127.0.0.1:7400"\ninsecure: true\ngroups:\n  VI_1: { interface: lan0, notify: { master: [/m1.sh], any: [/n1.sh] } }\n  VI_2: { interface: lan0 }\n',
    "agent.yaml",
  );
  assert.deepEqual([...groupNotify(config.groups)], [["VI_1", { master: ["/m1.sh"], any: ["/n1.sh"] }]]);
});

test("a group's own scripts run only for its transitions; the node-wide ones for every group", async () => {
  const runner = fakeRunner();
  const n = new Notifier({ config: { any: ["/node.sh"], timeout: 1000 }, groups: new Map([["VI_1", { any: ["/vi1.sh"] }]]), runner });
  n.notify("VI_1", "MASTER", 100);
  n.notify("VI_2", "MASTER", 100);
  await n.flush();
  // Groups run side by side: each group's scripts in order.
  const of = (group: string) => runner.argvs.filter((a) => a[2] === group);
  assert.deepEqual(of("VI_1"), [
    ["/vi1.sh", "INSTANCE", "VI_1", "MASTER", "100"],
    ["/node.sh", "INSTANCE", "VI_1", "MASTER", "100"],
  ]);
  assert.deepEqual(of("VI_2"), [["/node.sh", "INSTANCE", "VI_2", "MASTER", "100"]]);
  assert.equal(runner.argvs.length, 3);
});

test("reconfigure with group scripts (an agent SIGHUP): new ones run; a group left out has none of its own", async () => {
  const runner = fakeRunner();
  const n = new Notifier({ config: { timeout: 1000 }, groups: new Map([["VI_1", { master: ["/old-vi1.sh"] }]]), runner });
  n.notify("VI_1", "MASTER", 100);
  await n.flush();
  n.reconfigure({ timeout: 1000 }, new Map([["VI_2", { backup: ["/new-vi2.sh"] }]]));
  n.notify("VI_1", "BACKUP", 90);
  n.notify("VI_1", "MASTER", 100);
  n.notify("VI_2", "BACKUP", 90);
  await n.flush();
  assert.deepEqual(runner.argvs, [["/old-vi1.sh"], ["/new-vi2.sh"]]);
});
