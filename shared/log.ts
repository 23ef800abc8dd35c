/**
 * Logging: pino, JSON lines by default (stable `event` keys), pretty only when
 * a terminal asks (KEEPVIP_LOG_PRETTY=1 or a TTY with pino-pretty installed).
 * Level from KEEPVIP_LOG_LEVEL (default info); tests set "silent".
 */
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(bindings: Record<string, unknown>, level = process.env.KEEPVIP_LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that writes nothing: for unit tests and pure code's callers. */
export const silentLogger: Logger = pino({ level: "silent" });
