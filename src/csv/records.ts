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
