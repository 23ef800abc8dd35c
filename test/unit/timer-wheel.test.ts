import assert from "node:assert/strict";
import { test } from "node:test";
import { alignedDelay, dueEntries, LATE_WINDOW_MS, nextRunDelay, slackMs, spreadPhase, TimerWheel, type WheelBase } from "../../shared/timer-wheel.js";

/** A base whose time the test moves; it records every arm of the one timer. */
function fakeBase() {
  let now = 0;
  let armed: { at: number; fn: () => void } | undefined;
  const arms: number[] = [];
  const base: WheelBase = {
    now: () => now,
    setTimeout: (fn, ms) => {
      armed = { at: now + ms, fn };
      arms.push(now + ms);
      return armed;
    },
    clearTimeout: (h) => {
      if (h === armed) armed = undefined;
    },
  };
  /** Moves time to `to`, firing the one timer whenever it comes due on the way. */
  const advance = (to: number) => {
    for (let i = 0; i < 1000 && armed && armed.at <= to; i++) {
      const a = armed;
      armed = undefined;
      now = Math.max(now, a.at);
      a.fn();
    }
    now = to;
  };
  return { base, advance, arms, armedAt: () => armed?.at };
}

test("alignedDelay: the next multiple of the interval, shifted by the phase, never 0", () => {
  const cases: Array<[now: number, interval: number, phase: number, want: number]> = [
    [0, 100, 0, 100],
    [1, 100, 0, 99],
    [99.5, 100, 0, 0.5],
    [100, 100, 0, 100],
    [250, 200, 0, 150],
    [250, 1000, 300, 50],
    [350, 1000, 300, 950],
    [1234, 0, 0, 0],
  ];
  for (const [now, interval, phase, want] of cases) assert.equal(alignedDelay(now, interval, phase), want, `now ${now} interval ${interval} phase ${phase}`);
});

test("nextRunDelay: on the grid after a short round, at once after a round that took the whole interval", () => {
  assert.equal(nextRunDelay(1003, 1000, 100), 97);
  assert.equal(nextRunDelay(1099, 1000, 100), 1);
  assert.equal(nextRunDelay(1100, 1000, 100), 0, "a round of exactly one interval: the next at once");
  assert.equal(nextRunDelay(1250, 1000, 100), 0, "a probe that timed out is not held back to the grid");
  assert.equal(nextRunDelay(1010, 1000, 1000, 300), 290);
});

test("slackMs: 5 % of the delay, at most 5 ms", () => {
  assert.equal(slackMs(0), 0);
  assert.equal(slackMs(10), 0.5);
  assert.equal(slackMs(100), 5);
  assert.equal(slackMs(2000), 5);
  assert.equal(slackMs(-3), 0);
});

test("spreadPhase: a grid step below the interval", () => {
  assert.equal(spreadPhase(1000, 0), 0);
  assert.equal(spreadPhase(1000, 0.55), 500);
  assert.equal(spreadPhase(1000, 0.999), 900);
  assert.equal(spreadPhase(50, 0.7), 0, "an interval below the step: in step with the grid");
  assert.equal(spreadPhase(0, 0.5), 0);
});

test("dueEntries: every entry whose slack has begun, by due time", () => {
  const e = (due: number, earliest: number) => ({ due, earliest });
  const got = dueEntries([e(105, 100), e(100, 100), e(110, 104), e(103, 99)], 100);
  assert.deepEqual(got, [e(100, 100), e(103, 99), e(105, 100)]);
});

test("the wheel: entries due together run in one wake-up; an exact one never early", () => {
  const f = fakeBase();
  const wheel = new TimerWheel(f.base);
  const ran: string[] = [];
  wheel.setTimeout(() => ran.push("a@100"), 100);
  wheel.setTimeout(() => ran.push("b@103"), 103); // within b's own slack (5 ms) of the wake-up at 100
  wheel.setTimeout(() => ran.push("c@103 exact"), 103, true);
  wheel.setTimeout(() => ran.push("d@200"), 200);
  assert.equal(f.armedAt(), 100, "one timer, armed for the earliest");
  f.advance(100);
  assert.deepEqual(ran, ["a@100", "b@103"]);
  assert.equal(wheel.wakeups, 1);
  assert.equal(f.armedAt(), 103, "re-armed for the exact entry");
  f.advance(103);
  assert.deepEqual(ran, ["a@100", "b@103", "c@103 exact"]);
  f.advance(250);
  assert.deepEqual(ran.at(-1), "d@200");
  assert.equal(wheel.wakeups, 3);
  assert.equal(wheel.runs, 4);
  assert.equal(wheel.size, 0);
});

test("the wheel: a cleared entry does not run, also when cleared by one that ran before it in the same wake-up", () => {
  const f = fakeBase();
  const wheel = new TimerWheel(f.base);
  const ran: string[] = [];
  const later = wheel.setTimeout(() => ran.push("later"), 50);
  wheel.setTimeout(() => {
    ran.push("first");
    wheel.clearTimeout(later);
  }, 49);
  const gone = wheel.setTimeout(() => ran.push("gone"), 10);
  wheel.clearTimeout(gone);
  wheel.clearTimeout(undefined);
  wheel.clearTimeout(gone);
  f.advance(100);
  assert.deepEqual(ran, ["first"]);
  assert.equal(wheel.size, 0);
  assert.equal(f.armedAt(), undefined, "nothing left: the one timer is not armed");
});

test("the wheel: periodic loops on one grid share wake-ups", () => {
  const f = fakeBase();
  const wheel = new TimerWheel(f.base);
  let a = 0;
  let b = 0;
  // Two loops of 100 ms and one of 200 ms started at different phases, each re-arming on the grid.
  const loopA = () => {
    a += 1;
    wheel.setTimeout(loopA, wheel.alignedDelay(100));
  };
  const loopB = () => {
    b += 1;
    wheel.setTimeout(loopB, wheel.alignedDelay(200));
  };
  wheel.setTimeout(loopA, 37);
  wheel.setTimeout(loopB, 81);
  f.advance(999);
  // From 100 ms on, A runs on every multiple of 100 and B on every multiple of 200, together.
  assert.equal(a, 10, "37, then 100..900");
  assert.equal(b, 5, "81, then 200..800");
  assert.equal(wheel.wakeups, 11, "37 and 81, then one wake-up per 100 ms step: 100..900");
});

test("the wheel: a throwing callback does not stop the others of its wake-up, and its error is reported", () => {
  const f = fakeBase();
  const errors: unknown[] = [];
  const wheel = new TimerWheel(f.base, (err) => errors.push(err));
  const ran: string[] = [];
  wheel.setTimeout(() => {
    throw new Error("boom");
  }, 10);
  wheel.setTimeout(() => ran.push("after"), 10);
  f.advance(10);
  assert.deepEqual(ran, ["after"]);
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ["boom"],
  );
});

test("the wheel: lateMs is the worst lateness of its wake-ups in this minute of its clock and the one before; reading it changes nothing", () => {
  let now = 0;
  let armed: (() => void) | undefined;
  const base: WheelBase = {
    now: () => now,
    setTimeout: (fn) => {
      armed = fn;
      return fn;
    },
    clearTimeout: () => {
      armed = undefined;
    },
  };
  const wheel = new TimerWheel(base);
  const fireAt = (t: number) => {
    now = t;
    const fn = armed;
    armed = undefined;
    fn?.();
  };
  wheel.setTimeout(() => undefined, 100);
  fireAt(100);
  assert.equal(wheel.lateMs(), 0, "on time");
  wheel.setTimeout(() => undefined, 100); // due at 200
  fireAt(230);
  wheel.setTimeout(() => undefined, 100); // due at 330
  fireAt(340);
  assert.equal(wheel.lateMs(), 30, "the worst so far");
  assert.equal(wheel.lateMs(), 30, "a second reader sees the same");
  now = LATE_WINDOW_MS + 5_000;
  assert.equal(wheel.lateMs(), 30, "the minute before still counts");
  wheel.setTimeout(() => undefined, 100);
  fireAt(now + 112);
  assert.equal(wheel.lateMs(), 30);
  now = 2 * LATE_WINDOW_MS + 1;
  assert.equal(wheel.lateMs(), 12, "the 30 ms is over a minute old; this minute's 12 ms stays");
  now = 4 * LATE_WINDOW_MS;
  assert.equal(wheel.lateMs(), 0, "nothing late in the last two minutes");
});
