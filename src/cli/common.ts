/**
 * Small pieces every CLI command uses.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError } from './commander.js';

/** Where a command prints: data to `out` (stdout), messages to `err` (stderr). */
export interface Console {
  /** Writes data to stdout as is. */
  out(text: string): void;
  /** Writes one message line to stderr. */
  err(line: string): void;
}

/** The process's own stdout and stderr. */
export const processConsole: Console = {
  out: (text) => void process.stdout.write(text),
  err: (line) => void process.stderr.write(line + '\n'),
};

/** A commander argument parser for an integer flag within [min, max]. */
/** A commander parser for a percentage from 0 to 100 (decimals allowed). */
export function parsePercentFlag(flag: string): (value: string) => number {
  return (value) => {
    const n = /^\d{1,3}(\.\d{1,2})?$/.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError(`${flag} must be a percentage from 0 to 100, e.g. 15 or 12.5.`);
    return n;
  };
}

export function parseIntFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}.`);
    return n;
  };
}
