/**
 * Turning an input party's records into its input vector: per cell, the number of
 * records (contributors), the sum of their record keys (for the cell key method) and
 * the sums of the value columns, all checked against the codebook's bounds.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
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
 * the input parties: HMAC-SHA256(secret, "koppel/cell-key/v1" || id)[0]. The same record
 * gets the same key in every table, so the same cell always gets the same perturbation.
 */
export function recordKey(secret: Uint8Array, id: string): number {
  return hmacSha256(secret, new TextEncoder().encode('koppel/cell-key/v1' + '\u0000' + id))[0] as number;
}

/**
 * Tabulates records into a vector laid out by the codebook.
 *
 * @throws KoppelError `INVALID_ARGUMENT` for an unknown label, a wrong number of values,
 *   a value out of the column's bounds, a bad record key, or more records than
 *   `maxRecordsPerInput` (the error names the record number, never its content)
 */
export function tabulate(codebook: Codebook, records: Iterable<InputRecord>): BigUint64Array {
  const { width, spec, bounds } = codebook;
  const v = new BigUint64Array(codebook.length);
  let n = 0;
  for (const r of records) {
    n++;
    if (n > spec.maxRecordsPerInput) throw new KoppelError('INVALID_ARGUMENT', `More records than the codebook's maxRecordsPerInput (${spec.maxRecordsPerInput}).`);
    const cell = codebook.cellIndex(r.cell);
    if (cell < 0) throw new KoppelError('INVALID_ARGUMENT', 'A record names a cell label that is not in the codebook.', { details: { record: n } });
    const values = r.values ?? [];
    if (values.length !== spec.values.length) throw new KoppelError('INVALID_ARGUMENT', `A record has ${values.length} values; the codebook has ${spec.values.length} value columns.`, { details: { record: n } });
    const key = r.key ?? 0;
    if (!Number.isInteger(key) || key < 0 || key > 255) throw new KoppelError('INVALID_ARGUMENT', 'A record key must be an integer from 0 to 255.', { details: { record: n } });
    const base = cell * width;
    v[base] = (v[base] as bigint) + 1n;
    v[base + 1] = (v[base + 1] as bigint) + BigInt(key);
    for (let j = 0; j < values.length; j++) {
      const raw = values[j] as string | bigint;
      const x = typeof raw === 'bigint' ? raw : parseFixed(raw, (spec.values[j] as { scale: number }).scale);
      const b = bounds[j] as { min: bigint; max: bigint };
      if (x < b.min || x > b.max) {
        throw new KoppelError('INVALID_ARGUMENT', `A value of column ${(spec.values[j] as { name: string }).name} is outside the codebook's bounds.`, { details: { record: n, column: (spec.values[j] as { name: string }).name } });
      }
      v[base + 2 + j] = (v[base + 2 + j] as bigint) + encodeSigned(x);
    }
  }
  return v;
}
