/**
 * The JavaScript HMAC-SHA256 under a fixed key (src/util/fixed-hmac.ts) that keyed
 * pseudonymisation runs on: RFC 4231's vectors, and agreement with node:crypto (OpenSSL)
 * on random keys and messages, on every message length around SHA-256's block and
 * padding boundaries, and for strings with non-ASCII characters.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FixedKeyHmac, HMAC_BASE64URL_LENGTH } from '../../src/util/fixed-hmac.js';
import { KoppelError } from '../../src/errors/index.js';
import { hex, rfc4231Vectors } from '../helpers.js';

const rfc4231 = rfc4231Vectors();

const openssl = (key: Uint8Array, m: Uint8Array | string) => createHmac('sha256', key).update(m).digest();

describe('FixedKeyHmac: RFC 4231 vectors', () => {
  it.each(rfc4231)('$name', (v) => {
    const mac = new FixedKeyHmac(hex(v.key)).mac(hex(v.data));
    expect(Buffer.from(mac.subarray(0, v.truncate ?? 32)).toString('hex')).toBe(v.mac);
  });
  it('covers keys longer than a block and data longer than a block', () => {
    expect(rfc4231.some((v) => v.key.length / 2 > 64)).toBe(true);
    expect(rfc4231.some((v) => v.data.length / 2 > 64)).toBe(true);
  });
});

describe('FixedKeyHmac agrees with node:crypto', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 73 + 11) & 0xff);
  const h = new FixedKeyHmac(key);

  it('for every message length from 0 to 200 bytes, as bytes and as an ASCII string', () => {
    for (let n = 0; n <= 200; n++) {
      const m = Uint8Array.from({ length: n }, (_, i) => 0x21 + ((i * 7 + n) % 90));
      const want = openssl(key, m);
      expect(Buffer.from(h.mac(m)).equals(want), `bytes, length ${n}`).toBe(true);
      const s = Buffer.from(m).toString('latin1');
      expect(h.base64url(s), `string, length ${n}`).toBe(want.toString('base64url'));
    }
  });

  it('on random keys of 0 to 200 bytes and random byte messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), (k, m) => {
        expect(Buffer.from(new FixedKeyHmac(k).mac(m)).equals(openssl(k, m))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('on strings of any Unicode, hashed as UTF-8 (short, long, with surrogate pairs)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        expect(h.base64url(s)).toBe(openssl(key, Buffer.from(s, 'utf8')).toString('base64url'));
      }),
      { numRuns: 500 },
    );
    for (const s of ['é', 'a'.repeat(54) + 'é', 'ß'.repeat(30), '😀'.repeat(20), 'x'.repeat(55), 'x'.repeat(56)])
      expect(h.base64url(s)).toBe(openssl(key, Buffer.from(s, 'utf8')).toString('base64url'));
  });

  it("gives each byte of a string message's MAC by itself (macByteOfString)", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.integer({ min: 0, max: 31 }), (s, i) => {
        expect(h.macByteOfString(s, i)).toBe(openssl(key, Buffer.from(s, 'utf8'))[i]);
      }),
      { numRuns: 300 },
    );
  });

  it('writes exactly 43 base64url bytes at the offset and nothing else', () => {
    const dst = new Uint8Array(100).fill(0xaa);
    const end = h.base64urlInto('123456782', dst, 10);
    expect(end).toBe(10 + HMAC_BASE64URL_LENGTH);
    expect(Buffer.from(dst.subarray(10, end)).toString('latin1')).toBe(openssl(key, '123456782').toString('base64url'));
    expect(dst.subarray(0, 10).every((x) => x === 0xaa)).toBe(true);
    expect(dst.subarray(end).every((x) => x === 0xaa)).toBe(true);
  });

  it('keeps instances with different keys apart (the shared schedule holds no state between calls)', () => {
    const other = Uint8Array.from(key, (x) => x ^ 1);
    const g = new FixedKeyHmac(other);
    for (const m of ['a', '999999990', 'z'.repeat(70)]) {
      expect(h.base64url(m)).toBe(openssl(key, m).toString('base64url'));
      expect(g.base64url(m)).toBe(openssl(other, m).toString('base64url'));
    }
  });
});

describe('FixedKeyHmac.wipe', () => {
  it('zeroes the key state, after which every call throws INVALID_KEY', () => {
    const h = new FixedKeyHmac(new Uint8Array(32).fill(5));
    h.wipe();
    for (const call of [
      () => h.base64url('1'),
      () => h.mac(new Uint8Array(1)),
      () => h.base64urlInto('1', new Uint8Array(43), 0),
      () => h.macByteOfString('1', 0),
    ]) {
      expect(call).toThrow(KoppelError);
      try {
        call();
      } catch (e) {
        expect((e as KoppelError).code).toBe('INVALID_KEY');
      }
    }
  });
});
