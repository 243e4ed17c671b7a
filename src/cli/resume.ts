/**
 * `pseudonymise --resume`: an output that survives an interruption. The output is
 * written to `<out>.koppel-partial`; after every batch the data is fsync'd and then a
 * small state file, `<out>.koppel-resume`, is replaced atomically (written, fsync'd,
 * renamed) with what the partial output holds: the input's and the flags' SHA-256, the
 * records done, the input bytes consumed and the output bytes committed. So whatever
 * instant a crash hits, the state names a prefix of the partial output that is complete
 * and durable. A run with `--resume` continues from that state (after checking the input
 * and flags are the same: `RESUME_MISMATCH` otherwise), cutting the partial output back
 * to the committed bytes; without a state it starts afresh. On success the partial output
 * is renamed into place and the state removed; on failure or a stop signal both stay.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { createReadStream, closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { KoppelError } from '../errors/index.js';

/** Where a run's state lives: `<out>.koppel-resume`. */
export const resumeStatePath = (out: string): string => `${out}.koppel-resume`;
/** Where a resumable run's partial output lives: `<out>.koppel-partial`. */
export const resumePartialPath = (out: string): string => `${out}.koppel-partial`;

/** What `<out>.koppel-resume` holds (JSON). */
export interface ResumeState {
  readonly type: 'koppel-resume';
  readonly version: 1;
  /** SHA-256 (hex) of the whole input file. */
  readonly input: string;
  /** SHA-256 (hex) of the flags that shape the output ({@link flagsHash}). */
  readonly flags: string;
  /** Data records done (written or rejected). */
  readonly records: number;
  /** Input bytes consumed (header included); 0 where the path does not track them (`--oprf`). */
  readonly inputBytes: number;
  /** Bytes of the partial output that are committed (fsync'd). */
  readonly outputBytes: number;
  /** Bytes of the partial `--report` that are committed (absent: the run has no report). */
  readonly reportBytes?: number;
  /** Records written with a pseudonym, and rejected, over every run so far. */
  readonly pseudonymised: number;
  readonly rejected: number;
}

/** One batch's commit, as the pseudonymisation reports it (counts of the present run). */
export interface BatchCommit {
  readonly records: number;
  readonly inputBytes?: number;
  readonly pseudonymised: number;
  readonly rejected: number;
}

/** SHA-256 of a file's bytes, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new KoppelError('IO_ERROR', 'The input file cannot be read.', { details: { path }, cause: e });
  }
  return h.digest('hex');
}

/** SHA-256 of the settings that shape the output, as canonical JSON (keys sorted); no secret goes in. */
export function flagsHash(settings: Readonly<Record<string, string | number | boolean>>): string {
  const sorted = Object.fromEntries(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

function readState(path: string): ResumeState | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    raw = undefined;
  }
  const s = raw as Partial<ResumeState> | undefined;
  const counts = ['records', 'inputBytes', 'outputBytes', 'pseudonymised', 'rejected'] as const;
  if (
    !s ||
    s.type !== 'koppel-resume' ||
    s.version !== 1 ||
    typeof s.input !== 'string' ||
    typeof s.flags !== 'string' ||
    counts.some((k) => !Number.isSafeInteger(s[k]) || (s[k] as number) < 0) ||
    (s.reportBytes !== undefined && !(Number.isSafeInteger(s.reportBytes) && s.reportBytes >= 0))
  )
    throw new KoppelError(
      'RESUME_MISMATCH',
      'The state of the interrupted run is not a koppel resume file; remove it (and the partial output) to start over.',
      {
        details: { path },
      },
    );
  return s as ResumeState;
}

/**
 * One file a resumable run writes: `<target>.koppel-partial`, written synchronously at
 * known offsets, cut back to its committed bytes when a run continues.
 */
class PartialFile {
  readonly stream: Writable;
  readonly #target: string;
  #fd: number | undefined;
  #written: number;

  /**
   * @param committed - bytes a saved state says are committed (undefined: a fresh start)
   * @param what - the file, for messages (`partial output`, `partial report`)
   * @throws KoppelError `RESUME_MISMATCH` if a state names a partial file that is gone or
   *   shorter than its committed bytes; `IO_ERROR`
   */
  constructor(target: string, committed: number | undefined, what: string) {
    this.#target = target;
    const partial = resumePartialPath(target);
    let fd: number;
    try {
      fd = openSync(partial, committed === undefined ? 'w' : 'r+', 0o600);
    } catch (e) {
      if (committed !== undefined && (e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new KoppelError('RESUME_MISMATCH', `The state of the interrupted run names a ${what} that is gone; remove the state to start over.`, {
          details: { path: partial },
        });
      throw new KoppelError('IO_ERROR', `The ${what} cannot be opened; check the path and permissions.`, { details: { path: partial }, cause: e });
    }
    if (committed !== undefined) {
      if (fstatSync(fd).size < committed) {
        closeSync(fd);
        throw new KoppelError('RESUME_MISMATCH', `The ${what} is shorter than its state says it committed; remove both to start over.`, {
          details: { path: partial },
        });
      }
      // Bytes written after the last commit belong to no committed batch.
      ftruncateSync(fd, committed);
    }
    this.#fd = fd;
    this.#written = committed ?? 0;
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        try {
          this.#write(chunk);
          done();
        } catch (e) {
          done(e as Error);
        }
      },
    });
  }

  get written(): number {
    return this.#written;
  }

  #write(chunk: Uint8Array): void {
    if (this.#fd === undefined) throw new KoppelError('INTERNAL', 'A write after the resumable output was closed.');
    let at = 0;
    while (at < chunk.length) at += writeSync(this.#fd, chunk, at, chunk.length - at, this.#written + at);
    this.#written += chunk.length;
  }

  /** Makes what was written durable. */
  sync(): void {
    if (this.#fd === undefined) throw new KoppelError('INTERNAL', 'A commit after the resumable output was closed.');
    if (this.stream.writableLength > 0) throw new KoppelError('INTERNAL', 'A commit with output still buffered.');
    fsyncSync(this.#fd);
  }

  /** Success: the partial file becomes the target. */
  finish(): void {
    if (this.#fd === undefined) return;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = undefined;
    renameSync(resumePartialPath(this.#target), this.#target);
  }

  /** Failure: the partial file stays for the next `--resume`. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * The output of a resumable run, and its `--report` if it has one. {@link
 * ResumableOutput.open} checks a saved state against this run; {@link
 * ResumableOutput.resume} is where to continue (undefined: from the start); the
 * pseudonymisation writes to {@link ResumableOutput.stream} (rejected records to {@link
 * ResumableOutput.report}) and calls {@link ResumableOutput.commit} after every batch.
 */
export class ResumableOutput {
  /** The saved state continued from, or undefined for a fresh start. */
  readonly resume: ResumeState | undefined;
  readonly #out: string;
  readonly #input: string;
  readonly #flags: string;
  readonly #output: PartialFile;
  readonly #report: PartialFile | undefined;

  private constructor(out: string, input: string, flags: string, resume: ResumeState | undefined, output: PartialFile, report: PartialFile | undefined) {
    this.#out = out;
    this.#input = input;
    this.#flags = flags;
    this.resume = resume;
    this.#output = output;
    this.#report = report;
  }

  /** Where the output goes (synchronous writes to the partial file). */
  get stream(): Writable {
    return this.#output.stream;
  }

  /**
   * The `--report` file as an output (writes go to its partial file; committing and
   * aborting are the run's), and whether a resumed run's report already holds its header.
   */
  get report(): { readonly sink: { stream: Writable; commit(): Promise<void>; abort(): Promise<void> }; readonly started: boolean } | undefined {
    if (!this.#report) return undefined;
    return {
      sink: { stream: this.#report.stream, commit: () => Promise.resolve(), abort: () => Promise.resolve() },
      started: (this.resume?.reportBytes ?? 0) > 0,
    };
  }

  /**
   * Opens `<out>.koppel-partial` (and `<report>.koppel-partial` with a report) for a run
   * over the input with SHA-256 `input` and flags hash `flags`: continued from
   * `<out>.koppel-resume` if there is one (cut back to its committed bytes), else empty.
   *
   * @throws KoppelError `RESUME_MISMATCH` if the state is for another input, other flags,
   *   a run with or without a report where this one differs, or a partial file is missing
   *   or shorter than the state says
   */
  static open(out: string, input: string, flags: string, report?: string): ResumableOutput {
    const state = readState(resumeStatePath(out));
    if (state) {
      if (state.input !== input)
        throw new KoppelError(
          'RESUME_MISMATCH',
          'The interrupted run was over another input file (its SHA-256 differs): resume with the same file, or remove the state and partial output to start over.',
          { details: { field: 'input', state: resumeStatePath(out) } },
        );
      if (state.flags !== flags)
        throw new KoppelError(
          'RESUME_MISMATCH',
          'The interrupted run had other flags (column, id type, policy, delimiter, report, key and domain or service key): resume with the same ones, or remove the state and partial output to start over.',
          { details: { field: 'flags', state: resumeStatePath(out) } },
        );
      if ((state.reportBytes !== undefined) !== (report !== undefined))
        throw new KoppelError(
          'RESUME_MISMATCH',
          report === undefined
            ? 'The interrupted run wrote a --report: resume with the same --report FILE.'
            : 'The interrupted run wrote no --report: resume without one, or remove the state and partial output to start over.',
          { details: { field: 'report', state: resumeStatePath(out) } },
        );
    }
    const output = new PartialFile(out, state?.outputBytes, 'partial output');
    let reportFile: PartialFile | undefined;
    try {
      reportFile = report === undefined ? undefined : new PartialFile(report, state ? state.reportBytes : undefined, 'partial report');
    } catch (e) {
      output.close();
      throw e;
    }
    return new ResumableOutput(out, input, flags, state, output, reportFile);
  }

  /**
   * Makes the output (and report) written so far durable, then records them in the state
   * (replaced atomically). `c` counts this run; the state adds the run continued.
   */
  commit(c: BatchCommit): void {
    this.#output.sync();
    this.#report?.sync();
    const state: ResumeState = {
      type: 'koppel-resume',
      version: 1,
      input: this.#input,
      flags: this.#flags,
      records: c.records,
      inputBytes: c.inputBytes ?? 0,
      outputBytes: this.#output.written,
      ...(this.#report ? { reportBytes: this.#report.written } : {}),
      pseudonymised: (this.resume?.pseudonymised ?? 0) + c.pseudonymised,
      rejected: (this.resume?.rejected ?? 0) + c.rejected,
    };
    const path = resumeStatePath(this.#out);
    const tmp = `${path}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(state) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      syncDirectory(dirname(path));
    } catch (e) {
      throw new KoppelError('IO_ERROR', 'The resume state cannot be written; check the free disk space.', { details: { path }, cause: e });
    }
  }

  /** Success: the partial output (and report) move into place and the state goes. */
  finish(): void {
    this.#report?.finish();
    this.#output.finish();
    rmSync(resumeStatePath(this.#out), { force: true });
  }

  /** Failure: the partial files and the state stay for the next `--resume`. */
  close(): void {
    this.#output.close();
    this.#report?.close();
  }
}

/** Makes a rename in `dir` durable (best effort: not every platform can open a directory). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // not supported here: the rename is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
