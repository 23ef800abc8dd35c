/** ListeningClock: the engine's time with the coordinator's own stalls taken out. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ListeningClock } from "../../coordinator/cluster/listening-clock.js";

test("listening clock: a timer on time or within the tolerance adds no stall; a late one adds its lateness, once per stall", () => {
  const cases: Array<{ name: string; timers: Array<[due: number, ran: number]>; stalled: number; at: [number, number] }> = [
    { name: "on time", timers: [[1000, 1000]], stalled: 0, at: [1500, 1500] },
    { name: "10 ms late: jitter, not a stall", timers: [[1000, 1010]], stalled: 0, at: [1500, 1500] },
    { name: "11 ms late: a stall of 11 ms", timers: [[1000, 1011]], stalled: 11, at: [1500, 1489] },
    { name: "a 2 s block seen by one timer", timers: [[1000, 3000]], stalled: 2000, at: [3000, 1000] },
    {
      name: "the same block seen by two timers is counted once",
      timers: [
        [1000, 3000],
        [1040, 3000],
      ],
      stalled: 2000,
      at: [3000, 1000],
    },
    {
      name: "a timer due inside a counted stall, run after it, counts only what follows the stall",
      timers: [
        [1000, 3000],
        [2000, 3500],
      ],
      stalled: 2500,
      at: [3500, 1000],
    },
    {
      name: "two separate stalls add up",
      timers: [
        [1000, 1100],
        [2000, 2300],
      ],
      stalled: 400,
      at: [3000, 2600],
    },
  ];
  for (const c of cases) {
    const clock = new ListeningClock(10);
    for (const [due, ran] of c.timers) clock.observe(due, ran);
    assert.equal(clock.stalled, c.stalled, c.name);
    assert.equal(clock.at(c.at[0]), c.at[1], c.name);
  }
});

test("listening clock: never goes back, even when a stall is counted after a time inside it was read", () => {
  const clock = new ListeningClock(10);
  // Read while a long task ran (the timer due at 1000 had not run yet)…
  assert.equal(clock.at(1400), 1400);
  // …then the timer runs at 1500: 500 ms late, counted as a stall.
  assert.equal(clock.observe(1000, 1500), 500);
  assert.equal(clock.at(1500), 1400, "held where it was, not 1000");
  assert.equal(clock.at(1600), 1400);
  assert.equal(clock.at(1700), 1400);
  assert.equal(clock.at(1900), 1400);
  assert.equal(clock.at(1901), 1401, "and on again once stall-free time passed it");
});
