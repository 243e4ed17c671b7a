/** Tabulation: records to an input vector, streaming or all at once, and record keys. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeSigned, parseFixed } from '../../src/aggregate/ring.js';
import { recordKey, RecordKeyer, tabulate, Tabulator, type InputRecord } from '../../src/aggregate/tabulate.js';
import { households, regions, smallCodebook } from './fixtures.js';

const arbRecord = fc.record({
  cell: fc.tuple(fc.constantFrom(...regions), fc.constantFrom(...households)),
  values: fc.tuple(fc.integer({ min: 0, max: 1000 }).map(String)),
  key: fc.integer({ min: 0, max: 255 }),
});

describe('tabulation', () => {
  it('counts, key sums and value sums per cell equal the plain per-cell sums', () => {
    const cb = smallCodebook();
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 200 }), (records) => {
        const v = tabulate(cb, records);
        for (let c = 0; c < cb.cells; c++) {
          const mine = records.filter((r) => cb.cellIndex(r.cell) === c);
          expect(v[c * cb.width]).toBe(BigInt(mine.length));
          expect(v[c * cb.width + 1]).toBe(BigInt(mine.reduce((s, r) => s + r.key, 0)));
          expect(decodeSigned(v[c * cb.width + 2] as bigint)).toBe(BigInt(mine.reduce((s, r) => s + Number(r.values[0]), 0)));
        }
      }),
      { numRuns: 50 },
    );
  });

  it('a streaming Tabulator and tabulate() give the same vector', () => {
    const cb = smallCodebook();
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 100 }), (records) => {
        const t = new Tabulator(cb);
        for (const r of records) t.add(r);
        expect(t.records).toBe(records.length);
        expect([...t.vector()]).toEqual([...tabulate(cb, records)]);
      }),
      { numRuns: 30 },
    );
  });

  it('a refused record leaves the tabulator unchanged, and the error names its number only', () => {
    const cb = smallCodebook();
    const t = new Tabulator(cb);
    t.add({ cell: ['Utrecht', 'single'], values: ['5'], key: 7 });
    const before = [...t.vector()];
    const bad: InputRecord[] = [
      { cell: ['Utrecht', 'nobody-knows'], values: ['5'], key: 1 },
      { cell: ['Utrecht', 'single'], values: ['1001'], key: 1 },
      { cell: ['Utrecht', 'single'], values: ['5'], key: 256 },
      { cell: ['Utrecht', 'single'], values: [], key: 1 },
    ];
    for (const r of bad) {
      let err: unknown;
      try {
        t.add(r);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { record: 2 } });
      expect(String((err as Error).message)).not.toContain('nobody-knows');
      expect([...t.vector()]).toEqual(before);
      expect(t.records).toBe(1);
    }
  });

  it('refuses more records than maxRecordsPerInput', () => {
    const t = new Tabulator(smallCodebook({ maxRecordsPerInput: 2 }));
    const r = { cell: ['Utrecht', 'single'], values: ['1'], key: 0 };
    t.add(r);
    t.add(r);
    expect(() => t.add(r)).toThrow(/maxRecordsPerInput/);
  });
});

describe('tabulating rows in batches (addRows, what the CLI uses)', () => {
  // Rows as a CSV reader gives them, with the columns in another order than the
  // codebook's and an extra column: value, household, id, region.
  const layout = { cells: [3, 1], values: [0] };
  const toRow = (r: { cell: readonly string[]; values: readonly string[] }) => [r.values[0] as string, r.cell[1] as string, 'id-x', r.cell[0] as string];
  // Runs of equal labels, so that rows reuse the previous row's cell as well as change it.
  const arbRows = fc
    .array(fc.tuple(arbRecord, fc.integer({ min: 1, max: 4 })), { maxLength: 60 })
    .map((xs) => xs.flatMap(([r, n]) => Array.from({ length: n }, () => r)));

  it('gives the same vector as adding the records one by one, whatever the batch sizes', () => {
    const cb = smallCodebook();
    fc.assert(
      fc.property(arbRows, fc.integer({ min: 1, max: 50 }), (records, batch) => {
        const t = new Tabulator(cb);
        for (let i = 0; i < records.length; i += batch) {
          const part = records.slice(i, i + batch);
          t.addRows(part.map(toRow), layout, Uint8Array.from(part.map((r) => r.key)));
        }
        expect(t.records).toBe(records.length);
        expect([...t.vector()]).toEqual([...tabulate(cb, records)]);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a bad row with its record number; the rows before it stay added', () => {
    const cb = smallCodebook();
    const good = ['5', 'single', 'id', 'Utrecht'];
    const cases: Array<{ row: string[]; key: number }> = [
      { row: ['5', 'nobody-knows', 'id', 'Utrecht'], key: 1 },
      { row: ['5', 'single', 'id', 'Atlantis'], key: 1 },
      { row: ['1001', 'single', 'id', 'Utrecht'], key: 1 },
      { row: ['5', 'single', 'id', 'Utrecht'], key: 256 },
      { row: ['5', 'single', 'id', 'Utrecht'], key: Number.NaN },
      { row: ['5', 'single'], key: 1 },
    ];
    for (const { row, key } of cases) {
      const t = new Tabulator(cb);
      t.add({ cell: ['Utrecht', 'single'], values: ['5'], key: 7 });
      let err: unknown;
      try {
        t.addRows([good, good, row, good], layout, [1, 2, key, 3]);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { record: 4 } });
      expect(String((err as Error).message)).not.toMatch(/nobody-knows|Atlantis/);
      expect(t.records).toBe(3);
      const one = new Tabulator(cb);
      for (const k of [7, 1, 2]) one.add({ cell: ['Utrecht', 'single'], values: ['5'], key: k });
      expect([...t.vector()]).toEqual([...one.vector()]);
    }
  });

  it('refuses a layout that does not fit the codebook, too few keys, and too many records', () => {
    const cb = smallCodebook({ maxRecordsPerInput: 2 });
    const row = ['5', 'single', 'id', 'Utrecht'];
    expect(() => new Tabulator(cb).addRows([row], { cells: [3], values: [0] }, [1])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new Tabulator(cb).addRows([row], { cells: [3, 1], values: [] }, [1])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new Tabulator(cb).addRows([row, row], layout, [1])).toThrow(/record keys/);
    const t = new Tabulator(cb);
    expect(() => t.addRows([row, row, row], layout, [1, 2, 3])).toThrow(/maxRecordsPerInput/);
    expect(t.records).toBe(2);
  });
});

describe('tabulation with large, negative and decimal values', () => {
  it('equals exact BigInt sums: short values as doubles, long ones as BigInts, folded often', () => {
    // Bounds of 10^17 at scale 2: short texts take the double path, and the pending
    // doubles are folded every few records; 18-digit texts take the BigInt path.
    const cb = smallCodebook({ values: [{ name: 'v', scale: 2, min: '-1000000000000000', max: '1000000000000000' }], maxInputs: 1, maxRecordsPerInput: 60 });
    const value = fc.tuple(fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }), fc.boolean()).map(([x, padded]) => {
      const neg = x < 0n;
      const a = (neg ? -x : x).toString().padStart(3, '0');
      return { x, text: `${neg ? '-' : ''}${a.slice(0, -2)}.${a.slice(-2)}${padded ? '000' : ''}` };
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...regions), value), { maxLength: 60 }), (rows) => {
        const v = tabulate(
          cb,
          rows.map(([region, { text }]) => ({ cell: [region, 'single'], values: [text], key: 1 })),
        );
        for (const region of regions) {
          const c = cb.cellIndex([region, 'single']);
          const want = rows.filter(([r]) => r === region).reduce((s, [, { x }]) => s + x, 0n);
          expect(decodeSigned(v[c * cb.width + 2] as bigint)).toBe(want);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('reads any value text exactly as parseFixed does, or refuses it as parseFixed does', () => {
    // Integer texts take a fast path without regular expressions; every other text the
    // general one. Lengths around the 15-digit limit of the double path are included.
    for (const scale of [0, 3]) {
      // Bounds of +-10^17 units of 10^-scale.
      const bound = 10n ** 17n;
      const b = (bound / 10n ** BigInt(scale)).toString();
      const cb = smallCodebook({ values: [{ name: 'v', scale, min: `-${b}`, max: b }], maxInputs: 1, maxRecordsPerInput: 10 });
      const digits = fc.stringMatching(/^[0-9]{1,19}$/);
      const text = fc.oneof(
        fc.tuple(fc.constantFrom('', '-', '+', ' '), digits).map(([sign, d]) => sign + d),
        fc.tuple(digits, fc.constantFrom('.', '.5', '.500', '.1234', 'e3', 'a', ' ', '-')).map(([d, tail]) => d + tail),
        fc.constantFrom('', '-', '-0', '0000', '999999999999999', '-999999999999999', '9999999999999999', '9007199254740993', '-12345678901234567', '1e3', '٣'),
      );
      fc.assert(
        fc.property(text, (t) => {
          let want: bigint | undefined;
          try {
            want = parseFixed(t, scale);
          } catch {
            want = undefined;
          }
          const bounded = want !== undefined && want >= -bound && want <= bound;
          const record = { cell: ['Utrecht', 'single'], values: [t], key: 0 };
          if (!bounded) {
            expect(() => tabulate(cb, [record])).toThrow();
            return;
          }
          const v = tabulate(cb, [record]);
          expect(decodeSigned(v[cb.cellIndex(['Utrecht', 'single']) * cb.width + 2] as bigint)).toBe(want);
        }),
        { numRuns: 400 },
      );
    }
  });
});

describe('record keys', () => {
  it('are HMAC-SHA256(secret, "koppel/cell-key/v1" 0x00 id)[0], UTF-8 ids included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ unit: 'grapheme', maxLength: 30 }), (secret, id) => {
        const expected = hmac(sha256, secret, new TextEncoder().encode(`koppel/cell-key/v1\u0000${id}`))[0];
        expect(recordKey(secret, id)).toBe(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('a RecordKeyer gives the same key as recordKey for every secret and identifier, and none once destroyed', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.string({ unit: 'grapheme', maxLength: 60 }), { maxLength: 8 }),
        (secret, ids) => {
          const keyer = new RecordKeyer(secret);
          for (const id of [...ids, '123456782', 'x'.repeat(36), 'x'.repeat(37)]) expect(keyer.key(id)).toBe(recordKey(secret, id));
          keyer.destroy();
          expect(() => keyer.key('123456782')).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('are fixed per record and spread over 0..255', () => {
    const secret = new Uint8Array(32).fill(7);
    expect(recordKey(secret, '123456782')).toBe(recordKey(secret, '123456782'));
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 25600; i++) counts[recordKey(secret, `id-${i}`)] = (counts[recordKey(secret, `id-${i}`)] as number) + 1;
    // 100 expected per key; 5 standard deviations either side.
    expect(Math.min(...counts)).toBeGreaterThan(50);
    expect(Math.max(...counts)).toBeLessThan(150);
  });
});
