/**
 * The linear audit of a suppression pattern: which suppressed entries the published ones
 * still give away exactly, by sums and differences of the table's relations. Independent
 * of how the pattern was found (see `secondary.ts`).
 *
 * @packageDocumentation
 */

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
export function disclosedEntries(
  lines: ReadonlyArray<readonly number[]>,
  suppressed: (entry: number) => boolean,
  primes: readonly number[] = AUDIT_PRIMES,
): number[] {
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
