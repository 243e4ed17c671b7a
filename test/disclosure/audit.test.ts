/**
 * The linear audit against exact linear algebra (its use on released tables is tested
 * in table.test.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { disclosedEntries } from '../../src/disclosure/index.js';
import { determinedExactly } from './linear-oracle.js';

describe('linear audit', () => {
  it('the audit finds exactly the entries exact linear algebra finds, on random two- and three-way patterns', () => {
    // Every line of an extended grid (each dimension with its total as the last index).
    const gridLines = (dims: number[]) => {
      const ext = dims.map((n) => n + 1);
      const stride = ext.map((_, i) => ext.slice(i + 1).reduce((a, b) => a * b, 1));
      const size = ext.reduce((a, b) => a * b, 1);
      const lines: number[][] = [];
      for (let i = 0; i < ext.length; i++) {
        for (let e = 0; e < size; e++) {
          if (Math.floor(e / (stride[i] as number)) % (ext[i] as number) !== 0) continue;
          lines.push(Array.from({ length: ext[i] as number }, (_, j) => e + j * (stride[i] as number)));
        }
      }
      return { lines, size };
    };
    const shape = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).map(([a, b]) => [a, b]),
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })).map(([a, b, c]) => [a, b, c]),
    );
    fc.assert(
      fc.property(shape, fc.array(fc.boolean(), { minLength: 36, maxLength: 36 }), (dims, bits) => {
        const { lines, size } = gridLines(dims);
        const suppressed = new Set(bits.slice(0, size).flatMap((b, i) => (b ? [i] : [])));
        expect(disclosedEntries(lines, (e) => suppressed.has(e))).toEqual(determinedExactly(lines, suppressed));
      }),
      { numRuns: 400 },
    );
  });
});
