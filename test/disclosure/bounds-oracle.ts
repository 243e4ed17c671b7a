/**
 * An independent check of what an intruder learns from a released count table when
 * they also use the public bounds: counts are non-negative integers, zero cells are
 * published (so a suppressed entry under the threshold rule has 1 to k-1 contributors),
 * and every line sums to its total. Plain constraint search over integers (interval
 * propagation along lines, then branching), for small tables only.
 */

/** One unknown entry: its bounds as the intruder knows them. */
export interface Unknown {
  readonly lo: number;
  readonly hi: number;
  /**
   * Values it cannot take, from..to inclusive: a suppressed entry the table marks as not
   * small (`secondary`) has no count from 1 to k - 1.
   */
  readonly hole?: readonly [number, number];
}

/**
 * Whether the integer system "every line sums to its total" (a line: entry indices,
 * total last; `known` maps published entries to their values) with `unknowns` in their
 * bounds has a solution with `fixed` entries pinned to the given values.
 */
/** Bounds that fall in a hole, moved out of it. */
function clearOfHole(hole: readonly [number, number] | undefined, l: number, h: number): [number, number] {
  if (!hole) return [l, h];
  return [l >= hole[0] && l <= hole[1] ? hole[1] + 1 : l, h >= hole[0] && h <= hole[1] ? hole[0] - 1 : h];
}

/** Whether `v` is in `hole`. */
const inHole = (hole: readonly [number, number] | undefined, v: number) => hole !== undefined && v >= hole[0] && v <= hole[1];

export function feasible(
  lines: ReadonlyArray<readonly number[]>,
  known: ReadonlyMap<number, number>,
  unknowns: ReadonlyMap<number, Unknown>,
  fixed: ReadonlyMap<number, number>,
  budget = { steps: 200_000 },
): boolean {
  const lo = new Map<number, number>();
  const hi = new Map<number, number>();
  const holes = new Map<number, readonly [number, number]>();
  for (const [e, u] of unknowns) {
    lo.set(e, fixed.get(e) ?? u.lo);
    hi.set(e, fixed.get(e) ?? u.hi);
    if (u.hole) holes.set(e, u.hole);
  }
  const outOfHole = (e: number, l: number, h: number) => clearOfHole(holes.get(e), l, h);
  // Each line as sum(coef * x) = rhs over the unknowns (+1 for parts, -1 for the total).
  const eqs = lines
    .map((line) => {
      let rhs = 0;
      const terms: Array<[number, number]> = [];
      line.forEach((e, j) => {
        const coef = j === line.length - 1 ? -1 : 1;
        if (unknowns.has(e)) terms.push([e, coef]);
        else rhs -= coef * (known.get(e) as number);
      });
      return { terms, rhs };
    })
    .filter((q) => q.terms.length > 0 || q.rhs !== 0);
  const search = (lo: Map<number, number>, hi: Map<number, number>): boolean => {
    if (--budget.steps < 0) throw new Error('search budget exhausted');
    // Propagate interval bounds to a fixed point.
    for (let changed = true; changed;) {
      changed = false;
      for (const { terms, rhs } of eqs) {
        if (terms.length === 0) return false; // a published line that does not add up
        for (const [e, c] of terms) {
          // c*x = rhs - sum of the others: bound it by the others' extremes.
          let minRest = 0;
          let maxRest = 0;
          for (const [f, d] of terms) {
            if (f === e) continue;
            minRest += d > 0 ? d * (lo.get(f) as number) : d * (hi.get(f) as number);
            maxRest += d > 0 ? d * (hi.get(f) as number) : d * (lo.get(f) as number);
          }
          const a = (rhs - maxRest) / c;
          const b = (rhs - minRest) / c;
          const [nlo, nhi] = outOfHole(e, Math.max(lo.get(e) as number, Math.ceil(Math.min(a, b))), Math.min(hi.get(e) as number, Math.floor(Math.max(a, b))));
          if (nlo > nhi) return false;
          if (nlo !== lo.get(e) || nhi !== hi.get(e)) {
            lo.set(e, nlo);
            hi.set(e, nhi);
            changed = true;
          }
        }
      }
    }
    // Branch on the open unknown with the smallest range.
    let pick = -1;
    for (const e of lo.keys())
      if (
        (lo.get(e) as number) < (hi.get(e) as number) &&
        (pick < 0 || (hi.get(e) as number) - (lo.get(e) as number) < (hi.get(pick) as number) - (lo.get(pick) as number))
      )
        pick = e;
    if (pick < 0) return true; // every unknown fixed and every line checked
    for (let v = lo.get(pick) as number; v <= (hi.get(pick) as number); v++) {
      if (inHole(holes.get(pick), v)) continue;
      const l2 = new Map(lo);
      const h2 = new Map(hi);
      l2.set(pick, v);
      h2.set(pick, v);
      if (search(l2, h2)) return true;
    }
    return false;
  };
  return search(lo, hi);
}

/**
 * Like {@link feasible}, for the count and one value sum together, with what the public
 * also knows about every entry: its value sum lies between `min` and `max` times its count
 * (the codebook's per-record bounds). `unknowns` are the suppressed entries with their
 * count bounds; `fixedCounts` and `fixedSums` pin counts and sums. Published entries are
 * in `knownCount` and `knownSum`.
 */
export function feasibleCoupled(
  lines: ReadonlyArray<readonly number[]>,
  knownCount: ReadonlyMap<number, number>,
  knownSum: ReadonlyMap<number, number>,
  unknowns: ReadonlyMap<number, Unknown>,
  perRecord: { readonly min: number; readonly max: number },
  fixedCounts: ReadonlyMap<number, number>,
  fixedSums: ReadonlyMap<number, number> = new Map(),
  budget = { steps: 200_000 },
): boolean {
  // Variables: 2e for an entry's count, 2e + 1 for its sum.
  const lo = new Map<number, number>();
  const hi = new Map<number, number>();
  const holes = new Map<number, readonly [number, number]>(); // count variables only
  for (const [e, u] of unknowns) {
    if (u.hole) holes.set(2 * e, u.hole);
    const c = fixedCounts.get(e);
    lo.set(2 * e, c ?? u.lo);
    hi.set(2 * e, c ?? u.hi);
    lo.set(2 * e + 1, Math.min(perRecord.min * (c ?? u.lo), perRecord.min * (c ?? u.hi)));
    hi.set(2 * e + 1, Math.max(perRecord.max * (c ?? u.hi), perRecord.max * (c ?? u.lo)));
    const sum = fixedSums.get(e);
    if (sum !== undefined) {
      if (sum < (lo.get(2 * e + 1) as number) || sum > (hi.get(2 * e + 1) as number)) return false;
      lo.set(2 * e + 1, sum);
      hi.set(2 * e + 1, sum);
    }
  }
  const eqs: Array<{ terms: Array<[number, number]>; rhs: number }> = [];
  for (const column of [0, 1]) {
    for (const line of lines) {
      let rhs = 0;
      const terms: Array<[number, number]> = [];
      line.forEach((e, j) => {
        const coef = j === line.length - 1 ? -1 : 1;
        if (unknowns.has(e)) terms.push([2 * e + column, coef]);
        else rhs -= coef * ((column === 0 ? knownCount : knownSum).get(e) as number);
      });
      if (terms.length > 0 || rhs !== 0) eqs.push({ terms, rhs });
    }
  }
  const entries = [...unknowns.keys()];
  const search = (lo: Map<number, number>, hi: Map<number, number>): boolean => {
    if (--budget.steps < 0) throw new Error('search budget exhausted');
    const narrow = (v: number, nlo: number, nhi: number): boolean | undefined => {
      const [l, h] = clearOfHole(holes.get(v), Math.max(lo.get(v) as number, nlo), Math.min(hi.get(v) as number, nhi));
      if (l > h) return undefined;
      if (l === lo.get(v) && h === hi.get(v)) return false;
      lo.set(v, l);
      hi.set(v, h);
      return true;
    };
    for (let changed = true; changed;) {
      changed = false;
      for (const { terms, rhs } of eqs) {
        if (terms.length === 0) return false;
        for (const [v, c] of terms) {
          let minRest = 0;
          let maxRest = 0;
          for (const [f, d] of terms) {
            if (f === v) continue;
            minRest += d > 0 ? d * (lo.get(f) as number) : d * (hi.get(f) as number);
            maxRest += d > 0 ? d * (hi.get(f) as number) : d * (lo.get(f) as number);
          }
          const a = (rhs - maxRest) / c;
          const b = (rhs - minRest) / c;
          const r = narrow(v, Math.ceil(Math.min(a, b)), Math.floor(Math.max(a, b)));
          if (r === undefined) return false;
          changed ||= r;
        }
      }
      // min * count <= sum <= max * count, both ways.
      for (const e of entries) {
        const [c, s] = [2 * e, 2 * e + 1];
        const r1 = narrow(s, perRecord.min * (lo.get(c) as number), perRecord.max * (hi.get(c) as number));
        if (r1 === undefined) return false;
        const r2 = narrow(
          c,
          perRecord.max > 0 ? Math.ceil((lo.get(s) as number) / perRecord.max) : -Infinity,
          perRecord.min > 0 ? Math.floor((hi.get(s) as number) / perRecord.min) : Infinity,
        );
        if (r2 === undefined) return false;
        changed ||= r1 || r2;
      }
    }
    let pick = -1;
    for (const v of lo.keys())
      if (
        (lo.get(v) as number) < (hi.get(v) as number) &&
        (pick < 0 || (hi.get(v) as number) - (lo.get(v) as number) < (hi.get(pick) as number) - (lo.get(pick) as number))
      )
        pick = v;
    if (pick < 0) return true;
    for (let x = lo.get(pick) as number; x <= (hi.get(pick) as number); x++) {
      if (inHole(holes.get(pick), x)) continue;
      const l2 = new Map(lo);
      const h2 = new Map(hi);
      l2.set(pick, x);
      h2.set(pick, x);
      if (search(l2, h2)) return true;
    }
    return false;
  };
  return search(lo, hi);
}
