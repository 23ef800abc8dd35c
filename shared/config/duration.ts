/**
 * Durations in config files: "150ms", "2s", "1m", or a bare number meaning
 * seconds (keepalived's `interval 2`, `preempt_delay 5`). Parsed to milliseconds.
 */
import * as z from "zod";
import { fail, ok, type Result } from "../result.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/** Parses a duration to ms, or fails with a sentence naming what is wrong. */
export function parseDuration(input: unknown): Result<number> {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) return fail("invalid-argument", `must be a non-negative duration, got ${input}`);
    return ok(Math.round(input * 1000));
  }
  if (typeof input !== "string") return fail("invalid-argument", `must be a duration like "200ms" or "2s", got ${typeof input}`);
  const m = PATTERN.exec(input.trim());
  if (!m) return fail("invalid-argument", `must be a duration like "200ms" or "2s", got "${input}"`);
  return ok(Math.round(Number(m[1]) * UNIT_MS[m[2]]));
}

/** A zod schema for a duration, bounded in ms. */
export function duration(minMs = 0, maxMs = 24 * 3_600_000) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const parsed = parseDuration(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.error.message });
      return z.NEVER;
    }
    const ms = parsed.value;
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `must be between ${formatMs(minMs)} and ${formatMs(maxMs)}, got ${formatMs(ms)}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** "1500ms" → "1.5s" style, for messages. */
export function formatMs(ms: number): string {
  if (ms < 1000 || ms % 1000 !== 0) return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
  return `${ms / 1000}s`;
}
