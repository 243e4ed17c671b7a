/**
 * The format of the process's stderr lines: `text` for people, `json` for log
 * collectors (`--log json`), and the JSON log record every line becomes. Tiny on
 * purpose: the program loads it before any command.
 *
 * @packageDocumentation
 */

/** How a process writes its stderr lines: `text` for people, `json` for log collectors (`--log json`). */
export type LogFormat = 'text' | 'json';

let logFormat: LogFormat = 'text';

/** Sets the process's {@link LogFormat} (the program does, from `--log`, before any command runs). */
export function setLogFormat(format: LogFormat): void {
  logFormat = format;
}

/** The process's {@link LogFormat}. */
export function currentLogFormat(): LogFormat {
  return logFormat;
}

/**
 * One stderr line as a JSON log record: the time, the level, then the fields. What
 * `--log json` prints for every message, progress line, summary and error.
 */
export function jsonLogLine(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>): string {
  return JSON.stringify({ time: new Date().toISOString(), level, ...fields });
}
