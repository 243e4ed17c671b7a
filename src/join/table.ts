/**
 * The private join's output table: per group of A, the matched count and the sums of
 * B's value columns, passed through disclosure control (`src/disclosure/`:
 * threshold rule, secondary suppression against the margins) with the rule that
 * decided every entry.
 *
 * @packageDocumentation
 */
import { makeCodebook } from '../aggregate/codebook.js';
import { protectTable, TOTAL, type DisclosureOptions, type Rule } from '../disclosure/index.js';
import { KoppelError } from '../errors/index.js';

/** One group's exact result, as A computes it before disclosure control. */
export interface JoinGroup {
  /** The group's labels, one per group column. */
  readonly labels: readonly string[];
  /** How many of A's records in the group matched one of B's. */
  readonly count: number;
  /**
   * Per value column, the sum of B's values over the matches; null when the group has
   * matches, but fewer than the value holder's `minCount` (A never learned them). A group
   * without matches sums to 0.
   */
  readonly sums: readonly number[] | null;
}

/** One entry of the released table. */
export interface JoinTableRow {
  /** One label per group column; `*` where summed over (totals). */
  readonly labels: readonly string[];
  /** Matched count, or null if suppressed. */
  readonly count: number | null;
  /** Sums per value column, or null if suppressed. */
  readonly sums: ReadonlyArray<number | null>;
  /** `published`, `threshold` (fewer than k contributors) or `secondary` (hides a suppressed entry from subtraction). */
  readonly rule: Rule;
  /** True for a total (some label is `*`). */
  readonly total: boolean;
}

/**
 * Disclosure-control options of the join's table: {@link DisclosureOptions} without the
 * cell key method (threshold: minimum matched records in a published entry).
 */
export type JoinDisclosureOptions = Omit<DisclosureOptions, 'cellKey' | 'cellKeyCountsOnly'>;

/**
 * Protects a table of groups: the full table with its margins is formed (so that
 * secondary suppression also covers totals someone may publish), then the interior
 * entries of the groups A holds are returned in their input order, followed by the
 * totals.
 */
export function protectJoinTable(
  groupColumns: number,
  valueColumns: number,
  groups: readonly JoinGroup[],
  options: JoinDisclosureOptions = {},
): JoinTableRow[] {
  if (groups.length === 0) return [];
  // The codebook uses label indices, so any label text (empty, long, with commas) works.
  const labelLists: string[][] = Array.from({ length: groupColumns }, () => []);
  const labelIndex = Array.from({ length: groupColumns }, () => new Map<string, number>());
  for (const g of groups) {
    if (g.labels.length !== groupColumns) throw new KoppelError('INTERNAL', 'A group has the wrong number of labels.');
    g.labels.forEach((l, d) => {
      const m = labelIndex[d] as Map<string, number>;
      if (!m.has(l)) {
        m.set(l, m.size);
        (labelLists[d] as string[]).push(l);
      }
    });
  }
  const matched = groups.reduce((s, g) => s + g.count, 0);
  const codebook = makeCodebook({
    id: 'koppel-join',
    dimensions: labelLists.map((ls, d) => ({ name: `d${d}`, labels: ls.map((_, i) => String(i)) })),
    values: Array.from({ length: valueColumns }, (_, j) => ({ name: `v${j}`, scale: 0, min: '0', max: String(2 ** 48) })),
    maxInputs: 1,
    maxRecordsPerInput: Math.max(1, Math.min(matched, 30_000)),
  });
  const vector = new BigUint64Array(codebook.length);
  for (const g of groups) {
    const cell = codebook.cellIndex(g.labels.map((l, d) => String((labelIndex[d] as Map<string, number>).get(l))));
    const at = cell * codebook.width;
    vector[at] = BigInt(g.count);
    // Withheld sums count as 0 here: such a group is under the threshold (suppressed), and
    // every total over it loses its sums in withholdTotals.
    g.sums?.forEach((s, j) => (vector[at + 2 + j] = BigInt(s)));
  }
  const entries = protectTable(codebook, vector, {
    threshold: options.threshold ?? 10,
    secondary: options.secondary ?? true,
    protection: options.protection ?? 1,
    valueProtection: options.valueProtection ?? 0,
  });
  const byKey = new Map(entries.map((e) => [e.labels.join('\u0000'), e]));
  const toRow = (labels: readonly string[], key: string): JoinTableRow => {
    const e = byKey.get(key);
    if (!e) throw new KoppelError('INTERNAL', 'A group is missing from the protected table.');
    return { labels, count: e.count === null ? null : Number(e.count), sums: e.sums.map((s) => (s === null ? null : Number(s))), rule: e.rule, total: e.total };
  };
  const rows = groups.map((g) => toRow(g.labels, g.labels.map((l, d) => String((labelIndex[d] as Map<string, number>).get(l))).join('\u0000')));
  for (const e of entries) {
    if (!e.total) continue;
    const labels = e.labels.map((x, d) => (x === TOTAL ? TOTAL : ((labelLists[d] as string[])[Number(x)] as string)));
    rows.push(toRow(labels, e.labels.join('\u0000')));
  }
  return rows;
}

/**
 * Blanks the sums of every total that covers a group whose sums were withheld (matches,
 * but fewer than the value holder's `minCount`): A does not know them, so such a total's sums are unknown,
 * not the sum over the other groups. Counts stay as disclosure control decided.
 */
export function withholdTotals(rows: readonly JoinTableRow[], groups: readonly JoinGroup[]): JoinTableRow[] {
  const withheld = groups.filter((g) => g.sums === null);
  if (withheld.length === 0) return [...rows];
  const covers = (total: readonly string[], g: JoinGroup) => total.every((l, d) => l === TOTAL || l === g.labels[d]);
  return rows.map((r) => (r.total && withheld.some((g) => covers(r.labels, g)) ? { ...r, sums: r.sums.map(() => null) } : r));
}
