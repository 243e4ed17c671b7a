/**
 * An independent check of a suppression pattern's linear disclosure, by exact linear
 * algebra over the integers (fraction-free elimination over BigInt), for small tables.
 */

/** Rank of an integer matrix, exactly (fraction-free elimination over BigInt). */
function rank(matrix: bigint[][]): number {
  const m = matrix.map((r) => [...r]);
  const cols = m[0]?.length ?? 0;
  let r = 0;
  for (let c = 0; c < cols && r < m.length; c++) {
    const p = m.findIndex((row, i) => i >= r && row[c] !== 0n);
    if (p === -1) continue;
    [m[r], m[p]] = [m[p] as bigint[], m[r] as bigint[]];
    const pivot = m[r] as bigint[];
    for (let i = 0; i < m.length; i++) {
      const row = m[i] as bigint[];
      if (i === r || row[c] === 0n) continue;
      const f = row[c] as bigint;
      for (let j = 0; j < cols; j++) row[j] = (row[j] as bigint) * (pivot[c] as bigint) - (pivot[j] as bigint) * f;
    }
    r++;
  }
  return r;
}

/**
 * Independent check, by exact linear algebra: the suppressed entries that the table's
 * relations (every line's entries sum to its total) determine. Entry k is determined
 * exactly when dropping its column from the relations over the suppressed entries
 * lowers their rank.
 */
export function determinedExactly(lines: number[][], suppressed: Set<number>): number[] {
  const vars = [...suppressed].sort((a, b) => a - b);
  const rows = lines
    .map((line) => vars.map((v) => (line.indexOf(v) === -1 ? 0n : line.indexOf(v) === line.length - 1 ? -1n : 1n)))
    .filter((r) => r.some((x) => x !== 0n));
  if (rows.length === 0) return [];
  const full = rank(rows);
  return vars.filter((_, k) => rank(rows.map((r) => r.filter((__, j) => j !== k))) < full);
}
