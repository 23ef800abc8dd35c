/**
 * TrackScripts scheduling with a fake runner and mocked timers (no sleeps):
 * interval cadence, rise/fall over runs, a hung script failed at its deadline
 * and never overlapped, run-time policy changes, script_user credentials.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { TrackScripts } from "../../agent/tracks/scripts.js";
import type { TrackResult } from "../../shared/gen/keepvip/v1/agent.js";
import type { TrackScriptConfig } from "../../shared/config/agent.js";
import { FakeRunner } from "../support/fake-runner.js";
import { TimerWheel } from "../../shared/timer-wheel.js";

/** A wheel on the mocked clock and timers (t.mock.timers mocks Date and setTimeout, not performance.now). */
const mockedWheel = () =>
  new TimerWheel({ now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) });

/** What one run of the fake script does: exit after `ms`, or hang until killed and linger `lingerMs`. */
type Behaviour = { exit: number; ms?: number; stdout?: string } | { hang: true; lingerMs: number };

function track(extra: Partial<TrackScriptConfig> = {}): TrackScriptConfig {
  return { script: ["/etc/keepvip/nginx_check.sh"], interval: 1000, rise: 1, fall: 1, ...extra };
}

/** Advances mocked time in small steps, letting promises settle between them. */
async function advance(t: TestContext, ms: number, step = 5): Promise<void> {
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  t.mock.timers.tick(0);
  await settle();
  for (let done = 0; done < ms; done += step) {
    t.mock.timers.tick(step);
    await settle();
  }
}

function setup(t: TestContext, behave: (n: number) => Behaviour, cfg: Partial<TrackScriptConfig> = {}, scriptUser?: string) {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const runner = new FakeRunner({
    reply: (_argv, n) => {
      const b = behave(n);
      return "hang" in b ? { hang: true, lingerMs: b.lingerMs } : { exitCode: b.exit, stdout: b.stdout ?? "", delayMs: b.ms ?? 10 };
    },
  });
  const tracks = new TrackScripts({ tracks: { chk_nginx: track(cfg) }, runner, scriptUser, wheel: mockedWheel() });
  const changes: TrackResult[] = [];
  tracks.onChange((r) => changes.push(r));
  t.after(() => tracks.stop());
  return { runner, tracks, changes };
}

test("runs at start, then every interval measured from each start", async (t) => {
  const { runner, tracks } = setup(t, () => ({ exit: 0, ms: 30 }));
  tracks.start();
  await advance(t, 3500);
  assert.deepEqual(
    runner.calls.map((c) => c.startedAt),
    [0, 1000, 2000, 3000],
  );
});

test("a track's timeout defaults to its interval: a hung run fails then", async (t) => {
  const { tracks, changes } = setup(t, (n) => (n === 0 ? { hang: true, lingerMs: 0 } : { exit: 0 }));
  tracks.start();
  await advance(t, 1100);
  assert.deepEqual(
    changes.slice(0, 1).map((c) => [c.passing, c.detail]),
    [[false, "timed out after 1000ms (killed)"]],
  );
});

test("rise/fall over real runs: fall 2 fails on the second failure in a row, and only changes are emitted", async (t) => {
  const results = [0, 1, 0, 1, 1, 0];
  const { tracks, changes } = setup(t, (n) => ({ exit: results[n] ?? 0, stdout: `run ${n}` }), { fall: 2 });
  tracks.start();
  await advance(t, 5500);
  assert.deepEqual(
    changes.map((c) => [c.passing, c.detail]),
    [
      [true, "run 0"],
      [false, "exit code 1: run 4"],
      [true, "run 5"],
    ],
  );
  assert.deepEqual(tracks.current(), [{ name: "chk_nginx", passing: true, detail: "run 5" }]);
});

test("a hung script fails at its timeout, is killed, and the next run waits until it has really ended", async (t) => {
  const { runner, tracks, changes } = setup(t, (n) => (n === 0 ? { hang: true, lingerMs: 700 } : { exit: 0 }), { interval: 1000, timeout: 500 });
  tracks.start();
  await advance(t, 505);
  assert.deepEqual(
    changes.map((c) => [c.passing, c.detail]),
    [[false, "timed out after 500ms (killed)"]],
    "failed at the deadline, not when it let go",
  );
  assert.ok(runner.calls[0].options.signal?.aborted, "the script was killed");
  await advance(t, 1500);
  assert.equal(runner.calls[0].endedAt, 1200);
  const next = runner.calls[1].startedAt;
  assert.ok(next >= 1200 && next <= 1205, `started after the hung run ended (500 + 700), not at 1000: ${next}`);
  assert.equal(runner.maxInFlight, 1, "runs never overlap");
  assert.equal(tracks.current()[0].passing, true);
});

test("a script that hangs at every run stays failing, one run at a time", async (t) => {
  const { runner, tracks } = setup(t, () => ({ hang: true, lingerMs: 0 }), { interval: 200, timeout: 100 });
  tracks.start();
  await advance(t, 990);
  assert.deepEqual(
    runner.calls.map((c) => c.startedAt),
    [0, 200, 400, 600, 800],
  );
  assert.equal(runner.maxInFlight, 1);
  assert.equal(tracks.current()[0].passing, false);
});

test("setPolicy changes rise at run time; unknown tracks and zero values are refused", async (t) => {
  const results = [1, 0, 0, 0, 0];
  const { tracks, changes } = setup(t, (n) => ({ exit: results[n] ?? 0 }));
  tracks.start();
  await advance(t, 20);
  assert.equal(tracks.current()[0].passing, false);
  assert.equal(tracks.setPolicy("chk_nginx", { rise: 3, fall: 1 }), undefined);
  await advance(t, 2000);
  assert.equal(tracks.current()[0].passing, false, "two successes are not enough for rise 3");
  await advance(t, 1000);
  assert.equal(tracks.current()[0].passing, true, "the third success is");
  assert.deepEqual(
    changes.map((c) => c.passing),
    [false, true],
  );
  assert.match(tracks.setPolicy("chk_other", { rise: 1, fall: 1 }) ?? "", /track "chk_other" is not configured/);
  assert.match(tracks.setPolicy("chk_nginx", { rise: 0, fall: 1 }) ?? "", /rise must be an integer 1\.\.100, got 0/);
});

test("ready() resolves once every track has its first result", async (t) => {
  const { tracks } = setup(t, () => ({ exit: 0, ms: 50 }));
  let ready = false;
  void tracks.ready().then(() => (ready = true));
  tracks.start();
  await advance(t, 40);
  assert.equal(ready, false);
  assert.deepEqual(tracks.current(), [{ name: "chk_nginx", passing: false, detail: "not run yet" }]);
  await advance(t, 20);
  assert.equal(ready, true);
});

test("script_user: scripts run with the uid/gid `id` reports", async (t) => {
  const { runner, tracks } = setup(t, () => ({ exit: 0 }), {}, "keepvip_script");
  runner.users.keepvip_script = [1234, 1235];
  tracks.start();
  await advance(t, 20);
  assert.equal(runner.calls[0].options.uid, 1234);
  assert.equal(runner.calls[0].options.gid, 1235);
  assert.deepEqual(runner.calls[0].argv, ["/etc/keepvip/nginx_check.sh"], "argv as configured, no shell");
});

test("script_user that does not exist: the track fails and says why, and no script runs", async (t) => {
  const { runner, tracks } = setup(t, () => ({ exit: 0 }), {}, "nobody_here");
  tracks.start();
  await advance(t, 20);
  assert.equal(runner.calls.length, 0);
  assert.deepEqual(tracks.current()[0].passing, false);
  assert.match(tracks.current()[0].detail, /script_user "nobody_here": cannot resolve uid\/gid \(id: 'nobody_here': no such user\)/);
});

test("stop() kills the run in flight and schedules nothing more", async (t) => {
  const { runner, tracks } = setup(t, () => ({ hang: true, lingerMs: 0 }), { interval: 1000, timeout: 900 });
  tracks.start();
  await advance(t, 100);
  tracks.stop();
  assert.ok(runner.calls[0].options.signal?.aborted);
  await advance(t, 3000);
  assert.equal(runner.calls.length, 1);
});

test("reconfigure (an agent SIGHUP): a new interval applies from the last start, a new script from the next run; results and streaks stay", async (t) => {
  const { runner, tracks, changes } = setup(t, () => ({ exit: 0, ms: 30 }));
  tracks.start();
  await advance(t, 1500);
  assert.deepEqual(
    runner.calls.map((c) => c.startedAt),
    [0, 1000],
  );
  assert.equal(tracks.reconfigure({ chk_nginx: track({ interval: 200, script: ["/usr/local/bin/check2"] }) }), undefined);
  await advance(t, 700);
  assert.deepEqual(
    runner.calls.map((c) => c.startedAt),
    [0, 1000, 1500, 1600, 1800, 2000, 2200],
    "the next run at once (1000 + 200 is past), then every 200 ms on the wheel's grid (its first step is shorter)",
  );
  assert.deepEqual(runner.calls.at(-1)?.argv, ["/usr/local/bin/check2"]);
  assert.equal(changes.length, 1, "passing all along: the first result only");
  assert.equal(tracks.current()[0]?.passing, true);
});

test("reconfigure refuses a track the agent does not run (adding one needs a restart), and changes nothing", async (t) => {
  const { runner, tracks } = setup(t, () => ({ exit: 0, ms: 30 }));
  tracks.start();
  assert.match(
    tracks.reconfigure({ chk_nginx: track({ interval: 100 }), chk_new: track() }) ?? "",
    /not configured on this agent: chk_new \(adding a track needs a restart\)/,
  );
  await advance(t, 2500);
  assert.deepEqual(
    runner.calls.map((c) => c.startedAt),
    [0, 1000, 2000],
    "still every 1000 ms",
  );
});
