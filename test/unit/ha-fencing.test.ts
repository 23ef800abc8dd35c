import { test } from "node:test";
import assert from "node:assert/strict";
import { acknowledge, checkFenceTiming, commandDeadlineMs, defaultFenceTiming, mayCommand } from "../../coordinator/ha/fencing.js";

const T = { ttlMs: 1000, marginMs: 200 };

const mayCommandCases: Array<[string, number, number | undefined, boolean]> = [
  ["no keep-alive ever acknowledged: never", 0, undefined, false],
  ["just after the acknowledged send: yes", 1_001, 1_000, true],
  ["one ms before TTL − margin: yes", 1_799, 1_000, true],
  ["exactly at TTL − margin: no (the margin is not a grace)", 1_800, 1_000, false],
  ["inside the margin, lease still alive on etcd: no", 1_900, 1_000, false],
  ["after the TTL: no", 2_500, 1_000, false],
];
for (const [name, now, basis, want] of mayCommandCases) {
  test(`fencing: ${name}`, () => assert.equal(mayCommand(now, basis, T), want));
}

test("fencing: the deadline is basis + TTL − margin, and -Infinity without a basis", () => {
  assert.equal(commandDeadlineMs(5_000, T), 5_800);
  assert.equal(commandDeadlineMs(undefined, T), -Infinity);
});

const ackCases: Array<[string, number | undefined, number, number]> = [
  ["the first acknowledgement sets the basis", undefined, 100, 100],
  ["a later send moves it forward", 100, 350, 350],
  ["an acknowledgement of an older send never pulls it back", 350, 100, 350],
];
for (const [name, basis, sent, want] of ackCases) {
  test(`fencing: ${name}`, () => assert.equal(acknowledge(basis, sent), want));
}

const timingCases: Array<[string, { ttlMs: number; marginMs: number; keepAliveEveryMs: number }, RegExp | undefined]> = [
  ["the defaults for 1 s pass", defaultFenceTiming(1000), undefined],
  ["the defaults for 5 s pass", defaultFenceTiming(5000), undefined],
  [
    "a margin as long as the TTL would never command",
    { ttlMs: 1000, marginMs: 1000, keepAliveEveryMs: 100 },
    /margin \(1000ms\) must be less than the lease TTL \(1000ms\)/,
  ],
  ["no margin races the lease's end", { ttlMs: 1000, marginMs: 0, keepAliveEveryMs: 100 }, /must be positive/],
  [
    "one lost keep-alive must not depose a healthy leader",
    { ttlMs: 1000, marginMs: 200, keepAliveEveryMs: 500 },
    /keep-alive interval \(500ms\) must fit twice in lease TTL − margin \(1000ms − 200ms\)/,
  ],
];
for (const [name, timing, want] of timingCases) {
  test(`fencing timing: ${name}`, () => {
    const problem = checkFenceTiming(timing);
    if (want) assert.match(problem ?? "", want);
    else assert.equal(problem, undefined);
  });
}
