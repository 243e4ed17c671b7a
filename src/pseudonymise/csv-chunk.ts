/**
 * Pseudonymising one chunk of whole CSV records: the unit of work that runs on the
 * main thread or on a worker thread. Pure: bytes in, output text and counts out.
 *
 * @packageDocumentation
 */
import type { KoppelErrorCode, KoppelErrorDetails } from '../errors/index.js';
import { KoppelError } from '../errors/index.js';
import { fieldWriter, parseRecords, type CsvDelimiter } from '../csv/records.js';
import type { Pseudonymiser } from './pseudonymiser.js';

/** What to do with a record whose identifier is invalid or whose field count is wrong. */
export type InvalidPolicy = 'error' | 'skip' | 'report';

/** Every {@link InvalidPolicy}, for validating user input. */
export const INVALID_POLICIES: readonly InvalidPolicy[] = Object.freeze(['error', 'skip', 'report']);

/** The layout every chunk shares, fixed by the header. */
export interface ChunkLayout {
  /** Index of the identifier column. */
  readonly column: number;
  /** Number of fields every record must have. */
  readonly fields: number;
  /** Field delimiter (kept in the output). */
  readonly delimiter: CsvDelimiter;
  /** Record terminator of the output (the input's, as seen in its header). */
  readonly newline: '\n' | '\r\n';
  /** Invalid-record policy. */
  readonly policy: InvalidPolicy;
}

/** A rejected record: its position in the chunk and why. Never its content. */
export interface RejectedRecord {
  /** 0-based index of the record within its chunk. */
  readonly index: number;
  /** The error code (`INVALID_BSN`, `CSV_MALFORMED`, ...). */
  readonly code: KoppelErrorCode;
  /** A one-word reason (`checksum`, `field-count`, ...). */
  readonly reason: string;
}

/** A failure that ends the run, in a form that survives the worker-thread boundary. */
export interface ChunkFailure {
  readonly code: KoppelErrorCode;
  readonly message: string;
  readonly details: KoppelErrorDetails;
}

/** The outcome of one chunk. */
export interface ChunkResult {
  /** The output records, serialised. */
  readonly text: string;
  /** Records read (blank lines excluded). */
  readonly records: number;
  /** Records written with a pseudonym. */
  readonly pseudonymised: number;
  /** Rejected records, in order. */
  readonly rejected: RejectedRecord[];
  /** Set when the run must stop (policy `error`, or unparseable CSV). */
  readonly failure?: ChunkFailure;
}

/**
 * Pseudonymises the identifier column of every record in `text`.
 *
 * @param firstRecord - 1-based number of the chunk's first record, for messages
 */
export function processChunk(text: string, p: Pseudonymiser, layout: ChunkLayout, firstRecord: number): ChunkResult {
  let rows: string[][];
  try {
    rows = parseRecords(text, layout.delimiter, firstRecord);
  } catch (e) {
    return { text: '', records: 0, pseudonymised: 0, rejected: [], failure: toFailure(e) };
  }
  const write = fieldWriter(layout.delimiter);
  const { column, fields, delimiter, newline, policy } = layout;
  const rejected: RejectedRecord[] = [];
  let out = '';
  let done = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as string[];
    if (r.length !== fields) {
      if (policy === 'error') {
        return fail(rows.length, done, rejected, {
          code: 'CSV_MALFORMED',
          message: `A CSV record has ${r.length} fields where the header has ${fields}; fix the record or rerun with --on-invalid skip or report.`,
          details: { record: firstRecord + i, fields: r.length, expected: fields },
        });
      }
      rejected.push({ index: i, code: 'CSV_MALFORMED', reason: 'field-count' });
      continue; // never echo a malformed record: it may hold the identifier anywhere
    }
    const res = p.tryPseudonymise(r[column] as string);
    if (res.ok) {
      r[column] = res.pseudonym;
      done++;
    } else if (policy === 'error') {
      return fail(rows.length, done, rejected, {
        code: res.code,
        message: `An identifier is invalid (${res.reason}); fix it or rerun with --on-invalid skip or report.`,
        details: { record: firstRecord + i, reason: res.reason },
      });
    } else {
      rejected.push({ index: i, code: res.code, reason: res.reason });
      if (policy === 'skip') continue;
      r[column] = '';
    }
    let line = write(r[0] as string);
    for (let j = 1; j < r.length; j++) line += delimiter + write(r[j] as string);
    out += line + newline;
  }
  return { text: out, records: rows.length, pseudonymised: done, rejected };
}

function fail(records: number, done: number, rejected: RejectedRecord[], failure: ChunkFailure): ChunkResult {
  return { text: '', records, pseudonymised: done, rejected, failure };
}

/** Converts a thrown error into a {@link ChunkFailure}. */
export function toFailure(e: unknown): ChunkFailure {
  if (e instanceof KoppelError) return { code: e.code, message: e.message, details: e.details };
  return { code: 'INTERNAL', message: 'Unexpected error while processing CSV records; please report this.', details: {} };
}

/** Rebuilds the typed error from a {@link ChunkFailure}. */
export function fromFailure(f: ChunkFailure): KoppelError {
  return new KoppelError(f.code, f.message, { details: f.details });
}
