/**
 * Track and notify scripts run for real (bash scripts in a temp dir, the real
 * CommandRunner): a hung script is killed at its timeout and counts as failed,
 * scripts run as script_user, and notify scripts get keepalived's arguments in
 * order.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { isLive } from "../../agent/nginx/process.js";
import { Notifier } from "../../agent/notify/notify.js";
import { runScript } from "../../agent/tracks/script-run.js";
import { TrackScripts } from "../../agent/tracks/scripts.js";
import type { TrackScriptConfig } from "../../shared/config/agent.js";
import { waitFor } from "../support/wait.js";

const runner = createCommandRunner();

describe("track and notify scripts, run for real", () => {
  let dir: string;
  const stoppers: Array<() => void> = [];

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/bash\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvB-scripts-"));
    // Readable and executable by `nobody` for the script_user case.
    await chmod(dir, 0o755);
    await mkdir(join(dir, "out"), { mode: 0o777 });
    await chmod(join(dir, "out"), 0o777);
  });
  after(async () => {
    for (const stop of stoppers) stop();
    await rm(dir, { recursive: true, force: true });
  });

  function tracks(cfg: Record<string, Partial<TrackScriptConfig> & { script: string[] }>, scriptUser?: string): TrackScripts {
    const full = Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, { interval: 300, rise: 1, fall: 1, ...v }]));
    const t = new TrackScripts({ tracks: full, runner, scriptUser });
    stoppers.push(() => t.stop());
    return t;
  }

  test("a hung script is killed at its timeout and counts as failed; a healthy one passes", async () => {
    const pidFile = join(dir, "out", "hung.pid");
    const hung = await script("hung.sh", `echo $$ > ${pidFile}\nexec sleep 30`);
    const healthy = await script("healthy.sh", `echo "nginx ok"`);
    const t = tracks({ chk_hung: { script: [hung], interval: 1000, timeout: 200 }, chk_ok: { script: [healthy] } });
    const started = Date.now();
    t.start();
    await t.ready();
    const tookMs = Date.now() - started;
    const byName = Object.fromEntries(t.current().map((r) => [r.name, r]));
    assert.deepEqual(byName.chk_hung, { name: "chk_hung", passing: false, detail: "timed out after 200ms (killed)" });
    assert.deepEqual(byName.chk_ok, { name: "chk_ok", passing: true, detail: "nginx ok" });
    assert.ok(tookMs < 600, `the verdict came at the deadline (${tookMs} ms)`);
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    await waitFor(async () => !(await isLive(pid)), { what: "the hung script's process to be gone", timeoutMs: 2000 });
  });

  test("a script whose child lingers after the kill fails at the deadline, not when the child exits", async () => {
    const childPid = join(dir, "out", "linger.pid");
    const lingering = await script("lingering.sh", `sleep 1 &\necho $! > ${childPid}\nwait\necho done`);
    const t = tracks({ chk_linger: { script: [lingering], interval: 300, timeout: 150 } });
    const started = Date.now();
    t.start();
    await t.ready();
    assert.ok(Date.now() - started < 500, `failed after ${Date.now() - started} ms`);
    assert.equal(t.current()[0].detail, "timed out after 150ms (killed)");
    t.stop();
    // Its `sleep 1` ends on its own; wait for that so nothing of ours outlives the test.
    const pid = Number((await readFile(childPid, "utf8")).trim());
    await waitFor(async () => !(await isLive(pid)), { what: "the lingering child to exit", timeoutMs: 3000, intervalMs: 20 });
  });

  test("a run that ended in time is not judged timed out because this process stalled past its deadline", async () => {
    const marker = join(dir, "out", "ran");
    const quick = await script("quick.sh", `touch ${marker}\necho fine`);
    const run = runScript(runner, [quick], 100, {});
    // Block the event loop from the moment the script runs until well past its deadline: its
    // exit waits unread while the deadline timer is due, as on a CPU-starved host.
    const until = Date.now() + 2000;
    while (!existsSync(marker) && Date.now() < until) {
      // busy: the script is being started
    }
    const blockedUntil = Date.now() + 400;
    while (Date.now() < blockedUntil) {
      // busy: this process stalls
    }
    assert.deepEqual(await run.outcome, { ok: true, detail: "fine", timedOut: false });
    await run.done;
    // A run that really hangs still fails at its deadline.
    const hung = runScript(runner, [await script("hang.sh", "exec sleep 5")], 100, {});
    assert.equal((await hung.outcome).timedOut, true);
    await hung.done;
  });

  test("script_user: the script runs as that user", async () => {
    const out = join(dir, "out", "uid.txt");
    const who = await script("who.sh", `id -u > ${out}`);
    const t = tracks({ chk_user: { script: [who] } }, "nobody");
    t.start();
    await t.ready();
    assert.equal(t.current()[0].passing, true, t.current()[0].detail);
    const nobody = (await runner.run(["id", "-u", "nobody"])).stdout.trim();
    assert.equal((await readFile(out, "utf8")).trim(), nobody);
    assert.notEqual(nobody, "0");
  });

  test("notify scripts get keepalived's arguments, in transition order", async () => {
    const log = join(dir, "out", "notify.log");
    const record = await script("record.sh", `echo "$(basename "$0") $*" >> ${log}`);
    const n = new Notifier({
      config: { master: [record, "to-master"], backup: [record, "to-backup"], fault: [record, "to-fault"], any: [record, "any"], timeout: 5000 },
      runner,
    });
    n.notify("VI_1", "MASTER", 100);
    n.notify("VI_1", "FAULT", 80);
    n.notify("VI_1", "BACKUP", 90);
    await n.flush();
    assert.deepEqual((await readFile(log, "utf8")).trim().split("\n"), [
      "record.sh to-master",
      "record.sh any INSTANCE VI_1 MASTER 100",
      "record.sh to-fault",
      "record.sh any INSTANCE VI_1 FAULT 80",
      "record.sh to-backup",
      "record.sh any INSTANCE VI_1 BACKUP 90",
    ]);
  });
});
