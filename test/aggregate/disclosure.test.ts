/**
 * Disclosure control on hand-made tables with known answers: the threshold rule, zero
 * cells, secondary suppression against subtraction from margins, and the cell key
 * method's consistency.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PTABLE, perturbation, protectTable, TOTAL, type TableEntry } from '../../src/aggregate/disclosure.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { households, regions, smallCodebook } from './fixtures.js';

const cb = smallCodebook();

/** A table from a 3x3 grid of counts (rows: regions, columns: households); each record logs in 2 times. */
function table(counts: number[][], keyOf: (r: number, c: number, i: number) => number = () => 0) {
  const records: Array<{ cell: string[]; values: string[]; key: number }> = [];
  counts.forEach((row, r) => row.forEach((n, c) => {
    for (let i = 0; i < n; i++) records.push({ cell: [regions[r] as string, households[c] as string], values: ['2'], key: keyOf(r, c, i) });
  }));
  return tabulate(cb, records);
}

const at = (t: TableEntry[], region: string, household: string) => t.find((e) => e.labels[0] === region && e.labels[1] === household) as TableEntry;

describe('threshold rule', () => {
  it('suppresses cells with 1 to k-1 contributors, keeps zeros and large cells', () => {
    const t = protectTable(cb, table([[0, 12, 15], [3, 20, 30], [11, 14, 40]]), { threshold: 10, secondary: false });
    expect(at(t, 'Groningen', 'single')).toMatchObject({ rule: 'published', count: 0n });
    expect(at(t, 'Utrecht', 'single')).toMatchObject({ rule: 'threshold', count: null, sums: [null] });
    expect(at(t, 'Groningen', 'couple')).toMatchObject({ rule: 'published', count: 12n, sums: [24n] });
  });
  it('publishes totals for every line and the grand total', () => {
    const t = protectTable(cb, table([[10, 10, 10], [10, 10, 10], [10, 10, 10]]), { secondary: false });
    expect(at(t, 'Utrecht', TOTAL)).toMatchObject({ count: 30n, total: true });
    expect(at(t, TOTAL, 'family')).toMatchObject({ count: 30n, total: true });
    expect(at(t, TOTAL, TOTAL)).toMatchObject({ count: 90n, sums: [180n] });
    expect(t).toHaveLength(16);
  });
});

describe('secondary suppression', () => {
  // One small cell at Utrecht/single. Without secondary suppression, Utrecht's row total
  // minus the other two cells gives it away.
  const counts = [[20, 12, 15], [3, 20, 30], [11, 14, 40]];

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

describe('cell key method', () => {
  it('perturbs by a p-table looked up by (count, cell key), the same for the same cell every time', () => {
    const counts = [[20, 12, 15], [13, 20, 30], [11, 14, 40]];
    const keyOf = (r: number, c: number, i: number) => (r * 37 + c * 91 + i * 13) % 256;
    const a = protectTable(cb, table(counts, keyOf), { cellKey: DEFAULT_PTABLE });
    const b = protectTable(cb, table(counts, keyOf), { cellKey: DEFAULT_PTABLE });
    expect(a).toEqual(b);
    for (const e of a.filter((x) => x.count !== null && !x.total)) {
      expect(Math.abs(e.perturbation)).toBeLessThanOrEqual(2);
      expect(e.count as bigint).toBeGreaterThanOrEqual(0n);
    }
    expect(a.some((e) => e.perturbation !== 0)).toBe(true);
  });
  it('maps cell keys to perturbations by the cumulative p-table row', () => {
    // Row for counts >= 3: -2 (0.05), -1 (0.2), 0 (0.5), 1 (0.2), 2 (0.05).
    expect(perturbation(DEFAULT_PTABLE, 50, 0)).toBe(-2);
    expect(perturbation(DEFAULT_PTABLE, 50, 12)).toBe(-2); // (12.5 / 256 < 0.05)
    expect(perturbation(DEFAULT_PTABLE, 50, 13)).toBe(-1);
    expect(perturbation(DEFAULT_PTABLE, 50, 128)).toBe(0);
    expect(perturbation(DEFAULT_PTABLE, 50, 230)).toBe(1);
    expect(perturbation(DEFAULT_PTABLE, 50, 255)).toBe(2);
    expect(perturbation(DEFAULT_PTABLE, 1, 255)).toBe(1);
    expect(perturbation(DEFAULT_PTABLE, 0, 255)).toBe(0);
  });
});
