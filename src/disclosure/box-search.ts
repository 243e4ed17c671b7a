/**
 * The box search of secondary suppression (the hypercube method: Repsilber's GHMITER,
 * as in tau-ARGUS): for a small cell, the moves that protect it.
 *
 * Subtraction along lines, and combinations of lines, can give a suppressed entry away;
 * so can the public bounds with them (see `bounds.ts`): if two suppressed entries of a
 * line add up to 10 and, by other lines, one is the other plus 8, the threshold entry is
 * 1 (closing lines and auditing ranks, koppel's earlier pattern, left about 3% of the
 * small cells of random 3 x 3 tables pinned so).
 *
 * A move that protects a threshold entry x is a box: per dimension x's coordinate and a
 * partner on its line, all 2^d corners to be suppressed. Signed +-1 (two cells of a line
 * opposite, a cell and its total alike), the corners can all change without any line
 * changing, so the box is a second table consistent with everything published. It must
 * also respect the bounds: every corner can move one step its way, for one of the two
 * overall signs, in the column protected (the count, or a value sum: separate unknowns
 * to the public, so each column may get its own move). Then x takes another value in an
 * integer table that fits all public knowledge: it is neither recovered by any sum or
 * difference of published entries nor pinned by the bounds (nor is any corner recovered
 * by sums and differences), and that stays true however many more entries are
 * suppressed. A box whose corners are all suppressed already costs nothing; else the
 * cheapest feasible one (least count suppressed, interior cells before totals) is taken;
 * where no box fits, a longer move found by search. Boxes are not the only moves, so the
 * pattern can suppress more than an optimal (linear-programming) method would. With
 * `free`, only moves through entries suppressed already (for publishing secondary
 * entries again).
 *
 * A move is taken only if the other columns can shift along it as well, so that the
 * table it describes also keeps every value sum within the per-record bounds times its
 * count (which the public knows too).
 *
 * Not covered: secondary entries (0 or at least k contributors: not small cells) may
 * be narrowed, even pinned, by the bounds; what follows from knowing that a secondary
 * entry is either 0 or at least k (a gap, not an interval).
 *
 * @packageDocumentation
 */
import { PublicBounds, type Move } from './bounds.js';
import type { ExtendedTable, Rule } from './extended-table.js';

/** Most boxes {@link BoxSearch} tries for one entry (a 40th when only suppressed entries may move). */
const BOX_TRIES = 20_000;
/** Most search steps of a longer move when no box fits (a 100th when only suppressed entries may move). */
const LONG_MOVE_NODES = 200_000;

/** What a {@link BoxSearch} works on. */
export interface BoxSearchSetup {
  /** The extended table. */
  readonly table: ExtendedTable;
  /** Its rule column, read as secondary suppression changes it. */
  readonly rule: readonly Rule[];
  /** The threshold k. */
  readonly threshold: number;
  /** How far a small cell's count must be able to move. */
  readonly protection: number;
  /** How far a small cell's value sum must be able to move, in hundredths of a percent of its size (at least one unit). */
  readonly valueBasisPoints: number;
}

/** Finds, for a threshold entry, the moves that protect it in every column. */
export class BoxSearch {
  /** The public's bounds. */
  readonly bounds: PublicBounds;
  private readonly values: readonly bigint[][];
  private readonly rule: readonly Rule[];
  /** Number of dimensions. */
  private readonly d: number;
  private readonly ext: readonly number[];
  private readonly stride: readonly number[];
  /** Coordinates per entry (entry * d + dimension), looked up rather than computed: the searches are hot. */
  private readonly co: Int32Array;
  /** Whether an entry is a total (1) or not (0). */
  private readonly total: Uint8Array;
  /** The columns to protect: the count and the value sums (1, the key sum, is never published). */
  private readonly columns: readonly number[];
  /** How far a count must move (the protection level). */
  private readonly reach: bigint;
  /** How far a value sum must move, in hundredths of a percent of its size. */
  private readonly share: bigint;
  /**
   * What suppressing an entry loses: its count, and much more for a total; at least 1
   * for any published entry (a noisy count can be negative).
   */
  private readonly loss: Float64Array;
  /** Entries of the moves chosen so far for the threshold entry being protected: they cost nothing more. */
  private readonly planned = new Set<number>();
  /** Most entries of a longer move: four boxes' worth. */
  private readonly longest: number;

  /** Looks up every entry's coordinates and loss once: the searches are hot. */
  constructor(setup: BoxSearchSetup) {
    const { table, rule } = setup;
    const d = table.ext.length;
    const n = table.values.length;
    this.values = table.values;
    this.rule = rule;
    this.d = d;
    this.ext = table.ext;
    this.stride = table.stride;
    this.co = new Int32Array(n * d);
    this.total = new Uint8Array(n);
    for (let e = 0; e < n; e++) {
      table.coords(e).forEach((c, i) => (this.co[e * d + i] = c));
      this.total[e] = table.isTotal(e) ? 1 : 0;
    }
    this.columns = [0, ...table.codebook.spec.values.map((_, j) => 2 + j)];
    this.bounds = new PublicBounds(table.values, rule, table.codebook, setup.threshold);
    this.reach = BigInt(setup.protection);
    this.share = BigInt(setup.valueBasisPoints);
    this.loss = Float64Array.from(table.values, (v, e) => Math.max(Number(v[0]), 0) + 1 + (this.total[e] ? 2 ** 40 : 0));
    this.longest = Math.max(24, 4 << d);
  }

  /**
   * Moves that protect x in every column (the count and each value sum: separate
   * unknowns to the public, so each may have its own move): per column, a move found
   * for an earlier column if it fits, else the cheapest box or, where no box fits (a
   * corner at its bound in every choice of partners, as in small tables of small
   * counts), a longer move. Undefined if some column finds none.
   *
   * With `free`, only through entries suppressed already; the longer move then only in
   * two-way tables: there a move is a cycle through rows and columns and quick to find,
   * with more dimensions the search branches at every step and, measured, almost never
   * succeeds in its budget.
   */
  movesFor(x: number, free: boolean): Move[] | undefined {
    const open = this.columns.filter((w) => !this.bounds.fixed(x, w));
    const moves: Move[] = [];
    try {
      for (const w of open) {
        if (moves.some((m) => this.works(x, m, w))) continue;
        const move = this.cheapestBox(x, free, w) ?? (free && this.d > 2 ? undefined : this.longerMove(x, free, w));
        if (!move) return undefined;
        moves.push(move);
        for (const { e } of move) this.planned.add(e);
      }
    } finally {
      this.planned.clear();
    }
    return moves;
  }

  /**
   * How far a move must be able to shift small cell x's column w: a count by the
   * protection level, a value sum by the value protection's share of its size (at least
   * one unit). Every entry of the move shifts by as much.
   */
  private need(x: number, w: number): bigint {
    if (w === 0) return this.reach;
    const v = (this.values[x] as bigint[])[w] as bigint;
    const r = ((v < 0n ? -v : v) * this.share + 9999n) / 10000n;
    return r > 1n ? r : 1n;
  }

  /**
   * Whether a move protects x's column w: x's column is fixed by the rule itself, or it
   * can shift x's column w by the amount needed, one way or the other.
   */
  private works(x: number, move: Move, w: number): boolean {
    if (this.bounds.fixed(x, w)) return true;
    const r = this.need(x, w);
    return this.bounds.jointly(move, w, r) || this.bounds.jointly(move, w, -r);
  }

  /** What suppressing an entry loses; 0 once suppressed or planned to be. */
  private costOf(e: number): number {
    return this.rule[e] !== 'published' || this.planned.has(e) ? 0 : (this.loss[e] as number);
  }

  /** Along dimension i an entry is a part of its line (+1) or the line's total (-1). */
  private coef(e: number, i: number): bigint {
    return this.co[e * this.d + i] === (this.ext[i] as number) - 1 ? -1n : 1n;
  }

  /**
   * The corners of the box through x (coordinates xs) with partner p[i] per dimension,
   * signed: along a line, two cells take opposite signs, a cell and its total the same
   * sign.
   */
  private corners(x: number, xs: readonly number[], p: readonly number[]): Move {
    const { d, ext, stride } = this;
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
  }

  /**
   * The cheapest box through x that protects column w: of shortlisted partners (the
   * suppressed ones and three more), else of all; with `free`, of suppressed entries only.
   */
  private cheapestBox(x: number, free: boolean, w: number): Move | undefined {
    const xs = Array.from({ length: this.d }, (_, i) => this.co[x * this.d + i] as number);
    for (const wide of free ? [true] : [false, true]) {
      const options = xs.map((xi, i) => this.partners(x, xi, i, wide, free));
      const best = this.bestBox(x, xs, options, free, w);
      if (best) return best;
    }
    return undefined;
  }

  /**
   * The partner coordinates tried along dimension i for x (coordinate xi there): with
   * `wide` (and not `free`) all others, cheapest first; else the suppressed partners,
   * then (unless `free`) the three cheapest others, found in one pass.
   */
  private partners(x: number, xi: number, i: number, wide: boolean, free: boolean): number[] {
    const extent = this.ext[i] as number;
    const stride = this.stride[i] as number;
    const costAt = (y: number) => this.costOf(x + (y - xi) * stride);
    if (wide && !free) {
      const ys = Array.from({ length: extent }, (_, y) => y).filter((y) => y !== xi);
      return ys.sort((a, b) => costAt(a) - costAt(b) || a - b);
    }
    const suppressed: number[] = [];
    const cheap: number[] = []; // ascending cost, at most 3
    const cheapCost: number[] = [];
    for (let y = 0; y < extent; y++) {
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
  }

  /**
   * Of the boxes through x with a partner per dimension from `options` (tried in order,
   * at most BOX_TRIES of them), the cheapest that protects column w; with `free`, only
   * one that costs nothing.
   */
  private bestBox(x: number, xs: readonly number[], options: readonly number[][], free: boolean, w: number): Move | undefined {
    const d = this.d;
    let best: Move | undefined;
    let bestCost = free ? 1 : Infinity;
    const at = new Array<number>(d).fill(0);
    const partner = new Array<number>(d).fill(0);
    for (let tries = 0; tries < (free ? BOX_TRIES / 40 : BOX_TRIES) && options.every((o) => o.length > 0); tries++) {
      for (let i = 0; i < d; i++) partner[i] = (options[i] as number[])[at[i] as number] as number;
      const cost = this.boxCost(x, xs, partner, bestCost);
      if (cost < bestCost) {
        const box = this.corners(x, xs, partner);
        if (this.works(x, box, w)) {
          best = box;
          bestCost = cost;
          if (cost === 0) break;
        }
      }
      let i = 0;
      while (i < d && ++(at[i] as number) >= (options[i] as number[]).length) at[i++] = 0;
      if (i === d) break;
    }
    return best;
  }

  /** The cost of the box through x with these partners, given up (some value of at least `bound`) as soon as it reaches `bound`. */
  private boxCost(x: number, xs: readonly number[], partner: readonly number[], bound: number): number {
    const { d, stride } = this;
    let cost = 0;
    for (let mask = 0; mask < 1 << d && cost < bound; mask++) {
      let e = x;
      for (let i = 0; i < d; i++) if ((mask >> i) & 1) e += ((partner[i] as number) - (xs[i] as number)) * (stride[i] as number);
      cost += this.costOf(e);
    }
    return cost;
  }

  /**
   * A move that changes x's column w by the amount needed (either way) and puts every
   * line back in balance (see {@link BoxSearch.pathFrom}).
   */
  private longerMove(x: number, free: boolean, w: number): Move | undefined {
    const amount = this.need(x, w);
    for (const first of [1n, -1n]) {
      if (!this.bounds.movable(x, w, first * amount)) continue;
      const move = this.pathFrom(x, free, w, first, amount);
      if (move) return move;
    }
    return undefined;
  }

  /**
   * From x moved by `first`, repeatedly take the line out of balance with the fewest
   * ways to mend it and move one more of its entries (one not moved yet, within its
   * bounds; suppressed or cheapest first), up to `longest` entries and LONG_MOVE_NODES
   * steps of search.
   */
  private pathFrom(x: number, free: boolean, w: number, first: bigint, amount: bigint): Move | undefined {
    const { d, co, ext, stride, bounds } = this;
    const step = new Map<number, bigint>([[x, first]]);
    const off = new Map<number, bigint>(); // line (start entry * d + dimension) -> imbalance
    const shift = (e: number, s: bigint) => {
      for (let i = 0; i < d; i++) {
        const key = (e - (co[e * d + i] as number) * (stride[i] as number)) * d + i;
        const v = (off.get(key) ?? 0n) + s * this.coef(e, i);
        if (v === 0n) off.delete(key);
        else off.set(key, v);
      }
    };
    shift(x, first);
    let nodes = 0;
    const budget = free ? LONG_MOVE_NODES / 100 : LONG_MOVE_NODES;
    const search = (): boolean => {
      if (++nodes > budget) return false;
      if (off.size === 0)
        return bounds.jointly(
          [...step].map(([e, sign]) => ({ e, sign })),
          w,
          first * amount,
        );
      if (step.size >= this.longest) return false;
      let choices: Array<{ e: number; s: bigint }> | undefined;
      for (const [key, r] of off) {
        const dim = key % d;
        const start = (key - dim) / d;
        const here: Array<{ e: number; s: bigint }> = [];
        for (let j = 0; j < (ext[dim] as number); j++) {
          const e = start + j * (stride[dim] as number);
          if (step.has(e) || (free && this.costOf(e) > 0)) continue;
          const s = -r * this.coef(e, dim);
          if (bounds.movable(e, w, s * amount)) here.push({ e, s });
        }
        if (here.length === 0) return false; // a line nothing can mend
        if (!choices || here.length < choices.length) choices = here;
      }
      for (const { e, s } of (choices ?? []).sort((a, b) => this.costOf(a.e) - this.costOf(b.e) || a.e - b.e)) {
        step.set(e, s);
        shift(e, s);
        if (search()) return true;
        shift(e, -s);
        step.delete(e);
      }
      return false;
    };
    return search() ? [...step].map(([e, sign]) => ({ e, sign })) : undefined;
  }
}
