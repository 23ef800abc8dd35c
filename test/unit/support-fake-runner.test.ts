import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeRunner } from "../support/fake-runner.js";

test("FakeRunner records each run and answers with the reply (exit 0, empty output by default)", async () => {
  const runner = new FakeRunner({ reply: (argv) => (argv[0] === "/bad.sh" ? { exitCode: 3, stderr: "no" } : {}) });
  const ok = await runner.run(["/ok.sh", "a"], { timeoutMs: 50 });
  const bad = await runner.run(["/bad.sh"]);
  assert.deepEqual([ok.exitCode, ok.stdout, ok.timedOut, bad.exitCode, bad.stderr], [0, "", false, 3, "no"]);
  assert.deepEqual(runner.argvs, [["/ok.sh", "a"], ["/bad.sh"]]);
  assert.equal(runner.calls[0].options.timeoutMs, 50);
  assert.ok(runner.calls.every((c) => c.endedAt !== undefined));
});

test("FakeRunner: a hung run ends only when aborted (SIGKILL); a thrown reply rejects", async () => {
  const runner = new FakeRunner({ reply: (argv) => (argv[0] === "/hang.sh" ? { hang: true } : { throws: "runner broke" }) });
  const abort = new AbortController();
  const hung = runner.run(["/hang.sh"], { signal: abort.signal });
  await new Promise((r) => setImmediate(r));
  assert.equal(runner.inFlight, 1);
  abort.abort();
  assert.deepEqual([(await hung).exitCode, (await hung).signal], [-1, "SIGKILL"]);
  assert.equal(runner.inFlight, 0);
  await assert.rejects(runner.run(["/x.sh"]), /runner broke/);
});

test("FakeRunner: manual runs finish in order on finishOne(), and overlap is counted", async () => {
  const runner = new FakeRunner({ finish: "manual" });
  const done: string[] = [];
  const a = runner.run(["a"]).then(() => done.push("a"));
  const b = runner.run(["b"]).then(() => done.push("b"));
  assert.equal(runner.maxInFlight, 2);
  runner.finishOne();
  await a;
  assert.deepEqual(done, ["a"]);
  runner.finishOne();
  await b;
  assert.deepEqual(done, ["a", "b"]);
});

test("FakeRunner answers id -u/-g for known users without recording them; an unknown user fails", async () => {
  const runner = new FakeRunner({ users: { kvscript: [2001, 2002] } });
  assert.equal((await runner.run(["id", "-u", "kvscript"])).stdout, "2001");
  assert.equal((await runner.run(["id", "-g", "kvscript"])).stdout, "2002");
  const ghost = await runner.run(["id", "-u", "ghost"]);
  assert.equal(ghost.exitCode, 1);
  assert.match(ghost.stderr, /no such user/);
  assert.equal(runner.calls.length, 0);
});
