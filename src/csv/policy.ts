/**
 * The invalid-record policy, in one place for every CSV path (keyed and OPRF
 * pseudonymisation, PSI, both join roles, aggregation input): a record whose field
 * count differs from the header's, or whose identifier (or value) is invalid, either
 * stops the run (`error`), is left out (`skip`) or is kept with an empty identifier
 * (`report`, where the caller can write such a record). Every rejection is reported by
 * record number, code and a one-word reason, never by content.
 *
 * {@link RecordPolicy} is the per-record rule, cheap enough for the pseudonymisation
 * hot loop (it runs inside worker threads there); {@link openPolicyCsv} wraps it around
 * {@link openCsv} for readers that want normalised identifiers record by record.
 *
 * @packageDocumentation
 */
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { checkerFor, type IdType, type InvalidReason } from '../pseudonymise/normalise.js';
import { openCsv, type CsvReader, type RecordBatch } from './reader.js';
import { columnIndex, type CsvDelimiter, type CsvStyle } from './records.js';

/** What to do with a record whose identifier is invalid or whose field count is wrong. */
export type InvalidPolicy = 'error' | 'skip' | 'report';

/** Every {@link InvalidPolicy}, for validating user input. */
export const INVALID_POLICIES: readonly InvalidPolicy[] = Object.freeze(['error', 'skip', 'report']);

/** A rejected record as reported to the caller: its number and why, never its content. */
export interface InvalidRecord {
  /** 1-based record number (the first record after the header is 1; blank lines not counted). */
  readonly record: number;
  /** The error code. */
  readonly code: KoppelErrorCode;
  /** A one-word reason such as `checksum`, `length` or `field-count`. */
  readonly reason: string;
}

/**
 * How a command words the error that stops a run under policy `error`: the advice
 * names the policies that command offers. Messages never contain a value.
 */
export interface PolicyWording {
  /** The message for a record with `found` fields where the header has `expected`. */
  fieldCount(found: number, expected: number): string;
  /** The message for an invalid identifier, with its one-word reason. */
  invalid(reason: string): string;
}

/** The wording of each command family, kept as each command has always said it. */
export const POLICY_WORDING = Object.freeze({
  /** Keyed pseudonymisation (`error`, `skip`, `report`). */
  pseudonymise: Object.freeze<PolicyWording>({
    fieldCount: (found, expected) =>
      `A CSV record has ${found} fields where the header has ${expected}; fix the record or rerun with --on-invalid skip or report.`,
    invalid: (reason) => `An identifier is invalid (${reason}); fix it or rerun with --on-invalid skip or report.`,
  }),
  /** Pseudonymisation through the OPRF service (`error`, `skip`, `report`). */
  oprf: Object.freeze<PolicyWording>({
    fieldCount: () => 'An identifier or record is invalid (field-count); fix it or use --on-invalid skip or report.',
    invalid: (reason) => `An identifier or record is invalid (${reason}); fix it or use --on-invalid skip or report.`,
  }),
  /** PSI and the join (`error`, `skip`). */
  matching: Object.freeze<PolicyWording>({
    fieldCount: (found, expected) => `A CSV record has ${found} fields where the header has ${expected}; fix it or use --on-invalid skip.`,
    invalid: (reason) => `An identifier is invalid (${reason}); fix it or use --on-invalid skip.`,
  }),
  /** Aggregation input (always `error`). */
  strict: Object.freeze<PolicyWording>({
    fieldCount: () => 'A record has another number of fields than the header.',
    invalid: (reason) => `A record is invalid (${reason}).`,
  }),
});

/** The key of a rejection in {@link SkipReport.byReason}: `code/reason`. */
function reasonKey(code: string, reason: string): string {
  return `${code}/${reason}`;
}

/**
 * The report of rejected records: how many, how many by `code/reason`, and each one
 * (number, code, reason) handed to a callback in record order.
 */
export class SkipReport {
  /** Records rejected. */
  count = 0;
  /** Rejections by `code/reason`, e.g. `{ "INVALID_BSN/checksum": 3 }`. */
  readonly byReason: Record<string, number> = {};
  readonly #onRejected: ((r: InvalidRecord) => void) | undefined;

  /** @param onRejected - called for every rejected record, in the order they are added */
  constructor(onRejected?: (r: InvalidRecord) => void) {
    this.#onRejected = onRejected;
  }

  /** Adds one rejection. */
  add(r: InvalidRecord): void {
    this.count++;
    const k = reasonKey(r.code, r.reason);
    this.byReason[k] = (this.byReason[k] ?? 0) + 1;
    this.#onRejected?.(r);
  }
}

/** Options of a {@link RecordPolicy}. */
export interface RecordPolicyOptions {
  /** Number of fields every record must have (the header's). */
  readonly fields: number;
  /** The policy. */
  readonly policy: InvalidPolicy;
  /** How the stopping error is worded. */
  readonly wording: PolicyWording;
  /** Index of the identifier column, for {@link RecordPolicy.identify}. */
  readonly column?: number;
  /** How identifiers are normalised in {@link RecordPolicy.identify}; default `raw`. */
  readonly idType?: IdType;
  /** Where rejections go; default a new report. */
  readonly report?: SkipReport;
}

/**
 * The invalid-record policy for one run. Every method takes the record's number (for
 * the report and the error) and either accepts the record, reports its rejection, or
 * throws the {@link KoppelError} that stops the run (policy `error`), with
 * `details.record` and `details.reason` and never a value.
 */
export class RecordPolicy {
  /** Number of fields every record must have. */
  readonly fields: number;
  /** The policy. */
  readonly policy: InvalidPolicy;
  /** Index of the identifier column (-1: none). */
  readonly column: number;
  /** The rejections so far. */
  readonly report: SkipReport;
  readonly #wording: PolicyWording;
  readonly #check: (input: string) => string | InvalidReason;

  /** @throws KoppelError `INVALID_ARGUMENT` for an unknown policy or identifier type */
  constructor(o: RecordPolicyOptions) {
    if (!INVALID_POLICIES.includes(o.policy)) throw new KoppelError('INVALID_ARGUMENT', `onInvalid must be one of ${INVALID_POLICIES.join(', ')}.`);
    this.fields = o.fields;
    this.policy = o.policy;
    this.column = o.column ?? -1;
    this.report = o.report ?? new SkipReport();
    this.#wording = o.wording;
    this.#check = checkerFor(o.idType ?? 'raw');
  }

  /**
   * True when `r` has the header's field count. Otherwise the rejection is reported
   * (or, under `error`, thrown) and the answer is false under every policy: a record
   * with the wrong field count is never written, as it may hold the identifier anywhere.
   */
  hasFields(r: readonly string[], record: number): boolean {
    if (r.length === this.fields) return true;
    if (this.policy === 'error') {
      throw new KoppelError('CSV_MALFORMED', this.#wording.fieldCount(r.length, this.fields), {
        details: { record, reason: 'field-count', fields: r.length, expected: this.fields },
      });
    }
    this.report.add({ record, code: 'CSV_MALFORMED', reason: 'field-count' });
    return false;
  }

  /**
   * Applies the policy to a record with an invalid identifier (or value): throws under
   * `error`, else reports it and returns true when the record is kept with an empty
   * identifier (`report`), false when it is left out (`skip`).
   *
   * @param message - the stopping error's message, instead of the wording's
   */
  reject(record: number, code: KoppelErrorCode, reason: string, message?: string): boolean {
    if (this.policy === 'error') throw new KoppelError(code, message ?? this.#wording.invalid(reason), { details: { record, reason } });
    this.report.add({ record, code, reason });
    return this.policy === 'report';
  }

  /**
   * The normalised identifier of `r` (from {@link RecordPolicyOptions.column}), or
   * undefined when the record is rejected. For matching, a record without a valid
   * identifier can only be left out, so `report` leaves it out too (and reports it).
   */
  identify(r: readonly string[], record: number): string | undefined {
    if (!this.hasFields(r, record)) return undefined;
    const n = this.#check(r[this.column] as string);
    if (typeof n === 'string') return n;
    this.reject(record, n.code, n.reason);
    return undefined;
  }

  /** The records of `batch` with the header's field count, the policy applied to the others. */
  screen(batch: RecordBatch): string[][] {
    const rows = batch.records;
    let w = 0;
    const out: string[][] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as string[];
      if (this.hasFields(r, batch.firstRecord + i)) out[w++] = r;
    }
    return out;
  }
}

/** A record accepted by the policy, with its normalised identifier. */
export interface PolicyRecord {
  /** 1-based record number. */
  readonly record: number;
  /** The record's fields, as read. */
  readonly fields: string[];
  /** The normalised identifier. */
  readonly id: string;
}

/** Options of {@link openPolicyCsv}. */
export interface PolicyCsvOptions {
  /** Header name of the identifier column. */
  readonly column: string;
  /** How identifiers are normalised; default `raw`. */
  readonly idType?: IdType;
  /** The policy. */
  readonly onInvalid: InvalidPolicy;
  /** How the stopping error is worded; default the matching wording. */
  readonly wording?: PolicyWording;
  /** Field delimiter; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Called for every rejected record, in record order. */
  readonly onRejected?: (r: InvalidRecord) => void;
}

/** How a matching protocol's party (PSI, the join) reads its identifiers from CSV. */
export interface MatchingCsvOptions {
  /** Identifier normalisation before matching; default `raw`. Both parties must agree. */
  readonly idType?: IdType;
  /** Invalid identifier, value or field count: `error` stops, `skip` leaves the record out; default `error`. */
  readonly onInvalid?: 'error' | 'skip';
  /** Field delimiter; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Called for every skipped record (number, code, reason; never values). */
  readonly onRejected?: (r: InvalidRecord) => void;
}

/** Opens a matching party's CSV with identifier column `column` under the matching wording. */
export function openMatchingCsv(input: AsyncIterable<Uint8Array>, column: string, o: MatchingCsvOptions): Promise<PolicyCsv> {
  return openPolicyCsv(input, {
    column,
    onInvalid: o.onInvalid ?? 'error',
    wording: POLICY_WORDING.matching,
    ...(o.idType ? { idType: o.idType } : {}),
    ...(o.delimiter ? { delimiter: o.delimiter } : {}),
    ...(o.onRejected ? { onRejected: o.onRejected } : {}),
  });
}

/** A CSV stream read under the invalid-record policy. */
export interface PolicyCsv {
  /** The header's field names. */
  readonly header: string[];
  /** The file's byte order mark and line ending, for outputs that follow it. */
  readonly style: CsvStyle;
  /** Index of the identifier column. */
  readonly column: number;
  /** The policy (its {@link RecordPolicy.report} holds the rejections). */
  readonly policy: RecordPolicy;
  /** Records read so far, rejected ones included. */
  readonly recordsRead: number;
  /** The accepted records, in file order. Can be iterated once. */
  records(): AsyncGenerator<PolicyRecord, void, undefined>;
}

/**
 * Opens a CSV stream for matching: reads the header, finds the identifier column
 * (before any record is read, so a wrong column fails before any network activity),
 * and gives the records that pass the policy with their normalised identifiers.
 *
 * @throws KoppelError `CSV_MALFORMED` or `CSV_COLUMN_NOT_FOUND` for the header; while
 *   reading, the policy's errors (under `error`) and `CSV_MALFORMED` for bad CSV
 */
export async function openPolicyCsv(input: AsyncIterable<Uint8Array>, o: PolicyCsvOptions): Promise<PolicyCsv> {
  const csv: CsvReader = await openCsv(input, o.delimiter ?? ',');
  const column = columnIndex(csv.header, o.column);
  const policy = new RecordPolicy({
    fields: csv.header.length,
    column,
    policy: o.onInvalid,
    wording: o.wording ?? POLICY_WORDING.matching,
    ...(o.idType ? { idType: o.idType } : {}),
    report: new SkipReport(o.onRejected),
  });
  let read = 0;
  return {
    header: csv.header,
    style: csv.style,
    column,
    policy,
    get recordsRead() {
      return read;
    },
    async *records() {
      for await (const batch of csv.batches) {
        const rows = batch.records;
        for (let i = 0; i < rows.length; i++) {
          const fields = rows[i] as string[];
          read++;
          const record = batch.firstRecord + i;
          const id = policy.identify(fields, record);
          if (id !== undefined) yield { record, fields, id };
        }
      }
    },
  };
}
