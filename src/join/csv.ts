/**
 * The private join on CSV files: the group holder's `(id, group columns)` and the
 * value holder's `(id, value columns)` read under the invalid-record policy
 * ({@link openPolicyCsv}), and the released table written as CSV. The protocol itself
 * is {@link joinGroups} and {@link joinValues}.
 *
 * The inputs are opened, and their columns found, before any network activity.
 *
 * @packageDocumentation
 */
import type { Writable } from 'node:stream';
import { openMatchingCsv, type MatchingCsvOptions, type PolicyCsv } from '../csv/policy.js';
import { columnIndex, formatHeader, formatRecord, PLAIN_STYLE, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import type { GroupRecord, JoinGroupsResult, ValueRecord } from './join.js';

/** How a party's CSV is read. */
export interface JoinCsvOptions extends MatchingCsvOptions {
  /** Header name of the identifier column. */
  readonly idColumn: string;
}

/** A party's records, read from CSV as the protocol consumes them. */
export interface JoinCsv<T> {
  /** The header's field names. */
  readonly header: readonly string[];
  /** The input's byte order mark and line ending (for a table written from it). */
  readonly style: CsvStyle;
  /** The records. Can be iterated once. */
  readonly records: AsyncIterable<T>;
  /** Records read so far, skipped ones included. */
  readonly recordsRead: number;
  /** Records skipped so far. */
  readonly skipped: number;
}

function view<T>(csv: PolicyCsv, records: AsyncIterable<T>): JoinCsv<T> {
  return {
    header: csv.header,
    style: csv.style,
    records,
    get recordsRead() {
      return csv.recordsRead;
    },
    get skipped() {
      return csv.policy.report.count;
    },
  };
}

/**
 * Opens the group holder's CSV: the identifier and the named group columns of every
 * record, for {@link joinGroups}.
 *
 * @throws KoppelError `CSV_MALFORMED` or `CSV_COLUMN_NOT_FOUND` for the header; while
 *   reading, the policy's errors and `CSV_MALFORMED` for bad CSV
 */
export async function openJoinGroupsCsv(
  input: AsyncIterable<Uint8Array>,
  o: JoinCsvOptions & { readonly groupColumns: readonly string[] },
): Promise<JoinCsv<GroupRecord>> {
  const csv = await openMatchingCsv(input, o.idColumn, o);
  const groupIdx = o.groupColumns.map((n) => columnIndex(csv.header, n));
  const records = (async function* (): AsyncGenerator<GroupRecord> {
    for await (const { id, fields } of csv.records()) yield { id, group: groupIdx.map((i) => fields[i] as string) };
  })();
  return view(csv, records);
}

/**
 * Opens the value holder's CSV: the identifier and the named value columns of every
 * record, for {@link joinValues}. A value must be a whole number from 0 to `maxValue`
 * (at most 15 digits); otherwise the record is refused with `VALUE_OUT_OF_RANGE` (or
 * skipped, with `onInvalid: 'skip'`).
 *
 * @throws KoppelError as {@link openJoinGroupsCsv}, and `VALUE_OUT_OF_RANGE`
 */
export async function openJoinValuesCsv(
  input: AsyncIterable<Uint8Array>,
  o: JoinCsvOptions & { readonly valueColumns: readonly string[]; readonly maxValue: number },
): Promise<JoinCsv<ValueRecord>> {
  const csv = await openMatchingCsv(input, o.idColumn, o);
  const valueIdx = o.valueColumns.map((n) => columnIndex(csv.header, n));
  const max = o.maxValue;
  const records = (async function* (): AsyncGenerator<ValueRecord> {
    for await (const { id, fields, record } of csv.records()) {
      const values = valueIdx.map((i) => {
        const text = (fields[i] as string).trim();
        return /^\d{1,15}$/.test(text) ? Number(text) : NaN;
      });
      if (values.some((v) => !(v <= max))) {
        csv.policy.reject(
          record,
          'VALUE_OUT_OF_RANGE',
          'value',
          `A value is not a whole number from 0 to --max-value (${max}); fix it, raise --max-value, or use --on-invalid skip.`,
        );
        continue;
      }
      yield { id, values };
    }
  })();
  return view(csv, records);
}

/** What {@link writeJoinTable} wrote. */
export interface JoinTableCounts {
  /** Rows written. */
  readonly rows: number;
  /** Of which suppressed. */
  readonly suppressed: number;
}

/**
 * Compares two labels for the order of a released table: two whole numbers (digits
 * only) by value, anything else by UTF-16 code units, so `2` comes before `10` and the
 * order is the same on every machine (no locale).
 */
export function compareLabels(a: string, b: string): number {
  const numeric = /^\d{1,15}$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The rows of a released table in output order: the groups ordered by their labels
 * (first group column first; {@link compareLabels}), then the totals, ordered the same
 * way with `*` after every label. Not the order in which groups first appeared, which
 * would say something about the order of the input.
 */
export function orderTableRows<R extends { readonly labels: readonly string[]; readonly total: boolean }>(rows: readonly R[]): R[] {
  const cmp = (a: R, b: R): number => {
    if (a.total !== b.total) return a.total ? 1 : -1;
    for (let d = 0; d < a.labels.length; d++) {
      const x = a.labels[d] as string;
      const y = b.labels[d] as string;
      if (x === y) continue;
      if (a.total && (x === '*' || y === '*')) return x === '*' ? 1 : -1;
      return compareLabels(x, y);
    }
    return 0;
  };
  return [...rows].sort(cmp);
}

/** Options of {@link writeJoinTable}. */
export interface JoinTableOptions {
  /** Also write the totals (margins) rows, labelled `*`. */
  readonly totals?: boolean;
  /** Field delimiter; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Byte order mark and line ending (the CLI passes the input's); default none and LF. */
  readonly style?: CsvStyle;
}

/**
 * Writes the released table as CSV: the group columns, `count`, `sum_<column>` per
 * value column, `suppressed` (suppressed rows have empty count and sums) and `rule`;
 * totals rows (labelled `*`) only with `totals`. Rows are ordered by their group
 * labels ({@link orderTableRows}), totals last.
 */
export function writeJoinTable(
  result: Pick<JoinGroupsResult, 'columns' | 'table'>,
  groupColumns: readonly string[],
  output: Writable,
  o: JoinTableOptions = {},
): JoinTableCounts {
  const delimiter = o.delimiter ?? ',';
  const style = o.style ?? PLAIN_STYLE;
  output.write(formatHeader([...groupColumns, 'count', ...result.columns.map((c) => `sum_${c}`), 'suppressed', 'rule'], delimiter, style));
  let rows = 0;
  let suppressed = 0;
  for (const row of orderTableRows(result.table)) {
    if (row.total && !o.totals) continue;
    const hidden = row.count === null;
    if (hidden) suppressed++;
    output.write(
      formatRecord(
        [...row.labels, hidden ? '' : String(row.count), ...row.sums.map((s) => (s === null ? '' : String(s))), String(hidden), row.rule],
        delimiter,
        style.newline,
      ),
    );
    rows++;
  }
  return { rows, suppressed };
}
