import type { Writable } from "node:stream";
import { LOG_LEVELS, type LogLevel } from "./config.ts";

/** A structured logger: one JSON object per line, as log collectors expect. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger writing JSON lines at or above `level` to `out`. */
export function createLogger(level: LogLevel, out: Pick<Writable, "write">): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const write = (lvl: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(lvl) < min) return;
    out.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })}\n`,
    );
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
