import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { isLive, liveState, ProcStatWatch } from "../../agent/nginx/process.js";

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (check()) return true;
  return check();
}

test("a held /proc/PID/stat: live while it runs, dead as a zombie, dead once reaped", async (t) => {
  // `sleep 300 &` under a parent that never waits: killed, the grandchild stays a zombie
  // as long as that parent lives (an adopted master under an init that does not reap).
  const parent = spawn("/bin/sh", ["-c", "sleep 300 & echo $!; exec sleep 300"], { stdio: ["ignore", "pipe", "ignore"] });
  t.after(() => parent.kill("SIGKILL"));
  const [line] = (await once(parent.stdout, "data")) as [Buffer];
  const pid = Number(line.toString().trim());
  const watch = new ProcStatWatch(pid);
  t.after(() => watch.close());
  for (let i = 0; i < 3; i++) assert.equal(watch.live(), true, `look ${i}: running`);
  process.kill(pid, "SIGKILL");
  assert.ok(await until(() => !watch.live()), "a zombie is dead");
  assert.equal(await isLive(pid), false, "isLive agrees");
  parent.kill("SIGKILL");
  await once(parent, "exit");
  // Reparented and reaped: the held file now fails to read, and stays dead.
  assert.ok(await until(() => !watch.live()));
  assert.equal(watch.live(), false);
});

test("no such process, or a pid that is no pid: never live", () => {
  for (const pid of [0, -1, 1.5, 2 ** 22 + 1]) assert.equal(new ProcStatWatch(pid).live(), false, String(pid));
});

test("the agent's own stat: live on every look (the file is read from its start each time)", () => {
  const w = new ProcStatWatch(process.pid);
  try {
    for (let i = 0; i < 100; i++) assert.equal(w.live(), true);
  } finally {
    w.close();
  }
});

test("liveState: every /proc state lives but a zombie (Z) and a dead one (X)", () => {
  for (const [state, live] of [
    ["R", true],
    ["S", true],
    ["D", true],
    ["T", true],
    ["t", true],
    ["I", true],
    ["Z", false],
    ["X", false],
  ] as const)
    assert.equal(liveState(state), live, state);
});
