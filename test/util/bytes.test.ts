import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { constantTimeEqual, fromBase64Url, fromHex, randomBytes, toBase64Url, toHex, wipe } from '../../src/util/bytes.js';

describe('base64url', () => {
  it('round-trips every byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromBase64Url(toBase64Url(b))).toEqual(b);
      }),
    );
  });
  it('accepts only the canonical encoding of each byte string', () => {
    expect(fromBase64Url('AA')).toEqual(new Uint8Array([0]));
    expect(fromBase64Url('AB')).toBeUndefined(); // non-zero trailing bits
    expect(fromBase64Url('AA==')).toBeUndefined(); // padding
    expect(fromBase64Url('A+')).toBeUndefined(); // standard alphabet
    expect(fromBase64Url('A')).toBeUndefined(); // impossible length
    expect(fromBase64Url('AA AA')).toBeUndefined();
  });
});

describe('hex', () => {
  it('round-trips and rejects malformed input', () => {
    expect(toHex(fromHex('00ff10') as Uint8Array)).toBe('00ff10');
    expect(fromHex('0')).toBeUndefined();
    expect(fromHex('zz')).toBeUndefined();
  });
});

describe('constantTimeEqual', () => {
  it('tells equal from unequal, including different lengths', () => {
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
});

describe('randomBytes', () => {
  it('gives exactly n bytes for every size, pooled (at most 256) or not', () => {
    for (const n of [0, 1, 31, 255, 256, 257, 5000]) expect(randomBytes(n).length).toBe(n);
  });
  it('never hands out the same pool bytes twice or a zeroed region, across many pool refills', () => {
    // 3,000 draws of 17 bytes span a dozen 4 KiB refills at odd offsets; any 8-byte window
    // seen twice (or a zero word) would mean reused or wiped bytes, with chance ~2^-40 otherwise.
    const draws = Array.from({ length: 3000 }, () => randomBytes(17));
    const seen = new Set<string>();
    for (const d of draws) {
      for (let i = 0; i + 8 <= d.length; i += 9) {
        const w = Buffer.from(d.subarray(i, i + 8)).toString('hex');
        expect(w).not.toBe('0000000000000000');
        expect(seen.has(w)).toBe(false);
        seen.add(w);
      }
    }
  });
  it('is uniform over byte values (chi-square, 255 degrees of freedom) for pooled and direct draws', () => {
    for (const size of [32, 4000]) {
      const counts = new Array<number>(256).fill(0);
      let total = 0;
      while (total < 256 * 1000) {
        for (const b of randomBytes(size)) counts[b] = (counts[b] ?? 0) + 1;
        total += size;
      }
      const expected = total / 256;
      const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
      // P(chi2 > 400) for 255 degrees of freedom is below 1e-8.
      expect(chi2).toBeLessThan(400);
    }
  });
});

describe('randomBytes and wipe', () => {
  it('gives distinct outputs and wipes to zero', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(constantTimeEqual(a, b)).toBe(false);
    wipe(a, b);
    expect(a.every((x) => x === 0) && b.every((x) => x === 0)).toBe(true);
  });
});
