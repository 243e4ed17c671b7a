/**
 * Statistical disclosure control of a released table, as statistics offices apply it:
 *
 * 1. **Margins.** The table is published with all its totals: every cell where one or
 *    more dimensions are summed over (label `*`).
 * 2. **Threshold rule (primary suppression).** A cell or total with 1 to k - 1
 *    contributors is suppressed (k = 10 by default). Zero cells are safe: nobody is in
 *    them, so nothing about anybody can be learned.
 * 3. **Secondary suppression.** Along every line of the table (all entries that differ in
 *    one dimension only, with that line's total) the total is the sum of the others, so
 *    a lone suppressed entry would be given away by subtraction, and combinations of
 *    lines, with the public bounds (counts are non-negative, a threshold entry has 1 to
 *    k - 1 contributors), can give away more. Every threshold entry is therefore put in
 *    a box of suppressed entries (the hypercube method, as in tau-ARGUS) along which it
 *    can change within those bounds without any published entry changing. No small
 *    cell then follows from the published ones, exactly or by the bounds, and no
 *    suppressed entry at all by sums and differences. The pattern is not optimal (least
 *    information lost). {@link disclosedEntries} audits a pattern's exact linear
 *    disclosure independently.
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
  /**
   * Protection level (default 1): with secondary suppression, every small cell's count
   * can take, as far as the public can tell, a value at least this far from the true
   * one (its feasible range is at least this wide).
   */
  readonly protection?: number;
  /**
   * Value protection in percent (default 0): with secondary suppression, every small
   * cell's value sums can take, as far as the public can tell, a value at least this
   * share of the true sum away from it, and at least one unit (as tau-ARGUS's protection
   * levels for magnitude tables; 10 to 20 is usual). 0 asks for one unit only.
   */
  readonly valueProtection?: number;
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

/** A change to some entries (entry, signed step) that keeps every line's relation. */
type Move = ReadonlyArray<{ readonly e: number; readonly sign: bigint }>;

/** Most boxes {@link boxShelter} tries for one entry. */
/** Count shifts tried with a value sum's move (0, 1, -1, 2, -2, ...), to keep it within min..max times the count. */
const COUNT_SHIFTS = 41;
const BOX_TRIES = 20_000;
/** Most search steps of a longer move when no box fits (a 100th when only suppressed entries may move; also a 40th of the boxes). */
const LONG_MOVE_NODES = 200_000;

/**
 * Secondary suppression by the hypercube method (Repsilber's GHMITER, as in tau-ARGUS).
 *
 * What the public knows besides the published entries: every line sums to its total;
 * counts are non-negative integers; zero cells are published, so an entry suppressed by
 * the threshold rule has 1 to k - 1 contributors; value sums lie within the codebook's
 * bounds times that count (or have their sign, for other entries). Subtraction along
 * lines, and combinations of lines, can give a suppressed entry away; so can the bounds
 * with them: if two suppressed entries of a line add up to 10 and, by other lines, one is
 * the other plus 8, the threshold entry is 1 (closing lines and auditing ranks, koppel's
 * earlier pattern, left about 3% of the small cells of random 3 x 3 tables pinned so).
 *
 * The returned function finds, for a threshold entry x, the moves that protect it: a
 * box, per dimension x's coordinate and a partner on its line, all 2^d corners to be
 * suppressed. Signed +-1 (two cells of a line opposite, a cell and its total alike), the
 * corners can all change without any line changing, so the box is a second table
 * consistent with everything published. It must also respect the bounds: every corner
 * can move one step its way, for one of the two overall signs, in the column protected
 * (the count, or a value sum: separate unknowns to the public, so each column may get
 * its own move). Then x takes another value in an integer table that fits all public
 * knowledge: it is neither recovered by any sum or difference of published entries nor
 * pinned by the bounds (nor is any corner recovered by sums and differences), and that
 * stays true however many more entries are suppressed. A box whose corners are all suppressed already costs nothing;
 * else the cheapest feasible one (least count suppressed, interior cells before totals)
 * is taken; where no box fits, a longer move found by search. Boxes are not the only
 * moves, so the pattern can suppress more than an optimal (linear-programming) method
 * would. With `free`, only moves through entries suppressed already (for publishing
 * secondary entries again).
 *
 * A move is taken only if the other columns can shift along it as well, so that the
 * table it describes also keeps every value sum within the per-record bounds times its
 * count (which the public knows too).
 *
 * Not covered: secondary entries (0 or at least k contributors: not small cells) may
 * be narrowed, even pinned, by the bounds; what follows from knowing that a secondary
 * entry is either 0 or at least k (a gap, not an interval).
 */
function boxShelter(
  codebook: Codebook,
  values: readonly bigint[][],
  rule: Rule[],
  k: number,
  protection: number,
  valueBasisPoints: number,
  ext: readonly number[],
  stride: readonly number[],
  coords: (e: number) => number[],
  isTotal: (e: number) => boolean,
): (x: number, free: boolean) => Move[] | undefined {
  const d = ext.length;
  const n = values.length;
  // Coordinates and totals, looked up rather than computed: the searches below are hot.
  const co = new Int32Array(n * d);
  const total = new Uint8Array(n);
  for (let e = 0; e < n; e++) {
    coords(e).forEach((c, i) => (co[e * d + i] = c));
    total[e] = isTotal(e) ? 1 : 0;
  }
  const small = BigInt(k - 1);
  const columns = [0, ...codebook.spec.values.map((_, j) => 2 + j)]; // 1, the key sum, is never published
  // The public's bounds on an entry's column w, were it suppressed (null: none). A
  // threshold entry's value sum lies between 1 and k - 1 times the per-record bounds.
  const lower = (e: number, w: number): bigint | null => {
    const primary = rule[e] === 'threshold';
    if (w === 0) return primary ? 1n : 0n;
    const { min } = codebook.bounds[w - 2] as { min: bigint };
    if (primary) return min > 0n ? min : min * small;
    return min >= 0n ? 0n : null;
  };
  const upper = (e: number, w: number): bigint | null => {
    const primary = rule[e] === 'threshold';
    if (w === 0) return primary ? small : null;
    const { max } = codebook.bounds[w - 2] as { max: bigint };
    if (primary) return max < 0n ? max : max * small;
    return max <= 0n ? 0n : null;
  };
  // How far a move must be able to shift small cell x's column w: a count by the
  // protection level, a value sum by the value protection's share of its size (at least
  // one unit). Every entry of the move shifts by as much.
  const reach = BigInt(protection);
  const share = BigInt(valueBasisPoints);
  const need = (x: number, w: number): bigint => {
    if (w === 0) return reach;
    const v = (values[x] as bigint[])[w] as bigint;
    const r = ((v < 0n ? -v : v) * share + 9999n) / 10000n;
    return r > 1n ? r : 1n;
  };
  // The released table says which rule suppressed an entry, so the public also knows that
  // an entry not suppressed as small has no count from 1 to k - 1 (zeros are published,
  // and so are negative counts after noise): its count may not move into that gap.
  const outsideGap = (e: number, count: bigint): boolean => rule[e] === 'threshold' || count <= 0n || count >= BigInt(k);
  // A shift of `step` units is allowed if it stays out of that gap and within the
  // bounds; an entry already outside the bounds (a count made negative by noise) may
  // otherwise move anywhere: no bound is public for it.
  const movable = (e: number, w: number, step: bigint): boolean => {
    const now = (values[e] as bigint[])[w] as bigint;
    const v = now + step;
    if (w === 0 && !outsideGap(e, v)) return false;
    const lo = lower(e, w);
    const hi = upper(e, w);
    if ((lo !== null && now < lo) || (hi !== null && now > hi)) return true;
    return (lo === null || v >= lo) && (hi === null || v <= hi);
  };
  // A column of x that the rule itself fixes (k = 2, a value column with min = max) has
  // nothing left to protect.
  const fixed = (x: number, w: number) => {
    const lo = lower(x, w);
    return lo !== null && lo === upper(x, w);
  };
  // The corners of the box through x with partner p[i] per dimension, signed: along a
  // line, two cells take opposite signs, a cell and its total the same sign.
  const corners = (x: number, xs: readonly number[], p: readonly number[]): Move => {
    const out: Array<{ e: number; sign: bigint }> = [];
    for (let mask = 0; mask < 1 << d; mask++) {
      let e = x;
      let sign = 1n;
      for (let i = 0; i < d; i++) {
        if (!((mask >> i) & 1)) continue;
        e += ((p[i] as number) - (xs[i] as number)) * (stride[i] as number);
        if (xs[i] !== (ext[i] as number) - 1 && p[i] !== (ext[i] as number) - 1) sign = -sign;
      }
      out.push({ e, sign });
    }
    return out;
  };
  // The public also knows that a value sum lies between the per-record bounds times its
  // count (checked only where the true table satisfies it: noise may break it). A move
  // of x's column w must therefore come with shifts of the other columns, the same
  // amount at every entry (signed like the move, so every line stays balanced), that
  // keep every entry within its bounds and its sums within min..max times its count.
  const perRecord = codebook.bounds;
  const coupledNow = (e: number, w: number): boolean => {
    const v = values[e] as bigint[];
    const b = perRecord[w - 2] as { min: bigint; max: bigint };
    return (v[w] as bigint) >= b.min * (v[0] as bigint) && (v[w] as bigint) <= b.max * (v[0] as bigint);
  };
  // The interval of shifts t (null: unbounded) with sign * t in [lo, hi] for every entry.
  type Span = { lo: bigint | null; hi: bigint | null };
  const meet = (span: Span, sign: bigint, lo: bigint | null, hi: bigint | null): void => {
    const [l, h] = sign > 0n ? [lo, hi] : [hi === null ? null : -hi, lo === null ? null : -lo];
    if (l !== null && (span.lo === null || l > span.lo)) span.lo = l;
    if (h !== null && (span.hi === null || h < span.hi)) span.hi = h;
  };
  const empty = (span: Span) => span.lo !== null && span.hi !== null && span.lo > span.hi;
  const ceilDiv = (a: bigint, b: bigint): bigint => (b < 0n ? ceilDiv(-a, -b) : a >= 0n ? (a + b - 1n) / b : -(-a / b));
  const floorDiv = (a: bigint, b: bigint): bigint => (b < 0n ? floorDiv(-a, -b) : a >= 0n ? a / b : -((-a + b - 1n) / b));
  // Whether value column i can shift by a common amount along `move` once counts shift
  // by `a` (or, with `fixedShift`, by exactly that amount).
  const sumFits = (move: Move, i: number, a: bigint, fixedShift?: bigint): boolean => {
    const span: Span = { lo: null, hi: null };
    const b = perRecord[i - 2] as { min: bigint; max: bigint };
    for (const { e, sign } of move) {
      const v = values[e] as bigint[];
      const s = v[i] as bigint;
      const lo = lower(e, i);
      const hi = upper(e, i);
      if (!((lo !== null && s < lo) || (hi !== null && s > hi))) meet(span, sign, lo === null ? null : lo - s, hi === null ? null : hi - s);
      if (coupledNow(e, i)) {
        const c = (v[0] as bigint) + sign * a;
        meet(span, sign, b.min * c - s, b.max * c - s);
      }
      if (empty(span)) return false;
    }
    if (fixedShift === undefined) return true;
    return (span.lo === null || fixedShift >= span.lo) && (span.hi === null || fixedShift <= span.hi);
  };
  const valueColumns = columns.filter((w) => w !== 0);
  // Whether x's column w can shift by `amount` along `move`, every other column shifting
  // too as far as needed (see above).
  const jointly = (move: Move, w: number, amount: bigint): boolean => {
    if (w === 0) return move.every(({ e, sign }) => movable(e, 0, sign * amount)) && valueColumns.every((i) => sumFits(move, i, amount));
    if (!move.every(({ e, sign }) => movable(e, w, sign * amount))) return false;
    // The count shifts a that keep column w within min..max times the count, within the
    // count bounds; then tried from 0 outwards.
    const span: Span = { lo: null, hi: null };
    const b = perRecord[w - 2] as { min: bigint; max: bigint };
    for (const { e, sign } of move) {
      const v = values[e] as bigint[];
      const c = v[0] as bigint;
      const lo = lower(e, 0);
      const hi = upper(e, 0);
      if (!((lo !== null && c < lo) || (hi !== null && c > hi))) meet(span, sign, lo === null ? null : lo - c, hi === null ? null : hi - c);
      if (coupledNow(e, w)) {
        const s = (v[w] as bigint) + sign * amount;
        // b.min * (c + sign * a) <= s <= b.max * (c + sign * a), as bounds on sign * a.
        if (b.max > 0n) meet(span, sign, ceilDiv(s, b.max) - c, null);
        else if (b.max < 0n) meet(span, sign, null, floorDiv(s, b.max) - c);
        else if (s > 0n) return false;
        if (b.min > 0n) meet(span, sign, null, floorDiv(s, b.min) - c);
        else if (b.min < 0n) meet(span, sign, ceilDiv(s, b.min) - c, null);
        else if (s < 0n) return false;
      }
      if (empty(span)) return false;
    }
    for (let tries = 0, a = 0n; tries < COUNT_SHIFTS; tries++, a = a > 0n ? -a : -a + 1n) {
      if ((span.lo !== null && a < span.lo) || (span.hi !== null && a > span.hi)) continue;
      if (a !== 0n && !move.every(({ e, sign }) => outsideGap(e, ((values[e] as bigint[])[0] as bigint) + sign * a))) continue;
      if (sumFits(move, w, a, amount) && valueColumns.every((i) => i === w || sumFits(move, i, a))) return true;
    }
    return false;
  };
  // Whether a move protects x's column w: x's column is fixed by the rule itself, or it
  // can shift x's column w by the amount needed, one way or the other.
  const works = (x: number, move: Move, w: number) => {
    if (fixed(x, w)) return true;
    const r = need(x, w);
    return jointly(move, w, r) || jointly(move, w, -r);
  };
  // What suppressing an entry loses: its count, and much more for a total; at least 1
  // for any published entry (a noisy count can be negative); 0 once suppressed or
  // planned to be.
  const planned = new Set<number>();
  const loss = Float64Array.from(values, (v, e) => Math.max(Number(v[0]), 0) + 1 + (total[e] ? 2 ** 40 : 0));
  const costOf = (e: number) => (rule[e] !== 'published' || planned.has(e) ? 0 : (loss[e] as number));
  // Along dimension i an entry is a part of its line (+1) or the line's total (-1).
  const coef = (e: number, i: number) => (co[e * d + i] === (ext[i] as number) - 1 ? -1n : 1n);
  // The cheapest box through x that protects column w: of shortlisted partners (the
  // suppressed ones and three more), else of all; with `free`, of suppressed entries only.
  const cheapestBox = (x: number, free: boolean, w: number): Move | undefined => {
    const xs = Array.from({ length: d }, (_, i) => co[x * d + i] as number);
    for (const wide of free ? [true] : [false, true]) {
      const options = xs.map((xi, i) => {
        const costAt = (y: number) => costOf(x + (y - xi) * (stride[i] as number));
        if (wide && !free) {
          const ys = Array.from({ length: ext[i] as number }, (_, y) => y).filter((y) => y !== xi);
          return ys.sort((a, b) => costAt(a) - costAt(b) || a - b);
        }
        // The suppressed partners, then (unless free) the three cheapest others: one pass.
        const suppressed: number[] = [];
        const cheap: number[] = []; // ascending cost, at most 3
        const cheapCost: number[] = [];
        for (let y = 0; y < (ext[i] as number); y++) {
          if (y === xi) continue;
          const c = costAt(y);
          if (c === 0) {
            suppressed.push(y);
            continue;
          }
          if (free || (cheap.length === 3 && c >= (cheapCost[2] as number))) continue;
          let at = cheap.length;
          while (at > 0 && (cheapCost[at - 1] as number) > c) at--;
          cheap.splice(at, 0, y);
          cheapCost.splice(at, 0, c);
          if (cheap.length > 3) {
            cheap.pop();
            cheapCost.pop();
          }
        }
        return free ? suppressed : [...suppressed, ...cheap];
      });
      let best: Move | undefined;
      let bestCost = free ? 1 : Infinity;
      const at = new Array<number>(d).fill(0);
      const partner = new Array<number>(d).fill(0);
      for (let tries = 0; tries < (free ? BOX_TRIES / 40 : BOX_TRIES) && options.every((o) => o.length > 0); tries++) {
        for (let i = 0; i < d; i++) partner[i] = (options[i] as number[])[at[i] as number] as number;
        // The box's cost, given up as soon as it is no better than the best so far.
        let cost = 0;
        for (let mask = 0; mask < 1 << d && cost < bestCost; mask++) {
          let e = x;
          for (let i = 0; i < d; i++) if ((mask >> i) & 1) e += ((partner[i] as number) - (xs[i] as number)) * (stride[i] as number);
          cost += costOf(e);
        }
        if (cost < bestCost) {
          const box = corners(x, xs, partner);
          if (works(x, box, w)) {
            best = box;
            bestCost = cost;
            if (cost === 0) break;
          }
        }
        let i = 0;
        while (i < d && ++(at[i] as number) >= (options[i] as number[]).length) at[i++] = 0;
        if (i === d) break;
      }
      if (best) return best;
    }
    return undefined;
  };
  // A move that changes x's column w by one (either way) and puts every line back in
  // balance: from x, repeatedly take the line out of balance with the fewest ways to
  // mend it and move one more of its entries (one not moved yet, within its bounds;
  // suppressed or cheapest first), up to four boxes' worth of entries and
  // LONG_MOVE_NODES steps of search.
  const longest = Math.max(24, 4 << d);
  const longerMove = (x: number, free: boolean, w: number): Move | undefined => {
    const amount = need(x, w);
    for (const first of [1n, -1n]) {
      if (!movable(x, w, first * amount)) continue;
      const step = new Map<number, bigint>([[x, first]]);
      const off = new Map<number, bigint>(); // line (start entry * d + dimension) -> imbalance
      const shift = (e: number, s: bigint) => {
        for (let i = 0; i < d; i++) {
          const key = (e - (co[e * d + i] as number) * (stride[i] as number)) * d + i;
          const v = (off.get(key) ?? 0n) + s * coef(e, i);
          if (v === 0n) off.delete(key);
          else off.set(key, v);
        }
      };
      shift(x, first);
      let nodes = 0;
      const search = (): boolean => {
        if (++nodes > (free ? LONG_MOVE_NODES / 100 : LONG_MOVE_NODES)) return false;
        if (off.size === 0) return jointly([...step].map(([e, sign]) => ({ e, sign })), w, first * amount);
        if (step.size >= longest) return false;
        let choices: Array<{ e: number; s: bigint }> | undefined;
        for (const [key, r] of off) {
          const dim = key % d;
          const start = (key - dim) / d;
          const here: Array<{ e: number; s: bigint }> = [];
          for (let j = 0; j < (ext[dim] as number); j++) {
            const e = start + j * (stride[dim] as number);
            if (step.has(e) || (free && costOf(e) > 0)) continue;
            const s = -r * coef(e, dim);
            if (movable(e, w, s * amount)) here.push({ e, s });
          }
          if (here.length === 0) return false; // a line nothing can mend
          if (!choices || here.length < choices.length) choices = here;
        }
        for (const { e, s } of (choices ?? []).sort((a, b) => costOf(a.e) - costOf(b.e) || a.e - b.e)) {
          step.set(e, s);
          shift(e, s);
          if (search()) return true;
          shift(e, -s);
          step.delete(e);
        }
        return false;
      };
      if (search()) return [...step].map(([e, sign]) => ({ e, sign }));
    }
    return undefined;
  };
  // Moves that protect x in every column (the count and each value sum: separate
  // unknowns to the public, so each may have its own move): per column, a move found
  // for an earlier column if it fits, else the cheapest box or, where no box fits (a
  // corner at its bound in every choice of partners, as in small tables of small
  // counts), a longer move.
  // With `free`, only through entries suppressed already; the longer move then only in
  // two-way tables: there a move is a cycle through rows and columns and quick to find,
  // with more dimensions the search branches at every step and, measured, almost never
  // succeeds in its budget.
  return (x: number, free: boolean): Move[] | undefined => {
    const open = columns.filter((w) => !fixed(x, w));
    const moves: Move[] = [];
    try {
      for (const w of open) {
        if (moves.some((m) => works(x, m, w))) continue;
        const move = cheapestBox(x, free, w) ?? (free && d > 2 ? undefined : longerMove(x, free, w));
        if (!move) return undefined;
        moves.push(move);
        for (const { e } of move) planned.add(e);
      }
    } finally {
      planned.clear();
    }
    return moves;
  };
}

/**
 * Applies margins, threshold, secondary suppression and the cell key method to an
 * exact (or noise-protected) aggregate vector laid out by `codebook`.
 */
export function protectTable(codebook: Codebook, aggregate: BigUint64Array, options: DisclosureOptions = {}): TableEntry[] {
  const k = options.threshold ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new KoppelError('INVALID_ARGUMENT', 'The threshold must be a positive integer.');
  const protection = options.protection ?? 1;
  if (!Number.isSafeInteger(protection) || protection < 1) throw new KoppelError('INVALID_ARGUMENT', 'The protection level must be a positive integer.');
  const valueProtection = options.valueProtection ?? 0;
  if (!Number.isFinite(valueProtection) || valueProtection < 0 || valueProtection > 100) throw new KoppelError('INVALID_ARGUMENT', 'The value protection must be a percentage from 0 to 100.');
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
  // Secondary suppression: every threshold entry in a box of suppressed entries that
  // can move within the public bounds (see boxShelter).
  if (options.secondary ?? true) {
    const moveFor = boxShelter(codebook, values, rule, k, protection, Math.round(valueProtection * 100), ext, extStride, coords, isTotal);
    const moves = new Map<number, Move>(); // threshold entry -> the entries of the moves that protect it
    const usedBy = new Map<number, Set<number>>(); // entry -> threshold entries whose move has it
    const adopt = (x: number, move: Move) => {
      for (const { e } of moves.get(x) ?? []) usedBy.get(e)?.delete(x);
      moves.set(x, move);
      for (const { e } of move) (usedBy.get(e) ?? usedBy.set(e, new Set()).get(e) as Set<number>).add(x);
    };
    for (let x = 0; x < nEntries; x++) {
      if (rule[x] !== 'threshold') continue;
      const move = moveFor(x, false)?.flat();
      if (!move) {
        const levels = [protection > 1 ? `protection level ${protection}` : '', valueProtection > 0 ? `value protection ${valueProtection}%` : ''].filter(Boolean).join(' and ');
        throw new KoppelError('DISCLOSURE_RISK', `No suppression pattern was found that keeps a small cell (fewer than ${k} contributors) from being given away by the table's public bounds${levels ? ` with ${levels}` : ''}; typically a small total made of cells of 1, which the threshold rule itself pins (2 = 1 + 1 with threshold 3). Merge categories, change the threshold${levels ? ' or ask for less protection' : ''}.`);
      }
      for (const { e } of move) if (rule[e] === 'published') rule[e] = 'secondary';
      adopt(x, move);
    }
    // Boxes chosen one at a time overlap badly: publish again every secondary entry
    // (largest first, totals before cells) whose threshold entries all find another move
    // through entries still suppressed.
    const secondaries = Array.from({ length: nEntries }, (_, e) => e).filter((e) => rule[e] === 'secondary');
    secondaries.sort((a, b) => Number(isTotal(b)) - Number(isTotal(a)) || (count(b) > count(a) ? 1 : count(b) < count(a) ? -1 : a - b));
    for (const s of secondaries) {
      rule[s] = 'published';
      const instead = new Map<number, Move>();
      for (const x of usedBy.get(s) ?? []) {
        const move = moveFor(x, true)?.flat();
        if (!move) break;
        instead.set(x, move);
      }
      if (instead.size < (usedBy.get(s)?.size ?? 0)) {
        rule[s] = 'secondary';
        continue;
      }
      for (const [x, move] of instead) adopt(x, move);
    }
    // An entry that no move uses any more protects nothing: publish it. Every entry left
    // suppressed is then in a move, so none is recovered by sums and differences.
    for (const s of secondaries) if (rule[s] === 'secondary' && (usedBy.get(s)?.size ?? 0) === 0) rule[s] = 'published';
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
