/** The byte-level canonical u-coordinate check agrees with u < 2^255 - 19 on BigInts. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCanonicalU } from '../../src/group/u-coordinate.js';

const P = 2n ** 255n - 19n;
const le = (x: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));
const value = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);

describe('isCanonicalU', () => {
  it('is true exactly below p, around p and 2^255', () => {
    for (const x of [0n, 1n, 9n, P - 2n, P - 1n, P, P + 1n, P + 18n, 2n ** 255n, 2n ** 256n - 1n, 2n ** 254n])
      expect(isCanonicalU(le(x)), String(x)).toBe(x < P);
  });
  it('agrees with the BigInt comparison on random bytes, with the top bytes often 0x7f and 0xff', () => {
    const bytes = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const nearTop = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 1 }), fc.integer({ min: 0, max: 30 })).map(([low, ones]) => {
      const b = new Uint8Array(32).fill(0xff);
      b[31] = 0x7f;
      b[0] = low[0] as number;
      if (ones < 30) b[1 + ones] = 0xfe;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(bytes, nearTop), (b) => {
        expect(isCanonicalU(b)).toBe(value(b) < P);
      }),
      { numRuns: 2000 },
    );
  });
  it('reads at an offset', () => {
    const buf = new Uint8Array(96);
    buf.set(le(P), 32);
    expect(isCanonicalU(buf, 0)).toBe(true);
    expect(isCanonicalU(buf, 32)).toBe(false);
  });
});
