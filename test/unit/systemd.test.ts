import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunResult } from "../../shared/exec/runner.js";
import { FakeRunner } from "../support/fake-runner.js";
import { Readiness, notifyReady, notifyStatus, oneLine, planNotify, type NotifyEnvironment, type NotifyMessage } from "../../shared/systemd.js";

const UNDER_SYSTEMD: NotifyEnvironment = { notifySocket: "/run/systemd/notify", pid: 4242 };
const OUTSIDE: NotifyEnvironment = { notifySocket: undefined, pid: 4242 };

const cases: Array<{ name: string; message: NotifyMessage; env: NotifyEnvironment; argv: string[] | undefined }> = [
  { name: "ready under systemd names our pid as MAINPID", message: { ready: true }, env: UNDER_SYSTEMD, argv: ["systemd-notify", "--pid=4242", "--ready"] },
  {
    name: "ready with a status line sends both in one message",
    message: { ready: true, status: "listening on 127.0.0.1:7400" },
    env: UNDER_SYSTEMD,
    argv: ["systemd-notify", "--pid=4242", "--ready", "--status=listening on 127.0.0.1:7400"],
  },
  {
    name: "a status alone is not readiness",
    message: { status: "waiting for the coordinator" },
    env: UNDER_SYSTEMD,
    argv: ["systemd-notify", "--pid=4242", "--status=waiting for the coordinator"],
  },
  { name: "nothing runs outside systemd (NOTIFY_SOCKET unset)", message: { ready: true, status: "x" }, env: OUTSIDE, argv: undefined },
  { name: "an empty NOTIFY_SOCKET counts as unset", message: { ready: true }, env: { notifySocket: "", pid: 1 }, argv: undefined },
  { name: "an empty message sends nothing", message: {}, env: UNDER_SYSTEMD, argv: undefined },
  {
    name: "a configured program path is used",
    message: { ready: true },
    env: { ...UNDER_SYSTEMD, program: "/usr/bin/systemd-notify" },
    argv: ["/usr/bin/systemd-notify", "--pid=4242", "--ready"],
  },
  {
    name: "a multi-line status becomes one line (it is one argv element, never a shell string)",
    message: { status: "a\nb; rm -rf /\t c" },
    env: UNDER_SYSTEMD,
    argv: ["systemd-notify", "--pid=4242", "--status=a b; rm -rf / c"],
  },
];

for (const c of cases) {
  test(`planNotify: ${c.name}`, () => {
    assert.deepEqual(planNotify(c.message, c.env), c.argv);
  });
}

test("oneLine caps long status lines with an ellipsis", () => {
  const long = "x".repeat(500);
  assert.equal(oneLine(long).length, 200);
  assert.ok(oneLine(long).endsWith("…"));
  assert.equal(oneLine("  short  "), "short");
});

/** Runs finish at once with `result` (exit 0 by default). */
const fakeRunner = (result: Partial<RunResult> = {}) => new FakeRunner({ reply: () => result });

test("notifyReady and notifyStatus run the planned argv and report the outcome", async () => {
  const r = fakeRunner();
  assert.deepEqual(await notifyReady(r, "up", UNDER_SYSTEMD), { sent: true, error: "" });
  assert.deepEqual(await notifyStatus(r, "still up", UNDER_SYSTEMD), { sent: true, error: "" });
  assert.deepEqual(r.argvs, [
    ["systemd-notify", "--pid=4242", "--ready", "--status=up"],
    ["systemd-notify", "--pid=4242", "--status=still up"],
  ]);
});

test("a missing systemd-notify is reported, not thrown", async () => {
  const r = fakeRunner({ exitCode: -1, spawnError: "ENOENT" });
  assert.deepEqual(await notifyReady(r, undefined, UNDER_SYSTEMD), { sent: true, error: "ENOENT" });
});

test("outside systemd nothing is run", async () => {
  const r = fakeRunner();
  assert.deepEqual(await notifyReady(r, "up", OUTSIDE), { sent: false, error: "" });
  assert.equal(r.argvs.length, 0);
});

const settle = () => new Promise((r) => setImmediate(r));

test("Readiness: READY once, from the event; the deadline after it does nothing", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const r = fakeRunner();
  const ready = new Readiness(r, () => undefined, UNDER_SYSTEMD);
  ready.readyBy(10_000, "coordinator unreachable");
  ready.ready("connected");
  t.mock.timers.tick(20_000);
  ready.ready("reconnected");
  await settle();
  assert.deepEqual(r.argvs, [
    ["systemd-notify", "--pid=4242", "--ready", "--status=connected"],
    ["systemd-notify", "--pid=4242", "--status=reconnected"],
  ]);
  assert.equal(ready.isReady, true);
});

test("Readiness: the deadline sends READY when the event never comes (a host whose coordinator is down still boots)", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const r = fakeRunner();
  const ready = new Readiness(r, () => undefined, UNDER_SYSTEMD);
  ready.readyBy(10_000, "coordinator unreachable: fail-static");
  t.mock.timers.tick(9_999);
  await settle();
  assert.equal(r.argvs.length, 0);
  t.mock.timers.tick(1);
  await settle();
  assert.deepEqual(r.argvs, [["systemd-notify", "--pid=4242", "--ready", "--status=coordinator unreachable: fail-static"]]);
  ready.ready("connected");
  await settle();
  assert.deepEqual(r.argvs[1], ["systemd-notify", "--pid=4242", "--status=connected"], "the late event only updates the status");
});

test("Readiness: a failed notification is handed to onError", async () => {
  const errors: string[] = [];
  const ready = new Readiness(fakeRunner({ exitCode: 1, stderr: "No such file or directory\n" }), (e) => errors.push(e), UNDER_SYSTEMD);
  ready.ready("x");
  await settle();
  await settle();
  assert.deepEqual(errors, ["No such file or directory"]);
});
