/**
 * The fast hash to group of the x25519 suite against straightforward BigInt references:
 * the Jacobi symbol (legendre.ts) against the plain binary algorithm and Euler's
 * criterion, the Elligator 2 map against elligator2UReference, expand_message_xmd and
 * hash_to_field against @noble/curves, the byte conversions against per-byte loops, and
 * the whole hashToGroup against the composition of the references. Random inputs plus
 * the edge values where the fast code changes path (64-bit operands, shared top bits,
 * values next to 0 and p), and the exceptional cases of the map.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ExpandXmdSha512, hashToField25519, os2ip, P25519, reduce25519 } from '../../src/group/h2c.js';
import { elligator2U, elligator2UReference, encodeU, isSquare, jacobi, powMod } from '../../src/group/elligator2.js';
import { jacobiFast, jacobiReference } from '../../src/group/legendre.js';
import { getSuite } from '../../src/group/suite.js';

const p = P25519;
const A = 486662n;
const utf8 = (s: string) => new TextEncoder().encode(s);
const DST = utf8('koppel-test-dst');

/** Values where the fast algorithms change path or carry: near 0, p, 2^64, 2^255, powers of two. */
const EDGE: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  4n,
  5n,
  A,
  p - A,
  p - 1n,
  p - 2n,
  p - 3n,
  (p - 1n) / 2n,
  (p + 1n) / 2n,
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
  1n << 64n,
  (1n << 64n) + 1n,
  (1n << 254n) - 1n,
  1n << 254n,
  (1n << 254n) + 1n,
  (1n << 128n) + 1n,
  // sharing the top 64 or 200 bits with p: the approximations cannot tell them apart
  p - (1n << 100n) - 1n,
  p - 12345678901234567890n,
  p - (1n << 190n),
  ...Array.from({ length: 40 }, (_, k) => (1n << BigInt(k * 6 + 7)) % p),
  ...Array.from({ length: 40 }, (_, k) => p - (1n << BigInt(k * 6 + 7))),
];

const fieldElement = fc.bigInt({ min: 0n, max: p - 1n });
const below256 = fc.bigInt({ min: 0n, max: (1n << 256n) - 1n });
const oddModulus = fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }).map((n) => n | 1n);

describe('jacobiFast agrees with the plain binary Jacobi symbol', () => {
  it('on the edge values, mod p', () => {
    for (const x of EDGE) expect(jacobiFast(x, p)).toBe(jacobiReference(x, p));
  });
  it("on random field elements, mod p, and with Euler's criterion", () => {
    fc.assert(
      fc.property(fieldElement, (x) => {
        const euler = powMod(x, (p - 1n) / 2n);
        const expected = euler === 0n ? 0 : euler === 1n ? 1 : -1;
        expect(jacobiFast(x, p)).toBe(expected);
        expect(jacobiReference(x, p)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
  it('on many more random field elements, mod p', () => {
    fc.assert(
      fc.property(fieldElement, (x) => jacobiFast(x, p) === jacobiReference(x, p)),
      { numRuns: 20000 },
    );
  });
  it('on random operands and random odd moduli below 2^256, short ones included', () => {
    fc.assert(
      fc.property(below256, oddModulus, fc.nat({ max: 256 }), fc.nat({ max: 256 }), (a, n, ka, kn) => {
        const aa = a >> BigInt(ka);
        const nn = (n >> BigInt(kn)) | 1n;
        expect(jacobiFast(aa, nn)).toBe(jacobiReference(aa, nn));
      }),
      { numRuns: 5000 },
    );
  });
  it('with a common factor (symbol 0) and with operands sharing their top bits', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 3n, max: (1n << 120n) - 1n }),
        fc.bigInt({ min: 1n, max: 1n << 120n }),
        fc.bigInt({ min: 0n, max: 1n << 120n }),
        (g, x, y) => {
          const gg = g | 1n;
          const n = ((((y << 1n) | 1n) * gg) % (1n << 256n)) | 1n;
          expect(jacobiFast(x * gg, n)).toBe(jacobiReference(x * gg, n));
          // a and n equal in their top bits: the approximate comparisons are ties
          const close = p - (x % (1n << 64n));
          expect(jacobiFast(close, p)).toBe(jacobiReference(close, p));
        },
      ),
      { numRuns: 2000 },
    );
  });
  it('jacobi and isSquare use it; the symbol is multiplicative', () => {
    fc.assert(
      fc.property(fieldElement, fieldElement, (x, y) => {
        expect(jacobi(x, p)).toBe(jacobiReference(x, p));
        expect(isSquare(x)).toBe(jacobiReference(x, p) !== -1);
        expect(jacobiFast((x * y) % p, p)).toBe(jacobiFast(x, p) * jacobiFast(y, p) + 0); // + 0: 0 * -1 is -0
        expect(isSquare((x * x) % p)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('reduce25519 is x mod p', () => {
  it('on random products, 384-bit hash values and the bounds', () => {
    fc.assert(
      fc.property(fieldElement, fieldElement, fc.bigInt({ min: 0n, max: (1n << 384n) - 1n }), (x, y, h) => {
        expect(reduce25519(x * y)).toBe((x * y) % p);
        expect(reduce25519(h)).toBe(h % p);
        expect(reduce25519(A * x * y)).toBe((A * x * y) % p);
      }),
      { numRuns: 500 },
    );
    for (const x of [0n, p - 1n, p, p + 1n, 2n * p - 1n, 2n * p, (1n << 512n) - 1n, (1n << 530n) - 1n]) expect(reduce25519(x)).toBe(x % p);
  });
});

describe('elligator2U agrees with the straightforward BigInt map', () => {
  it('on the edge values and the 200 field elements next to 0 and p, in one batch', () => {
    const us = [
      ...EDGE.filter((x) => x < p),
      ...Array.from({ length: 100 }, (_, i) => BigInt(i)),
      ...Array.from({ length: 100 }, (_, i) => p - 1n - BigInt(i)),
    ];
    expect(elligator2U(us)).toEqual(elligator2UReference(us));
  });
  it('on random batches of 1 to 60 field elements, duplicates included', () => {
    fc.assert(
      fc.property(fc.array(fieldElement, { minLength: 1, maxLength: 60 }), fc.nat({ max: 59 }), (us, k) => {
        const batch = [...us, us[k % us.length] as bigint];
        expect(elligator2U(batch)).toEqual(elligator2UReference(batch));
      }),
      { numRuns: 300 },
    );
  });
  it('one element at a time equals the batched result (the batch inversion changes nothing)', () => {
    fc.assert(
      fc.property(fc.array(fieldElement, { minLength: 2, maxLength: 10 }), (us) => {
        expect(elligator2U(us)).toEqual(us.map((u) => elligator2U([u])[0]));
      }),
      { numRuns: 100 },
    );
  });
  it('the exceptional cases cannot occur: 1 + 2u^2 = 0 and gx1 = 0 have no solution in GF(p)', () => {
    // 1 + 2u^2 = 0 needs u^2 = -1/2: -1 is a square (p = 1 mod 4), 2 is not (p = 5 mod 8).
    const minusHalf = (p - powMod(2n, p - 2n)) % p;
    expect(jacobiReference(minusHalf, p)).toBe(-1);
    // gx1 = x1 (x1^2 + A x1 + 1) with x1 = -A / d never 0; x^2 + A x + 1 = 0 needs A^2 - 4 square.
    expect(jacobiReference((A * A - 4n) % p, p)).toBe(-1);
    expect(jacobiFast(minusHalf, p)).toBe(-1);
    expect(jacobiFast((A * A - 4n) % p, p)).toBe(-1);
  });
  it('the empty batch maps to nothing', () => {
    expect(elligator2U([])).toEqual([]);
  });
});

describe('expand_message_xmd and hash_to_field agree with @noble/curves', () => {
  const msgArb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.string({ minLength: 300, maxLength: 2000 }),
  );
  const bytesOf = (m: string | Uint8Array) => (typeof m === 'string' ? utf8(m) : m);
  it('on random messages (lone surrogates, long ones) and lengths', () => {
    const xmd = new ExpandXmdSha512(DST);
    fc.assert(
      fc.property(msgArb, fc.integer({ min: 1, max: 600 }), (m, len) => {
        expect(Buffer.from(xmd.expand(m, len)).toString('hex')).toBe(Buffer.from(expand_message_xmd(bytesOf(m), DST, len, sha512)).toString('hex'));
      }),
      { numRuns: 300 },
    );
  });
  it('hash_to_field is os2ip(expand(msg, 48)) mod p, from noble too', () => {
    const xmd = new ExpandXmdSha512(DST);
    fc.assert(
      fc.property(msgArb, (m) => {
        const fe = hashToField25519(xmd, m);
        expect(fe).toBe(os2ip(expand_message_xmd(bytesOf(m), DST, 48, sha512)) % p);
        expect(xmd.fieldElement25519(m)).toBe(os2ip(xmd.expand(m, 48)) % p);
      }),
      { numRuns: 300 },
    );
    // the scratch grows and stays correct after a long message
    expect(hashToField25519(xmd, 'x'.repeat(100000))).toBe(os2ip(expand_message_xmd(utf8('x'.repeat(100000)), DST, 48, sha512)) % p);
    expect(hashToField25519(xmd, 'short')).toBe(os2ip(expand_message_xmd(utf8('short'), DST, 48, sha512)) % p);
  });
  it('long multi-byte messages (up to 3 UTF-8 bytes per UTF-16 unit) fit the scratch', () => {
    for (const m of ['€'.repeat(1000), '😀'.repeat(700), 'é'.repeat(3000) + '\ud800']) {
      const fresh = new ExpandXmdSha512(DST);
      expect(fresh.fieldElement25519(m)).toBe(os2ip(expand_message_xmd(utf8(m), DST, 48, sha512)) % p);
      expect(Buffer.from(new ExpandXmdSha512(DST).expand(m, 100)).equals(Buffer.from(expand_message_xmd(utf8(m), DST, 100, sha512)))).toBe(true);
    }
  });
});

describe('byte conversions agree with per-byte loops', () => {
  const loopLE = (u: bigint) => {
    const out = new Uint8Array(32);
    let x = u;
    for (let i = 0; i < 32; i++) {
      out[i] = Number(x & 0xffn);
      x >>= 8n;
    }
    return out;
  };
  it('encodeU, also at an offset, for values below 2^256 and negative ones', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 256n), max: (1n << 256n) - 1n }), fc.nat({ max: 40 }), (u, off) => {
        expect(encodeU(u)).toEqual(loopLE(u));
        const out = new Uint8Array(80).fill(0xaa);
        encodeU(u, out, off);
        expect(out.subarray(off, off + 32)).toEqual(loopLE(u));
        expect(out.subarray(0, off).every((b) => b === 0xaa)).toBe(true);
        expect(out.subarray(off + 32).every((b) => b === 0xaa)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
  it('os2ip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (b) => {
        let x = 0n;
        for (const byte of b) x = (x << 8n) | BigInt(byte);
        expect(os2ip(b)).toBe(x);
        if (b.length > 2) expect(os2ip(b.subarray(1, b.length - 1))).toBe((x >> 8n) % (1n << BigInt(8 * (b.length - 2))));
      }),
      { numRuns: 300 },
    );
  });
});

describe('x25519 hashToGroup equals the composition of the references', () => {
  it('on random identifiers, in batches', () => {
    const suite = getSuite('x25519');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 64 })), { minLength: 1, maxLength: 30 }), (ms) => {
        const fes = ms.map((m) => os2ip(expand_message_xmd(typeof m === 'string' ? utf8(m) : m, DST, 48, sha512)) % p);
        const expected = new Uint8Array(32 * ms.length);
        elligator2UReference(fes).forEach((u, i) => {
          let x = u;
          for (let j = 0; j < 32; j++) {
            expected[32 * i + j] = Number(x & 0xffn);
            x >>= 8n;
          }
        });
        expect(suite.hashToGroup(ms, DST)).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });
});
