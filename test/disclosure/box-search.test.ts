/**
 * The box search on its own: the moves it finds for a small cell (known answer), that
 * `free` searches only through entries the rule column marks as suppressed, as it
 * stands, and that every move it returns keeps every line of the table in balance.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Codebook } from '../../src/aggregate/codebook.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import type { Move } from '../../src/disclosure/bounds.js';
import { BoxSearch } from '../../src/disclosure/box-search.js';
import { ExtendedTable, type Rule } from '../../src/disclosure/extended-table.js';
import { households, regions, smallCodebook } from '../aggregate/fixtures.js';

const cb = smallCodebook();

/** The extended table of cells with these counts (each record logs in 2 times) and its threshold rule (k = 10). */
function setup(cbk: Codebook, counts: readonly number[]) {
  const records: Array<{ cell: string[]; values: string[]; key: number }> = [];
  counts.forEach((n, c) => {
    for (let i = 0; i < n; i++) records.push({ cell: cbk.cellLabels(c), values: ['2'], key: 0 });
  });
  const table = new ExtendedTable(cbk, tabulate(cbk, records));
  const rule: Rule[] = Array.from({ length: table.size }, (_, e) => (table.count(e) > 0n && table.count(e) < 10n ? 'threshold' : 'published'));
  return { table, rule, search: new BoxSearch({ table, rule, threshold: 10, protection: 1, valueBasisPoints: 0 }) };
}

/** Per line (start entry and dimension), the net change a move makes to the line's relation (parts minus total): 0 on every line for a balanced move. */
function imbalance(table: ExtendedTable, move: Move): number[] {
  const off = new Map<string, number>();
  for (const { e, sign } of move) {
    table.coords(e).forEach((x, i) => {
      const key = `${e - x * (table.stride[i] as number)}/${i}`;
      const coef = x === table.dims[i] ? -1 : 1;
      off.set(key, (off.get(key) ?? 0) + Number(sign) * coef);
    });
  }
  return [...off.values()].filter((v) => v !== 0);
}

describe('box search', () => {
  // One small cell at Utrecht/single (3); the cheapest box is through Zeeland (11) and
  // couple (20): 11 + 20 + 14 = 45 suppressed, against 63 or more for any other.
  const counts = [20, 12, 15, 3, 20, 30, 11, 14, 40];
  const entry = (r: string, h: string) => regions.indexOf(r) * 4 + households.indexOf(h);

  it('finds the cheapest box for a small cell, signed so that every line stays balanced (known answer)', () => {
    const { table, search } = setup(cb, counts);
    const x = entry('Utrecht', 'single');
    const moves = search.movesFor(x, false);
    expect(moves).toHaveLength(1); // the count's box also protects the value sum
    const box = [...(moves?.[0] ?? [])].sort((a, b) => a.e - b.e);
    expect(box).toEqual([
      { e: x, sign: 1n },
      { e: entry('Utrecht', 'couple'), sign: -1n },
      { e: entry('Zeeland', 'single'), sign: -1n },
      { e: entry('Zeeland', 'couple'), sign: 1n },
    ]);
    expect(imbalance(table, box)).toEqual([]);
  });

  it('with free, moves only through entries the rule column marks as suppressed at the time of the search', () => {
    const { rule, search } = setup(cb, counts);
    const x = entry('Utrecht', 'single');
    expect(search.movesFor(x, true)).toBeUndefined();
    for (const e of [entry('Utrecht', 'couple'), entry('Zeeland', 'single'), entry('Zeeland', 'couple')]) rule[e] = 'secondary';
    const moves = search.movesFor(x, true);
    expect(
      moves
        ?.flat()
        .map(({ e }) => e)
        .sort((a, b) => a - b),
    ).toEqual([x, entry('Utrecht', 'couple'), entry('Zeeland', 'single'), entry('Zeeland', 'couple')]);
  });

  const cb3 = smallCodebook({
    dimensions: [
      { name: 'region', labels: ['north', 'south'] },
      { name: 'household', labels: ['single', 'couple', 'family'] },
      { name: 'age', labels: ['young', 'old'] },
    ],
  });
  for (const [name, cbk, cells] of [
    ['two-way 3 x 3', cb, 9],
    ['three-way 2 x 3 x 2', cb3, 12],
  ] as const) {
    it(`on random ${name} tables every move found for a small cell goes through it, has no entry twice and keeps every line balanced`, () => {
      const grid = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 40 })), { minLength: cells, maxLength: cells });
      fc.assert(
        fc.property(grid, (counts) => {
          const { table, rule, search } = setup(cbk, counts);
          for (let x = 0; x < table.size; x++) {
            if (rule[x] !== 'threshold') continue;
            for (const move of search.movesFor(x, false) ?? []) {
              expect(move.some(({ e }) => e === x)).toBe(true);
              expect(new Set(move.map(({ e }) => e)).size).toBe(move.length);
              expect(imbalance(table, move)).toEqual([]);
            }
          }
        }),
        { numRuns: 200 },
      );
    });
  }
});
