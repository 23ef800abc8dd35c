import { test } from "node:test";
import assert from "node:assert/strict";
import { durationOption, wholeNumberOption } from "../../deploy/bench/options.js";

test("a bench's duration option takes a duration or bare seconds within its bounds, and names what it accepts otherwise", () => {
  const window = durationOption("2s", "10m");
  assert.equal(window("20s"), 20_000);
  assert.equal(window("90"), 90_000);
  assert.equal(window("1.5m"), 90_000);
  assert.equal(window("2s"), 2000);
  assert.throws(() => window("1s"), /must be between 2s and 10m, got "1s"/);
  assert.throws(() => window("11m"), /must be between 2s and 10m, got "11m"/);
  assert.throws(() => window("soon"), /must be a duration like "200ms" or "2s", got "soon"/);
  assert.equal(durationOption("0s", "10m")("0"), 0);
});

test("a bench's whole-number option takes integers within its bounds and names them otherwise", () => {
  const runs = wholeNumberOption(1, 20);
  assert.equal(runs("1"), 1);
  assert.equal(runs("20"), 20);
  for (const bad of ["0", "21", "2.5", "x", "", " "]) assert.throws(() => runs(bad), new RegExp(`must be a whole number 1\\.\\.20, got "${bad}"`), bad);
  assert.equal(wholeNumberOption(0, 0xffffffff)("4294967295"), 4294967295);
});
