/**
 * The released table, as statistics offices protect it:
 *
 * 1. **Margins.** The table is published with all its totals: every cell where one or
 *    more dimensions are summed over (label `*`; see `extended-table.ts`).
 * 2. **Threshold rule (primary suppression).** A cell or total with 1 to k - 1
 *    contributors is suppressed (k = 10 by default). Zero cells are safe: nobody is in
 *    them, so nothing about anybody can be learned.
 * 3. **Secondary suppression** against subtraction along lines and the public bounds
 *    (see `secondary.ts` and `box-search.ts`).
 * 4. **Cell key method** (optional; see `cell-key.ts`): counts only. The perturbation, the
 *    cell key and the unperturbed count are never part of an entry, and a published
 *    non-zero count is never below k (see {@link release}).
 *
 * Every entry of the output states which rule decided it.
 *
 * @packageDocumentation
 */
import type { Codebook } from '../aggregate/codebook.js';
import { KoppelError } from '../errors/index.js';
import { cellKeyOf, checkPTable, perturbation } from './cell-key.js';
import { ExtendedTable, type Rule } from './extended-table.js';
import { resolveOptions, type DisclosureOptions } from './options.js';
import { suppressSecondary } from './secondary.js';

/** One entry of the released table: a cell or a total. */
export interface TableEntry {
  /** One label per dimension; `*` where summed over. */
  readonly labels: string[];
  /** Published contributor count (perturbed with the cell key method), or null if suppressed. */
  readonly count: bigint | null;
  /** Published sums per value column (units of 10^-scale), or null if suppressed. */
  readonly sums: Array<bigint | null>;
  /** The rule that decided the entry. */
  readonly rule: Rule;
  /** True for a total (some label is `*`). */
  readonly total: boolean;
}

/**
 * Checks the cell key options against the codebook: the p-table, and, with value columns,
 * that the operator accepts exact sums beside perturbed counts (`cellKeyCountsOnly`).
 *
 * @throws KoppelError `INVALID_ARGUMENT` for a bad p-table, or the method with value
 *   columns without `cellKeyCountsOnly`
 */
export function checkCellKeyOptions(codebook: Codebook, options: DisclosureOptions): void {
  if (!options.cellKey) return;
  checkPTable(options.cellKey);
  if (codebook.spec.values.length > 0 && options.cellKeyCountsOnly !== true)
    throw new KoppelError(
      'INVALID_ARGUMENT',
      'The cell key method perturbs counts only and the table has value columns, whose sums would be published exact: ' +
        'accept that with --cell-key-counts-only (cellKeyCountsOnly), or leave the cell key method off.',
    );
}

/**
 * Applies margins, threshold, secondary suppression and the cell key method to an
 * exact (or noise-protected) aggregate vector laid out by `codebook`.
 *
 * @throws KoppelError `INVALID_ARGUMENT` for bad options (see {@link checkCellKeyOptions}),
 *   `DISCLOSURE_RISK` if the table cannot be protected
 */
export function protectTable(codebook: Codebook, aggregate: BigUint64Array, options: DisclosureOptions = {}): TableEntry[] {
  const resolved = resolveOptions(options);
  if (aggregate.length !== codebook.length) throw new KoppelError('INTERNAL', 'Aggregate length does not match the codebook.');
  checkCellKeyOptions(codebook, options);
  const table = new ExtendedTable(codebook, aggregate);
  const k = BigInt(resolved.k);
  // Primary suppression.
  const rule: Rule[] = Array.from({ length: table.size }, (_, e) => (table.count(e) > 0n && table.count(e) < k ? 'threshold' : 'published'));
  if (resolved.secondary) suppressSecondary(table, rule, resolved);
  return release(table, rule, options.cellKey, k);
}

/**
 * The released entries: suppressed ones without values, published ones with their counts
 * perturbed by the cell key method if asked. The public knows that a published non-zero
 * entry has at least k contributors, so a perturbed count below k would give the true
 * count back (k - D can only come from k): a perturbation that would take a count below k
 * is cut at k (as the p-tables of the standard method are built not to produce counts
 * from 1 to the threshold). Only the perturbed count leaves this function.
 */
function release(table: ExtendedTable, rule: readonly Rule[], cellKey: DisclosureOptions['cellKey'], k: bigint): TableEntry[] {
  const out: TableEntry[] = [];
  for (let e = 0; e < table.size; e++) {
    const labels = table.labels(e);
    const v = table.values[e] as bigint[];
    if (rule[e] !== 'published') {
      out.push({ labels, count: null, sums: table.codebook.spec.values.map(() => null), rule: rule[e] as Rule, total: table.isTotal(e) });
      continue;
    }
    const c = v[0] as bigint;
    let count = c;
    if (cellKey && c > 0n) {
      count = c + BigInt(perturbation(cellKey, Number(c), cellKeyOf(v[1] as bigint)));
      if (count < k) count = k;
    }
    out.push({ labels, count, sums: v.slice(2), rule: 'published', total: table.isTotal(e) });
  }
  return out;
}
