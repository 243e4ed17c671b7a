/**
 * Files and terminal output for the command line: inputs (`-` is stdin), outputs
 * written atomically (temporary file renamed on success, removed on failure), key
 * files, progress lines and number formatting. The only module family that prints.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { KoppelError } from '../errors/index.js';
import type { PseudonymKey } from '../pseudonymise/key.js';
import { randomBytes, toHex } from '../util/bytes.js';
import { currentLogFormat, jsonLogLine } from './log.js';
import { trackPartial, untrackPartial } from './signals.js';

/** True for a path flag that means stdin or stdout. */
export function isStdio(path: string | undefined): boolean {
  return path === undefined || path === '-';
}

function unreadable(path: string, e: unknown): KoppelError {
  return new KoppelError('IO_ERROR', `Cannot read input file "${path}": it does not exist or is not readable.`, { details: { path }, cause: e });
}

function notAFile(path: string): KoppelError {
  return new KoppelError('IO_ERROR', `Input "${path}" is not a regular file.`, { details: { path } });
}

/** Opens an input file, or stdin for `-`/undefined, with large reads. */
export function openInput(path: string | undefined): Readable {
  if (isStdio(path)) return process.stdin;
  let isFile: boolean;
  try {
    isFile = statSync(path as string).isFile();
  } catch (e) {
    throw unreadable(path as string, e);
  }
  if (!isFile) throw notAFile(path as string);
  return createReadStream(path as string, { highWaterMark: 1 << 20 });
}

/**
 * The bytes of an input file, or of stdin for `-`/undefined, in chunks of up to 1 MiB,
 * for the CSV reader. A regular file is read with synchronous reads between which the
 * event loop runs: no stream machinery and no libuv thread pool, so a short-lived party
 * process starts a few milliseconds sooner, in constant memory all the same.
 *
 * @throws KoppelError `IO_ERROR` if the file cannot be opened or read, or is not a
 *   regular file
 */
export async function* inputChunks(path: string | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  if (isStdio(path)) {
    yield* process.stdin;
    return;
  }
  let fd: number;
  try {
    fd = openSync(path as string, 'r');
  } catch (e) {
    throw unreadable(path as string, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notAFile(path as string);
    // A small file is read in one buffer of its size (+1, to see the end in one read).
    const size = Math.min(st.size + 1, 1 << 20);
    for (;;) {
      // A fresh buffer per read: the CSV reader may still hold slices of the last one.
      const buf = Buffer.allocUnsafe(size);
      let n: number;
      try {
        n = readSync(fd, buf, 0, size, null);
      } catch (e) {
        throw unreadable(path as string, e);
      }
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * An input read through {@link inputChunks} and counted: the bytes read so far, the
 * file's size (unknown for stdin), and, when asked for, the SHA-256 of its bytes (for a
 * run's metadata). Counting costs one addition per read of up to 1 MiB.
 */
export class CountedInput {
  /** Bytes read so far (first pass only). */
  bytesRead = 0;
  /** The file's size in bytes; undefined for stdin or when it cannot be known. */
  readonly totalBytes: number | undefined;
  readonly #path: string | undefined;
  readonly #hash: Hash | undefined;
  #digest: string | undefined;
  #passes = 0;

  /** @param options.hash - also compute the SHA-256 of the bytes read */
  constructor(path: string | undefined, options: { hash?: boolean } = {}) {
    this.#path = path;
    let size: number | undefined;
    if (!isStdio(path)) {
      try {
        const st = statSync(path as string);
        if (st.isFile()) size = st.size;
      } catch {
        // inputChunks reports the unreadable file.
      }
    }
    this.totalBytes = size;
    this.#hash = options.hash ? createHash('sha256') : undefined;
  }

  /** The input's chunks; the first call's are counted (and hashed), a second read (psi connect's) is not. */
  chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    return this.wrap(inputChunks(this.#path));
  }

  /** Counts (and hashes) the chunks of `source` as the first pass over this input. */
  async *wrap(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.#passes++ > 0) {
      yield* source;
      return;
    }
    for await (const c of source) {
      this.bytesRead += c.byteLength;
      this.#hash?.update(c);
      yield c;
    }
    if (this.#hash) this.#digest = this.#hash.digest('hex');
  }

  /** SHA-256 (hex) of every byte of the input, once it has been read to the end with hashing on. */
  get sha256(): string | undefined {
    return this.#digest;
  }
}

/**
 * The text of a small file named by a flag (a certificate, a token file, a key file),
 * read at once.
 *
 * @param what - what the file is, for the message (e.g. `TLS certificate`)
 * @throws KoppelError `IO_ERROR` naming the path, never the content
 */
export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new KoppelError('IO_ERROR', `Cannot read the ${what} "${path}".`, { details: { path }, cause: e });
  }
}

/** Refuses to write the output over the input (that would destroy the input). */
export function checkDistinct(input: string | undefined, output: string | undefined): void {
  if (isStdio(input) || isStdio(output)) return;
  const a = safeRealpath(input as string);
  const b = safeRealpath(output as string);
  if (a === b) throw new KoppelError('INVALID_ARGUMENT', 'The output file is the input file; choose another --out.');
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** An output that becomes visible only when {@link AtomicOutput.commit} is called. */
export interface AtomicOutput {
  /** Where to write. */
  readonly stream: Writable;
  /** Flushes and moves the temporary file into place. */
  commit(): Promise<void>;
  /** Removes the temporary file (after a failure). */
  abort(): Promise<void>;
}

function partialName(target: string): string {
  return join(dirname(target), `.${basename(target)}.partial-${toHex(randomBytes(6))}`);
}

/**
 * Writes an output that is already in memory (a released table, metadata) in one
 * synchronous step, atomically like {@link openOutput}: `<name>.partial-<random>` beside
 * the target, renamed over it; removed if anything fails. `-` or undefined writes to
 * stdout. A stream's asynchronous open, writes, close and rename cost a short-lived
 * process several milliseconds of waiting for the thread pool; this costs none.
 *
 * @throws KoppelError `IO_ERROR` if the file cannot be written (the message names the
 *   path, never the content)
 */
export function writeOutput(path: string | undefined, text: string, mode = 0o644): void {
  if (isStdio(path)) {
    process.stdout.write(text);
    return;
  }
  const target = resolve(path as string);
  const tmp = partialName(target);
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new KoppelError('IO_ERROR', `Cannot write "${path}"; check the directory and permissions.`, { details: { path }, cause: e });
  }
}

/**
 * Opens an output. A file is written to `<name>.partial-<random>` beside the target
 * and renamed over it on commit, so a failed run never leaves a half-written file
 * that looks complete. `-` or undefined writes to stdout.
 */
export function openOutput(path: string | undefined, mode = 0o644): AtomicOutput {
  if (isStdio(path)) {
    return { stream: process.stdout, commit: () => Promise.resolve(), abort: () => Promise.resolve() };
  }
  const target = resolve(path as string);
  const tmp = partialName(target);
  // Opened synchronously: the file exists before it is tracked, so a stop signal that
  // arrives now removes it (an open still in the thread pool could create it afterwards).
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (e) {
    throw new KoppelError('IO_ERROR', `Cannot write the output "${path as string}"; check the directory and permissions.`, { details: { path }, cause: e });
  }
  trackPartial(tmp);
  const stream: WriteStream = createWriteStream(tmp, { fd, highWaterMark: 1 << 20 });
  let done = false;
  return {
    stream,
    async commit() {
      done = true;
      stream.end();
      await finished(stream);
      await rename(tmp, target);
      untrackPartial(tmp);
    },
    async abort() {
      if (done) return;
      done = true;
      stream.destroy();
      await rm(tmp, { force: true });
      untrackPartial(tmp);
    },
  };
}

/** Reads and imports a key file, with a warning if others can read it. */
export async function readKeyFile(path: string, warn: (line: string) => void): Promise<PseudonymKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new KoppelError('IO_ERROR', `Cannot read key file "${path}"; check the path and permissions.`, { details: { path }, cause: e });
  }
  try {
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
      warn(`warning: key file "${path}" is readable by other users; run: chmod 600 ${JSON.stringify(path)}`);
    }
  } catch {
    // The file was readable a moment ago; a failed stat only skips the warning.
  }
  // Loaded here, not at the top: commands without keys start without it.
  const { importKey } = await import('../pseudonymise/key.js');
  return importKey(text);
}

/** Writes a secret file with mode 0600, refusing to overwrite unless `force`. */
export async function writeSecretFile(path: string, content: string, force: boolean): Promise<void> {
  try {
    await writeFile(path, content, { mode: 0o600, flag: force ? 'w' : 'wx' });
    await chmod(path, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KoppelError('IO_ERROR', `"${path}" exists already; choose another --out, or pass --force to replace it.`, { details: { path } });
    }
    throw new KoppelError('IO_ERROR', `Cannot write "${path}"; check the directory and permissions.`, { details: { path }, cause: e });
  }
}

/** Formats an integer with thousands separators (1,234,567). */
export function formatCount(n: number): string {
  // By hand: the first toLocaleString call loads ICU data (~10 ms), which short-lived
  // party processes would pay on every run.
  const v = Math.round(n);
  const digits = String(Math.abs(v));
  let out = '';
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? '-' + out : out;
}

/** Formats a byte count (12.3 MB). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/**
 * A one-line progress display on stderr, redrawn in place on a terminal. Disabled
 * unless stderr is a terminal or progress was asked for. With `--log json` every update
 * is a JSON line (`"event": "progress"`) instead. A ticker ({@link ProgressLine.every})
 * redraws it on a timer until {@link ProgressLine.done}.
 */
export class ProgressLine {
  readonly #enabled: boolean;
  readonly #tty: boolean;
  readonly #json: boolean;
  #shown = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(enabled: boolean | undefined) {
    this.#json = currentLogFormat() === 'json';
    this.#tty = process.stderr.isTTY === true && !this.#json;
    this.#enabled = enabled ?? process.stderr.isTTY === true;
  }

  /** True when updates are displayed. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Shows a new status; `fields` are the machine-readable form for `--log json`. */
  update(text: string, fields: Record<string, unknown> = {}): void {
    if (!this.#enabled) return;
    if (this.#json) {
      process.stderr.write(jsonLogLine('info', { event: 'progress', message: text, ...fields }) + '\n');
    } else if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      this.#shown = true;
    } else {
      process.stderr.write(text + '\n');
    }
  }

  /** Calls `tick` every `ms` milliseconds until {@link ProgressLine.done} (never when disabled; never keeps the process alive). */
  every(ms: number, tick: () => void): void {
    if (!this.#enabled) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = setInterval(tick, ms);
    this.#timer.unref();
  }

  /** Ends the progress line so that the next output starts on a new line, and stops the ticker. */
  done(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) process.stderr.write('\r\x1b[2K');
    this.#shown = false;
  }
}
