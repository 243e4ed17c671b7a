/**
 * The two-party join's cryptography: proofs that verify when honest and fail when
 * tampered with, multi-recipient ElGamal that decrypts jointly, and a bounded discrete
 * logarithm that is exact or an error.
 */
import { describe, expect, it } from 'vitest';
import { loadP256 } from '../../src/group/p256.js';
import type { PrimeGroup } from '../../src/group/prime.js';
import { loadRistretto255 } from '../../src/group/sodium.js';
import {
  DiscreteLog,
  dleqWeights,
  proveDleq,
  proveDleqComposite,
  proveKnowledge,
  verifyDleq,
  verifyDleqComposite,
  verifyKnowledge,
} from '../../src/join/elgamal.js';
import { joinOps, recordBytes2p, valueGroup } from '../../src/join/ops.js';
import { psiOps } from '../../src/psi/ops.js';
import { getSuite } from '../../src/group/suite.js';
import { concatBytes, utf8 } from '../../src/util/bytes.js';

const ctx = utf8('test-context');
/** Every group the join's value layer has used: P-256 (version 4 on), ristretto255 (versions 1 to 3). */
const groups: Record<string, PrimeGroup> = { 'P-256': await loadP256(), ristretto255: await loadRistretto255() };

/**
 * The generic encryption (one fixed-base and k variable-base multiplications per record),
 * as the two-party join did under the joint keys PK_j before B encrypted under its own:
 * the reference the fixed-base encryption is checked against.
 */
async function encryptGeneric(
  r: PrimeGroup,
  a: { items: string[]; scalar: Uint8Array; values: Float64Array; columns: number; publicKeys: Uint8Array },
): Promise<Uint8Array> {
  const E = r.elementBytes;
  const elements = await psiOps.hashMultiply({ suite: 'x25519', items: a.items, scalar: a.scalar, protocol: 'join' });
  const k = a.columns;
  const size = 32 + E * (1 + k);
  const out = new Uint8Array(a.items.length * size);
  for (let i = 0; i < a.items.length; i++) {
    out.set(elements.subarray(i * 32, i * 32 + 32), i * size);
    const rs = r.randomScalar();
    out.set(r.mulBase(rs), i * size + 32);
    for (let j = 0; j < k; j++) {
      const v = a.values[i * k + j] as number;
      const mask = r.mul(rs, a.publicKeys.subarray(j * E, j * E + E));
      out.set(v === 0 ? mask : r.add(r.mulBase(r.scalarFromInt(v)), mask), i * size + 32 + E + j * E);
    }
  }
  return out;
}

describe.each(Object.keys(groups))('in %s', (name) => {
  const r = groups[name] as PrimeGroup;
  const E = r.elementBytes;

  describe('Schnorr proof of knowledge of a key share', () => {
    it('verifies for the key it was made for, and not for another key, context or a flipped bit', () => {
      const x = r.randomScalar();
      const X = r.mulBase(x);
      const proof = proveKnowledge(r, x, X, ctx);
      expect(verifyKnowledge(r, X, proof, ctx)).toBe(true);
      expect(verifyKnowledge(r, r.mulBase(r.randomScalar()), proof, ctx)).toBe(false);
      expect(verifyKnowledge(r, X, proof, utf8('other'))).toBe(false);
      const bad = proof.slice();
      bad[40] = (bad[40] as number) ^ 1;
      expect(verifyKnowledge(r, X, bad, ctx)).toBe(false);
      expect(verifyKnowledge(r, new Uint8Array(E), proof, ctx)).toBe(false);
    });
  });

  describe('batched DLEQ proof of partial decryptions', () => {
    const x = r.randomScalar();
    const Y = r.mulBase(x);
    const Cs = new Uint8Array(5 * E);
    const Ds = new Uint8Array(5 * E);
    for (let i = 0; i < 5; i++) {
      const C = r.mulBase(r.randomScalar());
      Cs.set(C, i * E);
      Ds.set(r.mul(x, C), i * E);
    }
    it('verifies when every D_i = x C_i', () => {
      expect(verifyDleq(r, Y, Cs, Ds, proveDleq(r, x, Y, Cs, Ds, ctx), ctx)).toBe(true);
    });
    it('fails when one D_i was made with another scalar', () => {
      const wrong = Ds.slice();
      wrong.set(r.mul(r.randomScalar(), Cs.subarray(2 * E, 3 * E)), 2 * E);
      expect(verifyDleq(r, Y, Cs, wrong, proveDleq(r, x, Y, Cs, wrong, ctx), ctx)).toBe(false);
    });
    it('fails for another public key, context, or garbage in place of an element', () => {
      const proof = proveDleq(r, x, Y, Cs, Ds, ctx);
      expect(verifyDleq(r, r.mulBase(r.randomScalar()), Cs, Ds, proof, ctx)).toBe(false);
      expect(verifyDleq(r, Y, Cs, Ds, proof, utf8('x'))).toBe(false);
      const garbage = Ds.slice();
      garbage.fill(0xff, 0, E);
      expect(verifyDleq(r, Y, Cs, garbage, proof, ctx)).toBe(false);
    });
  });

  describe('batched DLEQ proofs of several columns on one set of weights (join protocol version 3)', () => {
    const k = 3;
    const n = 6;
    const xs = Array.from({ length: k }, () => r.randomScalar());
    const Ys = concatBytes(...xs.map((x) => r.mulBase(x)));
    const Y = (j: number) => Ys.subarray(j * E, j * E + E);
    const Cs = concatBytes(...Array.from({ length: n }, () => r.mulBase(r.randomScalar())));
    const honest = () => xs.map((x) => concatBytes(...Array.from({ length: n }, (_, i) => r.mul(x, Cs.subarray(i * E, i * E + E)))));
    const ctxOf = (j: number) => utf8(`column-${j}`);
    /** Every column's proof as the prover makes it (on the composite of the C_i), checked as the verifier checks it (on its own composites). */
    const check = (Ds: Uint8Array[], proverDs: Uint8Array[] = Ds): boolean[] => {
      const dp = dleqWeights(r, ctx, Ys, Cs, proverDs);
      const proofs = xs.map((x, j) => proveDleqComposite(r, x, Y(j), r.combine(dp, Cs), ctxOf(j)));
      const d = dleqWeights(r, ctx, Ys, Cs, Ds);
      const M = r.combine(d, Cs);
      return Ds.map((D, j) => verifyDleqComposite(r, Y(j), M, r.combine(d, D), proofs[j] as Uint8Array, ctxOf(j)));
    };
    it('every column verifies when every D_{j,i} = x_j C_i', () => {
      expect(check(honest())).toEqual([true, true, true]);
    });
    it('a wrong D in one column fails that column, not the others', () => {
      const Ds = honest();
      const wrong = (Ds[1] as Uint8Array).slice();
      wrong.set(r.mul(r.randomScalar(), Cs.subarray(2 * E, 3 * E)), 2 * E);
      Ds[1] = wrong;
      expect(check(Ds)).toEqual([true, false, true]);
    });
    it('the weights bind every column: proofs made before another column changed fail on the changed transcript', () => {
      const before = honest();
      const after = honest();
      const changed = (after[2] as Uint8Array).slice();
      changed.set(r.mul(r.randomScalar(), Cs.subarray(0, E)), 0);
      after[2] = changed;
      // The weights changed with column 2, so column 0's proof (made on the old composite) no longer verifies.
      expect(check(after, before)[0]).toBe(false);
      expect(dleqWeights(r, ctx, Ys, Cs, before)[0]).not.toEqual(dleqWeights(r, ctx, Ys, Cs, after)[0]);
    });
    it("fails for another column's key or context", () => {
      const Ds = honest();
      const d = dleqWeights(r, ctx, Ys, Cs, Ds);
      const M = r.combine(d, Cs);
      const proof = proveDleqComposite(r, xs[0] as Uint8Array, Y(0), M, ctxOf(0));
      expect(verifyDleqComposite(r, Y(0), M, r.combine(d, Ds[0] as Uint8Array), proof, ctxOf(0))).toBe(true);
      expect(verifyDleqComposite(r, Y(1), M, r.combine(d, Ds[0] as Uint8Array), proof, ctxOf(0))).toBe(false);
      expect(verifyDleqComposite(r, Y(0), M, r.combine(d, Ds[0] as Uint8Array), proof, ctxOf(1))).toBe(false);
    });
  });

  describe('multi-recipient exponential ElGamal with joint keys', () => {
    it('decrypts each column with its own joint key; one r per record does not mix columns', async () => {
      const a = [r.randomScalar(), r.randomScalar()];
      const b = [r.randomScalar(), r.randomScalar()];
      const pks = new Uint8Array(2 * E);
      for (let j = 0; j < 2; j++) pks.set(r.mulBase(r.scalarAdd(a[j] as Uint8Array, b[j] as Uint8Array)), j * E);
      const values = new Float64Array([5, 9, 0, 7]);
      const out = await encryptGeneric(r, {
        items: ['p', 'q'],
        scalar: getSuite('x25519').randomScalar().scalar,
        values,
        columns: 2,
        publicKeys: pks,
      });
      const size = 32 + 3 * E;
      const dlog = new DiscreteLog(r, 1024);
      for (let i = 0; i < 2; i++) {
        const C1 = out.subarray(i * size + 32, i * size + 32 + E);
        for (let j = 0; j < 2; j++) {
          const C2 = out.subarray(i * size + 32 + E + j * E, i * size + 32 + 2 * E + j * E);
          const M = r.sub(C2, r.mul(r.scalarAdd(a[j] as Uint8Array, b[j] as Uint8Array), C1));
          expect(dlog.solve(M, 100)).toBe(values[i * 2 + j]);
        }
      }
      // Two different records never share C1 (fresh r per record).
      expect(Buffer.from(out.subarray(32, 32 + E)).equals(Buffer.from(out.subarray(size + 32, size + 32 + E)))).toBe(false);
    });
  });

  describe('encryption under the own column keys in one call (encryptOwn)', () => {
    it('decrypts each column with b_j to its value, with a fresh r per record, at the offsets asked for', () => {
      const b = [r.randomScalar(), r.randomScalar()];
      const values = new Float64Array([5, 9, 0, 7, 1000, 0]);
      const recordBytes = 7 + 3 * E;
      const out = new Uint8Array(3 * recordBytes + 5).fill(0xaa);
      r.encryptOwn(values, 2, concatBytes(...b), out, recordBytes, 7);
      const dlog = new DiscreteLog(r, 1024);
      for (let i = 0; i < 3; i++) {
        expect(out.subarray(i * recordBytes, i * recordBytes + 7).every((x) => x === 0xaa)).toBe(true);
        const C1 = out.subarray(i * recordBytes + 7, i * recordBytes + 7 + E);
        for (let j = 0; j < 2; j++) {
          const C2 = out.subarray(i * recordBytes + 7 + E + j * E, i * recordBytes + 7 + 2 * E + j * E);
          expect(dlog.solve(r.sub(C2, r.mul(b[j] as Uint8Array, C1)), 1000)).toBe(values[i * 2 + j]);
        }
      }
      expect(out.subarray(3 * recordBytes).every((x) => x === 0xaa)).toBe(true);
      const c1 = (i: number) => Buffer.from(out.subarray(i * recordBytes + 7, i * recordBytes + 7 + E)).toString('hex');
      expect(new Set([c1(0), c1(1), c1(2)]).size).toBe(3);
    });
  });

  describe('multiplications in one batch', () => {
    it('mulEach gives what mul gives for every scalar and element, scalars 0 and 1 and the identity included', () => {
      const ss = [r.randomScalar(), r.scalarFromInt(0), r.scalarFromInt(1), r.randomScalar(), r.randomScalar()];
      const ps = [r.mulBase(r.randomScalar()), r.mulBase(r.randomScalar()), r.mulBase(r.randomScalar()), new Uint8Array(E), r.mulBase(r.randomScalar())];
      const each = r.mulEach(ss, concatBytes(...ps));
      ss.forEach((s, i) => expect(Buffer.from(each.subarray(i * E, i * E + E)).equals(Buffer.from(r.mul(s, ps[i] as Uint8Array)))).toBe(true));
      expect(() => r.mulEach(ss, concatBytes(...ps.slice(1)))).toThrow(expect.objectContaining({ code: 'INVALID_POINT' }));
    });
  });

  describe('bounded discrete logarithm', () => {
    const dlog = new DiscreteLog(r, 1024);
    it('finds 0, small values, values across giant steps and the bound itself', () => {
      for (const v of [0, 1, 1023, 1024, 1025, 50_000, 123_456]) expect(dlog.solve(r.mulBase(r.scalarFromInt(v)), 123_456)).toBe(v);
    });
    it('is an error, never a wrong number, beyond the bound', () => {
      expect(() => dlog.solve(r.mulBase(r.scalarFromInt(2001)), 2000)).toThrow(expect.objectContaining({ code: 'SUM_OUT_OF_RANGE' }));
      expect(() => dlog.solve(r.mulBase(r.randomScalar()), 5000)).toThrow(expect.objectContaining({ code: 'SUM_OUT_OF_RANGE' }));
    });
    it('sizes its table from the total bound, between 2^10 and 2^16', () => {
      expect(DiscreteLog.tableSizeFor(1)).toBe(1024);
      expect(DiscreteLog.tableSizeFor(1e12)).toBe(65536);
      expect(DiscreteLog.tableSizeFor(2e10)).toBe(16384);
    });
  });
});

describe("B's encryption under its own column keys (fixed-base only), in the value group", () => {
  it('decrypts each column with b_j alone, to the same plaintexts as the generic encryption under K_j = b_j G', async () => {
    const r = await valueGroup();
    const E = r.elementBytes;
    const b = [r.randomScalar(), r.randomScalar()];
    const secretKeys = new Uint8Array(64);
    const publicKeys = new Uint8Array(2 * E);
    for (let j = 0; j < 2; j++) {
      secretKeys.set(b[j] as Uint8Array, j * 32);
      publicKeys.set(r.mulBase(b[j] as Uint8Array), j * E);
    }
    const values = new Float64Array([5, 9, 0, 7, 1000, 0]);
    const items = ['p', 'q', 's'];
    const scalar = getSuite('x25519').randomScalar().scalar;
    const own = await joinOps.encryptRecordsOwn({ suite: 'x25519', items, scalar, protocol: 'join', values, columns: 2, secretKeys });
    const generic = await encryptGeneric(r, { items, scalar, values, columns: 2, publicKeys });
    const size = recordBytes2p(2);
    const dlog = new DiscreteLog(r, 1024);
    for (const out of [own, generic]) {
      for (let i = 0; i < 3; i++) {
        const C1 = out.subarray(i * size + 32, i * size + 32 + E);
        for (let j = 0; j < 2; j++) {
          const C2 = out.subarray(i * size + 32 + E + j * E, i * size + 32 + 2 * E + j * E);
          expect(dlog.solve(r.sub(C2, r.mul(b[j] as Uint8Array, C1)), 1000)).toBe(values[i * 2 + j]);
        }
      }
    }
    // The same H(x)^b, and a fresh r per record (C1 differs between records and between the two encryptions).
    for (let i = 0; i < 3; i++)
      expect(Buffer.from(own.subarray(i * size, i * size + 32)).equals(Buffer.from(generic.subarray(i * size, i * size + 32)))).toBe(true);
    expect(Buffer.from(own.subarray(32, 32 + E)).equals(Buffer.from(own.subarray(size + 32, size + 32 + E)))).toBe(false);
    expect(Buffer.from(own.subarray(32, 32 + E)).equals(Buffer.from(generic.subarray(32, 32 + E)))).toBe(false);
  });
});

describe("A's banks of accumulators, in the value group", () => {
  it('add every record into its accumulator, and the banks add up to the per-list sums', async () => {
    const r = await valueGroup();
    const E = r.elementBytes;
    const A = r.accumulatorBytes;
    const k = 1;
    const size = recordBytes2p(k);
    const points = Array.from({ length: 6 }, () => r.mulBase(r.randomScalar()));
    const body = new Uint8Array(3 * size);
    for (let i = 0; i < 3; i++) {
      body.set(points[2 * i] as Uint8Array, i * size + 32);
      body.set(points[2 * i + 1] as Uint8Array, i * size + 32 + E);
    }
    // Records 0 and 2 into accumulator 1, record 1 into accumulator 0 (of 2).
    const bank = await joinOps.addToBank({ body, columns: k, lists: Uint32Array.from([1, 0, 1]), bank: new Uint8Array(2 * 2 * A) });
    const other = await joinOps.addToBank({ body: body.subarray(0, size), columns: k, lists: Uint32Array.from([0]), bank: new Uint8Array(2 * 2 * A) });
    const total = await joinOps.addBanks({ banks: [bank, other] });
    const hex = (p: Uint8Array) => Buffer.from(p).toString('hex');
    const P = (i: number) => points[i] as Uint8Array;
    expect(hex(total.subarray(0, E))).toBe(hex(r.add(P(2), P(0))));
    expect(hex(total.subarray(E, 2 * E))).toBe(hex(r.add(P(3), P(1))));
    expect(hex(total.subarray(2 * E, 3 * E))).toBe(hex(r.add(P(0), P(4))));
    expect(hex(total.subarray(3 * E, 4 * E))).toBe(hex(r.add(P(1), P(5))));
    await expect(joinOps.addToBank({ body, columns: k, lists: Uint32Array.from([2, 0, 0]), bank: new Uint8Array(2 * 2 * A) })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });
});
