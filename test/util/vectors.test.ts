/**
 * Standard test vectors for the symmetric primitives: RFC 4231 (HMAC-SHA256, through
 * node:crypto) and RFC 5869 (HKDF-SHA256, written on that HMAC), each cross-checked
 * against a second implementation.
 */
import { hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { extract, hkdf } from '@noble/hashes/hkdf.js';
import { hkdfSha256, hmacSha256 } from '../../src/util/hash.js';
import { hex, rfc4231Vectors, vectors } from '../helpers.js';

interface HkdfVector {
  name: string;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}

const rfc4231 = rfc4231Vectors();
const rfc5869 = vectors<{ vectors: HkdfVector[] }>('rfc5869.json').vectors;

describe('RFC 4231: HMAC-SHA256', () => {
  it.each(rfc4231)('$name', (v) => {
    const mac = hmacSha256(hex(v.key), hex(v.data));
    const n = v.truncate ?? 32;
    expect(Buffer.from(mac.subarray(0, n)).toString('hex')).toBe(v.mac);
    // The portable implementation agrees (cross-check of the two providers).
    expect(Buffer.from(hmac(sha256, hex(v.key), hex(v.data)).subarray(0, n)).toString('hex')).toBe(v.mac);
  });
  it('has all seven test cases', () => expect(rfc4231).toHaveLength(7));
});

describe('RFC 5869: HKDF-SHA256', () => {
  it.each(rfc5869)('$name', (v) => {
    expect(Buffer.from(extract(sha256, hex(v.ikm), hex(v.salt))).toString('hex')).toBe(v.prk);
    expect(Buffer.from(hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length)).toString('hex')).toBe(v.okm);
  });
  it('has the three SHA-256 test cases', () => expect(rfc5869).toHaveLength(3));

  it('agrees with @noble/hashes for an info on either side of 1024 bytes (the random inputs below rarely draw one that long)', () => {
    const ikm = Uint8Array.from({ length: 40 }, (_, i) => i);
    for (const n of [0, 1, 1023, 1024, 1025, 2000, 5000])
      for (const [salt, length] of [
        [new Uint8Array(0), 48],
        [Uint8Array.of(7, 7), 8160],
      ] as const) {
        const info = Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff);
        expect(Buffer.from(hkdfSha256(ikm, salt, info, length)).toString('hex')).toBe(Buffer.from(hkdf(sha256, ikm, salt, info, length)).toString('hex'));
      }
  });

  it('agrees with @noble/hashes and node:crypto on random inputs, info of any length', () => {
    const bytes = (max: number) => fc.uint8Array({ maxLength: max });
    fc.assert(
      fc.property(bytes(100), bytes(100), bytes(2000), fc.integer({ min: 0, max: 255 * 32 }), (ikm, salt, info, length) => {
        const ours = Buffer.from(hkdfSha256(ikm, salt, info, length));
        expect(ours.toString('hex')).toBe(Buffer.from(hkdf(sha256, ikm, salt, info, length)).toString('hex'));
        // node:crypto's hkdfSync refuses info over 1024 bytes; ours does not.
        if (info.length <= 1024 && length > 0) expect(ours.equals(Buffer.from(hkdfSync('sha256', ikm, salt, info, length)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses an output length beyond 255 hash lengths', () => {
    expect(() => hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 255 * 32 + 1)).toThrow(RangeError);
    expect(() => hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), -1)).toThrow(RangeError);
  });
});
