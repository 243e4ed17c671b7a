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
import { columnIndex, formatRecord, type CsvDelimiter } from '../csv/records.js';
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
 * Writes the released table as CSV: the group columns, `count`, `sum_<column>` per
 * value column, `suppressed` (suppressed rows have empty count and sums) and `rule`;
 * totals rows (labelled `*`) only with `totals`.
 */
export function writeJoinTable(
  result: Pick<JoinGroupsResult, 'columns' | 'table'>,
  groupColumns: readonly string[],
  output: Writable,
  o: { readonly totals?: boolean; readonly delimiter?: CsvDelimiter } = {},
): JoinTableCounts {
  const delimiter = o.delimiter ?? ',';
  output.write(formatRecord([...groupColumns, 'count', ...result.columns.map((c) => `sum_${c}`), 'suppressed', 'rule'], delimiter, '\n'));
  let rows = 0;
  let suppressed = 0;
  for (const row of result.table) {
    if (row.total && !o.totals) continue;
    const hidden = row.count === null;
    if (hidden) suppressed++;
    output.write(
      formatRecord(
        [...row.labels, hidden ? '' : String(row.count), ...row.sums.map((s) => (s === null ? '' : String(s))), String(hidden), row.rule],
        delimiter,
        '\n',
      ),
    );
    rows++;
  }
  return { rows, suppressed };
}
