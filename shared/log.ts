/**
 * Logging: pino, JSON lines by default with stable `event` keys (for journald,
 * Loki, jq). Pretty one-line text when a person is watching: stderr/stdout is a
 * terminal, or KEEPVIP_LOG_PRETTY=1 (KEEPVIP_LOG_PRETTY=0 forces JSON).
 * Level from KEEPVIP_LOG_LEVEL (default info); tests set "silent".
 */
import { pino, type Logger } from "pino";

export type { Logger };

const LEVELS: Record<string, string> = { trace: "TRACE", debug: "DEBUG", info: "INFO ", warn: "WARN ", error: "ERROR", fatal: "FATAL" };
const QUIET = new Set(["level", "time", "pid", "msg", "service", "event"]);

/** One JSON log line → "14:03:22.120 INFO  vip.acquire  acquired VI_1  group=VI_1 epoch=3". Pure. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o.time === "string" ? o.time.slice(11, 23) : "";
  const fields = Object.entries(o)
    .filter(([k]) => !QUIET.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [time, LEVELS[String(o.level)] ?? String(o.level), o.event ? String(o.event) : "", String(o.msg ?? ""), fields.join(" ")].filter(Boolean).join("  ");
}

function wantsPretty(): boolean {
  const env = process.env.KEEPVIP_LOG_PRETTY;
  if (env === "1") return true;
  if (env === "0") return false;
  return process.stdout.isTTY === true;
}

export function createLogger(bindings: Record<string, unknown>, level = process.env.KEEPVIP_LOG_LEVEL ?? "info"): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (!wantsPretty()) return pino(options);
  return pino(options, { write: (line: string) => void process.stdout.write(`${prettyLine(line.trimEnd())}\n`) });
}

/** A logger that writes nothing: for unit tests and pure code's callers. */
export const silentLogger: Logger = pino({ level: "silent" });
