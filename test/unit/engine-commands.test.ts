/** Commands to agents: planner actions on the wire, their lifetimes, and the tracker that forgets them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CommandTracker,
  commandLifetimeMs,
  commandMessage,
  commandsFor,
  type ExpiryCause,
  type OutgoingCommand,
  type TrackedCommand,
} from "../../coordinator/cluster/commands.js";
import { initialRuntime } from "../../coordinator/election/planner.js";
import { ManualScheduler } from "../support/manual-scheduler.js";
import { syncUnits, units } from "./engine-fixtures.js";

const timing = { ackTimeoutMs: 500, verifyTimeoutMs: 200 };
const target = { node: "lb1", unit: "VI_1", group: "VI_1", epoch: 3 };

test("command lifetimes: what the planner waits for, plus one ack timeout", () => {
  const cases: Array<{ name: string; command: OutgoingCommand; lifetimeMs: number }> = [
    {
      name: "acquire: the ack timeout, twice",
      command: { ...target, action: "acquire", vips: [], takeover: false, forwardMs: 0, reason: "" },
      lifetimeMs: 1000,
    },
    {
      name: "release at once: the ack timeout, twice",
      command: { ...target, action: "release", vips: [], afterMs: 0, drainMs: 0, reason: "" },
      lifetimeMs: 1000,
    },
    {
      name: "release after the planned overlap: the overlap first",
      command: { ...target, action: "release", vips: [], afterMs: 300, drainMs: 0, reason: "" },
      lifetimeMs: 1300,
    },
    {
      name: "verify: the verification, then the ack timeout, twice",
      command: { ...target, action: "verify", vips: [], port: 80, path: "/", timeoutMs: 200 },
      lifetimeMs: 1200,
    },
  ];
  for (const c of cases) assert.equal(commandLifetimeMs(c.command, timing), c.lifetimeMs, c.name);
});

test("commandsFor: acquire and release go to every group of a sync unit, verify to its first group", () => {
  const [unit] = syncUnits();
  const rt = { ...initialRuntime(7, null) };
  const cases: Array<{ name: string; action: Parameters<typeof commandsFor>[2]; want: Array<Pick<OutgoingCommand, "action" | "group" | "epoch" | "node">> }> = [
    {
      name: "acquire",
      action: { type: "acquire", node: "lb2", epoch: 8, takeover: true, forward: false, reason: "r" },
      want: [
        { action: "acquire", group: "VI_1", epoch: 8, node: "lb2" },
        { action: "acquire", group: "VI_2", epoch: 8, node: "lb2" },
      ],
    },
    {
      name: "release",
      action: { type: "release", node: "lb1", epoch: 8, afterMs: 20, drain: false, reason: "r" },
      want: [
        { action: "release", group: "VI_1", epoch: 8, node: "lb1" },
        { action: "release", group: "VI_2", epoch: 8, node: "lb1" },
      ],
    },
    {
      name: "verify carries the unit's epoch",
      action: { type: "verify", node: "lb2", reason: "r" },
      want: [{ action: "verify", group: "VI_1", epoch: 7, node: "lb2" }],
    },
  ];
  for (const c of cases) {
    const got = commandsFor(unit, rt, c.action, 50).map((x) => ({ action: x.action, group: x.group, epoch: x.epoch, node: x.node }));
    assert.deepEqual(got, c.want, c.name);
  }
});

test("commandsFor: a dual-stack group's VIPs go out together, IPv6 compressed; verify keeps the configured order (the first is probed)", () => {
  const rt = { ...initialRuntime(4, null) };
  const vipsOf = (spec: string, a: Parameters<typeof commandsFor>[2]) => commandsFor(units([spec])[0], rt, a, 50).map((c) => [c.action, c.vips]);
  const acquire = { type: "acquire", node: "lb2", epoch: 5, takeover: true, forward: false, reason: "r" } as const;
  const release = { type: "release", node: "lb1", epoch: 5, afterMs: 0, drain: false, reason: "r" } as const;
  const verify = { type: "verify", node: "lb2", reason: "r" } as const;
  const table: Array<[spec: string, vips: string[]]> = [
    ["VI_1=2001:db8::100/64", ["2001:db8::100/64"]],
    ["VI_1=2001:DB8:0:0::0100/64", ["2001:db8::100/64"]],
    ["VI_1=fd00::1", ["fd00::1/128"]],
    ["VI_1=198.18.0.100/24,2001:db8::100/64", ["198.18.0.100/24", "2001:db8::100/64"]],
    ["VI_1=2001:db8::100/64,198.18.0.100/24", ["2001:db8::100/64", "198.18.0.100/24"]],
  ];
  for (const [spec, vips] of table) {
    for (const a of [acquire, release, verify]) assert.deepEqual(vipsOf(spec, a), [[a.type, vips]], `${spec} ${a.type}`);
  }
});

test("commandMessage: each command's wire form, under the leader's term (0 by default: a single coordinator)", () => {
  assert.deepEqual(commandMessage({ ...target, action: "acquire", vips: ["198.18.0.100/24"], takeover: true, forwardMs: 0, reason: "why" }, "c1"), {
    body: {
      $case: "command",
      value: {
        commandId: "c1",
        group: "VI_1",
        epoch: 3,
        action: { $case: "acquire", value: { vips: ["198.18.0.100/24"], takeover: true, forwardMs: 0 } },
        reason: "why",
        term: 0,
      },
    },
  });
  assert.deepEqual(commandMessage({ ...target, action: "release", vips: ["198.18.0.100/24"], afterMs: 20, drainMs: 0, reason: "why" }, "c2", 12), {
    body: {
      $case: "command",
      value: {
        commandId: "c2",
        group: "VI_1",
        epoch: 3,
        action: { $case: "release", value: { vips: ["198.18.0.100/24"], afterMs: 20, drainMs: 0, memberAddresses: [] } },
        reason: "why",
        term: 12,
      },
    },
  });
  assert.deepEqual(commandMessage({ ...target, action: "verify", vips: ["198.18.0.100/24"], port: 10016, path: "/aaa", timeoutMs: 50 }, "c3"), {
    body: { $case: "verify", value: { commandId: "c3", group: "VI_1", vips: ["198.18.0.100/24"], port: 10016, path: "/aaa", timeoutMs: 50 } },
  });
});

function tracker() {
  const scheduler = new ManualScheduler();
  const expired: Array<[string, ExpiryCause]> = [];
  const live = new Set<string>();
  const t = new CommandTracker(
    scheduler,
    (id, _c, cause) => expired.push([id, cause]),
    (sessionId) => live.has(sessionId),
  );
  const cmd = (sessionId: string, seq?: number, unit = target.unit, node = target.node): TrackedCommand => ({
    ...target,
    unit,
    node,
    action: "acquire",
    sessionId,
    sentMs: scheduler.now(),
    seq,
  });
  return { scheduler, expired, t, cmd, live };
}

test("command tracker: a command on its way over a live session outlives its lifetime until delivered, then waits a whole lifetime for its answer", async () => {
  const { t, cmd, scheduler, expired, live } = tracker();
  live.add("s1");
  t.track("a", cmd("s1", 1), 1000);
  t.track("b", cmd("s1", 2), 1000);
  t.track("old", cmd("s1"), 1000); // sent before the agent counted: nobody will say it arrived
  assert.deepEqual([...t.onTheWay(target.unit)], [target.node]);
  await scheduler.advance(2500);
  assert.deepEqual(expired, [["old", "timeout"]], "a and b are still on their way to a live agent");
  // The agent reports one command received: a is delivered, b still on its way.
  assert.deepEqual(
    t.delivered("s1", 1).map((c) => c.seq),
    [1],
  );
  assert.deepEqual(t.delivered("s1", 1), [], "delivered once");
  await scheduler.advance(999);
  assert.equal(t.settle("a")?.seq, 1, "its answer, 999 ms after the delivery, settles it");
  t.delivered("s1", 2);
  assert.deepEqual([...t.onTheWay(target.unit)], [], "nothing on its way");
  await scheduler.advance(1000);
  assert.deepEqual(expired.at(-1), ["b", "timeout"], "delivered and unanswered: expires a lifetime after the delivery");
  assert.equal(t.size, 0);
});

test("command tracker: a command on its way over a session gone silent expires; a delivery speaks only for its own session", async () => {
  const { t, cmd, scheduler, expired, live } = tracker();
  live.add("s1");
  t.track("a", cmd("s1", 1, "VI_1", "lb1"), 1000);
  t.track("b", cmd("s2", 1, "VI_2", "lb2"), 1000);
  assert.deepEqual(t.delivered("s2", 5), [cmd("s2", 1, "VI_2", "lb2")], "a count above what was sent delivers what was sent");
  assert.deepEqual([...t.onTheWay("VI_1")], ["lb1"]);
  assert.deepEqual([...t.onTheWay("VI_2")], []);
  await scheduler.advance(1000);
  assert.deepEqual(expired, [["b", "timeout"]]);
  live.delete("s1");
  await scheduler.advance(1000);
  assert.deepEqual(expired.at(-1), ["a", "timeout"], "silent: no longer waited for");
  assert.deepEqual([...t.onTheWay("VI_1")], []);
});

test("command tracker: an answer settles its command once", () => {
  const { t, cmd, scheduler } = tracker();
  t.track("a", cmd("s1"), 1000);
  assert.equal(t.settle("a")?.sessionId, "s1");
  assert.equal(t.settle("a"), undefined, "a second answer finds nothing");
  assert.equal(t.settle("unknown"), undefined);
  assert.equal(scheduler.pending, 0, "its timer is gone with it");
});

test("command tracker: an unanswered command expires after its lifetime, not before", async () => {
  const { t, cmd, scheduler, expired } = tracker();
  t.track("a", cmd("s1"), 1000);
  t.track("b", cmd("s1"), 3000);
  await scheduler.advance(999);
  assert.equal(t.size, 2);
  await scheduler.advance(1);
  assert.deepEqual(expired, [["a", "timeout"]]);
  assert.equal(t.settle("a"), undefined, "a late answer finds nothing");
  assert.ok(t.has("b"));
  await scheduler.advance(2000);
  assert.deepEqual(expired, [
    ["a", "timeout"],
    ["b", "timeout"],
  ]);
  assert.equal(t.size, 0);
});

test("command tracker: an expiry that runs late (the coordinator was stalled) gives the command that time again, so an answer sitting unread is still taken", async () => {
  const { t, cmd, scheduler, expired } = tracker();
  t.track("a", cmd("s1"), 1000);
  t.track("b", cmd("s1"), 1000);
  await scheduler.advance(900);
  // The loop is blocked for 600 ms: both expiries fall due inside the stall and run 500 ms late.
  scheduler.stall(600);
  await scheduler.advance(0);
  assert.deepEqual(expired, [], "not given up at once");
  // The poll phase reads a's answer.
  assert.equal(t.settle("a")?.sessionId, "s1", "the answer that sat unread settles its command");
  // b's answer never comes: it expires once the time it ran late has passed again.
  await scheduler.advance(499);
  assert.deepEqual(expired, []);
  await scheduler.advance(1);
  assert.deepEqual(expired, [["b", "timeout"]]);
  assert.equal(t.size, 0);
});

test("command tracker: a closed session takes its commands with it, and only its own", async () => {
  const { t, cmd, scheduler, expired } = tracker();
  t.track("a", cmd("s1"), 1000);
  t.track("b", cmd("s2"), 1000);
  t.track("c", cmd("s1"), 1000);
  assert.deepEqual(
    t.sessionClosed("s1").map((c) => c.sessionId),
    ["s1", "s1"],
  );
  assert.deepEqual(expired, [
    ["a", "session-closed"],
    ["c", "session-closed"],
  ]);
  assert.equal(t.settle("a"), undefined);
  assert.ok(t.has("b"));
  assert.equal(scheduler.pending, 1, "the dropped commands' timers are cleared");
  await scheduler.advance(1000);
  assert.deepEqual(expired.at(-1), ["b", "timeout"], "a dropped command does not expire a second time");
  assert.equal(expired.length, 3);
});

test("command tracker: clear forgets everything without expiry callbacks", async () => {
  const { t, cmd, scheduler, expired } = tracker();
  t.track("a", cmd("s1"), 1000);
  t.clear();
  await scheduler.advance(5000);
  assert.equal(t.size, 0);
  assert.deepEqual(expired, []);
});

test("commandsFor: a planned move forwards and drains for the group's drain_timeout; a takeover and a conflict release do neither; drain_timeout 0 keeps the overlap", () => {
  const [unit] = syncUnits();
  const rt = { ...initialRuntime(7, null) };
  const pick = (a: Parameters<typeof commandsFor>[2], u = unit) =>
    commandsFor(u, rt, a, 50).map((c) =>
      c.action === "acquire"
        ? `${c.group} acquire forward ${c.forwardMs}`
        : c.action === "release"
          ? `${c.group} release after ${c.afterMs} drain ${c.drainMs}${c.memberAddresses ? ` members ${c.memberAddresses.join(",")}` : ""}`
          : c.action,
    );
  assert.deepEqual(pick({ type: "acquire", node: "lb2", epoch: 8, takeover: false, forward: true, reason: "r" }), [
    "VI_1 acquire forward 30000",
    "VI_2 acquire forward 30000",
  ]);
  assert.deepEqual(pick({ type: "acquire", node: "lb2", epoch: 8, takeover: true, forward: false, reason: "r" }), [
    "VI_1 acquire forward 0",
    "VI_2 acquire forward 0",
  ]);
  // A drain is told the members' addresses (their probes are not flows to wait for).
  assert.deepEqual(pick({ type: "release", node: "lb1", epoch: 8, afterMs: 300, drain: true, reason: "r" }), [
    "VI_1 release after 0 drain 30000 members 198.18.0.11,198.18.0.12",
    "VI_2 release after 0 drain 30000 members 198.18.0.11,198.18.0.12",
  ]);
  assert.deepEqual(pick({ type: "release", node: "lb1", epoch: 8, afterMs: 0, drain: false, reason: "r" }), [
    "VI_1 release after 0 drain 0",
    "VI_2 release after 0 drain 0",
  ]);
  const off = { ...unit, configs: unit.configs.map((c) => ({ ...c, drain_timeout: 0 })) };
  assert.deepEqual(pick({ type: "release", node: "lb1", epoch: 8, afterMs: 300, drain: true, reason: "r" }, off), [
    "VI_1 release after 300 drain 0",
    "VI_2 release after 300 drain 0",
  ]);
  assert.deepEqual(pick({ type: "acquire", node: "lb2", epoch: 8, takeover: false, forward: true, reason: "r" }, off), [
    "VI_1 acquire forward 0",
    "VI_2 acquire forward 0",
  ]);
});
