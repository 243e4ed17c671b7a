/**
 * The group suites: RFC 9380 vectors, agreement with @noble/curves on random inputs,
 * the algebra PSI relies on (commutativity, unblinding), and rejection of invalid
 * elements from a peer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { x25519, ristretto255, ristretto255_hasher, _map_to_curve_elligator2_curve25519 } from '@noble/curves/ed25519.js';
import { ExpandXmdSha512, hashToField25519, P25519 } from '../../src/group/h2c.js';
import { elligator2U, jacobi, xDouble, decodeLE, encodeU, powMod } from '../../src/group/elligator2.js';
import { clampedInverse, Q25519, x25519WebCryptoSuite, HAS_NODE_X25519 } from '../../src/group/x25519.js';
import { getSuite, SUITE_NAMES } from '../../src/group/suite.js';
import { expectCodeSync, vectors } from '../helpers.js';

const hex = (x: bigint) => x.toString(16).padStart(64, '0');
const utf8 = (s: string) => new TextEncoder().encode(s);
const DST = utf8('koppel-test-dst');

describe('RFC 9380 K.3: expand_message_xmd(SHA-512)', () => {
  const v = vectors<{ dst: string; vectors: Array<{ msg: string; len: number; out: string }> }>('rfc9380-expand-xmd-sha512.json');
  it.each(v.vectors)('msg "$msg", $len bytes', ({ msg, len, out }) => {
    expect(Buffer.from(new ExpandXmdSha512(utf8(v.dst)).expand(msg, len)).toString('hex')).toBe(out);
  });
});

describe('RFC 9380 J.4.2: curve25519_XMD:SHA-512_ELL2_NU_ (u-coordinates)', () => {
  const v = vectors<{ dst: string; vectors: Array<{ msg: string; u: string; Qx: string; Px: string }> }>('rfc9380-curve25519-nu.json');
  const xmd = new ExpandXmdSha512(utf8(v.dst));
  it.each(v.vectors.map((x) => ({ ...x, label: x.msg.slice(0, 12) })))('msg "$label"', ({ msg, u, Qx, Px }) => {
    const fe = hashToField25519(xmd, msg);
    expect(hex(fe)).toBe(u);
    const [q] = elligator2U([fe]);
    expect(hex(q as bigint)).toBe(Qx);
    // encode_to_curve clears the cofactor: u(8Q) is three x-only doublings of u(Q).
    expect(hex(xDouble(xDouble(xDouble(q as bigint))))).toBe(Px);
  });
  it('the x25519 suite hashes to exactly these u-coordinates', () => {
    const packed = getSuite('x25519').hashToGroup(
      v.vectors.map((x) => x.msg),
      utf8(v.dst),
    );
    v.vectors.forEach((x, i) => expect(hex(decodeLE(packed.subarray(i * 32, i * 32 + 32))).toString()).toBe(x.Qx));
  });
});

const fieldElement = fc.bigInt({ min: 0n, max: P25519 - 1n });

describe('Elligator 2 (u only) agrees with @noble/curves', () => {
  it('on random field elements, batched', () => {
    fc.assert(
      fc.property(fc.array(fieldElement, { minLength: 1, maxLength: 20 }), (us) => {
        const mine = elligator2U(us);
        us.forEach((u, i) => {
          const { xMn, xMd } = _map_to_curve_elligator2_curve25519(u);
          expect(mine[i]).toBe((xMn * powMod(xMd, P25519 - 2n)) % P25519);
        });
      }),
      { numRuns: 50 },
    );
  });
  it('handles the exceptional input where 1 + 2u^2 = 0', () => {
    // u^2 = -1/2 has solutions since -1/2 is a square mod p when ...; find one by search if it exists.
    const target = (P25519 - powMod(2n, P25519 - 2n)) % P25519; // -1/2
    if (jacobi(target, P25519) === 1) {
      // p = 5 mod 8: candidate root target^((p+3)/8), times sqrt(-1) if needed.
      let r = powMod(target, (P25519 + 3n) / 8n);
      if ((r * r) % P25519 !== target) r = (r * powMod(2n, (P25519 - 1n) / 4n)) % P25519;
      const { xMn, xMd } = _map_to_curve_elligator2_curve25519(r);
      expect(elligator2U([r])[0]).toBe((xMn * powMod(xMd, P25519 - 2n)) % P25519);
    } else {
      expect(jacobi(target, P25519)).toBe(-1); // no exceptional input exists: nothing to test
    }
  });
  it("Jacobi symbol matches Euler's criterion", () => {
    fc.assert(
      fc.property(fieldElement, (x) => {
        const euler = powMod(x, (P25519 - 1n) / 2n);
        expect(jacobi(x, P25519)).toBe(euler === 0n ? 0 : euler === 1n ? 1 : -1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('x25519 scalars', () => {
  it('are clamped, and their inverse is a clamped representative of a^-1 mod q', () => {
    const suite = getSuite('x25519');
    for (let i = 0; i < 50; i++) {
      const { scalar, inverse } = suite.randomScalar();
      for (const s of [scalar, inverse]) {
        expect((s[0] as number) & 7).toBe(0);
        expect((s[31] as number) & 0xc0).toBe(0x40);
      }
      expect((decodeLE(scalar) * decodeLE(inverse)) % Q25519).toBe(1n);
    }
  });
  it('clampedInverse exists for about half of all scalars', () => {
    let found = 0;
    for (let i = 0; i < 400; i++) {
      const a = (1n << 254n) + 8n * BigInt(i * 7919 + 1);
      if (clampedInverse(a) !== undefined) found++;
    }
    expect(found).toBeGreaterThan(120);
    expect(found).toBeLessThan(280);
  });
  it('multiply agrees with @noble/curves x25519 on random inputs', () => {
    const suite = getSuite('x25519');
    fc.assert(
      fc.property(fc.string(), (m) => {
        const el = suite.hashToGroup([m], DST);
        const { scalar } = suite.randomScalar();
        expect(Buffer.from(suite.multiply(scalar, el)).toString('hex')).toBe(Buffer.from(x25519.scalarMult(scalar, el)).toString('hex'));
      }),
      { numRuns: 50 },
    );
  });
});

describe.each(SUITE_NAMES)('%s: the algebra PSI relies on', (name) => {
  const suite = getSuite(name);
  const runs = name === 'x25519' ? 40 : 8;
  it('commutes: (H^a)^b = (H^b)^a', () => {
    fc.assert(
      fc.property(fc.string(), (m) => {
        const h = suite.hashToGroup([m], DST);
        const a = suite.randomScalar();
        const b = suite.randomScalar();
        expect(suite.multiply(b.scalar, suite.multiply(a.scalar, h))).toEqual(suite.multiply(a.scalar, suite.multiply(b.scalar, h)));
      }),
      { numRuns: runs },
    );
  });
  it('unblinds: ((H^a)^b)^(1/a) = H^b', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), (ms) => {
        const h = suite.hashToGroup(ms, DST);
        const a = suite.randomScalar();
        const b = suite.randomScalar();
        expect(suite.multiply(a.inverse, suite.multiply(b.scalar, suite.multiply(a.scalar, h)))).toEqual(suite.multiply(b.scalar, h));
      }),
      { numRuns: runs },
    );
  });
  it('hashes deterministically and separates domains', () => {
    const [x, y] = [suite.hashToGroup(['a', 'b'], DST), suite.hashToGroup(['a', 'b'], DST)];
    expect(x).toEqual(y);
    expect(x.subarray(0, 32)).not.toEqual(x.subarray(32, 64));
    expect(suite.hashToGroup(['a'], utf8('other-dst'))).not.toEqual(x.subarray(0, 32));
  });
  it('rejects a batch that is not a whole number of elements', () => {
    expectCodeSync(() => suite.multiply(suite.randomScalar().scalar, new Uint8Array(33)), 'INVALID_POINT');
  });
});

describe('x25519: invalid elements from a peer', () => {
  const suite = getSuite('x25519');
  const { scalar } = suite.randomScalar();
  const good = suite.hashToGroup(['x'], DST);
  const lowOrder = [
    0n,
    1n,
    P25519 - 1n,
    // u-coordinates of the points of order 8 on curve25519
    39382357235489614581723060781553021112529911719440698176882885853963445705823n,
    325606250916557431795983626356110631294008115727848805560023387167927233504n,
  ];
  it.each(lowOrder.map((u) => ({ u: u.toString().slice(0, 12) + '...', bytes: encodeU(u) })))('low-order u $u is INVALID_POINT', ({ bytes }) => {
    const batch = new Uint8Array([...good, ...bytes]);
    const e = expectCodeSync(() => suite.multiply(scalar, batch), 'INVALID_POINT');
    expect(e.details['index']).toBe(1);
  });
  it('non-canonical encodings (u >= p, top bit set) are INVALID_POINT', () => {
    expectCodeSync(() => suite.multiply(scalar, encodeU(P25519 + 1n)), 'INVALID_POINT');
    const top = new Uint8Array(good);
    top[31] = (top[31] as number) | 0x80;
    expectCodeSync(() => suite.multiply(scalar, top), 'INVALID_POINT');
  });
});

describe('ristretto255: invalid elements from a peer', () => {
  const suite = getSuite('ristretto255');
  const { scalar } = suite.randomScalar();
  it('the identity, non-canonical and invalid encodings are INVALID_POINT', () => {
    expectCodeSync(() => suite.multiply(scalar, ristretto255.Point.ZERO.toBytes()), 'INVALID_POINT');
    expectCodeSync(() => suite.multiply(scalar, new Uint8Array(32).fill(0xff)), 'INVALID_POINT');
    const negative = new Uint8Array(32);
    negative[0] = 1; // an odd s is a non-canonical (negative) field element
    expectCodeSync(() => suite.multiply(scalar, negative), 'INVALID_POINT');
  });
  it('hashToGroup equals @noble/curves hash_to_ristretto255', () => {
    fc.assert(
      fc.property(fc.string(), (m) => {
        expect(suite.hashToGroup([m], DST)).toEqual(ristretto255_hasher.hashToCurve(utf8(m), { DST }).toBytes());
      }),
      { numRuns: 20 },
    );
  });
});

describe('x25519 on WebCrypto (the backend for runtimes without node:crypto X25519)', () => {
  const node = getSuite('x25519');
  it('node:crypto X25519 is present here, so the default suite uses OpenSSL', () => {
    expect(HAS_NODE_X25519).toBe(true);
  });
  it('agrees with the OpenSSL backend on random inputs', async () => {
    const h = node.hashToGroup(
      Array.from({ length: 40 }, (_, i) => `w-${i}`),
      DST,
    );
    for (let i = 0; i < 5; i++) {
      const { scalar, inverse } = node.randomScalar();
      const viaWeb = await x25519WebCryptoSuite.multiplyAsync(scalar, h);
      expect(Buffer.from(viaWeb).equals(Buffer.from(node.multiply(scalar, h)))).toBe(true);
      expect(Buffer.from(await x25519WebCryptoSuite.multiplyAsync(inverse, viaWeb)).equals(Buffer.from(node.multiply(inverse, node.multiply(scalar, h))))).toBe(
        true,
      );
    }
  });
  it('rejects low-order and non-canonical elements with INVALID_POINT', async () => {
    const { scalar } = node.randomScalar();
    await expect(x25519WebCryptoSuite.multiplyAsync(scalar, encodeU(0n))).rejects.toMatchObject({ code: 'INVALID_POINT' });
    await expect(x25519WebCryptoSuite.multiplyAsync(scalar, encodeU(P25519))).rejects.toMatchObject({ code: 'INVALID_POINT' });
    expectCodeSync(() => x25519WebCryptoSuite.multiply(scalar, encodeU(9n)), 'INTERNAL');
  });
});
