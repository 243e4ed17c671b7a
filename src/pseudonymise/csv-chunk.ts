/**
 * Pseudonymising one chunk of whole CSV records: the unit of work that runs on the
 * main thread or on a worker thread, and the {@link TaskPool} registry that serves it
 * ({@link csvChunkOps}). Pure: bytes in, output bytes and counts out.
 *
 * @packageDocumentation
 */
import { isUtf8 } from 'node:buffer';
import type { KoppelErrorCode, KoppelErrorDetails } from '../errors/index.js';
import { KoppelError } from '../errors/index.js';
import { fieldWriter, invalidUtf8Record, NOT_UTF8, parseRecords, type CsvDelimiter } from '../csv/records.js';
import { POLICY_WORDING, RecordPolicy, SkipReport, type InvalidPolicy, type InvalidRecord } from '../csv/policy.js';
import { FROM_DOMAIN_KEY, Pseudonymiser } from './pseudonymiser.js';
import type { IdType } from './normalise.js';
import { processChunkBytes } from './csv-fast.js';

export { INVALID_POLICIES, type InvalidPolicy } from '../csv/policy.js';

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
  /** Rejected records, in order, numbered from the chunk's `firstRecord`. */
  readonly rejected: InvalidRecord[];
  /** Set when the run must stop (policy `error`, or unparseable CSV). */
  readonly failure?: ChunkFailure;
}

/**
 * Pseudonymises the identifier column of every record in `text`, under the layout's
 * invalid-record policy.
 *
 * @param firstRecord - 1-based number of the chunk's first record, for messages
 */
export function processChunk(text: string, p: Pseudonymiser, layout: ChunkLayout, firstRecord: number): ChunkResult {
  const rejected: InvalidRecord[] = [];
  const policy = new RecordPolicy({
    fields: layout.fields,
    policy: layout.policy,
    wording: POLICY_WORDING.pseudonymise,
    report: new SkipReport((r) => rejected.push(r)),
  });
  let rows: string[][];
  try {
    rows = parseRecords(text, layout.delimiter, firstRecord);
  } catch (e) {
    return { text: '', records: 0, pseudonymised: 0, rejected: [], failure: toFailure(e) };
  }
  const write = fieldWriter(layout.delimiter);
  const { column, delimiter, newline } = layout;
  let out = '';
  let done = 0;
  try {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as string[];
      if (!policy.hasFields(r, firstRecord + i)) continue;
      const res = p.tryPseudonymise(r[column] as string);
      if (res.ok) {
        r[column] = res.pseudonym;
        done++;
      } else if (policy.reject(firstRecord + i, res.code, res.reason)) {
        r[column] = '';
      } else {
        continue;
      }
      let line = write(r[0] as string);
      for (let j = 1; j < r.length; j++) line += delimiter + write(r[j] as string);
      out += line + newline;
    }
  } catch (e) {
    return { text: '', records: rows.length, pseudonymised: done, rejected, failure: toFailure(e) };
  }
  return { text: out, records: rows.length, pseudonymised: done, rejected };
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

/** What a worker starts with: the key for the one domain (never the master key) and the layout. */
export interface ChunkInit {
  readonly kid: string;
  readonly domain: string;
  /** The derived domain key; wiped once the worker's pseudonymiser holds it. */
  readonly domainKey: Uint8Array;
  readonly idType: IdType;
  readonly layout: ChunkLayout;
}

/** A worker's context, made once by {@link csvChunkOps.init}. */
export interface ChunkContext {
  readonly p: Pseudonymiser;
  readonly layout: ChunkLayout;
  readonly decoder: InstanceType<typeof TextDecoder>;
  readonly encoder: InstanceType<typeof TextEncoder>;
}

/** The outcome of one chunk as it crosses the thread boundary: the output encoded. */
export interface ChunkOutput {
  readonly records: number;
  readonly pseudonymised: number;
  readonly rejected: InvalidRecord[];
  readonly bytes: Uint8Array;
  readonly failure?: ChunkFailure;
}

/** The operations, by name, for {@link TaskPool} (with per-worker initialisation). */
export const csvChunkOps = {
  /** Per worker: the pseudonymiser for the domain. */
  init(arg: ChunkInit): ChunkContext {
    const { kid, domain, domainKey, idType } = arg;
    // The constructor wipes this copy of the domain key.
    const p = new Pseudonymiser({ [FROM_DOMAIN_KEY]: { kid, domain, domainKey, idType } });
    return { p, layout: arg.layout, decoder: new TextDecoder('utf-8', { fatal: true }), encoder: new TextEncoder() };
  },
  /** When the pool closes: zeroes the pseudonymiser's key midstates. */
  dispose(_: undefined, c: ChunkContext): void {
    c.p.destroy();
  },
  /** One chunk of whole records, numbered from 1 (the caller renumbers in order). */
  chunk(bytes: Uint8Array, c: ChunkContext): ChunkOutput {
    if (isUtf8(bytes)) {
      // The fast path: bytes in, bytes out (src/pseudonymise/csv-fast.ts).
      return processChunkBytes(bytes, c.p, c.layout, 1);
    }
    let text: string;
    try {
      text = c.decoder.decode(bytes);
    } catch {
      // The record that holds the first invalid byte (the caller renumbers from 1).
      return encodingFailure(invalidUtf8Record(bytes, c.layout.delimiter));
    }
    try {
      const { text: out, ...rest } = processChunk(text, c.p, c.layout, 1);
      return { ...rest, bytes: c.encoder.encode(out) };
    } catch (e) {
      return { records: 0, pseudonymised: 0, rejected: [], bytes: new Uint8Array(0), failure: toFailure(e) };
    }
  },
};

/** The result for a chunk that is not valid UTF-8. */
export function encodingFailure(firstRecord: number): ChunkOutput {
  return {
    records: 0,
    pseudonymised: 0,
    rejected: [],
    bytes: new Uint8Array(0),
    failure: {
      code: 'CSV_MALFORMED' as const,
      message: NOT_UTF8,
      details: { record: firstRecord },
    },
  };
}
