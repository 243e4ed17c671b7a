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
    counts.some((k) => !Number.isSafeInteger(s[k]) || (s[k] as number) < 0)
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
 * The output of a resumable run. {@link ResumableOutput.open} checks a saved state
 * against this run; {@link ResumableOutput.resume} is where to continue (undefined: from
 * the start); the pseudonymisation writes to {@link ResumableOutput.stream} and calls
 * {@link ResumableOutput.commit} after every batch.
 */
export class ResumableOutput {
  /** The saved state continued from, or undefined for a fresh start. */
  readonly resume: ResumeState | undefined;
  /** Where the output goes (synchronous writes to the partial file). */
  readonly stream: Writable;
  readonly #out: string;
  readonly #input: string;
  readonly #flags: string;
  #fd: number | undefined;
  #written: number;

  private constructor(out: string, input: string, flags: string, resume: ResumeState | undefined, fd: number) {
    this.#out = out;
    this.#input = input;
    this.#flags = flags;
    this.resume = resume;
    this.#fd = fd;
    this.#written = resume?.outputBytes ?? 0;
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

  /**
   * Opens `<out>.koppel-partial` for a run over the input with SHA-256 `input` and
   * flags hash `flags`: continued from `<out>.koppel-resume` if there is one (cut back to
   * its committed bytes), else empty.
   *
   * @throws KoppelError `RESUME_MISMATCH` if the state is for another input or other
   *   flags, or its partial output is missing or shorter than the state says
   */
  static open(out: string, input: string, flags: string): ResumableOutput {
    const state = readState(resumeStatePath(out));
    const partial = resumePartialPath(out);
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
          'The interrupted run had other flags (column, id type, policy, delimiter, key and domain or service key): resume with the same ones, or remove the state and partial output to start over.',
          { details: { field: 'flags', state: resumeStatePath(out) } },
        );
    }
    let fd: number;
    try {
      fd = openSync(partial, state ? 'r+' : 'w', 0o600);
    } catch (e) {
      if (state && (e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new KoppelError('RESUME_MISMATCH', 'The state of the interrupted run names a partial output that is gone; remove the state to start over.', {
          details: { path: partial },
        });
      throw new KoppelError('IO_ERROR', 'The partial output cannot be opened; check the path and permissions.', { details: { path: partial }, cause: e });
    }
    if (state) {
      if (fstatSync(fd).size < state.outputBytes) {
        closeSync(fd);
        throw new KoppelError('RESUME_MISMATCH', 'The partial output is shorter than its state says it committed; remove both to start over.', {
          details: { path: partial },
        });
      }
      // Bytes written after the last commit belong to no committed batch.
      ftruncateSync(fd, state.outputBytes);
    }
    return new ResumableOutput(out, input, flags, state, fd);
  }

  #write(chunk: Uint8Array): void {
    if (this.#fd === undefined) throw new KoppelError('INTERNAL', 'A write after the resumable output was closed.');
    let at = 0;
    while (at < chunk.length) at += writeSync(this.#fd, chunk, at, chunk.length - at, this.#written + at);
    this.#written += chunk.length;
  }

  /**
   * Makes the output written so far durable, then records it in the state (replaced
   * atomically). `c` counts this run; the state adds the run continued.
   */
  commit(c: BatchCommit): void {
    if (this.#fd === undefined) throw new KoppelError('INTERNAL', 'A commit after the resumable output was closed.');
    if (this.stream.writableLength > 0) throw new KoppelError('INTERNAL', 'A commit with output still buffered.');
    fsyncSync(this.#fd);
    const state: ResumeState = {
      type: 'koppel-resume',
      version: 1,
      input: this.#input,
      flags: this.#flags,
      records: c.records,
      inputBytes: c.inputBytes ?? 0,
      outputBytes: this.#written,
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

  /** Success: the partial output becomes `out` and the state goes. */
  finish(): void {
    if (this.#fd === undefined) return;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = undefined;
    renameSync(resumePartialPath(this.#out), this.#out);
    rmSync(resumeStatePath(this.#out), { force: true });
  }

  /** Failure: the partial output and the state stay for the next `--resume`. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
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
