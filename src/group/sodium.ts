/**
 * ristretto255 (RFC 9496) arithmetic on libsodium's WebAssembly build (libsodium-sumo),
 * for the protocols that need a full prime-order group with point addition: the
 * ElGamal layer of the private join, DLEQ proofs, and the OPRF service.
 *
 * Why this backend: a variable-base multiplication costs about 0.12 ms here against
 * about 1.4 ms in pure JavaScript (@noble/curves), and point addition of encoded
 * points about 24 us (docs/groups.md). Every operation is cross-checked against
 * @noble/curves on random inputs in test/group/sodium.test.ts.
 *
 * The raw module is used (not libsodium-wrappers) so batches run on the module's heap
 * without a JavaScript object per element. libsodium's own random number generator is
 * never used: it is wired to node:crypto only because the module insists on one at
 * start-up; koppel draws every scalar from {@link randomBytes}.
 *
 * Encodings: elements are 32-byte RFC 9496 encodings; scalars are 32-byte
 * little-endian integers below the group order l. libsodium's decoder rejects
 * non-canonical and invalid encodings; the identity (32 zero bytes) decodes.
 *
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';
import factory from 'libsodium-sumo';
import { KoppelError } from '../errors/index.js';
import { constantTimeEqual, randomBytes, wipe } from '../util/bytes.js';
import { isIdentityElement, randomNonZeroScalar, type PrimeGroup } from './prime.js';

/** The fields of the raw libsodium module koppel uses. The exports are plain functions (no `this`), typed as function properties so they may be passed on unbound. */
interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc: (n: number) => number;
  _free: (p: number) => void;
  _sodium_init: () => number;
  _crypto_core_ristretto255_is_valid_point: (p: number) => number;
  _crypto_core_ristretto255_add: (r: number, p: number, q: number) => number;
  _crypto_core_ristretto255_sub: (r: number, p: number, q: number) => number;
  _crypto_core_ristretto255_from_hash: (r: number, h: number) => number;
  _crypto_core_ristretto255_scalar_invert: (r: number, s: number) => number;
  _crypto_core_ristretto255_scalar_negate: (r: number, s: number) => void;
  _crypto_core_ristretto255_scalar_add: (r: number, x: number, y: number) => void;
  _crypto_core_ristretto255_scalar_sub: (r: number, x: number, y: number) => void;
  _crypto_core_ristretto255_scalar_mul: (r: number, x: number, y: number) => void;
  _crypto_core_ristretto255_scalar_reduce: (r: number, s: number) => void;
  _crypto_scalarmult_ristretto255: (q: number, n: number, p: number) => number;
  _crypto_scalarmult_ristretto255_base: (q: number, n: number) => number;
}

/** Bytes of an encoded element or scalar. */
export const R255_BYTES = 32;
/** The encoding of the identity element. */
export const IDENTITY: Uint8Array = new Uint8Array(32);

/**
 * ristretto255 arithmetic; obtain it with {@link loadRistretto255}. As a {@link PrimeGroup}
 * (the join's value layer up to join protocol version 3) its elements, scalars and
 * accumulator slots are 32 bytes; scalars are little-endian.
 */
export interface Ristretto255 extends PrimeGroup {
  /** The RFC 9496 one-way map of 64 uniform bytes to an element. */
  fromHash(h: Uint8Array): Uint8Array;
  /** A 64-byte little-endian integer reduced mod l. */
  reduce(wide: Uint8Array): Uint8Array;
  /**
   * The sum of many elements (packed, 32 bytes each) selected by `index` (element
   * offsets, in units of 32 bytes): one call instead of one per addition.
   */
  sumAt(packed: Uint8Array, index: ArrayLike<number>): Uint8Array;
}

/** A small integer (0 <= v < 2^53) as a scalar. */
export function scalarFromInt(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) throw new KoppelError('INTERNAL', 'scalarFromInt takes a non-negative safe integer.');
  const s = new Uint8Array(32);
  let x = v;
  for (let i = 0; x > 0; i++) {
    s[i] = x % 256;
    x = Math.floor(x / 256);
  }
  return s;
}

class SodiumRistretto implements Ristretto255 {
  readonly name = 'ristretto255' as const;
  readonly elementBytes = R255_BYTES;
  readonly scalarBytes = R255_BYTES;
  readonly accumulatorBytes = R255_BYTES;
  readonly #m: SodiumModule;
  // Scratch slots on the module's heap: three 64-byte operands and one result.
  readonly #a: number;
  readonly #b: number;
  readonly #r: number;

  constructor(m: SodiumModule) {
    this.#m = m;
    this.#a = m._malloc(64);
    this.#b = m._malloc(64);
    this.#r = m._malloc(64);
  }

  #put(at: number, x: Uint8Array, n = 32): void {
    if (x.length !== n) throw new KoppelError('INVALID_POINT', `A group element or scalar must be ${n} bytes.`, { details: { bytes: x.length } });
    this.#m.HEAPU8.set(x, at);
  }

  #take(n = 32): Uint8Array {
    const out = this.#m.HEAPU8.slice(this.#r, this.#r + n);
    this.#m.HEAPU8.fill(0, this.#r, this.#r + 64);
    return out;
  }

  #clear(): void {
    this.#m.HEAPU8.fill(0, this.#a, this.#a + 64);
    this.#m.HEAPU8.fill(0, this.#b, this.#b + 64);
  }

  isValid(p: Uint8Array): boolean {
    if (p.length !== 32) return false;
    this.#put(this.#a, p);
    return this.#m._crypto_core_ristretto255_is_valid_point(this.#a) === 1 || isIdentity(p);
  }

  add(p: Uint8Array, q: Uint8Array): Uint8Array {
    this.#put(this.#a, p);
    this.#put(this.#b, q);
    if (this.#m._crypto_core_ristretto255_add(this.#r, this.#a, this.#b) !== 0) throw invalidPoint();
    return this.#take();
  }

  sub(p: Uint8Array, q: Uint8Array): Uint8Array {
    this.#put(this.#a, p);
    this.#put(this.#b, q);
    if (this.#m._crypto_core_ristretto255_sub(this.#r, this.#a, this.#b) !== 0) throw invalidPoint();
    return this.#take();
  }

  mul(s: Uint8Array, p: Uint8Array): Uint8Array {
    this.#put(this.#a, s);
    this.#put(this.#b, p);
    const rc = this.#m._crypto_scalarmult_ristretto255(this.#r, this.#a, this.#b);
    this.#clear();
    // libsodium returns -1 both for an invalid point and for an identity result.
    if (rc !== 0) {
      if (!this.isValid(p)) throw invalidPoint();
      return new Uint8Array(32);
    }
    return this.#take();
  }

  mulBase(s: Uint8Array): Uint8Array {
    this.#put(this.#a, s);
    const rc = this.#m._crypto_scalarmult_ristretto255_base(this.#r, this.#a);
    this.#clear();
    return rc === 0 ? this.#take() : new Uint8Array(32); // -1 only for s = 0 mod l
  }

  fromHash(h: Uint8Array): Uint8Array {
    this.#put(this.#a, h, 64);
    this.#m._crypto_core_ristretto255_from_hash(this.#r, this.#a);
    return this.#take();
  }

  randomScalar(): Uint8Array {
    return randomNonZeroScalar((wide) => this.reduce(wide));
  }

  reduce(wide: Uint8Array): Uint8Array {
    this.#put(this.#a, wide, 64);
    this.#m._crypto_core_ristretto255_scalar_reduce(this.#r, this.#a);
    this.#clear();
    return this.#take();
  }

  #scalar2(f: (r: number, x: number, y: number) => void, x: Uint8Array, y: Uint8Array): Uint8Array {
    this.#put(this.#a, x);
    this.#put(this.#b, y);
    f.call(this.#m, this.#r, this.#a, this.#b);
    this.#clear();
    return this.#take();
  }

  scalarAdd(x: Uint8Array, y: Uint8Array): Uint8Array {
    return this.#scalar2(this.#m._crypto_core_ristretto255_scalar_add, x, y);
  }

  scalarSub(x: Uint8Array, y: Uint8Array): Uint8Array {
    return this.#scalar2(this.#m._crypto_core_ristretto255_scalar_sub, x, y);
  }

  scalarMul(x: Uint8Array, y: Uint8Array): Uint8Array {
    return this.#scalar2(this.#m._crypto_core_ristretto255_scalar_mul, x, y);
  }

  scalarNegate(x: Uint8Array): Uint8Array {
    this.#put(this.#a, x);
    this.#m._crypto_core_ristretto255_scalar_negate(this.#r, this.#a);
    this.#clear();
    return this.#take();
  }

  scalarInvert(x: Uint8Array): Uint8Array {
    this.#put(this.#a, x);
    const rc = this.#m._crypto_core_ristretto255_scalar_invert(this.#r, this.#a);
    this.#clear();
    if (rc !== 0) throw new KoppelError('INVALID_ARGUMENT', 'Zero has no inverse.');
    return this.#take();
  }

  addPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array {
    return this.#elementwise(ps, qs, (p, q) => this.add(p, q));
  }

  subPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array {
    return this.#elementwise(ps, qs, (p, q) => this.sub(p, q));
  }

  #elementwise(ps: Uint8Array, qs: Uint8Array, f: (p: Uint8Array, q: Uint8Array) => Uint8Array): Uint8Array {
    if (ps.length !== qs.length || ps.length % 32 !== 0) throw invalidPoint();
    const out = new Uint8Array(ps.length);
    for (let at = 0; at < ps.length; at += 32) out.set(f(ps.subarray(at, at + 32), qs.subarray(at, at + 32)), at);
    return out;
  }

  encryptOwn(values: Float64Array, columns: number, secretKeys: Uint8Array, out: Uint8Array, recordBytes: number, offset: number): void {
    const count = values.length / columns;
    const keys = Array.from({ length: columns }, (_, j) => secretKeys.subarray(j * 32, j * 32 + 32));
    // Every record's r from one draw of the CSPRNG: 64 uniform bytes each, reduced mod l.
    const wide = randomBytes(64 * count);
    for (let i = 0; i < count; i++) {
      const at = i * recordBytes + offset;
      let rs = this.reduce(wide.subarray(i * 64, i * 64 + 64));
      if (isIdentity(rs)) rs = this.randomScalar(); // probability about 2^-252
      wide.fill(0, i * 64, i * 64 + 64);
      out.set(this.mulBase(rs), at);
      for (let j = 0; j < columns; j++) {
        const v = values[i * columns + j] as number;
        const masked = this.scalarMul(rs, keys[j] as Uint8Array);
        const e = v === 0 ? masked : this.scalarAdd(masked, scalarFromInt(v));
        out.set(this.mulBase(e), at + 32 + j * 32);
        wipe(masked, e);
      }
      rs.fill(0);
    }
  }

  mulEach(ss: readonly Uint8Array[], points: Uint8Array): Uint8Array {
    if (points.length !== ss.length * 32) throw invalidPoint({ bytes: points.length });
    const out = new Uint8Array(points.length);
    ss.forEach((s, i) => out.set(this.mul(s, points.subarray(i * 32, i * 32 + 32)), i * 32));
    return out;
  }

  combine(d: readonly Uint8Array[], points: Uint8Array): Uint8Array {
    if (points.length !== d.length * 32) throw new KoppelError('INTERNAL', 'combine got another number of weights than elements.');
    let S: Uint8Array = IDENTITY;
    for (let i = 0; i < d.length; i++) S = this.add(S, this.mul(d[i] as Uint8Array, points.subarray(i * 32, i * 32 + 32)));
    return S;
  }

  walk(start: Uint8Array, step: Uint8Array, count: number): Uint8Array {
    const out = new Uint8Array(count * 32);
    let P = start;
    for (let i = 0; i < count; i++) {
      out.set(P, i * 32);
      if (i + 1 < count) P = this.add(P, step);
    }
    return out;
  }

  isCanonicalScalar(s: Uint8Array): boolean {
    if (s.length !== 32) return false;
    const wide = new Uint8Array(64);
    wide.set(s);
    return constantTimeEqual(this.reduce(wide), s);
  }

  scalarFromInt(v: number): Uint8Array {
    return scalarFromInt(v);
  }

  accumulate(bank: Uint8Array, width: number, body: Uint8Array, recordBytes: number, offset: number, slots: Uint32Array): void {
    const total = bank.length / 32;
    for (let i = 0; i < slots.length; i++) {
      for (let c = 0; c < width; c++) {
        const slot = (slots[i] as number) * width + c;
        if (slot >= total) throw new KoppelError('INTERNAL', 'accumulate got a slot that does not exist.');
        const at = slot * 32;
        const from = i * recordBytes + offset + c * 32;
        bank.set(this.add(bank.subarray(at, at + 32), body.subarray(from, from + 32)), at);
      }
    }
  }

  mergeAccumulators(into: Uint8Array, from: Uint8Array): void {
    if (into.length !== from.length) throw new KoppelError('INTERNAL', 'mergeAccumulators got banks of different sizes.');
    for (let at = 0; at < into.length; at += 32) into.set(this.add(into.subarray(at, at + 32), from.subarray(at, at + 32)), at);
  }

  finishAccumulators(bank: Uint8Array): Uint8Array {
    return bank.slice();
  }

  sumAt(packed: Uint8Array, index: ArrayLike<number>): Uint8Array {
    const m = this.#m;
    const heap = m.HEAPU8;
    heap.fill(0, this.#r, this.#r + 32); // the identity
    for (let i = 0; i < index.length; i++) {
      const off = (index[i] as number) * 32;
      if (off + 32 > packed.length) throw new KoppelError('INTERNAL', 'sumAt index out of range.');
      heap.set(packed.subarray(off, off + 32), this.#a);
      if (m._crypto_core_ristretto255_add(this.#r, this.#r, this.#a) !== 0) throw invalidPoint({ index: index[i] as number });
    }
    return this.#take();
  }
}

/** True for the identity encoding (all zeros); lengths are public. */
export const isIdentity: (p: Uint8Array) => boolean = isIdentityElement;

function invalidPoint(details: Record<string, number> = {}): KoppelError {
  return new KoppelError('INVALID_POINT', 'A group element is not a valid ristretto255 encoding; the peer is not following the protocol.', { details });
}

let loading: Promise<Ristretto255> | undefined;

/** Loads (once per thread) and returns the ristretto255 backend. */
export function loadRistretto255(): Promise<Ristretto255> {
  loading ??= (async () => {
    const m = await (factory as unknown as (o: object) => Promise<SodiumModule>)({
      getRandomValue(): number {
        const a = new Uint32Array(1);
        randomFillSync(a);
        return (a[0] as number) >>> 0;
      },
    });
    if (m._sodium_init() < 0) throw new KoppelError('INTERNAL', 'libsodium failed to initialise.');
    return new SodiumRistretto(m);
  })();
  return loading;
}
