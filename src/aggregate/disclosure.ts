/**
 * Statistical disclosure control of a released table, as statistics offices apply it:
 *
 * 1. **Margins.** The table is published with all its totals: every cell where one or
 *    more dimensions are summed over (label `*`).
 * 2. **Threshold rule (primary suppression).** A cell or total with 1 to k - 1
 *    contributors is suppressed (k = 10 by default). Zero cells are safe: nobody is in
 *    them, so nothing about anybody can be learned.
 * 3. **Secondary suppression.** Along every line of the table (all entries that differ in
 *    one dimension only, with that line's total) the total is the sum of the others, so a
 *    line with exactly one suppressed entry gives it away by subtraction. Until no line
 *    has exactly one, the smallest non-zero unsuppressed entry of such a line is
 *    suppressed too (interior cells before totals). Lines can also be combined: two
 *    rows minus two columns may leave a single suppressed cell. So the pattern is then
 *    audited ({@link disclosedEntries}): while any suppressed entry is still determined
 *    by some combination of the published relations, one more entry on its lines is
 *    suppressed (a hypercube through it, the second time) and the audit repeats. The
 *    released table gives no suppressed entry away by any sum or difference of
 *    published entries; it is not an optimal (least information lost) pattern, and
 *    bounds from non-negativity are not audited.
 * 4. **Cell key method** (optional; as used by ONS, Destatis and tau-ARGUS). Every
 *    record carries a fixed key in 0..255; a cell's key is the sum of its records' keys
 *    mod 256. A published p-table maps (count, cell key) to a perturbation of the count,
 *    so the same cell always gets the same perturbation, whatever table it appears in.
 *
 * Every entry of the output states which rule decided it.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { Codebook } from './codebook.js';
import { decodeSigned } from './ring.js';

/** The label of a summed-over dimension. */
export const TOTAL = '*';

/** A p-table: for counts from `minCount` upwards (the last row applies to all larger counts), the perturbations and their probabilities. */
export interface PTable {
  readonly name: string;
  readonly rows: ReadonlyArray<{ readonly minCount: number; readonly perturbations: ReadonlyArray<{ readonly d: number; readonly p: number }> }>;
}

/**
 * The default p-table (maximum perturbation 2, variance 0.6 for counts of 3 and more).
 * Counts stay non-negative and a count of 1 or 2 is never perturbed to 0.
 */
export const DEFAULT_PTABLE: PTable = Object.freeze({
  name: 'koppel-default-D2-V0.6',
  rows: [
    { minCount: 1, perturbations: [{ d: 0, p: 0.7 }, { d: 1, p: 0.3 }] },
    { minCount: 2, perturbations: [{ d: -1, p: 0.2 }, { d: 0, p: 0.6 }, { d: 1, p: 0.2 }] },
    { minCount: 3, perturbations: [{ d: -2, p: 0.05 }, { d: -1, p: 0.2 }, { d: 0, p: 0.5 }, { d: 1, p: 0.2 }, { d: 2, p: 0.05 }] },
  ],
});

/** Checks a p-table: rows by increasing minCount, probabilities summing to 1, counts kept non-negative. */
export function checkPTable(t: PTable): PTable {
  let prev = 0;
  for (const r of t.rows) {
    if (!Number.isInteger(r.minCount) || r.minCount <= prev) throw new KoppelError('INVALID_ARGUMENT', 'p-table rows must have increasing integer minCount from 1.');
    prev = r.minCount;
    const sum = r.perturbations.reduce((s, x) => s + x.p, 0);
    if (Math.abs(sum - 1) > 1e-9 || r.perturbations.some((x) => !Number.isInteger(x.d) || x.p < 0)) throw new KoppelError('INVALID_ARGUMENT', 'p-table probabilities must be non-negative and sum to 1 per row.');
    if (r.perturbations.some((x) => x.p > 0 && r.minCount + x.d < 0)) throw new KoppelError('INVALID_ARGUMENT', 'A p-table row could make a count negative.');
  }
  if (t.rows.length === 0 || t.rows[0]?.minCount !== 1) throw new KoppelError('INVALID_ARGUMENT', 'A p-table needs a row for minCount 1.');
  return t;
}

/**
 * The perturbation for a count and cell key: the cell key picks the point
 * (key + 0.5) / 256 in the row's cumulative distribution.
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

/** Options of {@link protectTable}. */
export interface DisclosureOptions {
  /** Minimum contributors for a published cell (default 10). */
  readonly threshold?: number;
  /** Secondary suppression (default on). */
  readonly secondary?: boolean;
  /** Cell key perturbation of counts with this p-table (default off). */
  readonly cellKey?: PTable;
}

/** Which rule decided an entry. */
export type Rule = 'published' | 'threshold' | 'secondary';

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
  /** The cell key perturbation applied to the count (0 without the method, or when suppressed). */
  readonly perturbation: number;
  /** True for a total (some label is `*`). */
  readonly total: boolean;
}

/** Two primes below 2^26: products of two residues stay exact in a double. */
const AUDIT_PRIMES = [67108859, 67108837];

function mulMod(a: number, b: number, p: number): number {
  return (a * b) % p;
}

function invMod(a: number, p: number): number {
  // a^(p-2) mod p (Fermat).
  let result = 1;
  let base = a % p;
  for (let e = p - 2; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) result = mulMod(result, base, p);
    base = mulMod(base, base, p);
  }
  return result;
}

/**
 * The variables that a homogeneous linear system determines by itself, over GF(p):
 * after Gauss-Jordan elimination, a variable is determined exactly when its pivot row
 * has no other entry. Rows are sparse: variable -> coefficient (mod p).
 */
function determinedVariables(rows: ReadonlyArray<ReadonlyMap<number, number>>, p: number): number[] {
  const basis: Array<Map<number, number>> = [];
  const pivotRow = new Map<number, number>(); // variable -> index of the basis row it is the pivot of
  const holders = new Map<number, Set<number>>(); // non-pivot variable -> basis rows that have it
  const hold = (col: number, i: number, has: boolean) => {
    let set = holders.get(col);
    if (has) {
      if (!set) holders.set(col, (set = new Set()));
      set.add(i);
    } else if (set) {
      set.delete(i);
      if (set.size === 0) holders.delete(col);
    }
  };
  // target -= f * source, recording which columns of basis row `index` appear or vanish.
  const subtract = (target: Map<number, number>, source: ReadonlyMap<number, number>, f: number, index?: number) => {
    for (const [col, v] of source) {
      const next = ((target.get(col) ?? 0) - mulMod(f, v, p) + p) % p;
      const had = target.has(col);
      if (next === 0) target.delete(col);
      else target.set(col, next);
      if (index !== undefined && !pivotRow.has(col) && had !== (next !== 0)) hold(col, index, next !== 0);
    }
  };
  for (const input of rows) {
    const row = new Map(input);
    for (const col of [...row.keys()]) {
      const b = pivotRow.get(col);
      const f = row.get(col);
      if (b !== undefined && f !== undefined) subtract(row, basis[b] as Map<number, number>, f);
    }
    if (row.size === 0) continue;
    // Pivot on the column fewest basis rows hold: the least fill-in (Markowitz).
    let pivot = -1;
    let fewest = Infinity;
    for (const col of row.keys()) {
      const n = holders.get(col)?.size ?? 0;
      if (n < fewest) {
        fewest = n;
        pivot = col;
      }
    }
    const lead = row.get(pivot) as number;
    const inv = invMod(lead, p);
    for (const [col, v] of row) row.set(col, mulMod(v, inv, p));
    const index = basis.length;
    // Keep the basis fully reduced: clear the new pivot's column from every row that has it.
    for (const i of [...(holders.get(pivot) ?? [])]) {
      const other = basis[i] as Map<number, number>;
      subtract(other, row, other.get(pivot) as number, i);
    }
    holders.delete(pivot);
    basis.push(row);
    pivotRow.set(pivot, index);
    for (const col of row.keys()) if (col !== pivot) hold(col, index, true);
  }
  return basis.filter((r) => r.size === 1).map((r) => r.keys().next().value as number);
}

/**
 * Audits a suppression pattern: the suppressed entries that the published ones still
 * give away exactly, by any sum or difference of the table's relations (along every
 * line, the entries before the last sum to the last, its total).
 *
 * A suppressed entry is given away exactly when its unit vector lies in the row space of
 * the relations restricted to the suppressed entries. That is decided by elimination
 * modulo two 26-bit primes; an entry determined modulo either counts as given away. A
 * mistake needs both primes to divide the same minor of the relation matrix, and could
 * then only hide a disclosure if that minor were a denominator of it; for two-way
 * tables the matrix is totally unimodular (every minor 0 or +-1) and the audit is exact.
 *
 * @param lines - every line of the table, entry indices, its total last
 * @param suppressed - whether an entry is suppressed
 * @param primes - the primes to eliminate modulo (default: both 26-bit primes)
 * @returns the suppressed entries given away, in increasing order
 */
export function disclosedEntries(lines: ReadonlyArray<readonly number[]>, suppressed: (entry: number) => boolean, primes: readonly number[] = AUDIT_PRIMES): number[] {
  const found = new Set<number>();
  for (const p of primes) {
    const rows: Array<Map<number, number>> = [];
    for (const line of lines) {
      const row = new Map<number, number>();
      line.forEach((e, j) => {
        if (suppressed(e)) row.set(e, j === line.length - 1 ? p - 1 : 1);
      });
      if (row.size > 0) rows.push(row);
    }
    // Short lines first: they keep the fill-in of the elimination low (a four-way table
    // of 6,912 cells audits about 5x faster than in line order).
    rows.sort((a, b) => a.size - b.size);
    for (const e of determinedVariables(rows, p)) found.add(e);
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * Applies margins, threshold, secondary suppression and the cell key method to an
 * exact (or noise-protected) aggregate vector laid out by `codebook`.
 */
export function protectTable(codebook: Codebook, aggregate: BigUint64Array, options: DisclosureOptions = {}): TableEntry[] {
  const k = options.threshold ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new KoppelError('INVALID_ARGUMENT', 'The threshold must be a positive integer.');
  if (aggregate.length !== codebook.length) throw new KoppelError('INTERNAL', 'Aggregate length does not match the codebook.');
  if (options.cellKey) checkPTable(options.cellKey);
  const dims = codebook.spec.dimensions.map((d) => d.labels.length);
  const ext = dims.map((n) => n + 1); // index n is the total
  const nEntries = ext.reduce((a, b) => a * b, 1);
  const width = codebook.width;
  // Extended table of signed values: [count, keySum, v...] per entry.
  const values: bigint[][] = Array.from({ length: nEntries }, () => new Array<bigint>(width).fill(0n));
  const extStride: number[] = [];
  let st = 1;
  for (let i = ext.length - 1; i >= 0; i--) {
    extStride[i] = st;
    st *= ext[i] as number;
  }
  const coords = (e: number) => ext.map((n, i) => Math.floor(e / (extStride[i] as number)) % n);
  // Accumulate every interior cell into all 2^d entries it belongs to.
  for (let c = 0; c < codebook.cells; c++) {
    const labelsIdx = codebook.cellLabels(c).map((l, i) => (codebook.spec.dimensions[i] as { labels: string[] }).labels.indexOf(l));
    const row = Array.from({ length: width }, (_, w) => decodeSigned(aggregate[c * width + w] as bigint));
    for (let mask = 0; mask < 1 << dims.length; mask++) {
      let e = 0;
      for (let i = 0; i < dims.length; i++) e += ((mask >> i) & 1 ? (dims[i] as number) : (labelsIdx[i] as number)) * (extStride[i] as number);
      const target = values[e] as bigint[];
      for (let w = 0; w < width; w++) target[w] = (target[w] as bigint) + (row[w] as bigint);
    }
  }
  const count = (e: number) => (values[e] as bigint[])[0] as bigint;
  const isTotal = (e: number) => coords(e).some((x, i) => x === dims[i]);
  // Primary suppression.
  const rule: Rule[] = Array.from({ length: nEntries }, (_, e) => (count(e) > 0n && count(e) < BigInt(k) ? 'threshold' : 'published'));
  // Secondary suppression: first every line with exactly one suppressed entry, then
  // whatever combinations of lines still give away, until nothing is given away.
  if (options.secondary ?? true) {
    // The line along dimension i that starts at e0 (whose coordinate i is 0).
    const lineFrom = (e0: number, i: number) => Array.from({ length: ext[i] as number }, (_, j) => e0 + j * (extStride[i] as number));
    const lines: number[][] = [];
    for (let i = 0; i < dims.length; i++) {
      for (let e0 = 0; e0 < nEntries; e0++) if (coords(e0)[i] === 0) lines.push(lineFrom(e0, i));
    }
    const linesThrough = (e: number) => dims.map((_, i) => lineFrom(e - (coords(e)[i] as number) * (extStride[i] as number), i));
    // Published non-zero entries, interior cells before totals, then smallest count.
    const cheapest = (entries: number[]) =>
      entries
        .filter((e) => rule[e] === 'published' && count(e) > 0n)
        .sort((a, b) => Number(isTotal(a)) - Number(isTotal(b)) || (count(a) < count(b) ? -1 : count(a) > count(b) ? 1 : a - b))[0];
    const suppressed = (e: number) => rule[e] !== 'published';
    // Suppresses every corner of a 2 x ... x 2 box through x: per dimension, x's
    // coordinate and a partner on its line (suppressed already, else the smallest
    // count). Signing the corners +-1 (+1 on both sides of a total) satisfies every line's
    // relation, so x can change without any published entry changing: x is then not
    // given away, and stays so however many more entries are suppressed.
    const hideInHypercube = (x: number) => {
      const xs = coords(x);
      const partner = xs.map((xi, i) => {
        let best = xi;
        let cost = Infinity;
        for (let y = 0; y < (ext[i] as number); y++) {
          if (y === xi) continue;
          const e = x + (y - xi) * (extStride[i] as number);
          const c = rule[e] !== 'published' ? -1 : Number(count(e));
          if (c < cost) {
            cost = c;
            best = y;
          }
        }
        return best;
      });
      for (let mask = 1; mask < 1 << dims.length; mask++) {
        let e = x;
        for (let i = 0; i < dims.length; i++) if ((mask >> i) & 1) e += ((partner[i] as number) - (xs[i] as number)) * (extStride[i] as number);
        if (rule[e] === 'published') rule[e] = 'secondary';
      }
    };
    const tried = new Set<number>();
    for (;;) {
      let changed = true;
      while (changed) {
        changed = false;
        for (const line of lines) {
          if (line.filter(suppressed).length !== 1) continue;
          const c = cheapest(line);
          if (c === undefined) continue; // only zeros left: the suppressed entry is 0 too
          rule[c] = 'secondary';
          changed = true;
        }
      }
      // One prime while the pattern grows (half the work), both for the final word.
      let disclosed = disclosedEntries(lines, suppressed, AUDIT_PRIMES.slice(0, 1));
      if (disclosed.length === 0) disclosed = disclosedEntries(lines, suppressed);
      if (disclosed.length === 0) break;
      // First time an entry is given away: one more entry on its lines (an entry just
      // added there may already cover it). Second time: a hypercube through it.
      const added = new Set<number>();
      for (const x of disclosed) {
        if (tried.has(x)) {
          hideInHypercube(x);
          continue;
        }
        tried.add(x);
        const near = linesThrough(x).flat();
        if (near.some((e) => added.has(e))) continue;
        const c = cheapest(near) ?? cheapest(Array.from({ length: nEntries }, (_, e) => e));
        if (c === undefined) throw new KoppelError('INTERNAL', 'Secondary suppression found no entry left to suppress.');
        rule[c] = 'secondary';
        added.add(c);
      }
    }
  }
  const out: TableEntry[] = [];
  for (let e = 0; e < nEntries; e++) {
    const xs = coords(e);
    const labels = xs.map((x, i) => (x === dims[i] ? TOTAL : ((codebook.spec.dimensions[i] as { labels: string[] }).labels[x] as string)));
    const v = values[e] as bigint[];
    if (rule[e] !== 'published') {
      out.push({ labels, count: null, sums: codebook.spec.values.map(() => null), rule: rule[e] as Rule, perturbation: 0, total: isTotal(e) });
      continue;
    }
    const cellKey = Number((((v[1] as bigint) % 256n) + 256n) % 256n);
    const c = v[0] as bigint;
    const d = options.cellKey && c > 0n ? perturbation(options.cellKey, Number(c), cellKey) : 0;
    out.push({ labels, count: c + BigInt(d), sums: v.slice(2), rule: 'published', perturbation: d, total: isTotal(e) });
  }
  return out;
}
