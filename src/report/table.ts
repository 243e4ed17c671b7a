/**
 * The released table as the report reads it: the CSV that `koppel join groups` and
 * `koppel aggregate collect` write (label columns, `count`, `sum_<column>` per value
 * column, `suppressed`, `rule`; totals labelled `*`). The report is built from this text
 * and the run's metadata only, so it can show nothing the published table does not.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { CSV_DELIMITERS, parseRecords, type CsvDelimiter } from '../csv/records.js';

/** How the table decided a row. */
export type ReleasedRule = 'published' | 'threshold' | 'secondary';

/** One row of the released table, as published. */
export interface ReleasedRow {
  /** One label per label column; `*` where the row is a total over that column. */
  readonly labels: readonly string[];
  /** The published count as written (empty when suppressed). */
  readonly count: string;
  /** The published sums as written, one per value column (empty when suppressed or withheld). */
  readonly sums: readonly string[];
  /** True when the row's count and sums are suppressed. */
  readonly suppressed: boolean;
  /** The rule that decided the row. */
  readonly rule: ReleasedRule;
  /** True for a total (some label is `*`). */
  readonly total: boolean;
}

/** A released table: its columns and rows in file order. */
export interface ReleasedTable {
  /** The label (group or dimension) columns, in order. */
  readonly labelColumns: readonly string[];
  /** The value columns whose sums the table has (without the `sum_` prefix). */
  readonly valueColumns: readonly string[];
  /** The rows, in the file's order. */
  readonly rows: readonly ReleasedRow[];
}

const RULES: readonly string[] = ['published', 'threshold', 'secondary'];

function malformed(message: string, details: Readonly<Record<string, number>> = {}): KoppelError {
  return new KoppelError('CSV_MALFORMED', `The released table is not one koppel wrote: ${message}`, { details });
}

/** The delimiter of a released table: the one that splits the header into a `count` column. */
function delimiterOf(headerLine: string): CsvDelimiter {
  for (const d of CSV_DELIMITERS) if (headerLine.split(d).includes('count')) return d;
  throw malformed('its header has no "count" column.');
}

/**
 * Parses a released table's CSV text (byte order mark, CRLF and the delimiters `,` `;`
 * and tab accepted). Error messages name columns and record numbers, never a field.
 *
 * @throws KoppelError `CSV_MALFORMED` when the header or a record is not of a released table
 */
export function parseReleasedTable(text: string): ReleasedTable {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lineEnd = body.indexOf('\n');
  const headerLine = (lineEnd === -1 ? body : body.slice(0, lineEnd)).replace(/\r$/, '');
  const delimiter = delimiterOf(headerLine);
  const records = parseRecords(body, delimiter, 0);
  const header = records[0];
  if (!header) throw malformed('it is empty.');
  const countAt = header.indexOf('count');
  const n = header.length;
  if (header[n - 2] !== 'suppressed' || header[n - 1] !== 'rule' || countAt < 1) {
    throw malformed('its header must be the label columns, count, sum_<column> for each value column, suppressed and rule.');
  }
  const labelColumns = header.slice(0, countAt);
  const sumHeaders = header.slice(countAt + 1, n - 2);
  if (sumHeaders.some((h) => !h.startsWith('sum_'))) throw malformed('a column between count and suppressed does not start with sum_.');
  const valueColumns = sumHeaders.map((h) => h.slice(4));
  const rows: ReleasedRow[] = [];
  for (let i = 1; i < records.length; i++) {
    const r = records[i] as string[];
    if (r.length !== n) throw malformed(`record ${i} has ${r.length} fields; the header has ${n}.`, { record: i });
    const suppressedText = r[n - 2] as string;
    const rule = r[n - 1] as string;
    if ((suppressedText !== 'true' && suppressedText !== 'false') || !RULES.includes(rule)) {
      throw malformed(`record ${i} has a suppressed or rule field koppel does not write.`, { record: i });
    }
    const labels = r.slice(0, countAt);
    const count = r[countAt] as string;
    const sums = r.slice(countAt + 1, n - 2);
    const suppressed = suppressedText === 'true';
    if (suppressed && (count !== '' || sums.some((s) => s !== ''))) {
      throw malformed(`record ${i} is suppressed but has a count or sum.`, { record: i });
    }
    if (!suppressed && !/^-?\d+$/.test(count)) throw malformed(`record ${i} has a count that is not a whole number.`, { record: i });
    if (sums.some((s) => s !== '' && !/^-?\d+(\.\d+)?$/.test(s))) throw malformed(`record ${i} has a sum that is not a number.`, { record: i });
    rows.push({ labels, count, sums, suppressed, rule: rule as ReleasedRule, total: labels.includes('*') });
  }
  return { labelColumns, valueColumns, rows };
}
