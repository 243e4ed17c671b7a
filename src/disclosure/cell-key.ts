/**
 * The cell key method (as used by ONS, Destatis and tau-ARGUS): every record carries a
 * fixed key in 0..255; a cell's key is the sum of its records' keys mod 256. A published
 * p-table maps (count, cell key) to a perturbation of the count, so the same cell always
 * gets the same perturbation, whatever table it appears in. The perturbation and the cell
 * key stay inside disclosure control: with the public p-table either gives the true count
 * back, so only the perturbed count is released (`table.ts`). Counts only: value sums are
 * not perturbed (docs/protocols/aggregate.md compares this with the standard method).
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';

/** A p-table: for counts from `minCount` upwards (the last row applies to all larger counts), the perturbations and their probabilities. */
export interface PTable {
  /** The p-table's name (reported with the released table). */
  readonly name: string;
  /** Rows by increasing `minCount`, the first for 1: per row, each perturbation `d` with its probability `p`. */
  readonly rows: ReadonlyArray<{ readonly minCount: number; readonly perturbations: ReadonlyArray<{ readonly d: number; readonly p: number }> }>;
}

/**
 * The default p-table (maximum perturbation 2, variance 0.6 for counts of 3 and more).
 * Counts stay non-negative and a count of 1 or 2 is never perturbed to 0.
 */
export const DEFAULT_PTABLE: PTable = Object.freeze({
  name: 'koppel-default-D2-V0.6',
  rows: [
    {
      minCount: 1,
      perturbations: [
        { d: 0, p: 0.7 },
        { d: 1, p: 0.3 },
      ],
    },
    {
      minCount: 2,
      perturbations: [
        { d: -1, p: 0.2 },
        { d: 0, p: 0.6 },
        { d: 1, p: 0.2 },
      ],
    },
    {
      minCount: 3,
      perturbations: [
        { d: -2, p: 0.05 },
        { d: -1, p: 0.2 },
        { d: 0, p: 0.5 },
        { d: 1, p: 0.2 },
        { d: 2, p: 0.05 },
      ],
    },
  ],
});

/** Checks a p-table: rows by increasing minCount, probabilities summing to 1, counts kept non-negative. */
export function checkPTable(t: PTable): PTable {
  let prev = 0;
  for (const r of t.rows) {
    if (!Number.isInteger(r.minCount) || r.minCount <= prev)
      throw new KoppelError('INVALID_ARGUMENT', 'p-table rows must have increasing integer minCount from 1.');
    prev = r.minCount;
    const sum = r.perturbations.reduce((s, x) => s + x.p, 0);
    if (Math.abs(sum - 1) > 1e-9 || r.perturbations.some((x) => !Number.isInteger(x.d) || x.p < 0))
      throw new KoppelError('INVALID_ARGUMENT', 'p-table probabilities must be non-negative and sum to 1 per row.');
    if (r.perturbations.some((x) => x.p > 0 && r.minCount + x.d < 0)) throw new KoppelError('INVALID_ARGUMENT', 'A p-table row could make a count negative.');
  }
  if (t.rows.length === 0 || t.rows[0]?.minCount !== 1) throw new KoppelError('INVALID_ARGUMENT', 'A p-table needs a row for minCount 1.');
  return t;
}

/** A cell's key in 0..255 from the (signed) sum of its records' keys. */
export function cellKeyOf(keySum: bigint): number {
  return Number(((keySum % 256n) + 256n) % 256n);
}

/**
 * The perturbation for a count and cell key: the cell key picks the point
 * (key + 0.5) / 256 in the row's cumulative distribution. Internal: never released.
 */
export function perturbation(t: PTable, count: number, cellKey: number): number {
  if (count <= 0) return 0;
  let row = t.rows[0] as PTable['rows'][number];
  for (const r of t.rows) if (count >= r.minCount) row = r;
  const u = (cellKey + 0.5) / 256;
  let acc = 0;
  for (const x of row.perturbations) {
    acc += x.p;
    if (u < acc) return x.d;
  }
  return (row.perturbations[row.perturbations.length - 1] as { d: number }).d;
}
