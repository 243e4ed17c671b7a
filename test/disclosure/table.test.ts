/**
 * Disclosure control on hand-made tables with known answers: the threshold rule, zero
 * cells, secondary suppression against subtraction from margins and against bounds,
 * and the cell key method's consistency.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { makeCodebook, type Codebook } from '../../src/aggregate/codebook.js';
import { DEFAULT_PTABLE, disclosedEntries, protectTable, TOTAL, type TableEntry } from '../../src/disclosure/index.js';
import { encodeSigned } from '../../src/aggregate/ring.js';
import { KoppelError } from '../../src/errors/index.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { households, regions, smallCodebook } from '../aggregate/fixtures.js';
import { feasible, feasibleCoupled, type Unknown } from './bounds-oracle.js';
import { determinedExactly } from './linear-oracle.js';

const cb = smallCodebook();

/** A table from a 3x3 grid of counts (rows: regions, columns: households); each record logs in 2 times. */
function table(counts: number[][], keyOf: (r: number, c: number, i: number) => number = () => 0) {
  const records: Array<{ cell: string[]; values: string[]; key: number }> = [];
  counts.forEach((row, r) =>
    row.forEach((n, c) => {
      for (let i = 0; i < n; i++) records.push({ cell: [regions[r] as string, households[c] as string], values: ['2'], key: keyOf(r, c, i) });
    }),
  );
  return tabulate(cb, records);
}

const at = (t: TableEntry[], region: string, household: string) => t.find((e) => e.labels[0] === region && e.labels[1] === household) as TableEntry;

describe('threshold rule', () => {
  it('suppresses cells with 1 to k-1 contributors, keeps zeros and large cells', () => {
    const t = protectTable(
      cb,
      table([
        [0, 12, 15],
        [3, 20, 30],
        [11, 14, 40],
      ]),
      { threshold: 10, secondary: false },
    );
    expect(at(t, 'Groningen', 'single')).toMatchObject({ rule: 'published', count: 0n });
    expect(at(t, 'Utrecht', 'single')).toMatchObject({ rule: 'threshold', count: null, sums: [null] });
    expect(at(t, 'Groningen', 'couple')).toMatchObject({ rule: 'published', count: 12n, sums: [24n] });
  });
  it('publishes totals for every line and the grand total', () => {
    const t = protectTable(
      cb,
      table([
        [10, 10, 10],
        [10, 10, 10],
        [10, 10, 10],
      ]),
      { secondary: false },
    );
    expect(at(t, 'Utrecht', TOTAL)).toMatchObject({ count: 30n, total: true });
    expect(at(t, TOTAL, 'family')).toMatchObject({ count: 30n, total: true });
    expect(at(t, TOTAL, TOTAL)).toMatchObject({ count: 90n, sums: [180n] });
    expect(t).toHaveLength(16);
  });
});

describe('secondary suppression', () => {
  // One small cell at Utrecht/single. Without secondary suppression, Utrecht's row total
  // minus the other two cells gives it away.
  const counts = [
    [20, 12, 15],
    [3, 20, 30],
    [11, 14, 40],
  ];

  it('leaves no line with exactly one suppressed entry', () => {
    const t = protectTable(cb, table(counts));
    const ext = [...regions, TOTAL];
    const hid = (r: string, h: string) => at(t, r, h).rule !== 'published';
    for (const r of ext) expect([...households, TOTAL].filter((h) => hid(r, h)).length).not.toBe(1);
    for (const h of [...households, TOTAL]) expect(ext.filter((r) => hid(r, h)).length).not.toBe(1);
  });
  it('hides the small cell behind the smallest other cells (known answer)', () => {
    const t = protectTable(cb, table(counts));
    expect(at(t, 'Utrecht', 'single').rule).toBe('threshold');
    // Row Utrecht: smallest other non-zero interior cell is couple (20); column single: Groningen (20) vs Zeeland (11) -> Zeeland.
    expect(at(t, 'Utrecht', 'couple').rule).toBe('secondary');
    expect(at(t, 'Zeeland', 'single').rule).toBe('secondary');
    // Then row Zeeland and column couple each have one suppression: Zeeland/couple (14) closes both.
    expect(at(t, 'Zeeland', 'couple').rule).toBe('secondary');
    const suppressed = t.filter((e) => e.rule !== 'published');
    expect(suppressed).toHaveLength(4);
  });
  it('a suppressed cell cannot be recovered from its row or column total', () => {
    const t = protectTable(cb, table(counts));
    const published = (e: TableEntry) => e.count !== null;
    for (const r of regions) {
      const row = households.map((h) => at(t, r, h));
      const unknown = row.filter((e) => !published(e));
      if (unknown.length > 0) expect(unknown.length).toBeGreaterThanOrEqual(2);
    }
  });
});

/** The lines of a released table (labels with `*` for totals), as entry indices. */
function linesOf(cbk: Codebook, t: TableEntry[]): number[][] {
  const index = new Map(t.map((e, i) => [e.labels.join('|'), i]));
  const ext = cbk.spec.dimensions.map((d) => [...d.labels, TOTAL]);
  const lines: number[][] = [];
  for (const e of t) {
    for (let i = 0; i < ext.length; i++) {
      if (e.labels[i] !== (ext[i] as string[])[0]) continue; // one start per line
      lines.push((ext[i] as string[]).map((l) => index.get(e.labels.map((x, j) => (j === i ? l : x)).join('|')) as number));
    }
  }
  return lines;
}

describe('secondary suppression across lines', () => {
  // Known answer. Only Groningen/family (8) is below 10; closing single lines alone
  // suppresses Groningen/single, Zeeland/family, the single column's total, Zeeland/couple,
  // Utrecht/couple, Utrecht's total, Zeeland's total and the family total, and then
  // Zeeland/family (21) still follows from four lines: (Utrecht total) + (Zeeland total)
  // = 110 - 52, Utrecht/couple = Utrecht total, Utrecht/couple + Zeeland/couple = 71 - 34,
  // Zeeland total = Zeeland/couple + Zeeland/family.
  const counts = [
    [10, 34, 8],
    [0, 11, 0],
    [0, 26, 21],
  ];

  it('leaves no suppressed entry that any sum or difference of published entries gives away (known answer)', () => {
    const t = protectTable(cb, table(counts));
    expect(at(t, 'Groningen', 'family').rule).toBe('threshold');
    const suppressed = new Set(t.flatMap((e, i) => (e.count === null ? [i] : [])));
    expect(determinedExactly(linesOf(cb, t), suppressed)).toEqual([]);
    // Single lines alone would have left Zeeland/family determined:
    const lines = linesOf(cb, t);
    const singleLinePattern = new Set(
      ['Groningen|family', 'Groningen|single', 'Zeeland|family', '*|single', 'Zeeland|couple', 'Utrecht|couple', 'Utrecht|*', 'Zeeland|*', '*|family'].map(
        (l) => t.findIndex((e) => e.labels.join('|') === l),
      ),
    );
    expect(determinedExactly(lines, singleLinePattern)).toEqual([t.findIndex((e) => e.labels.join('|') === 'Zeeland|family')]);
    expect(disclosedEntries(lines, (e) => singleLinePattern.has(e))).toEqual(determinedExactly(lines, singleLinePattern));
  });

  const cb3 = smallCodebook({
    dimensions: [
      { name: 'region', labels: ['north', 'south'] },
      { name: 'household', labels: ['single', 'couple', 'family'] },
      { name: 'age', labels: ['young', 'old'] },
    ],
  });
  const grid = (dims: number[]) =>
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 40 })), {
      minLength: dims.reduce((a, b) => a * b, 1),
      maxLength: dims.reduce((a, b) => a * b, 1),
    });
  const tableOf = (cbk: Codebook, cells: number[]) => {
    const records: Array<{ cell: string[]; values: string[]; key: number }> = [];
    cells.forEach((n, c) => {
      for (let i = 0; i < n; i++) records.push({ cell: cbk.cellLabels(c), values: ['1'], key: 0 });
    });
    return tabulate(cbk, records);
  };

  const cb4 = smallCodebook({
    dimensions: [
      { name: 'region', labels: ['north', 'south'] },
      { name: 'household', labels: ['single', 'couple'] },
      { name: 'age', labels: ['young', 'old'] },
      { name: 'sex', labels: ['f', 'm'] },
    ],
  });

  for (const [name, cbk, dims] of [
    ['two-way', cb, [3, 3]],
    ['three-way', cb3, [2, 3, 2]],
    ['four-way', cb4, [2, 2, 2, 2]],
  ] as const) {
    it(`on random ${name} tables: no suppressed entry is determined, every small cell stays hidden, published entries are exact (or the table is refused, rarely)`, () => {
      let refused = 0;
      const runs = name === 'four-way' ? 60 : 300;
      fc.assert(
        fc.property(grid([...dims]), (cells) => {
          let t: TableEntry[];
          try {
            t = protectTable(cbk, tableOf(cbk, cells));
          } catch (e) {
            if (!(e instanceof KoppelError && e.code === 'DISCLOSURE_RISK')) throw e;
            refused++;
            return;
          }
          const suppressed = new Set(t.flatMap((e, i) => (e.count === null ? [i] : [])));
          expect(determinedExactly(linesOf(cbk, t), suppressed)).toEqual([]);
          const plain = protectTable(cbk, tableOf(cbk, cells), { secondary: false });
          t.forEach((e, i) => {
            const truth = plain[i] as TableEntry;
            if (truth.rule === 'threshold') expect(e.rule).toBe('threshold');
            if (e.count !== null) expect(e.count).toBe(truth.count);
          });
        }),
        { numRuns: runs },
      );
      // A few per cent of such tables are refused (four-way: ~4%); the bound leaves room for chance.
      expect(refused).toBeLessThan(runs / 4);
    });
  }
});

describe('secondary suppression against bounds', () => {
  // What an intruder knows besides the published entries (see bounds-oracle.ts): counts
  // are integers >= 0, zero cells are published, a threshold entry has 1 to k - 1
  // contributors, and a value sum lies in [count * min, count * max] of the codebook's
  // per-record bounds. A small cell is protected when some integer table that fits all
  // of that gives it another count and other value sums.
  const k = 10;
  const cbv = (dimensions?: unknown) => smallCodebook({ values: [{ name: 'logins', scale: 0, min: '0', max: '3' }], ...(dimensions ? { dimensions } : {}) });

  /** The intruder's view of a released table, for one column (0: counts, 1: the value sum). */
  function view(t: TableEntry[], column: 0 | 1, k: number) {
    const known = new Map<number, number>();
    const unknowns = new Map<number, Unknown>();
    const cap = 10_000;
    t.forEach((e, i) => {
      if (e.count !== null) known.set(i, Number(column === 0 ? e.count : e.sums[0]));
      else if (e.rule === 'threshold') unknowns.set(i, column === 0 ? { lo: 1, hi: k - 1 } : { lo: 0, hi: 3 * (k - 1) });
      // A secondary entry is not small: its count is 0 or at least k (the rule column says so).
      else unknowns.set(i, column === 0 && k > 1 ? { lo: 0, hi: cap, hole: [1, k - 1] } : { lo: 0, hi: cap });
    });
    return { known, unknowns };
  }

  /**
   * The threshold entries whose column is pinned: no value at least `distance` from the
   * true one (a number, or one computed from the true value) fits what is public.
   */
  function pinned(cbk: Codebook, t: TableEntry[], truth: TableEntry[], column: 0 | 1, threshold = k, distance: number | ((v: number) => number) = 1): string[] {
    const lines = linesOf(cbk, t);
    const { known, unknowns } = view(t, column, threshold);
    const out: string[] = [];
    t.forEach((e, i) => {
      if (e.rule !== 'threshold') return;
      const v = Number(column === 0 ? truth[i]?.count : truth[i]?.sums[0]);
      const { lo, hi } = unknowns.get(i) as Unknown;
      const far = typeof distance === 'number' ? distance : distance(v);
      const others = Array.from({ length: hi - lo + 1 }, (_, j) => lo + j).filter((y) => Math.abs(y - v) >= far);
      if (!others.some((y) => feasible(lines, known, unknowns, new Map([[i, y]])))) out.push(e.labels.join('|'));
    });
    return out;
  }

  it('the check finds the cells that closing lines and auditing ranks left pinned (known answer)', () => {
    // Counts: Groningen (1, 0, 0), Utrecht (9, 20, 11), Zeeland (3, 0, 1). The pattern
    // koppel released before boxes: no entry follows from sums and differences alone,
    // but Utrecht/single + Utrecht/family = 20, Utrecht/single - Zeeland/family = 8 and
    // Zeeland/family >= 1 leave only Utrecht/single = 9, Zeeland/family = 1.
    const t = protectTable(
      cb,
      table([
        [1, 0, 0],
        [9, 20, 11],
        [3, 0, 1],
      ]),
      { threshold: k, secondary: false },
    );
    const truth = protectTable(
      cb,
      table([
        [1, 0, 0],
        [9, 20, 11],
        [3, 0, 1],
      ]),
      { threshold: 1, secondary: false },
    );
    const old = t.map((e) => (e.labels.join('|') === 'Utrecht|family' ? { ...e, count: null, sums: [null], rule: 'secondary' as const } : e));
    const suppressed = new Set(old.flatMap((e, i) => (e.count === null ? [i] : [])));
    expect(determinedExactly(linesOf(cb, old), suppressed)).toEqual([]);
    expect(pinned(cb, old, truth, 0)).toEqual(['Utrecht|single', 'Zeeland|family']);
    // The released table protects them.
    const now = protectTable(
      cb,
      table([
        [1, 0, 0],
        [9, 20, 11],
        [3, 0, 1],
      ]),
      { threshold: k },
    );
    expect(pinned(cb, now, truth, 0)).toEqual([]);
  });

  const dims3 = [
    { name: 'region', labels: ['north', 'south'] },
    { name: 'household', labels: ['single', 'couple', 'family'] },
    { name: 'age', labels: ['young', 'old'] },
  ];
  const dims4 = [
    { name: 'region', labels: ['north', 'south'] },
    { name: 'household', labels: ['single', 'couple'] },
    { name: 'age', labels: ['young', 'old'] },
    { name: 'sex', labels: ['f', 'm'] },
  ];
  /** The table, or undefined when disclosure control refused it (DISCLOSURE_RISK: safe, never a table that gives a cell away). */
  function protectedOrRefused(protect: () => TableEntry[]): TableEntry[] | undefined {
    try {
      return protect();
    } catch (e) {
      if (e instanceof KoppelError && e.code === 'DISCLOSURE_RISK') return undefined;
      throw e;
    }
  }

  it('refuses a table whose threshold rule itself pins a small cell (DISCLOSURE_RISK)', () => {
    // One dimension, threshold 3: a = 1, b = 1, c = 0 (published), total 2. Suppressed
    // a, b and the total each have 1 to 2 contributors, so a + b = total forces
    // a = b = 1 and total = 2, whatever is suppressed.
    const cb1 = smallCodebook({ dimensions: [{ name: 'region', labels: regions }] });
    const records = [
      { cell: ['Groningen'], values: ['1'], key: 0 },
      { cell: ['Utrecht'], values: ['1'], key: 0 },
    ];
    const everything = protectTable(cb1, tabulate(cb1, records), { threshold: 3, secondary: false }).map((e) => (e.count === 0n ? e : { ...e, count: null }));
    const truth = protectTable(cb1, tabulate(cb1, records), { threshold: 1, secondary: false });
    expect(pinned(cb1, everything, truth, 0, 3)).toEqual(['Groningen', 'Utrecht', '*']);
    expect(() => protectTable(cb1, tabulate(cb1, records), { threshold: 3 })).toThrow(expect.objectContaining({ code: 'DISCLOSURE_RISK' }));
  });

  it('a small cell that no box can protect is protected by a longer move (known answer)', () => {
    // north/couple/old has 1 contributor. Every box through it has a corner at its
    // bound: its age partner young is a published 0 (cannot go down), its region partner
    // south/couple/old is 1 (cannot go down), and taking the totals for both puts the
    // total couple (9 = k - 1, cannot go up) in the box. A cycle through more entries
    // still moves it.
    const cbk = cbv(dims3);
    const counts = [1, 1, 0, 1, 10, 10, 1, 10, 7, 1, 10, 1];
    const records = counts.flatMap((n, c) => Array.from({ length: n }, () => ({ cell: cbk.cellLabels(c), values: ['1'], key: 0 })));
    const t = protectTable(cbk, tabulate(cbk, records), { threshold: k });
    const truth = protectTable(cbk, tabulate(cbk, records), { threshold: 1, secondary: false });
    expect(t.find((e) => e.labels.join('|') === 'north|couple|old')?.rule).toBe('threshold');
    expect(pinned(cbk, t, truth, 0)).toEqual([]);
    expect(pinned(cbk, t, truth, 1)).toEqual([]);
  });

  it("with threshold 2 the rule itself gives a small cell's count (1), but not its value sum", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 12, maxLength: 12 })), {
          minLength: 9,
          maxLength: 9,
        }),
        (cells) => {
          const cbk = cbv();
          const records = cells.flatMap(([n, vals], c) =>
            Array.from({ length: n }, (_, i) => ({ cell: cbk.cellLabels(c), values: [String(vals[i])], key: 0 })),
          );
          const t = protectTable(cbk, tabulate(cbk, records), { threshold: 2 });
          const truth = protectTable(cbk, tabulate(cbk, records), { threshold: 1, secondary: false });
          expect(pinned(cbk, t, truth, 1, 2)).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("with protection level 3 every small cell's count can look 3 or more away from the truth, or the table is refused", () => {
    let releasedTables = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 30 })), { minLength: 9, maxLength: 9 }),
        (counts) => {
          const cbk = cbv();
          const records = counts.flatMap((n, c) => Array.from({ length: n }, () => ({ cell: cbk.cellLabels(c), values: ['1'], key: 0 })));
          const t = protectedOrRefused(() => protectTable(cbk, tabulate(cbk, records), { threshold: k, protection: 3 }));
          if (!t) return;
          releasedTables++;
          const truth = protectTable(cbk, tabulate(cbk, records), { threshold: 1, secondary: false });
          expect(pinned(cbk, t, truth, 0, k, 3)).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
    expect(releasedTables).toBeGreaterThan(100); // most tables can be protected at this level
  });

  // Value protection p%: a small cell's value sum v must look able to be max(1, ceil(p% of v)) away.
  const valueDistance = (p: number) => (v: number) => Math.max(1, Math.ceil((p * Math.abs(v)) / 100));
  /** A 3 x 3 table from per-cell record values (one digit per record), in the codebook's cell order. */
  const valueTable = (cbk: Codebook, cells: readonly string[]) =>
    tabulate(
      cbk,
      cells.flatMap((digits, c) => [...digits].map((x) => ({ cell: cbk.cellLabels(c), values: [x], key: 0 }))),
    );

  it('value protection: a small value sum the default lets the public place within 20% of the truth looks at least 20% away with 20% (known answer)', () => {
    // Found by searching random tables: with one unit of value protection (the default),
    // the public can tell that Zeeland/couple's sum of 13 (8 records) is 11 to 15.
    const cbk = cbv();
    const cells = ['', '1031021130', '0100111200', '0102103010', '01001212121', '0010', '02', '12223210', ''];
    const vector = valueTable(cbk, cells);
    const truth = protectTable(cbk, vector, { threshold: 1, secondary: false });
    expect(Number(at(truth, 'Zeeland', 'couple').sums[0])).toBe(13);
    const plain = protectTable(cbk, vector, { threshold: k });
    expect(pinned(cbk, plain, truth, 1)).toEqual([]);
    expect(pinned(cbk, plain, truth, 1, k, valueDistance(20))).toContain('Zeeland|couple');
    const protectedTable = protectTable(cbk, vector, { threshold: k, valueProtection: 20 });
    expect(pinned(cbk, protectedTable, truth, 1, k, valueDistance(20))).toEqual([]);
    expect(pinned(cbk, protectedTable, truth, 0)).toEqual([]);
  });

  for (const [name, cbk, runs] of [
    ['two-way 3 x 3', cbv(), 150],
    ['three-way 2 x 3 x 2', cbv(dims3), 60],
  ] as const) {
    it(`with value protection 20% every small cell's value sum on random ${name} tables can look 20% away from the truth, or the table is refused`, () => {
      let released = 0;
      const cell = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 30 }));
      fc.assert(
        fc.property(fc.array(fc.tuple(cell, fc.stringMatching(/^[0-3]{30}$/)), { minLength: cbk.cells, maxLength: cbk.cells }), (cells) => {
          const vector = valueTable(
            cbk,
            cells.map(([n, digits]) => digits.slice(0, n)),
          );
          const t = protectedOrRefused(() => protectTable(cbk, vector, { threshold: k, valueProtection: 20 }));
          if (!t) return;
          released++;
          const truth = protectTable(cbk, vector, { threshold: 1, secondary: false });
          expect(pinned(cbk, t, truth, 1, k, valueDistance(20))).toEqual([]);
          expect(pinned(cbk, t, truth, 0)).toEqual([]);
        }),
        { numRuns: runs },
      );
      expect(released).toBeGreaterThan(runs / 2);
    });
  }

  it('the exact searches know that a sum lies between min and max times its count, and that a secondary count is 0 or at least k', () => {
    // One line a + b = total, total published with 2 records summing to 6 or 7; a and b
    // suppressed, small (1 to 9). Counts alone fit (1 + 1); with per-record values 1 to 3
    // the sums fit 6 (3 + 3) but not 7.
    const lines = [[0, 1, 2]];
    const unknowns = new Map<number, Unknown>([
      [0, { lo: 1, hi: 9 }],
      [1, { lo: 1, hi: 9 }],
    ]);
    expect(feasible(lines, new Map([[2, 2]]), unknowns, new Map())).toBe(true);
    expect(feasibleCoupled(lines, new Map([[2, 2]]), new Map([[2, 6]]), unknowns, { min: 1, max: 3 }, new Map())).toBe(true);
    expect(feasibleCoupled(lines, new Map([[2, 2]]), new Map([[2, 7]]), unknowns, { min: 1, max: 3 }, new Map())).toBe(false);
    // And with a = 1 pinned, b's sum must be 6 - 3 at least: fixing counts narrows sums.
    expect(feasibleCoupled(lines, new Map([[2, 3]]), new Map([[2, 9]]), unknowns, { min: 1, max: 3 }, new Map([[0, 1]]))).toBe(true);
    expect(feasibleCoupled(lines, new Map([[2, 3]]), new Map([[2, 9]]), unknowns, { min: 1, max: 3 }, new Map([[0, 2]]))).toBe(true);
    expect(feasibleCoupled(lines, new Map([[2, 3]]), new Map([[2, 2]]), unknowns, { min: 1, max: 3 }, new Map([[0, 1]]))).toBe(false);
    // A secondary entry (b) has no count from 1 to 9: with a total of 12, a small a is 1 or 2.
    const gap = new Map<number, Unknown>([
      [0, { lo: 1, hi: 9 }],
      [1, { lo: 0, hi: 1000, hole: [1, 9] }],
    ]);
    const without = new Map<number, Unknown>([
      [0, { lo: 1, hi: 9 }],
      [1, { lo: 0, hi: 1000 }],
    ]);
    const possible = (u: ReadonlyMap<number, Unknown>) => [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((a) => feasible(lines, new Map([[2, 12]]), u, new Map([[0, a]])));
    expect(possible(without)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(possible(gap)).toEqual([1, 2]);
    expect([1, 2, 5].filter((a) => feasibleCoupled(lines, new Map([[2, 12]]), new Map([[2, 24]]), gap, { min: 1, max: 3 }, new Map([[0, a]])))).toEqual([1, 2]);
  });

  /** The intruder's view of counts and the first value sum together (for feasibleCoupled): a secondary entry's count is 0 or at least k. */
  function coupledView(cbk: Codebook, t: TableEntry[]) {
    const knownCount = new Map<number, number>();
    const knownSum = new Map<number, number>();
    const unknowns = new Map<number, Unknown>();
    t.forEach((e, i) => {
      if (e.count !== null) {
        knownCount.set(i, Number(e.count));
        knownSum.set(i, Number(e.sums[0]));
      } else unknowns.set(i, e.rule === 'threshold' ? { lo: 1, hi: k - 1 } : { lo: 0, hi: 1000, hole: [1, k - 1] });
    });
    return { lines: linesOf(cbk, t), knownCount, knownSum, unknowns };
  }

  it('a value sum between min and max times its count does not give a small cell away (known answer)', () => {
    // Per-record values 1 to 3. Groningen/single: 2 records (1, 1); Utrecht/family and
    // Zeeland/single: 10 records of 1; Zeeland/family: 2 records (2, 3). The pattern that
    // protected counts and sums separately published the single column (count 12, sum 12:
    // so every single record is 1), Zeeland (12, 15) and the family column: then Zeeland/
    // family's sum is 3 + its count, at most 3 times its count, so its count is 2 and its
    // sum 5. The moves must keep every sum within 1 to 3 times its count.
    const cbk = smallCodebook({ values: [{ name: 'logins', scale: 0, min: '1', max: '3' }] });
    const vector = valueTable(cbk, ['11', '', '', '', '', '1111111111', '1111111111', '', '23']);
    const t = protectTable(cbk, vector, { threshold: k });
    const truth = protectTable(cbk, vector, { threshold: 1, secondary: false });
    const { lines, knownCount, knownSum, unknowns } = coupledView(cbk, t);
    const zf = t.findIndex((e) => e.labels.join('|') === 'Zeeland|family');
    expect(t[zf]?.rule).toBe('threshold');
    const counts = Array.from({ length: k - 1 }, (_, j) => j + 1).filter((y) =>
      feasibleCoupled(lines, knownCount, knownSum, unknowns, { min: 1, max: 3 }, new Map([[zf, y]])),
    );
    expect(counts).toContain(Number(truth[zf]?.count));
    expect(counts.length).toBeGreaterThan(1);
  });

  for (const [name, dims, runs] of [
    ['two-way 3 x 3', undefined, 300],
    ['three-way 2 x 3 x 2', dims3, 100],
  ] as const) {
    it(`on random ${name} tables no small cell's count or value sum is pinned even by the coupling of value sums to counts (exact joint search)`, () => {
      // Per-record values 1 to 3: every entry's sum lies between its count and 3 times it.
      const cbk = smallCodebook({ values: [{ name: 'logins', scale: 0, min: '1', max: '3' }], ...(dims ? { dimensions: dims } : {}) });
      let released = 0;
      const cell = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 30 }));
      fc.assert(
        fc.property(fc.array(fc.tuple(cell, fc.stringMatching(/^[1-3]{30}$/)), { minLength: cbk.cells, maxLength: cbk.cells }), (cells) => {
          const vector = valueTable(
            cbk,
            cells.map(([n, digits]) => digits.slice(0, n)),
          );
          const t = protectedOrRefused(() => protectTable(cbk, vector, { threshold: k }));
          if (!t) return;
          released++;
          const truth = protectTable(cbk, vector, { threshold: 1, secondary: false });
          const { lines, knownCount, knownSum, unknowns } = coupledView(cbk, t);
          const bounds = { min: 1, max: 3 };
          const pinnedCells = (column: 'count' | 'sum') =>
            t.flatMap((e, i) => {
              if (e.rule !== 'threshold') return [];
              const v = Number(column === 'count' ? truth[i]?.count : truth[i]?.sums[0]);
              const range = column === 'count' ? [1, k - 1] : [bounds.min, bounds.max * (k - 1)];
              const others = Array.from({ length: (range[1] as number) - (range[0] as number) + 1 }, (_, j) => (range[0] as number) + j).filter((y) => y !== v);
              const fits = (y: number) =>
                column === 'count'
                  ? feasibleCoupled(lines, knownCount, knownSum, unknowns, bounds, new Map([[i, y]]))
                  : feasibleCoupled(lines, knownCount, knownSum, unknowns, bounds, new Map(), new Map([[i, y]]));
              return others.some(fits) ? [] : [e.labels.join('|')];
            });
          expect(pinnedCells('count')).toEqual([]);
          expect(pinnedCells('sum')).toEqual([]);
        }),
        { numRuns: runs },
      );
      expect(released).toBeGreaterThan(runs / 2);
    });
  }

  it('refuses a value protection that is not a percentage from 0 to 100', () => {
    const records = Array.from({ length: 5 }, () => ({ cell: ['Utrecht', 'single'], values: ['1'], key: 0 }));
    for (const valueProtection of [-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => protectTable(cb, tabulate(cb, records), { valueProtection })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    expect(() => protectTable(cb, tabulate(cb, records), { threshold: k, valueProtection: 12.5 })).not.toThrow();
  });

  it('refuses a protection level no small cell can have, and a protection level that is not a positive integer', () => {
    // Threshold 10: a small cell is 1 to 9, so a count of 5 can never look 5 away.
    const records = Array.from({ length: 5 }, () => ({ cell: ['Utrecht', 'single'], values: ['1'], key: 0 }));
    expect(() => protectTable(cb, tabulate(cb, records), { threshold: k, protection: 5 })).toThrow(expect.objectContaining({ code: 'DISCLOSURE_RISK' }));
    for (const protection of [0, 1.5, -2])
      expect(() => protectTable(cb, tabulate(cb, records), { protection })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('noisy tables (counts may be negative) are protected, or rarely refused, and no suppressed entry is determined', () => {
    const cbk = cbv(dims3);
    let refused = 0;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 25 }), { minLength: cbk.cells, maxLength: cbk.cells }), (counts) => {
        const v = new BigUint64Array(cbk.length);
        counts.forEach((n, c) => {
          v[c * cbk.width] = encodeSigned(BigInt(n));
          v[c * cbk.width + 2] = encodeSigned(BigInt(2 * n));
        });
        const t = protectedOrRefused(() => protectTable(cbk, v, { threshold: k }));
        if (!t) {
          refused++;
          return;
        }
        const suppressed = new Set(t.flatMap((e, i) => (e.count === null ? [i] : [])));
        expect(determinedExactly(linesOf(cbk, t), suppressed)).toEqual([]);
      }),
      { numRuns: 200 },
    );
    expect(refused).toBeLessThan(20);
  });

  const dims1 = [{ name: 'region', labels: ['a', 'b', 'c', 'd', 'e', 'f'] }];
  for (const [name, cbk, runs] of [
    ['one-way 6', cbv(dims1), 200],
    ['two-way 3 x 3', cbv(), 300],
    ['three-way 2 x 3 x 2', cbv(dims3), 200],
    ['four-way 2 x 2 x 2 x 2', cbv(dims4), 40],
  ] as const) {
    it(`on random ${name} tables no small cell's count or value sum is pinned, and no suppressed entry is determined`, () => {
      const cell = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 30 }));
      const cellsOf = (n: number) =>
        fc.array(fc.tuple(cell, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 30, maxLength: 30 })), { minLength: n, maxLength: n });
      fc.assert(
        fc.property(cellsOf(cbk.cells), (cells) => {
          const records: Array<{ cell: string[]; values: string[]; key: number }> = [];
          cells.forEach(([n, vals], c) => {
            for (let i = 0; i < n; i++) records.push({ cell: cbk.cellLabels(c), values: [String(vals[i])], key: 0 });
          });
          const vector = tabulate(cbk, records);
          const t = protectedOrRefused(() => protectTable(cbk, vector, { threshold: k }));
          if (!t) return;
          const truth = protectTable(cbk, vector, { threshold: 1, secondary: false });
          expect(pinned(cbk, t, truth, 0)).toEqual([]);
          expect(pinned(cbk, t, truth, 1)).toEqual([]);
          expect(determinedExactly(linesOf(cbk, t), new Set(t.flatMap((e, i) => (e.count === null ? [i] : []))))).toEqual([]);
        }),
        { numRuns: runs },
      );
    });
  }
});

describe('cell key method', () => {
  it('perturbs by a p-table looked up by (count, cell key), the same for the same cell every time', () => {
    const counts = [
      [20, 12, 15],
      [13, 20, 30],
      [11, 14, 40],
    ];
    const keyOf = (r: number, c: number, i: number) => (r * 37 + c * 91 + i * 13) % 256;
    const a = protectTable(cb, table(counts, keyOf), { cellKey: DEFAULT_PTABLE, cellKeyCountsOnly: true });
    const b = protectTable(cb, table(counts, keyOf), { cellKey: DEFAULT_PTABLE, cellKeyCountsOnly: true });
    expect(a).toEqual(b);
    // The perturbation is not released: measured here against the unperturbed table.
    const exact = protectTable(cb, table(counts, keyOf));
    const perturbationOf = (i: number) => Number((a[i]?.count as bigint) - (exact[i]?.count as bigint));
    a.forEach((e, i) => {
      if (e.count === null || e.total) return;
      expect(Math.abs(perturbationOf(i))).toBeLessThanOrEqual(2);
      expect(e.count).toBeGreaterThanOrEqual(0n);
    });
    expect(a.some((e, i) => e.count !== null && perturbationOf(i) !== 0)).toBe(true);
  });
});

describe('cell key method: the released table does not give the true count back', () => {
  /** One dimension with a cell per (true count, cell key): every key 0..255 for counts k..k+4. */
  const k = 10;
  const counts = [k, k + 1, k + 2, k + 3, k + 4];
  const flat = makeCodebook({
    id: 'ck-attack',
    dimensions: [{ name: 'cell', labels: counts.flatMap((c) => Array.from({ length: 256 }, (_, key) => `${c}-${key}`)) }],
    values: [],
    maxInputs: 1,
    maxRecordsPerInput: 100_000,
  });
  const records = counts.flatMap((c) =>
    Array.from({ length: 256 }, (_, key) =>
      // c records in the cell, keys summing to `key` mod 256.
      Array.from({ length: c }, (_, i) => ({ cell: [`${c}-${key}`], key: i === 0 ? key : 0 })),
    ).flat(),
  );
  const released = protectTable(flat, tabulate(flat, records), { threshold: k, secondary: false, cellKey: DEFAULT_PTABLE });
  const interior = released.filter((e) => !e.total);

  it('no column or field from which count minus perturbation follows', () => {
    for (const e of released) expect(Object.keys(e).sort()).toEqual(['count', 'labels', 'rule', 'sums', 'total']);
    // The method did perturb: otherwise this test could not fail.
    expect(interior.some((e) => e.count !== BigInt(Number((e.labels[0] as string).split('-')[0])))).toBe(true);
  });

  it('a published count, with the public knowledge that a published non-zero cell has at least k contributors, never pins the true count', () => {
    const truths = new Map<bigint, Set<number>>();
    for (const e of interior) {
      expect(e.rule).toBe('published');
      expect(e.count as bigint).toBeGreaterThanOrEqual(BigInt(k));
      const truth = Number((e.labels[0] as string).split('-')[0]);
      const s = truths.get(e.count as bigint) ?? new Set<number>();
      s.add(truth);
      truths.set(e.count as bigint, s);
    }
    // The attack: a published count that only one true count (>= k) produces gives it back.
    for (const [c, s] of truths) if (c <= BigInt(k + 2)) expect([c, s.size > 1]).toEqual([c, true]);
  });

  it('with value columns, the method is refused unless the operator accepts exact sums beside perturbed counts', () => {
    const t = table([
      [20, 12, 15],
      [13, 20, 30],
      [11, 14, 40],
    ]);
    expect(() => protectTable(cb, t, { cellKey: DEFAULT_PTABLE })).toThrowError(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const exact = protectTable(cb, t, { secondary: false });
    const perturbed = protectTable(cb, t, { secondary: false, cellKey: DEFAULT_PTABLE, cellKeyCountsOnly: true });
    expect(perturbed.map((e) => e.sums)).toEqual(exact.map((e) => e.sums));
  });
});
