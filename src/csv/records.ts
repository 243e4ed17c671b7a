/**
 * Parsing a chunk of whole CSV records (with papaparse, the fastest well-kept CSV
 * parser on npm: about 2.6 million short rows per second here against about 0.7
 * million for csv-parse) and writing records back.
 *
 * Dialect: RFC 4180 quoting with `"`; delimiter `,` (or `;` or tab, as chosen); records
 * end in LF or CRLF (a CR before the LF is dropped); blank lines are skipped; a UTF-8
 * byte order mark at the start is ignored.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import type * as PapaParse from 'papaparse';
import { KoppelError } from '../errors/index.js';
import { findCut } from './chunker.js';

// papaparse is CommonJS: `require` loads it in a quarter of the time `import` takes
// (see src/util/cjs.ts).
const Papa = createRequire(import.meta.url)('papaparse') as typeof PapaParse;

/** The field delimiters koppel reads and writes. */
export type CsvDelimiter = ',' | ';' | '\t';

/** Every supported delimiter, for validating user input. */
export const CSV_DELIMITERS: readonly CsvDelimiter[] = Object.freeze([',', ';', '\t']);

/** Parses a delimiter flag value: `,` `;` `tab` or a literal tab. */
export function parseDelimiter(text: string): CsvDelimiter {
  const d = text === 'tab' || text === '\\t' ? '\t' : text;
  if (d === ',' || d === ';' || d === '\t') return d;
  throw new KoppelError('INVALID_ARGUMENT', 'Delimiter must be ",", ";" or "tab".');
}

/**
 * Parses whole records. Quote errors (a quoted field that never closes, or text after
 * a closing quote) are fatal: past one, no parser can tell where records begin.
 *
 * @param text - complete records (as cut by {@link CsvChunker})
 * @param delimiter - the field delimiter
 * @param firstRecord - 1-based number of the first record, for error messages
 * @throws KoppelError `CSV_MALFORMED` on a quote error, with `details.record`
 */
export function parseRecords(text: string, delimiter: CsvDelimiter, firstRecord: number): string[][] {
  const result = Papa.parse<string[]>(text, { delimiter, newline: '\n', quoteChar: '"', skipEmptyLines: false });
  const quoteError = result.errors.find((e) => e.type === 'Quotes');
  if (quoteError) {
    throw new KoppelError('CSV_MALFORMED', 'A quoted CSV field is not closed properly (quotes inside a field must be doubled: "").', {
      details: { record: firstRecord + (quoteError.row ?? 0), problem: quoteError.code },
    });
  }
  const rows = result.data;
  let w = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as string[];
    const last = r.length - 1;
    const lf = r[last] as string;
    if (lf.length > 0 && lf.charCodeAt(lf.length - 1) === 0x0d) r[last] = lf.slice(0, -1);
    if (last === 0 && (r[0] as string).length === 0) continue; // blank line
    rows[w++] = r;
  }
  rows.length = w;
  return rows;
}

/** Parses a header record: field names, with a byte order mark and CR removed. */
export function parseHeader(text: string, delimiter: CsvDelimiter): string[] {
  const rows = parseRecords(text, delimiter, 0);
  const header = rows[0];
  if (!header || rows.length !== 1) {
    throw new KoppelError('CSV_MALFORMED', 'The CSV input has no header row; the first line must name the columns.');
  }
  if (header[0] !== undefined && header[0].charCodeAt(0) === 0xfeff) header[0] = header[0].slice(1);
  return header;
}

/**
 * Finds a column by exact name.
 *
 * The error for a missing column names the column asked for (the caller's own text,
 * e.g. a `--column` flag) and the header's column count, never the header's fields: in
 * a file without a header the first line is a record, and its fields are data.
 *
 * @throws KoppelError `CSV_COLUMN_NOT_FOUND` if absent (with `details.column`, the name
 *   asked for, and `details.columns`, the header's field count), `CSV_MALFORMED` if the
 *   name occurs twice (the choice would be ambiguous).
 */
export function columnIndex(header: readonly string[], name: string): number {
  const i = header.indexOf(name);
  if (i === -1) {
    const n = header.length;
    const hint =
      n === 1 && /[;\t,]/.test(header[0] ?? '')
        ? ' The header has one column only: is the delimiter right (--delimiter)?'
        : ' Is the first line a header, and is the name spelled as it is there?';
    throw new KoppelError('CSV_COLUMN_NOT_FOUND', `The CSV header has no column "${name}" (it has ${n} column${n === 1 ? '' : 's'}).${hint}`, {
      details: { column: name, columns: n },
    });
  }
  if (header.indexOf(name, i + 1) !== -1) {
    throw new KoppelError('CSV_MALFORMED', `Column "${name}" occurs more than once in the CSV header; rename one.`, { details: { column: name } });
  }
  return i;
}

const NEEDS_QUOTES: Record<CsvDelimiter, RegExp> = { ',': /[",\r\n]/, ';': /[";\r\n]/, '\t': /["\t\r\n]/ };

/** Returns a function that writes one field, quoting it only when it must be. */
export function fieldWriter(delimiter: CsvDelimiter): (field: string) => string {
  const re = NEEDS_QUOTES[delimiter];
  return (field) => (re.test(field) ? '"' + field.replaceAll('"', '""') + '"' : field);
}

/** Serialises one record, with the given delimiter and newline. */
export function formatRecord(fields: readonly string[], delimiter: CsvDelimiter, newline: string): string {
  const write = fieldWriter(delimiter);
  let line = '';
  for (let i = 0; i < fields.length; i++) line += (i === 0 ? '' : delimiter) + write(fields[i] as string);
  return line + newline;
}

/**
 * How a CSV file is laid out on disk, beyond its delimiter: whether it starts with a
 * UTF-8 byte order mark (Excel writes one, and reads a file without it as the local
 * code page) and which line ending its records use. Outputs derived from an input keep
 * the input's style, so a file opened in Excel and saved again round-trips.
 */
export interface CsvStyle {
  /** The file starts with the UTF-8 byte order mark (EF BB BF). */
  readonly bom: boolean;
  /** The record terminator: LF, or CRLF (Windows, Excel). */
  readonly newline: '\n' | '\r\n';
}

/** The style koppel writes when there is no input to follow: no BOM, LF. */
export const PLAIN_STYLE: CsvStyle = Object.freeze({ bom: false, newline: '\n' });

/** The UTF-8 byte order mark as text (what a writer puts first for a {@link CsvStyle} with `bom`). */
export const BOM = '\ufeff';

/** The style of a CSV file, from its header record's bytes (BOM and line ending included). */
export function styleOf(header: Uint8Array): CsvStyle {
  const bom = header.length >= 3 && header[0] === 0xef && header[1] === 0xbb && header[2] === 0xbf;
  const n = header.length;
  const crlf = n >= 2 && header[n - 1] === 0x0a && header[n - 2] === 0x0d;
  return { bom, newline: crlf ? '\r\n' : '\n' };
}

/** The header line of an output in `style`: the BOM (if any), the fields, the newline. */
export function formatHeader(fields: readonly string[], delimiter: CsvDelimiter, style: CsvStyle): string {
  return (style.bom ? BOM : '') + formatRecord(fields, delimiter, style.newline);
}

/** The message of an input that is not UTF-8 (every CSV reader's, the pseudonymisation workers' too). */
export const NOT_UTF8 = 'The CSV input is not valid UTF-8; convert it (e.g. iconv -f cp1252 -t utf-8) and try again.';

/** True when the first `length` bytes of `bytes` are valid UTF-8, an incomplete last character allowed. */
function validPrefix(bytes: Uint8Array, length: number): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, length), { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * For a chunk of whole records that is not valid UTF-8: the 1-based number, within the
 * chunk, of the record that holds the first invalid byte (blank lines not counted, as
 * everywhere). Only the error path calls this: it finds the byte by bisection with the
 * platform's decoder, then counts the records before it.
 */
export function invalidUtf8Record(bytes: Uint8Array, delimiter: CsvDelimiter): number {
  // The first byte at which decoding fails (bytes.length if only the end is cut short).
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (validPrefix(bytes, mid + 1)) lo = mid + 1;
    else hi = mid;
  }
  const before = findCut(bytes.subarray(0, lo), 0, false, false).cut;
  if (before === -1) return 1;
  return parseRecords(new TextDecoder().decode(bytes.subarray(0, before + 1)), delimiter, 1).length + 1;
}
