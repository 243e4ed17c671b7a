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

describe('randomBytes and wipe', () => {
  it('gives distinct outputs and wipes to zero', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(constantTimeEqual(a, b)).toBe(false);
    wipe(a, b);
    expect(a.every((x) => x === 0) && b.every((x) => x === 0)).toBe(true);
  });
});
