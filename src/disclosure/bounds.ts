/**
 * What the public knows about a released table besides its published entries, and
 * whether a move (a change to some entries that keeps every line's relation) keeps a
 * table consistent with that knowledge.
 *
 * The public knows: every line sums to its total; counts are non-negative integers;
 * zero cells are published, so an entry suppressed by the threshold rule has 1 to
 * k - 1 contributors; value sums lie within the codebook's bounds times that count (or
 * have their sign, for other entries), and between the per-record bounds times the
 * entry's count; the rule column says which rule suppressed an entry, so an entry not
 * suppressed as small has no count from 1 to k - 1.
 *
 * Columns are numbered as in the extended table: 0 the count, 1 the key sum (never
 * published), 2 onwards the value sums.
 *
 * @packageDocumentation
 */
import type { Codebook } from '../aggregate/codebook.js';
import type { Rule } from './extended-table.js';

/** A change to some entries (entry, signed step) that keeps every line's relation. */
export type Move = ReadonlyArray<{ readonly e: number; readonly sign: bigint }>;

/** Count shifts tried with a value sum's move (0, 1, -1, 2, -2, ...), to keep it within min..max times the count. */
const COUNT_SHIFTS = 41;

/** An interval of shifts (null: unbounded). */
type Span = { lo: bigint | null; hi: bigint | null };

/** Narrows `span` to the shifts t with sign * t in [lo, hi]. */
function meet(span: Span, sign: bigint, lo: bigint | null, hi: bigint | null): void {
  const [l, h] = sign > 0n ? [lo, hi] : [hi === null ? null : -hi, lo === null ? null : -lo];
  if (l !== null && (span.lo === null || l > span.lo)) span.lo = l;
  if (h !== null && (span.hi === null || h < span.hi)) span.hi = h;
}

function empty(span: Span): boolean {
  return span.lo !== null && span.hi !== null && span.lo > span.hi;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return b < 0n ? ceilDiv(-a, -b) : a >= 0n ? (a + b - 1n) / b : -(-a / b);
}

function floorDiv(a: bigint, b: bigint): bigint {
  return b < 0n ? floorDiv(-a, -b) : a >= 0n ? a / b : -((-a + b - 1n) / b);
}

/** The public's bounds on the entries of an extended table, for the rule column as it stands. */
export class PublicBounds {
  /** k - 1: the most contributors a threshold entry has. */
  private readonly small: bigint;
  /** The threshold k. */
  private readonly k: bigint;
  /** Per value column (index w - 2), the per-record bounds. */
  private readonly perRecord: Codebook['bounds'];
  /** The value columns (2 onwards). */
  private readonly valueColumns: readonly number[];

  /**
   * @param values - the extended table's signed values per entry
   * @param rule - the rule column, read as it changes
   * @param codebook - the codebook, for the per-record bounds
   * @param threshold - the threshold k
   */
  constructor(
    private readonly values: readonly bigint[][],
    private readonly rule: readonly Rule[],
    codebook: Codebook,
    threshold: number,
  ) {
    this.small = BigInt(threshold - 1);
    this.k = BigInt(threshold);
    this.perRecord = codebook.bounds;
    this.valueColumns = codebook.spec.values.map((_, j) => 2 + j);
  }

  /** The public's lower bound on entry e's column w, were it suppressed (null: none). A threshold entry's value sum lies between 1 and k - 1 times the per-record bounds. */
  lower(e: number, w: number): bigint | null {
    const primary = this.rule[e] === 'threshold';
    if (w === 0) return primary ? 1n : 0n;
    const { min } = this.perRecord[w - 2] as { min: bigint };
    if (primary) return min > 0n ? min : min * this.small;
    return min >= 0n ? 0n : null;
  }

  /** The public's upper bound on entry e's column w, were it suppressed (null: none). */
  upper(e: number, w: number): bigint | null {
    const primary = this.rule[e] === 'threshold';
    if (w === 0) return primary ? this.small : null;
    const { max } = this.perRecord[w - 2] as { max: bigint };
    if (primary) return max < 0n ? max : max * this.small;
    return max <= 0n ? 0n : null;
  }

  /**
   * Whether entry e may have this count: the released table says which rule suppressed
   * an entry, so an entry not suppressed as small has no count from 1 to k - 1 (zeros
   * are published, and so are negative counts after noise).
   */
  outsideGap(e: number, count: bigint): boolean {
    return this.rule[e] === 'threshold' || count <= 0n || count >= this.k;
  }

  /**
   * Whether entry e's column w may shift by `step` units: out of that gap and within the
   * bounds; an entry already outside the bounds (a count made negative by noise) may
   * otherwise move anywhere: no bound is public for it.
   */
  movable(e: number, w: number, step: bigint): boolean {
    const now = (this.values[e] as bigint[])[w] as bigint;
    const v = now + step;
    if (w === 0 && !this.outsideGap(e, v)) return false;
    const lo = this.lower(e, w);
    const hi = this.upper(e, w);
    if ((lo !== null && now < lo) || (hi !== null && now > hi)) return true;
    return (lo === null || v >= lo) && (hi === null || v <= hi);
  }

  /** Whether the rule itself fixes x's column w (k = 2, a value column with min = max): nothing is left to protect. */
  fixed(x: number, w: number): boolean {
    const lo = this.lower(x, w);
    return lo !== null && lo === this.upper(x, w);
  }

  /**
   * Whether entry e's value sum w lies between the per-record bounds times its count
   * (the public knows it does; checked only where the true table satisfies it: noise may
   * break it). A move of a column must therefore come with shifts of the other columns,
   * the same amount at every entry (signed like the move, so every line stays balanced),
   * that keep every entry within its bounds and its sums within min..max times its count.
   */
  private coupledNow(e: number, w: number): boolean {
    const v = this.values[e] as bigint[];
    const b = this.perRecord[w - 2] as { min: bigint; max: bigint };
    return (v[w] as bigint) >= b.min * (v[0] as bigint) && (v[w] as bigint) <= b.max * (v[0] as bigint);
  }

  /**
   * Whether value column i can shift by a common amount along `move` once counts shift
   * by `a` (or, with `fixedShift`, by exactly that amount).
   */
  private sumFits(move: Move, i: number, a: bigint, fixedShift?: bigint): boolean {
    const span: Span = { lo: null, hi: null };
    const b = this.perRecord[i - 2] as { min: bigint; max: bigint };
    for (const { e, sign } of move) {
      const v = this.values[e] as bigint[];
      const s = v[i] as bigint;
      const lo = this.lower(e, i);
      const hi = this.upper(e, i);
      if (!((lo !== null && s < lo) || (hi !== null && s > hi))) meet(span, sign, lo === null ? null : lo - s, hi === null ? null : hi - s);
      if (this.coupledNow(e, i)) {
        const c = (v[0] as bigint) + sign * a;
        meet(span, sign, b.min * c - s, b.max * c - s);
      }
      if (empty(span)) return false;
    }
    if (fixedShift === undefined) return true;
    return (span.lo === null || fixedShift >= span.lo) && (span.hi === null || fixedShift <= span.hi);
  }

  /**
   * Whether column w can shift by `amount` along `move`, every other column shifting
   * too as far as needed to stay within the bounds and within min..max times the count.
   */
  jointly(move: Move, w: number, amount: bigint): boolean {
    const valueColumns = this.valueColumns;
    if (w === 0) return move.every(({ e, sign }) => this.movable(e, 0, sign * amount)) && valueColumns.every((i) => this.sumFits(move, i, amount));
    if (!move.every(({ e, sign }) => this.movable(e, w, sign * amount))) return false;
    const span = this.countShifts(move, w, amount);
    if (!span) return false;
    for (let tries = 0, a = 0n; tries < COUNT_SHIFTS; tries++, a = a > 0n ? -a : -a + 1n) {
      if ((span.lo !== null && a < span.lo) || (span.hi !== null && a > span.hi)) continue;
      if (a !== 0n && !move.every(({ e, sign }) => this.outsideGap(e, ((this.values[e] as bigint[])[0] as bigint) + sign * a))) continue;
      if (this.sumFits(move, w, a, amount) && valueColumns.every((i) => i === w || this.sumFits(move, i, a))) return true;
    }
    return false;
  }

  /**
   * The count shifts a along `move` that keep value column w, shifted by `amount`, within
   * min..max times the count, and the counts within their bounds; undefined if none.
   */
  private countShifts(move: Move, w: number, amount: bigint): Span | undefined {
    const span: Span = { lo: null, hi: null };
    const b = this.perRecord[w - 2] as { min: bigint; max: bigint };
    for (const { e, sign } of move) {
      const v = this.values[e] as bigint[];
      const c = v[0] as bigint;
      const lo = this.lower(e, 0);
      const hi = this.upper(e, 0);
      if (!((lo !== null && c < lo) || (hi !== null && c > hi))) meet(span, sign, lo === null ? null : lo - c, hi === null ? null : hi - c);
      if (this.coupledNow(e, w)) {
        const s = (v[w] as bigint) + sign * amount;
        // b.min * (c + sign * a) <= s <= b.max * (c + sign * a), as bounds on sign * a.
        if (b.max > 0n) meet(span, sign, ceilDiv(s, b.max) - c, null);
        else if (b.max < 0n) meet(span, sign, null, floorDiv(s, b.max) - c);
        else if (s > 0n) return undefined;
        if (b.min > 0n) meet(span, sign, null, floorDiv(s, b.min) - c);
        else if (b.min < 0n) meet(span, sign, ceilDiv(s, b.min) - c, null);
        else if (s < 0n) return undefined;
      }
      if (empty(span)) return undefined;
    }
    return span;
  }
}
