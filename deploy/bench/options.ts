/**
 * Command-line values the benches share, parsed for commander: a bad value is an error that
 * says what is accepted and what was given, before anything starts.
 */
import { InvalidArgumentError } from "commander";
import { parseDuration } from "../../shared/config/duration.js";

/**
 * A duration option ("90s", "2m", "500ms", or a bare number of seconds) between `min` and
 * `max` (each a duration as written, e.g. "2s" and "1h"), in ms.
 */
export function durationOption(min: string, max: string): (value: string) => number {
  const bound = (text: string): number => {
    const r = parseDuration(text);
    if (!r.ok) throw new Error(`durationOption: bad bound ${text}`);
    return r.value;
  };
  const [lo, hi] = [bound(min), bound(max)];
  return (value) => {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? `${value}s` : value);
    if (!ms.ok) throw new InvalidArgumentError(ms.error.message);
    if (ms.value < lo || ms.value > hi) throw new InvalidArgumentError(`must be between ${min} and ${max}, got "${value}"`);
    return ms.value;
  };
}

/** A whole-number option from `min` to `max`, inclusive. */
export function wholeNumberOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number ${min}..${max}, got "${value}"`);
    return n;
  };
}
