/**
 * The libsodium (WebAssembly) ristretto255 backend agrees with @noble/curves on random
 * inputs for every operation koppel uses, and rejects what it must.
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { IDENTITY, loadRistretto255, scalarFromInt } from '../../src/group/sodium.js';
import { randomBytes } from '../../src/util/bytes.js';

const Point = ristretto255.Point;
const Fn = Point.Fn;
// eslint-disable-next-line @typescript-eslint/unbound-method -- noble's hasher does not use this
const deriveToCurve = ristretto255_hasher.deriveToCurve as (uniform: Uint8Array) => InstanceType<typeof Point>;
const r = await loadRistretto255();
const le = (b: Uint8Array) => BigInt('0x' + Buffer.from(b).reverse().toString('hex'));
const randomPoint = () => Point.BASE.multiply(Fn.create(le(randomBytes(64))) || 1n);

describe('ristretto255 on libsodium, cross-checked with @noble/curves', () => {
  it('multiplies, adds and subtracts like noble on 50 random inputs', () => {
    for (let i = 0; i < 50; i++) {
      const s = r.randomScalar();
      const P = randomPoint();
      const Q = randomPoint();
      expect(Buffer.from(r.mul(s, P.toBytes()))).toEqual(Buffer.from(P.multiply(le(s)).toBytes()));
      expect(Buffer.from(r.mulBase(s))).toEqual(Buffer.from(Point.BASE.multiply(le(s)).toBytes()));
      expect(Buffer.from(r.add(P.toBytes(), Q.toBytes()))).toEqual(Buffer.from(P.add(Q).toBytes()));
      expect(Buffer.from(r.sub(P.toBytes(), Q.toBytes()))).toEqual(Buffer.from(P.subtract(Q).toBytes()));
    }
  });

  it('does scalar arithmetic mod l like noble', () => {
    for (let i = 0; i < 50; i++) {
      const x = r.randomScalar();
      const y = r.randomScalar();
      expect(le(r.scalarAdd(x, y))).toBe(Fn.add(le(x), le(y)));
      expect(le(r.scalarSub(x, y))).toBe(Fn.sub(le(x), le(y)));
      expect(le(r.scalarMul(x, y))).toBe(Fn.mul(le(x), le(y)));
      expect(le(r.scalarNegate(x))).toBe(Fn.neg(le(x)));
      expect(le(r.scalarInvert(x))).toBe(Fn.inv(le(x)));
      const wide = randomBytes(64);
      expect(le(r.reduce(wide))).toBe(Fn.create(le(wide)));
    }
  });

  it("maps 64 bytes to an element like noble's RFC 9496 one-way map", () => {
    for (let i = 0; i < 20; i++) {
      const h = randomBytes(64);
      expect(Buffer.from(r.fromHash(h))).toEqual(Buffer.from(deriveToCurve(h).toBytes()));
    }
  });

  it('sums many elements in one call', () => {
    const pts = Array.from({ length: 10 }, randomPoint);
    const packed = new Uint8Array(320);
    pts.forEach((p, i) => packed.set(p.toBytes(), i * 32));
    const want = pts.reduce((acc, p) => acc.add(p), Point.ZERO);
    expect(Buffer.from(r.sumAt(packed, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))).toEqual(Buffer.from(want.toBytes()));
    expect(Buffer.from(r.sumAt(packed, []))).toEqual(Buffer.from(IDENTITY));
  });

  it('treats zero scalars and identity results as the identity, not as errors', () => {
    expect(Buffer.from(r.mulBase(scalarFromInt(0)))).toEqual(Buffer.from(IDENTITY));
    const P = randomPoint().toBytes();
    expect(Buffer.from(r.mul(scalarFromInt(0), P))).toEqual(Buffer.from(IDENTITY));
    expect(Buffer.from(r.sub(P, P))).toEqual(Buffer.from(IDENTITY));
    expect(le(r.mulBase(scalarFromInt(7)))).toBe(le(Point.BASE.multiply(7n).toBytes()));
  });

  it('rejects invalid and non-canonical encodings with INVALID_POINT', () => {
    const bad = new Uint8Array(32).fill(0xff);
    expect(r.isValid(bad)).toBe(false);
    expect(() => r.add(bad, IDENTITY)).toThrow(expect.objectContaining({ code: 'INVALID_POINT' }));
    expect(() => r.mul(r.randomScalar(), bad)).toThrow(expect.objectContaining({ code: 'INVALID_POINT' }));
    expect(() => r.add(new Uint8Array(31), IDENTITY)).toThrow(expect.objectContaining({ code: 'INVALID_POINT' }));
    // A non-canonical encoding: the field element p + 0 is not reduced.
    const p = new Uint8Array(Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'));
    expect(r.isValid(p)).toBe(false);
  });
});
