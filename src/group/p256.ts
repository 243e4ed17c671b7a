/**
 * NIST P-256 (secp256r1, FIPS 186-5 / SEC 2) as a {@link PrimeGroup}: the private join's
 * value layer since join protocol version 4 (docs/protocols/join.md, 6a).
 *
 * Why this group: OpenSSL's P-256 (through node:crypto's ECDH) multiplies the base point
 * and returns the full point in about 19 us here, against about 57 us for ristretto255's
 * fixed-base multiplication on libsodium's WebAssembly, and a point arriving uncompressed
 * is checked and added in a few microseconds of BigInt arithmetic, against about 28 us
 * for decoding and adding ristretto255 encodings. B encrypts with fixed-base
 * multiplications only, and A adds every record it receives, so those two costs are the
 * value layer (docs/groups.md).
 *
 * Where each operation runs:
 * - s G: OpenSSL (`ECDH.setPrivateKey`, then the public key), constant time in s.
 * - s P for a point P: OpenSSL's ECDH twice, for x(sP) and x((s + 1)P), constant time in
 *   s; y(sP) then follows from the curve equation and the chord through P and sP
 *   (y(P) y(Q) = (y(P)^2 + y(Q)^2 - (x(P) + x(Q) + x(P + Q)) (x(P) - x(Q))^2) / 2), in
 *   BigInt on values that are public or about to be (the result).
 * - Additions: BigInt, homogeneous projective coordinates, the complete formulas of
 *   Renes, Costello and Batina (2016) for a = -3 (no exceptional cases, so the same
 *   operations whatever is added), and one inversion for many points (Montgomery's
 *   trick) to return to the encoding. BigInt time still depends on the values (zeros and
 *   small numbers are quicker), so where A's timing must not tell matches apart (its
 *   accumulators, and the identity sums of empty lists) no operand is left at zero: an
 *   accumulator slot holds its sum plus G with a full-size Z (all zeros: a sum of none),
 *   and the identity takes stand-ins through decoding, addition and the inversion chain.
 * - Scalars mod n: BigInt. Not constant time at the instruction level (a BigInt's
 *   length varies with leading zero words), and BigInts cannot be wiped; the scalars
 *   that matter are used only briefly, and OpenSSL's multiplications, where a secret
 *   scalar spends nearly all its time, are constant time.
 *
 * Encodings: an element is 64 bytes, x || y, each big-endian below p (the SEC 1
 * uncompressed point without its 0x04 prefix); the identity, which has no affine
 * coordinates, is 64 zero bytes ((0, 0) is not on the curve). A scalar is 32 bytes,
 * big-endian, below the group order n. P-256 has prime order (cofactor 1): every point
 * on the curve is in the group, so checking the curve equation is the whole validation.
 * Cross-checked against @noble/curves on random inputs (test/group/p256.test.ts).
 *
 * @packageDocumentation
 */
import { createECDH, type ECDH } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { randomBytes, wipe } from '../util/bytes.js';
import { randomNonZeroScalar, type PrimeGroup } from './prime.js';

/** The field prime p = 2^256 - 2^224 + 2^192 + 2^96 - 1. */
export const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
/** The group order n. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** The curve's b (a = -3). */
export const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
/** Bytes of an encoded element (x || y). */
export const P256_ELEMENT_BYTES = 64;

const p = P256_P;
const n = P256_N;
const b = P256_B;

/** A point in homogeneous projective coordinates (X : Y : Z), x = X/Z, y = Y/Z; Z = 0 is the identity (0 : 1 : 0). */
interface Proj {
  X: bigint;
  Y: bigint;
  Z: bigint;
}

function modp(x: bigint): bigint {
  const r = x % p;
  return r < 0n ? r + p : r;
}

/** a^-1 mod m for 0 < a < m (extended Euclid; m prime). */
function invert(a: bigint, m: bigint): bigint {
  let r0 = m;
  let r1 = a;
  let s0 = 0n;
  let s1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const s2 = s0 - q * s1;
    s0 = s1;
    s1 = s2;
  }
  if (r0 !== 1n) throw new KoppelError('INTERNAL', 'P-256: an inverse of zero was asked for.');
  return s0 < 0n ? s0 + m : s0;
}

/** y^2 = x^3 - 3x + b, for coordinates already below p. */
function onCurve(x: bigint, y: bigint): boolean {
  return modp(y * y - ((x * x - 3n) % p) * x - b) === 0n;
}

function curveRhs(x: bigint): bigint {
  return modp(((x * x - 3n) % p) * x + b);
}

/** P1 + P2, both projective: RCB 2016 algorithm 4 (complete, a = -3). Intermediate sums are left unreduced; every product is reduced. */
function addProj(P1: Proj, P2: Proj): Proj {
  const { X: X1, Y: Y1, Z: Z1 } = P1;
  const { X: X2, Y: Y2, Z: Z2 } = P2;
  let t0 = (X1 * X2) % p;
  let t1 = (Y1 * Y2) % p;
  let t2 = (Z1 * Z2) % p;
  let t3 = ((X1 + Y1) * (X2 + Y2)) % p;
  t3 = t3 - t0 - t1;
  let t4 = ((Y1 + Z1) * (Y2 + Z2)) % p;
  t4 = t4 - t1 - t2;
  let X3 = ((X1 + Z1) * (X2 + Z2)) % p;
  let Y3 = X3 - t0 - t2;
  let Z3 = (b * t2) % p;
  X3 = Y3 - Z3;
  X3 = 3n * X3;
  Z3 = t1 - X3;
  X3 = t1 + X3;
  Y3 = (b * Y3) % p;
  t2 = 3n * t2;
  Y3 = Y3 - t2 - t0;
  Y3 = 3n * Y3;
  t0 = 3n * t0 - t2;
  t1 = (t4 * Y3) % p;
  t2 = (t0 * Y3) % p;
  Y3 = (X3 * Z3 + t2) % p;
  X3 = (t3 * X3 - t1) % p;
  Z3 = (t4 * Z3 + t3 * t0) % p;
  return { X: modp(X3), Y: modp(Y3), Z: modp(Z3) };
}

/** P1 + (x2, y2) for an affine point that is not the identity: RCB 2016 algorithm 5 (mixed, a = -3; complete for every P1). */
function addMixed(P1: Proj, x2: bigint, y2: bigint): Proj {
  const { X: X1, Y: Y1, Z: Z1 } = P1;
  let t0 = (X1 * x2) % p;
  let t1 = (Y1 * y2) % p;
  let t3 = ((x2 + y2) * (X1 + Y1)) % p;
  t3 = t3 - t0 - t1;
  const t4 = ((y2 * Z1 + Y1) % p) + p; // in [p, 2p): never zero, so P + (-P), the identity, multiplies no zero and takes as long
  let Y3 = (x2 * Z1 + X1) % p;
  let Z3 = (b * Z1) % p;
  let X3 = Y3 - Z3;
  X3 = 3n * X3;
  Z3 = t1 - X3;
  X3 = t1 + X3;
  Y3 = (b * Y3) % p;
  const t2 = 3n * Z1;
  Y3 = Y3 - t2 - t0;
  Y3 = 3n * Y3;
  t0 = 3n * t0 - t2;
  t1 = (t4 * Y3) % p;
  const t5 = (t0 * Y3) % p;
  Y3 = (X3 * Z3 + t5) % p;
  X3 = (t3 * X3 - t1) % p;
  Z3 = (t4 * Z3 + t3 * t0) % p;
  return { X: modp(X3), Y: modp(Y3), Z: modp(Z3) };
}

const IDENTITY_PROJ: Proj = Object.freeze({ X: 0n, Y: 1n, Z: 0n });

/** The base point G = (GX, GY). */
const GX = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n;
const GY = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n;
/**
 * What an accumulator slot of all zeros stands for: G (a slot holds its sum plus G, so a
 * fresh slot, whose sum is the identity, is G), with a full-size Z. With the identity
 * (0 : 1 : 0) itself, the first addition into a slot would multiply zeros and ones and
 * take about half the time of any later one, so a chunk's time would tell how many of its
 * records went to slots not used before: to lists, that is, rather than to the dummy.
 */
const FRESH_SLOT: Proj = Object.freeze({ X: (GX * b) % p, Y: (GY * b) % p, Z: b });
/** FRESH_SLOT as a slot's bytes. */
const FRESH_BYTES = new DataView(new ArrayBuffer(96));

function invalidPoint(details: Record<string, number> = {}): KoppelError {
  return new KoppelError('INVALID_POINT', 'A group element is not a valid P-256 point encoding; the peer is not following the protocol.', { details });
}

/** `q` if it is one element long. @throws KoppelError `INVALID_POINT` otherwise */
function one(q: Uint8Array): Uint8Array {
  if (q.length !== 64) throw invalidPoint({ bytes: q.length });
  return q;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The big-endian 256-bit integer at `at`. */
function read256(d: DataView, at: number): bigint {
  return (d.getBigUint64(at) << 192n) | (d.getBigUint64(at + 8) << 128n) | (d.getBigUint64(at + 16) << 64n) | d.getBigUint64(at + 24);
}

const MASK64 = (1n << 64n) - 1n;

function write256(d: DataView, at: number, x: bigint): void {
  d.setBigUint64(at, x >> 192n);
  d.setBigUint64(at + 8, (x >> 128n) & MASK64);
  d.setBigUint64(at + 16, (x >> 64n) & MASK64);
  d.setBigUint64(at + 24, x & MASK64);
}

/** The affine point at `at`, or undefined for the identity. @throws KoppelError `INVALID_POINT` */
function decodeAt(d: DataView, at: number, index: number): [bigint, bigint] | undefined {
  const x = read256(d, at);
  const y = read256(d, at + 32);
  if (x === 0n && y === 0n) {
    onCurve(GX, GY); // a stand-in: decoding the identity takes as long as decoding a point
    return undefined;
  }
  if (x >= p || y >= p || !onCurve(x, y)) throw invalidPoint({ index });
  return [x, y];
}

function decodeProj(d: DataView, at: number, index: number): Proj {
  const a = decodeAt(d, at, index);
  return a ? { X: a[0], Y: a[1], Z: 1n } : IDENTITY_PROJ;
}

/** Encodes projective points, with one inversion for all of them (Montgomery's trick); Z = 0 encodes as the identity. */
function encodeAll(points: readonly Proj[]): Uint8Array {
  const m = points.length;
  const out = new Uint8Array(m * 64);
  const d = view(out);
  const prefix = new Array<bigint>(m);
  // The identity goes through the same steps with a stand-in Z (b) and is written as zeros:
  // the time does not tell how many of the points are the identity (A's empty lists).
  let acc = 1n;
  for (let i = 0; i < m; i++) {
    prefix[i] = acc;
    const z = (points[i] as Proj).Z;
    acc = (acc * (z === 0n ? b : z)) % p;
  }
  let inv = invert(acc, p);
  for (let i = m - 1; i >= 0; i--) {
    const P = points[i] as Proj;
    const zi = (inv * (prefix[i] as bigint)) % p;
    inv = (inv * (P.Z === 0n ? b : P.Z)) % p;
    const identity = P.Z === 0n;
    const x = ((identity ? b : P.X) * zi) % p;
    const y = (P.Y * zi) % p;
    write256(d, i * 64, identity ? 0n : x);
    write256(d, i * 64 + 32, identity ? 0n : y);
  }
  return out;
}

function scalarOf(s: Uint8Array): bigint {
  if (s.length !== 32) throw new KoppelError('INVALID_ARGUMENT', 'A P-256 scalar is 32 bytes.');
  const v = read256(view(s), 0);
  if (v >= n) throw new KoppelError('INVALID_ARGUMENT', 'A P-256 scalar must be below the group order.');
  return v;
}

function scalarBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  write256(view(out), 0, v);
  return out;
}

class P256Group implements PrimeGroup {
  readonly name = 'P-256' as const;
  readonly elementBytes = P256_ELEMENT_BYTES;
  readonly scalarBytes = 32;
  readonly accumulatorBytes = 96;
  readonly #ecdh: ECDH = createECDH('prime256v1');
  /** 0x04 || x || y, the form OpenSSL takes a peer's point in. */
  readonly #sec1 = Buffer.alloc(65, 4);

  isValid(q: Uint8Array): boolean {
    if (q.length !== 64) return false;
    try {
      decodeAt(view(q), 0, 0);
      return true;
    } catch {
      return false;
    }
  }

  add(q1: Uint8Array, q2: Uint8Array): Uint8Array {
    return this.addPacked(one(q1), one(q2));
  }

  sub(q1: Uint8Array, q2: Uint8Array): Uint8Array {
    return this.subPacked(one(q1), one(q2));
  }

  addPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array {
    return this.#elementwise(ps, qs, false);
  }

  subPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array {
    return this.#elementwise(ps, qs, true);
  }

  #elementwise(ps: Uint8Array, qs: Uint8Array, negate: boolean): Uint8Array {
    if (ps.length !== qs.length || ps.length % 64 !== 0) throw invalidPoint();
    const m = ps.length / 64;
    const dp = view(ps);
    const dq = view(qs);
    const out = new Array<Proj>(m);
    for (let i = 0; i < m; i++) {
      const P = decodeAt(dp, i * 64, i);
      const Q = decodeAt(dq, i * 64, i);
      // One complete addition for every pair, the identity on either side included (with
      // stand-ins, the result then discarded): the time does not tell how many are the identity.
      const qx = Q ? Q[0] : GX;
      const qy = Q ? (negate ? p - Q[1] : Q[1]) : GY;
      const sum = addMixed(P ? { X: P[0], Y: P[1], Z: 1n } : FRESH_SLOT, qx, qy);
      out[i] = P && Q ? sum : P ? { X: P[0], Y: P[1], Z: 1n } : Q ? { X: qx, Y: qy, Z: 1n } : IDENTITY_PROJ;
    }
    return encodeAll(out);
  }

  mulBase(s: Uint8Array): Uint8Array {
    if (scalarOf(s) === 0n) return new Uint8Array(64);
    const e = this.#ecdh;
    e.setPrivateKey(s);
    return new Uint8Array(e.getPublicKey().subarray(1));
  }

  encryptOwn(values: Float64Array, columns: number, secretKeys: Uint8Array, out: Uint8Array, recordBytes: number, offset: number): void {
    const count = values.length / columns;
    if (!Number.isInteger(count) || secretKeys.length !== columns * 32 || out.length < count * recordBytes)
      throw new KoppelError('INTERNAL', 'P-256 encryptOwn got inconsistent sizes.');
    const keys = Array.from({ length: columns }, (_, j) => scalarOf(secretKeys.subarray(j * 32, j * 32 + 32)));
    // Every record's r from one draw of the CSPRNG: 64 uniform bytes each, reduced mod n.
    const wide = randomBytes(64 * count);
    const dw = view(wide);
    const key = Buffer.alloc(32);
    const dk = view(key);
    const e = this.#ecdh;
    const base = (s: bigint, at: number): void => {
      if (s === 0n) {
        out.fill(0, at, at + 64); // the identity: probability 1/n per element
        return;
      }
      write256(dk, 0, s);
      e.setPrivateKey(key);
      out.set(e.getPublicKey().subarray(1), at);
    };
    try {
      for (let i = 0; i < count; i++) {
        let r = ((read256(dw, i * 64) << 256n) | read256(dw, i * 64 + 32)) % n;
        if (r === 0n) r = scalarOf(this.randomScalar());
        const at = i * recordBytes + offset;
        base(r, at);
        for (let j = 0; j < columns; j++) base((BigInt(values[i * columns + j] as number) + r * (keys[j] as bigint)) % n, at + 64 + j * 64);
      }
    } finally {
      wipe(wide, key);
    }
  }

  /** x(s P) from OpenSSL, for 0 < s < n and P = (x, y) on the curve (already in #sec1). */
  #xOf(s: bigint): bigint {
    const key = scalarBytes(s);
    try {
      this.#ecdh.setPrivateKey(key);
      return read256(view(this.#ecdh.computeSecret(this.#sec1)), 0);
    } finally {
      wipe(key);
    }
  }

  /** For s not in {0, 1, n - 1}: x(sP) and x((s + 1)P), with P already in #sec1. */
  #ladderPair(s: bigint): [bigint, bigint] {
    return [this.#xOf(s), this.#xOf(s + 1n)];
  }

  mul(s: Uint8Array, q: Uint8Array): Uint8Array {
    return this.mulEach([s], one(q));
  }

  mulEach(ss: readonly Uint8Array[], points: Uint8Array): Uint8Array {
    if (points.length !== ss.length * 64) throw invalidPoint({ bytes: points.length });
    const out = new Uint8Array(points.length); // the identity where a product is
    const d = view(out);
    this.#mulAffine(ss, points).forEach((P, i) => {
      if (!P) return;
      write256(d, i * 64, P[0]);
      write256(d, i * 64 + 32, P[1]);
    });
    return out;
  }

  /** s_i P_i for packed P as affine points (undefined: the identity). @throws KoppelError `INVALID_POINT` */
  #mulAffine(ss: readonly Uint8Array[], points: Uint8Array): Array<[bigint, bigint] | undefined> {
    const m = ss.length;
    if (points.length !== m * 64) throw new KoppelError('INTERNAL', 'P-256: another number of scalars than points.');
    const d = view(points);
    const out = new Array<[bigint, bigint] | undefined>(m);
    // First every x(s P) and x((s + 1) P) from OpenSSL, then the y's with one inversion of all the 2 y(P).
    const pending: Array<{ i: number; x1: bigint; y1: bigint; x2: bigint; x3: bigint }> = [];
    for (let i = 0; i < m; i++) {
      const s = scalarOf(ss[i] as Uint8Array);
      const P = decodeAt(d, i * 64, i);
      if (!P || s === 0n) {
        out[i] = undefined;
        continue;
      }
      const [x1, y1] = P;
      if (s === 1n) out[i] = [x1, y1];
      else if (s === n - 1n) out[i] = [x1, p - y1];
      else {
        this.#sec1.set(points.subarray(i * 64, i * 64 + 64), 1);
        const [x2, x3] = this.#ladderPair(s);
        pending.push({ i, x1, y1, x2, x3 });
      }
    }
    const dens = pending.map((e) => (2n * e.y1) % p);
    const invs = invertAll(dens);
    pending.forEach((e, j) => {
      const diff = e.x1 - e.x2;
      const num = modp(e.y1 * e.y1 + curveRhs(e.x2) - ((e.x1 + e.x2 + e.x3) % p) * ((diff * diff) % p));
      const y2 = (num * (invs[j] as bigint)) % p;
      // The recovered point must be on the curve; anything else is a bug, not a peer's doing.
      if (!onCurve(e.x2, y2)) throw new KoppelError('INTERNAL', 'P-256: a recovered point is not on the curve.');
      out[e.i] = [e.x2, y2];
    });
    this.#sec1.fill(0, 1);
    return out;
  }

  combine(ds: readonly Uint8Array[], points: Uint8Array): Uint8Array {
    let S: Proj = IDENTITY_PROJ;
    for (const P of this.#mulAffine(ds, points)) if (P) S = addMixed(S, P[0], P[1]);
    return encodeAll([S]);
  }

  walk(start: Uint8Array, step: Uint8Array, count: number): Uint8Array {
    if (!Number.isInteger(count) || count < 0) throw new KoppelError('INTERNAL', 'P-256: a walk of a negative length.');
    let P = decodeProj(view(one(start)), 0, 0);
    const Q = decodeAt(view(one(step)), 0, 0);
    const points = new Array<Proj>(count);
    for (let i = 0; i < count; i++) {
      points[i] = P;
      if (Q) P = addMixed(P, Q[0], Q[1]);
    }
    return encodeAll(points);
  }

  randomScalar(): Uint8Array {
    return randomNonZeroScalar((wide) => this.reduce(wide));
  }

  reduce(wide: Uint8Array): Uint8Array {
    if (wide.length !== 64) throw new KoppelError('INVALID_ARGUMENT', 'A wide scalar is 64 bytes.');
    const d = view(wide);
    return scalarBytes(((read256(d, 0) << 256n) | read256(d, 32)) % n);
  }

  isCanonicalScalar(s: Uint8Array): boolean {
    return s.length === 32 && read256(view(s), 0) < n;
  }

  scalarFromInt(v: number): Uint8Array {
    if (!Number.isSafeInteger(v) || v < 0) throw new KoppelError('INTERNAL', 'scalarFromInt takes a non-negative safe integer.');
    return scalarBytes(BigInt(v));
  }

  scalarAdd(x: Uint8Array, y: Uint8Array): Uint8Array {
    return scalarBytes((scalarOf(x) + scalarOf(y)) % n);
  }

  scalarSub(x: Uint8Array, y: Uint8Array): Uint8Array {
    return scalarBytes((scalarOf(x) - scalarOf(y) + n) % n);
  }

  scalarMul(x: Uint8Array, y: Uint8Array): Uint8Array {
    return scalarBytes((scalarOf(x) * scalarOf(y)) % n);
  }

  scalarNegate(x: Uint8Array): Uint8Array {
    return scalarBytes((n - scalarOf(x)) % n);
  }

  scalarInvert(x: Uint8Array): Uint8Array {
    const v = scalarOf(x);
    if (v === 0n) throw new KoppelError('INVALID_ARGUMENT', 'Zero has no inverse.');
    return scalarBytes(invert(v, n));
  }

  accumulate(bank: Uint8Array, width: number, body: Uint8Array, recordBytes: number, offset: number, slots: Uint32Array): void {
    const total = bank.length / 96;
    const db = view(bank);
    const dr = view(body);
    // Every element checked before any is added, so a bad one leaves the bank as it was.
    const m = slots.length * width;
    const xs = new Array<bigint>(m);
    const ys = new Array<bigint>(m);
    for (let i = 0; i < slots.length; i++) {
      if ((slots[i] as number) * width + width > total) throw new KoppelError('INTERNAL', 'accumulate got a slot that does not exist.');
      for (let c = 0; c < width; c++) {
        const at = i * recordBytes + offset + c * 64;
        const x = read256(dr, at);
        const y = read256(dr, at + 32);
        // A record's C1 = r G and C2_j = (v_j + r b_j) G are the identity with probability 1/n: never for an honest peer.
        if (x >= p || y >= p || !onCurve(x, y)) throw invalidPoint({ index: i });
        xs[i * width + c] = x;
        ys[i * width + c] = y;
      }
    }
    // Then the same work for every element, whichever slot it goes to and whether that slot
    // was touched before: read the slot, add, write it back ("Timing", docs/protocols/join.md).
    for (let i = 0; i < slots.length; i++) {
      for (let c = 0; c < width; c++) {
        const slot = (slots[i] as number) * width + c;
        writeSlot(db, slot, addMixed(readSlot(db, slot), xs[i * width + c] as bigint, ys[i * width + c] as bigint));
      }
    }
  }

  mergeAccumulators(into: Uint8Array, from: Uint8Array): void {
    if (into.length !== from.length || into.length % 96 !== 0) throw new KoppelError('INTERNAL', 'mergeAccumulators got banks of different sizes.');
    const di = view(into);
    const df = view(from);
    // (S1 + G) + (S2 + G) - G: the sum of both, plus G.
    for (let slot = 0; slot < into.length / 96; slot++) writeSlot(di, slot, addMixed(addProj(readSlot(di, slot), readSlot(df, slot)), GX, p - GY));
  }

  finishAccumulators(bank: Uint8Array): Uint8Array {
    const d = view(bank);
    return encodeAll(Array.from({ length: bank.length / 96 }, (_, slot) => addMixed(readSlot(d, slot), GX, p - GY)));
  }
}

/** Accumulator slots are X, Y, Z (32 bytes each, big-endian) of the slot's sum plus G; all zeros is a sum of none, FRESH_SLOT. */
function readSlot(d: DataView, slot: number): Proj {
  const at = slot * 96;
  const X = read256(d, at);
  const Y = read256(d, at + 32);
  const Z = read256(d, at + 64);
  if (X === 0n && Y === 0n && Z === 0n) {
    // Read from bytes like any slot (reading zeros is quicker than reading full-size values).
    return { X: read256(FRESH_BYTES, 0), Y: read256(FRESH_BYTES, 32), Z: read256(FRESH_BYTES, 64) };
  }
  return { X, Y, Z };
}

function writeSlot(d: DataView, slot: number, P: Proj): void {
  const at = slot * 96;
  write256(d, at, P.X);
  write256(d, at + 32, P.Y);
  write256(d, at + 64, P.Z);
}

writeSlot(FRESH_BYTES, 0, FRESH_SLOT);

/** The inverses of non-zero values mod p, with one inversion (Montgomery's trick). */
function invertAll(xs: readonly bigint[]): bigint[] {
  const m = xs.length;
  if (m === 0) return [];
  const prefix = new Array<bigint>(m);
  let acc = 1n;
  for (let i = 0; i < m; i++) {
    prefix[i] = acc;
    acc = (acc * (xs[i] as bigint)) % p;
  }
  let inv = invert(acc, p);
  const out = new Array<bigint>(m);
  for (let i = m - 1; i >= 0; i--) {
    out[i] = (inv * (prefix[i] as bigint)) % p;
    inv = (inv * (xs[i] as bigint)) % p;
  }
  return out;
}

let instance: P256Group | undefined;

/** The P-256 group (one instance per thread; it keeps an OpenSSL ECDH context). */
export function loadP256(): Promise<PrimeGroup> {
  instance ??= new P256Group();
  return Promise.resolve(instance);
}
