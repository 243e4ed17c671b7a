/**
 * PSI on CSV files: each party's set read from a CSV column under the invalid-record
 * policy ({@link openPolicyCsv}), and the client's result written back as CSV: the
 * matching input records (intersection), the same with the server's payload columns
 * appended (payload), or `{"cardinality": N}`.
 *
 * The inputs are opened, and their columns found, before any network activity: a
 * wrong column name fails before the peer is contacted. The protocol itself is
 * {@link psiClient} and {@link psiServer}.
 *
 * @packageDocumentation
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { openCsv } from '../csv/reader.js';
import { openMatchingCsv, type MatchingCsvOptions } from '../csv/policy.js';
import { columnIndex, formatHeader, formatRecord, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import { checkerFor, type IdType } from '../pseudonymise/normalise.js';
import type { PayloadItem, PsiClientResult } from './psi.js';
import { KoppelError } from '../errors/index.js';
import { StringSet } from './store.js';

/**
 * A payload from the server as `psi serve` sends it: a JSON object of column names to
 * strings. Anything else (a payload another program sealed, or garbage) is
 * `MESSAGE_MALFORMED`, never a parser's own error.
 */
function payloadColumns(text: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KoppelError('MESSAGE_MALFORMED', "A payload from the server is not JSON: it was not sent by 'koppel psi serve' (payload columns).");
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new KoppelError('MESSAGE_MALFORMED', 'A payload from the server is not an object of column names to text values.');
  }
  return value as Record<string, string>;
}

/** How a party's CSV is read. */
export interface PsiCsvOptions extends MatchingCsvOptions {
  /** Header name of the identifier column. */
  readonly column: string;
}

/** Bytes of input parsed at a time (see {@link inPieces}). */
const READ_PIECE = 1 << 16;

/**
 * The input in pieces of at most {@link READ_PIECE} bytes (views, not copies): the
 * records of one piece are parsed, used and dropped while they are young, instead of
 * a megabyte's worth of records living long enough to fill the old generation with
 * garbage that only a full collection frees.
 */
async function* inPieces(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of input) {
    for (let at = 0; at < chunk.length; at += READ_PIECE) yield chunk.subarray(at, Math.min(chunk.length, at + READ_PIECE));
  }
}

/** Options of {@link openPsiServerCsv}. */
export interface PsiServerCsvOptions extends PsiCsvOptions {
  /** Payload mode: the columns sent (encrypted) to the client for matching records. */
  readonly payloadColumns?: readonly string[];
}

/** Counts of a CSV read under the policy. */
export interface PsiCsvStats {
  /** Records read so far, skipped ones included. */
  readonly recordsRead: number;
  /** Records skipped so far. */
  readonly skipped: number;
}

/** The server's set, read from CSV. */
export interface PsiServerCsv extends PsiCsvStats {
  /** The header's field names. */
  readonly header: readonly string[];
  /** The input's byte order mark and line ending. */
  readonly style: CsvStyle;
  /**
   * The items for {@link psiServer}: normalised identifiers or, with payload columns,
   * identifiers with their payload (the named fields as a JSON object, UTF-8).
   * Can be iterated once.
   */
  readonly items: AsyncIterable<string | PayloadItem>;
}

/**
 * Opens the server's CSV: reads the header and finds the identifier and payload
 * columns; the records are read as {@link psiServer} consumes the items.
 *
 * @throws KoppelError `CSV_MALFORMED` or `CSV_COLUMN_NOT_FOUND` for the header; while
 *   reading, the policy's errors and `CSV_MALFORMED` for bad CSV
 */
export async function openPsiServerCsv(input: AsyncIterable<Uint8Array>, o: PsiServerCsvOptions): Promise<PsiServerCsv> {
  const csv = await openMatchingCsv(inPieces(input), o.column, o);
  const names = o.payloadColumns ?? [];
  const payloadIdx = names.map((n) => columnIndex(csv.header, n));
  const payload = o.payloadColumns !== undefined;
  const encoder = new TextEncoder();
  const items = (async function* (): AsyncGenerator<string | PayloadItem> {
    for await (const { id, fields } of csv.records()) {
      if (!payload) yield id;
      else yield { id, payload: encoder.encode(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, fields[payloadIdx[i] as number]])))) };
    }
  })();
  return {
    header: csv.header,
    style: csv.style,
    items,
    get recordsRead() {
      return csv.recordsRead;
    },
    get skipped() {
      return csv.policy.report.count;
    },
  };
}

/** Options of {@link openPsiClientCsv}. */
export interface PsiClientCsvOptions extends PsiCsvOptions {
  /**
   * Keep every accepted record in memory, for writing the matches without reading the
   * input again (for stdin, which cannot be re-read). Default false: only identifiers
   * stay in memory, and {@link writePsiMatches} reads the input a second time.
   */
  readonly keepRecords?: boolean;
}

/** The client's set, read from CSV. */
export interface PsiClientCsv extends PsiCsvStats {
  /** The header's field names. */
  readonly header: readonly string[];
  /** The input's byte order mark and line ending, which {@link writePsiMatches} keeps. */
  readonly style: CsvStyle;
  /** Index of the identifier column. */
  readonly column: number;
  /** The normalised identifiers for {@link psiClient}. Can be iterated once. */
  readonly ids: AsyncIterable<string>;
  /** The accepted records, when {@link PsiClientCsvOptions.keepRecords} is set (filled as `ids` is read). */
  readonly kept?: readonly string[][];
}

/**
 * Opens the client's CSV: reads the header and finds the identifier column; the
 * records are read as {@link psiClient} consumes the identifiers.
 *
 * @throws KoppelError as {@link openPsiServerCsv}
 */
export async function openPsiClientCsv(input: AsyncIterable<Uint8Array>, o: PsiClientCsvOptions): Promise<PsiClientCsv> {
  const csv = await openMatchingCsv(inPieces(input), o.column, o);
  const kept: string[][] | undefined = o.keepRecords ? [] : undefined;
  const ids = (async function* (): AsyncGenerator<string> {
    for await (const { id, fields } of csv.records()) {
      kept?.push(fields);
      yield id;
    }
  })();
  return {
    header: csv.header,
    style: csv.style,
    column: csv.column,
    ids,
    ...(kept ? { kept } : {}),
    get recordsRead() {
      return csv.recordsRead;
    },
    get skipped() {
      return csv.policy.report.count;
    },
  };
}

/** Options of {@link writePsiMatches}. */
export interface PsiMatchesOptions {
  /** Identifier normalisation, as when the set was read; default `raw`. */
  readonly idType?: IdType;
  /** Field delimiter of the input and the output; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** The input again (when the records were not kept): read once more for the matching records. */
  readonly reread?: AsyncIterable<Uint8Array>;
  /**
   * Payload mode: called once, before any record is written, with the server's payload
   * columns whose names the client's header has too, and the names they got instead.
   */
  readonly onRenamed?: (renamed: ReadonlyArray<{ readonly from: string; readonly to: string }>) => void;
}

/** The prefix of a payload column whose name the client's header has already. */
export const PAYLOAD_PREFIX = 'payload_';

/**
 * The output names of the server's payload columns beside the client's header: a name
 * the header (or an earlier payload column) has already gets {@link PAYLOAD_PREFIX}
 * (again, until it is unique), so the output never has two columns of one name.
 */
export function payloadColumnNames(header: readonly string[], payload: readonly string[]): { names: string[]; renamed: Array<{ from: string; to: string }> } {
  const taken = new Set(header);
  const renamed: Array<{ from: string; to: string }> = [];
  const names = payload.map((name) => {
    let out = name;
    while (taken.has(out)) out = PAYLOAD_PREFIX + out;
    taken.add(out);
    if (out !== name) renamed.push({ from: name, to: out });
    return out;
  });
  return { names, renamed };
}

/** The number of matches in a client result (the cardinality, in that mode). */
export function psiMatchCount(result: PsiClientResult): number {
  return result.mode === 'cardinality' ? result.size : result.mode === 'intersection' ? result.intersection.length : result.matches.length;
}

/**
 * Writes the client's result: `{"cardinality": N}` in cardinality mode; otherwise the
 * header and every input record whose identifier matched, in input order, with the
 * server's payload columns appended in payload mode (a name the client's header has
 * already gets the `payload_` prefix: {@link payloadColumnNames}). The output keeps the
 * input's byte order mark and line ending ({@link PsiClientCsv.style}). Records come
 * from {@link PsiClientCsv.kept} or from {@link PsiMatchesOptions.reread}.
 *
 * @returns the number of records written (0 in cardinality mode)
 */
export async function writePsiMatches(result: PsiClientResult, csv: PsiClientCsv, output: Writable, o: PsiMatchesOptions = {}): Promise<number> {
  if (result.mode === 'cardinality') {
    output.write(JSON.stringify({ cardinality: result.size }) + '\n');
    return 0;
  }
  const delimiter = o.delimiter ?? ',';
  const payloadOf = new Map<string, Record<string, string>>();
  let extra: string[] = [];
  if (result.mode === 'payload') {
    const decoder = new TextDecoder();
    for (const m of result.matches) payloadOf.set(m.id, payloadColumns(decoder.decode(m.payload)));
    extra = Object.keys(payloadOf.values().next().value ?? {});
  }
  const { names: extraNames, renamed } = payloadColumnNames(csv.header, extra);
  if (result.mode === 'payload') o.onRenamed?.(renamed);
  const matched = new StringSet();
  if (result.mode === 'intersection') for (const id of result.intersection) matched.add(id);
  else for (const m of result.matches) matched.add(m.id);
  const { style } = csv;
  // Records are written in pieces of about 64 KiB, each after the output took the last
  // (waiting for 'drain'), so a large intersection is never queued in memory whole.
  let failed: (e: unknown) => void = () => undefined;
  const outputFailed = new Promise<never>((_, reject) => (failed = reject));
  outputFailed.catch(() => undefined);
  const onError = (e: unknown) => failed(e);
  output.once('error', onError);
  let pending = formatHeader([...csv.header, ...extraNames], delimiter, style);
  const flush = async (): Promise<void> => {
    const text = pending;
    pending = '';
    if (text !== '' && !output.write(text)) await Promise.race([once(output, 'drain'), outputFailed]);
  };
  const check = checkerFor(o.idType ?? 'raw');
  let written = 0;
  const emit = (record: string[]): void => {
    const n = check(record[csv.column] as string);
    if (typeof n !== 'string' || !matched.has(n)) return;
    const p = payloadOf.get(n);
    pending += formatRecord([...record, ...extra.map((k) => String(p?.[k] ?? ''))], delimiter, style.newline);
    written++;
  };
  try {
    if (csv.kept)
      for (const r of csv.kept) {
        emit(r);
        if (pending.length >= WRITE_PIECE) await flush();
      }
    else if (o.reread) {
      const again = await openCsv(inPieces(o.reread), delimiter);
      for await (const b of again.batches) {
        for (const r of b.records) if (r.length === csv.header.length) emit(r);
        if (pending.length >= WRITE_PIECE) await flush();
      }
    }
    await flush();
  } finally {
    output.off('error', onError);
  }
  return written;
}

/** Characters of output gathered before each write of {@link writePsiMatches}. */
const WRITE_PIECE = 1 << 16;
