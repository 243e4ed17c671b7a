/**
 * Turning an input party's records into its input vector: per cell, the number of
 * records (contributors), the sum of their record keys (for the cell key method) and
 * the sums of the value columns, all checked against the codebook's bounds.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { FixedKeyHmac } from '../util/fixed-hmac.js';
import { hmacSha256 } from '../util/hash.js';
import type { Codebook } from './codebook.js';
import { encodeSigned, parseFixed } from './ring.js';

/** One record: its cell labels (one per dimension), its values, and its record key. */
export interface InputRecord {
  /** One label per codebook dimension. */
  readonly cell: readonly string[];
  /** One value per codebook value column: decimal strings, or integers in units of 10^-scale. */
  readonly values?: ReadonlyArray<string | bigint>;
  /** The record's fixed key in 0..255 for the cell key method (see {@link recordKey}). */
  readonly key?: number;
}

/**
 * A fixed record key in 0..255 derived from a record identifier and a secret held by
 * the input parties: HMAC-SHA256(secret, "koppel/cell-key/v1" || 0x00 || id)[0]. The same
 * record gets the same key in every table, so the same cell always gets the same
 * perturbation.
 */
export function recordKey(secret: Uint8Array, id: string): number {
  // node:crypto encodes the string as UTF-8.
  return hmacSha256(secret, RECORD_KEY_PREFIX + id)[0] as number;
}

const RECORD_KEY_PREFIX = 'koppel/cell-key/v1\u0000';

/**
 * {@link recordKey} for the many records of one input under one secret: the secret's
 * HMAC key blocks are hashed once (`util/fixed-hmac.ts`), so a record with an identifier
 * of up to 36 ASCII characters costs two SHA-256 compressions, where node:crypto's HMAC
 * sets up a native context and compresses four. The keys are those of {@link recordKey}.
 */
export class RecordKeyer {
  readonly #mac: FixedKeyHmac;

  /** @param secret - the input parties' shared secret; the keyer keeps its own derived state, so the caller may wipe its copy at once */
  constructor(secret: Uint8Array) {
    this.#mac = new FixedKeyHmac(secret);
  }

  /**
   * The record key of `id`.
   *
   * @throws KoppelError `INVALID_KEY` after {@link RecordKeyer.destroy}
   */
  key(id: string): number {
    return this.#mac.macByteOfString(RECORD_KEY_PREFIX + id, 0);
  }

  /** Zeroes the derived state (as secret as the secret); later calls throw `INVALID_KEY`. */
  destroy(): void {
    this.#mac.wipe();
  }
}

/** Where a row's fields are: the column of each dimension's label and of each value. */
export interface RowLayout {
  /** For each codebook dimension, the index of the field holding its label. */
  readonly cells: readonly number[];
  /** For each codebook value column, the index of the field holding the value. */
  readonly values: readonly number[];
}

function unknownLabel(record: number): KoppelError {
  return new KoppelError('INVALID_ARGUMENT', 'A record names a cell label that is not in the codebook.', { details: { record } });
}

function missingField(record: number): KoppelError {
  return new KoppelError('INVALID_ARGUMENT', 'A record has fewer fields than the layout names.', { details: { record } });
}

function checkKey(key: number, record: number): void {
  if (!Number.isInteger(key) || key < 0 || key > 255)
    throw new KoppelError('INVALID_ARGUMENT', 'A record key must be an integer from 0 to 255.', { details: { record } });
}

/** Integers a double holds exactly: |x| <= 2^53. */
const EXACT = 2 ** 53;
/** Decimal texts with at most 15 digits, parsed as doubles; longer ones go through BigInt. */
const SHORT_DECIMAL = /^\s*([+-]?)(\d{1,15})(?:\.(\d*))?\s*$/;

/**
 * Tabulates records one at a time into a vector laid out by the codebook, in constant
 * memory however many records there are: per cell, the number of records, the sum of
 * their record keys and the sums of their values.
 *
 * Sums are exact. Counts, keys and values of up to 15 digits are added as doubles in a
 * pending vector that is folded into the 64-bit vector before any of its words could
 * pass 2^53 (every `flushEvery` records); longer values are parsed and added as
 * BigInts. This keeps BigInt arithmetic, the slow part, off the per-record path.
 */
export class Tabulator {
  readonly #codebook: Codebook;
  readonly #vector: BigUint64Array;
  readonly #pending: Float64Array;
  readonly #flushEvery: number;
  readonly #min: number[];
  readonly #max: number[];
  #records = 0;
  #sinceFlush = 0;

  constructor(codebook: Codebook) {
    this.#codebook = codebook;
    this.#vector = new BigUint64Array(codebook.length);
    this.#pending = new Float64Array(codebook.length);
    // A word grows by at most 255 (keys) or by a short value (< 10^15) per record.
    const largest = codebook.bounds.reduce((m, b) => Math.max(m, Math.min(1e15, Math.abs(Number(b.min)), Math.abs(Number(b.max)))), 255);
    this.#flushEvery = Math.floor(EXACT / largest) - 1;
    this.#min = codebook.bounds.map((b) => Number(b.min));
    this.#max = codebook.bounds.map((b) => Number(b.max));
  }

  /** Records added so far. */
  get records(): number {
    return this.#records;
  }

  /**
   * Adds one record.
   *
   * @throws KoppelError `INVALID_ARGUMENT` for an unknown label, a wrong number of
   *   values, a value out of the column's bounds, a bad record key, or more records
   *   than `maxRecordsPerInput` (the error names the record number, never its content);
   *   the tabulator is then unchanged
   */
  add(r: InputRecord): void {
    const spec = this.#codebook.spec;
    const n = this.#next();
    const cell = this.#codebook.cellIndex(r.cell);
    if (cell < 0) throw unknownLabel(n);
    const values = r.values ?? [];
    if (values.length !== spec.values.length)
      throw new KoppelError('INVALID_ARGUMENT', `A record has ${values.length} values; the codebook has ${spec.values.length} value columns.`, {
        details: { record: n },
      });
    const key = r.key ?? 0;
    checkKey(key, n);
    // Every value is parsed and checked before anything is added.
    const parsed: Array<number | bigint> = [];
    for (let j = 0; j < values.length; j++) parsed.push(this.#value(values[j] as string | bigint, j, n));
    this.#accumulate(cell, key, parsed, n);
  }

  /**
   * Adds a batch of records given as rows of fields (as a CSV reader gives them): the
   * cell labels and values are read from the columns `layout` names, the record keys
   * from `keys` (one per row). Same checks as {@link Tabulator.add}, record by record, and
   * the same result as adding the rows one by one; faster (no object per record, and a
   * row with the previous row's labels reuses its cell).
   *
   * @throws KoppelError `INVALID_ARGUMENT` as {@link Tabulator.add}, naming the record;
   *   the rows before it stay added; also if `layout` does not fit the codebook or there
   *   are fewer keys than rows
   */
  addRows(rows: ReadonlyArray<readonly string[]>, layout: RowLayout, keys: ArrayLike<number>): void {
    const spec = this.#codebook.spec;
    const { cells, values } = layout;
    if (cells.length !== spec.dimensions.length || values.length !== spec.values.length) {
      throw new KoppelError(
        'INVALID_ARGUMENT',
        `The layout names ${cells.length} label and ${values.length} value columns; the codebook has ${spec.dimensions.length} dimensions and ${spec.values.length} value columns.`,
      );
    }
    if (keys.length < rows.length) throw new KoppelError('INVALID_ARGUMENT', `${keys.length} record keys for ${rows.length} records.`);
    const labels: string[] = new Array<string>(cells.length);
    const parsed: Array<number | bigint> = new Array<number | bigint>(values.length);
    let previous: string[] | undefined;
    let previousCell = -1;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as readonly string[];
      const n = this.#next();
      let same = previous !== undefined;
      for (let d = 0; d < cells.length; d++) {
        const label = row[cells[d] as number];
        if (label === undefined) throw missingField(n);
        if (same && label !== (previous as string[])[d]) same = false;
        labels[d] = label;
      }
      let cell = previousCell;
      if (!same) {
        cell = this.#codebook.cellIndex(labels);
        if (cell < 0) throw unknownLabel(n);
        previous = labels.slice();
        previousCell = cell;
      }
      const key = keys[i] as number;
      checkKey(key, n);
      for (let j = 0; j < values.length; j++) {
        const text = row[values[j] as number];
        if (text === undefined) throw missingField(n);
        parsed[j] = this.#value(text, j, n);
      }
      this.#accumulate(cell, key, parsed, n);
    }
  }

  /** The number the next record gets, if the codebook allows one more. */
  #next(): number {
    const n = this.#records + 1;
    const max = this.#codebook.spec.maxRecordsPerInput;
    if (n > max) throw new KoppelError('INVALID_ARGUMENT', `More records than the codebook's maxRecordsPerInput (${max}).`);
    return n;
  }

  /** Value column `j` of record `n`, parsed (a double when short, else a BigInt) and checked against its bounds. */
  #value(raw: string | bigint, j: number, n: number): number | bigint {
    const column = this.#codebook.spec.values[j] as { name: string; scale: number };
    const x = parseValue(raw, column.scale);
    const bound = this.#codebook.bounds[j] as { min: bigint; max: bigint };
    const inside = typeof x === 'number' ? x >= (this.#min[j] as number) && x <= (this.#max[j] as number) : x >= bound.min && x <= bound.max;
    if (!inside)
      throw new KoppelError('INVALID_ARGUMENT', `A value of column ${column.name} is outside the codebook's bounds.`, {
        details: { record: n, column: column.name },
      });
    return x;
  }

  /** Adds record `n`, already checked, to its cell. */
  #accumulate(cell: number, key: number, parsed: ReadonlyArray<number | bigint>, n: number): void {
    if (this.#sinceFlush >= this.#flushEvery) this.#flush();
    const base = cell * this.#codebook.width;
    const p = this.#pending;
    p[base] = (p[base] as number) + 1;
    p[base + 1] = (p[base + 1] as number) + key;
    for (let j = 0; j < parsed.length; j++) {
      const x = parsed[j] as number | bigint;
      if (typeof x === 'number') p[base + 2 + j] = (p[base + 2 + j] as number) + x;
      else this.#vector[base + 2 + j] = (this.#vector[base + 2 + j] as bigint) + encodeSigned(x);
    }
    this.#sinceFlush++;
    this.#records = n;
  }

  /** Folds the pending doubles into the 64-bit vector (two's complement for negatives). */
  #flush(): void {
    const v = this.#vector;
    const p = this.#pending;
    for (let i = 0; i < p.length; i++) {
      if (p[i] !== 0) v[i] = (v[i] as bigint) + BigInt(p[i] as number);
    }
    p.fill(0);
    this.#sinceFlush = 0;
  }

  /** The vector so far (a copy). */
  vector(): BigUint64Array {
    this.#flush();
    return new BigUint64Array(this.#vector);
  }
}

/** A value in units of 10^-scale: a double when it has at most 15 digits in all, else a BigInt. */
function parseValue(raw: string | bigint, scale: number): number | bigint {
  if (typeof raw === 'bigint') return raw;
  // The common case first: an integer of digits and an optional minus, at most 15
  // digits once scaled, parsed without a regular expression.
  const n = raw.length;
  const negative = raw.charCodeAt(0) === 0x2d;
  const from = negative ? 1 : 0;
  if (n > from && n - from + scale <= 15) {
    let x = 0;
    let i = from;
    for (; i < n; i++) {
      const d = raw.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      x = x * 10 + d;
    }
    if (i === n) {
      x *= 10 ** scale;
      return negative ? -x : x;
    }
  }
  const m = SHORT_DECIMAL.exec(raw);
  if (m) {
    const frac = (m[3] ?? '').replace(/0+$/, '');
    const digits = (m[2] as string) + frac.padEnd(scale, '0');
    if (frac.length <= scale && digits.length <= 15) {
      const x = Number(digits);
      return m[1] === '-' ? -x : x;
    }
  }
  return parseFixed(raw, scale);
}

/**
 * Tabulates records into a vector laid out by the codebook (see {@link Tabulator}).
 *
 * @throws KoppelError `INVALID_ARGUMENT` as {@link Tabulator.add}
 */
export function tabulate(codebook: Codebook, records: Iterable<InputRecord>): BigUint64Array {
  const t = new Tabulator(codebook);
  for (const r of records) t.add(r);
  return t.vector();
}
