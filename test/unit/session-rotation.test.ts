/** Which coordinator replica the agent tries next, and when: rotation.ts, table-tested. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FAST_BACKOFF_CAP_MS,
  FAST_ROUNDS,
  initialRotation,
  MIN_SILENCE_MS,
  nextTry,
  ROTATE_DELAY_MS,
  silenceLimitMs,
  welcomed,
  type Rotation,
} from "../../agent/session/rotation.js";

const B = { initialMs: 100, maxMs: 5000 };
const mid = () => 0.5; // jitter factor exactly 1
const three = ["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"];

/** Runs `n` failed tries from `r` with no hint; returns [index, delayMs] of each. */
function run(addresses: string[], r: Rotation, n: number, hint = ""): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    r = nextTry(addresses, r, hint, B, mid);
    out.push([r.index, r.delayMs]);
  }
  return out;
}

test("rotation: one address backs off on every try, as a single coordinator always did", () => {
  assert.deepEqual(run(["10.0.0.1:7400"], initialRotation(), 7), [
    [0, 100],
    [0, 200],
    [0, 400],
    [0, 800],
    [0, 1600],
    [0, 3200],
    [0, 5000],
  ]);
});

test("rotation: three replicas are tried fast in turn; only a whole failed round backs off, doubling per round up to the fast cap", () => {
  assert.deepEqual(run(three, initialRotation(), 9), [
    [1, ROTATE_DELAY_MS],
    [2, ROTATE_DELAY_MS],
    [0, 100],
    [1, ROTATE_DELAY_MS],
    [2, ROTATE_DELAY_MS],
    [0, 200],
    [1, ROTATE_DELAY_MS],
    [2, ROTATE_DELAY_MS],
    [0, FAST_BACKOFF_CAP_MS],
  ]);
});

test("rotation: after the fast rounds (a leader election's worth) the back-off doubles again up to its maximum", () => {
  const roundDelays = run(three, initialRotation(), 3 * 14)
    .filter((_, i) => (i + 1) % 3 === 0)
    .map(([, d]) => d);
  assert.equal(FAST_ROUNDS, 8);
  assert.deepEqual(roundDelays, [100, 200, 250, 250, 250, 250, 250, 250, 500, 1000, 2000, 4000, 5000, 5000]);
});

test("rotation: a follower's hint names the leader and the agent goes straight there", () => {
  const r = nextTry(three, initialRotation(), "10.0.0.3:7400", B, mid);
  assert.deepEqual([r.index, r.delayMs], [2, ROTATE_DELAY_MS]);
});

test("rotation: a hint that is not in the list, or names the replica just tried, is ignored", () => {
  assert.equal(nextTry(three, initialRotation(), "10.9.9.9:7400", B, mid).index, 1);
  assert.equal(nextTry(three, initialRotation(), "10.0.0.1:7400", B, mid).index, 1);
});

test("rotation: two followers hinting at each other cannot spin: a round's worth of tries still backs off", () => {
  // 0 hints 1, 1 hints 0, …: every third try waits the back-off.
  let r = initialRotation();
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    r = nextTry(three, r, three[r.index === 0 ? 1 : 0], B, mid);
    delays.push(r.delayMs);
  }
  assert.deepEqual(delays, [ROTATE_DELAY_MS, ROTATE_DELAY_MS, 100, ROTATE_DELAY_MS, ROTATE_DELAY_MS, 200]);
});

test("rotation: a welcome starts over: the next loss tries the next replica fast, from the leader's place", () => {
  let r = initialRotation();
  for (let i = 0; i < 4; i++) r = nextTry(three, r, "", B, mid);
  assert.equal(r.backoffMs, 100, "one whole round failed");
  r = welcomed(r);
  assert.deepEqual(r, { index: 1, tries: 0, delayMs: 0, backoffMs: 0 });
  r = nextTry(three, r, "", B, mid);
  assert.deepEqual([r.index, r.delayMs], [2, ROTATE_DELAY_MS]);
});

test("rotation: delays are jittered ±20 %", () => {
  assert.equal(nextTry(three, initialRotation(), "", B, () => 0).delayMs, Math.round(ROTATE_DELAY_MS * 0.8));
  assert.equal(nextTry(["a:1"], initialRotation(), "", B, () => 0).delayMs, 80);
});

test("silence limit: a beating coordinator's dead_interval, never under the floor", () => {
  for (const [dead, limit] of [
    [1000, 1000],
    [3000, 3000],
    [100, MIN_SILENCE_MS],
    [0, MIN_SILENCE_MS],
    [Number.NaN, MIN_SILENCE_MS],
  ] as const) {
    assert.equal(silenceLimitMs(dead), limit, `dead_interval ${dead}`);
  }
});
