import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffMs, jitter, nextBackoffMs } from "../../shared/backoff.js";
import { nextBackoff } from "../../agent/session/rotation.js";

const b = { initialMs: 100, maxMs: 5000 };

const byAttempt: Array<[number, number]> = [
  [0, 100],
  [1, 100],
  [2, 200],
  [3, 400],
  [6, 3200],
  [7, 5000],
  [60, 5000],
];
for (const [attempt, want] of byAttempt) {
  test(`backoffMs: attempt ${attempt} waits ${want} ms`, () => assert.equal(backoffMs(attempt, b), want));
}

const byPrevious: Array<[number, number]> = [
  [0, 100],
  [-1, 100],
  [100, 200],
  [1700, 3400],
  [3000, 5000],
  [5000, 5000],
];
for (const [previous, want] of byPrevious) {
  test(`nextBackoffMs: after ${previous} ms waits ${want} ms`, () => assert.equal(nextBackoffMs(previous, b), want));
}

test("jitter spreads a delay over [1 - spread, 1 + spread)", () => {
  assert.equal(
    jitter(1000, 0.2, () => 0),
    800,
  );
  assert.equal(
    jitter(1000, 0.2, () => 0.5),
    1000,
  );
  assert.equal(
    jitter(1000, 0.25, () => 0.999),
    1249.5,
  );
});

test("the agent's reconnect delay: doubling the last delay, capped, ±20 % jitter, whole ms", () => {
  assert.equal(
    nextBackoff(0, b, () => 0),
    80,
  );
  assert.equal(
    nextBackoff(80, b, () => 0.5),
    160,
  );
  assert.equal(
    nextBackoff(4000, b, () => 1 - 1e-9),
    6000,
  );
});
