/** Is a SIGTERM a restart? The cgroup's unit and systemd's job list, parsed; the one command, with a fake runner. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasRestartJob, stopIsRestart, unitFromCgroup } from "../../agent/restart.js";
import { FakeRunner } from "../support/fake-runner.js";

test("unitFromCgroup: the service the process runs in, from cgroup v2 and v1 lines", () => {
  const cases: Array<[string, string, string | undefined]> = [
    ["cgroup v2", "0::/system.slice/keepvip-agent.service\n", "keepvip-agent.service"],
    ["a template instance", "0::/system.slice/system-keepvip.slice/keepvip-agent@lan.service\n", "keepvip-agent@lan.service"],
    ["cgroup v1", "12:pids:/system.slice/keepvip-agent.service\n1:name=systemd:/system.slice/keepvip-agent.service\n", "keepvip-agent.service"],
    ["a login shell (no service)", "0::/user.slice/user-0.slice/session-3.scope\n", undefined],
    ["a container root", "0::/\n", undefined],
  ];
  for (const [what, text, unit] of cases) assert.equal(unitFromCgroup(text), unit, what);
});

test("hasRestartJob: only a restart-type job of this unit", () => {
  const unit = "keepvip-agent.service";
  const cases: Array<[string, string, boolean]> = [
    ["systemctl restart", "1234 keepvip-agent.service restart running\n", true],
    ["systemctl try-restart", "1234 keepvip-agent.service try-restart running\n", true],
    ["systemctl stop", "1234 keepvip-agent.service stop running\n", false],
    ["no job (a kill by hand)", "", false],
    ["another unit restarting", "77 nginx.service restart running\n", false],
    ["several jobs, ours among them", "77 nginx.service start waiting\n1234 keepvip-agent.service restart running\n", true],
  ];
  for (const [what, out, expected] of cases) assert.equal(hasRestartJob(out, unit), expected, what);
});

test("stopIsRestart: asks systemd only when systemd runs the agent, and any doubt is a stop", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-restart-"));
  try {
    const cgroup = join(dir, "cgroup");
    writeFileSync(cgroup, "0::/system.slice/keepvip-agent.service\n");
    const runner = (stdout: string, exitCode = 0) => new FakeRunner({ reply: () => ({ stdout, exitCode }) });

    const restarting = runner("1234 keepvip-agent.service restart running\n");
    assert.equal(await stopIsRestart(restarting, { INVOCATION_ID: "abc" }, cgroup), true);
    assert.deepEqual(restarting.calls[0]?.argv, ["systemctl", "list-jobs", "--no-legend", "--no-pager", "keepvip-agent.service"]);
    assert.equal(await stopIsRestart(runner("1234 keepvip-agent.service stop running\n"), { INVOCATION_ID: "abc" }, cgroup), false, "systemctl stop");
    assert.equal(await stopIsRestart(runner("", 1), { INVOCATION_ID: "abc" }, cgroup), false, "systemctl failed");
    const outside = runner("1234 keepvip-agent.service restart running\n");
    assert.equal(await stopIsRestart(outside, {}, cgroup), false, "not under systemd");
    assert.equal(outside.calls.length, 0, "and systemctl is not asked");
    assert.equal(await stopIsRestart(runner(""), { INVOCATION_ID: "abc" }, join(dir, "missing")), false, "no cgroup file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
