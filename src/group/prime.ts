/**
 * A prime-order group with point addition, as the private join's value layer uses it
 * (exponential ElGamal, Schnorr and DLEQ proofs, a bounded discrete logarithm):
 * implemented by P-256 on OpenSSL and BigInt ({@link loadP256}, the join's value layer
 * since join protocol version 4) and by ristretto255 on libsodium
 * ({@link loadRistretto255}, versions 1 to 3, and the OPRF service).
 *
 * Elements and scalars are fixed-size byte strings whose layout belongs to the group;
 * code on top of this interface never looks inside them, except that the identity is
 * all zero bytes in both groups.
 *
 * @packageDocumentation
 */
import { randomBytes, wipe } from '../util/bytes.js';

/** A prime-order group of about 2^252 to 2^256 elements, with encoded elements and scalars. */
export interface PrimeGroup {
  /** The group's name, as documents and errors give it. */
  readonly name: 'P-256' | 'ristretto255';
  /** Bytes of an encoded element. */
  readonly elementBytes: number;
  /** Bytes of a scalar (32 in both groups). */
  readonly scalarBytes: number;
  /** Bytes of one accumulator slot ({@link PrimeGroup.accumulate}); all zeros is the identity. */
  readonly accumulatorBytes: number;
  /** True for a canonical encoding of a group element (the identity included). */
  isValid(p: Uint8Array): boolean;
  /** p + q. @throws KoppelError `INVALID_POINT` if either is not a valid encoding. */
  add(p: Uint8Array, q: Uint8Array): Uint8Array;
  /** p - q. @throws KoppelError `INVALID_POINT` if either is not a valid encoding. */
  sub(p: Uint8Array, q: Uint8Array): Uint8Array;
  /** Element-wise sums of two equally long runs of packed elements. @throws KoppelError `INVALID_POINT` */
  addPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array;
  /** Element-wise differences ps - qs of two equally long runs of packed elements. @throws KoppelError `INVALID_POINT` */
  subPacked(ps: Uint8Array, qs: Uint8Array): Uint8Array;
  /** s * p (the identity if s = 0). @throws KoppelError `INVALID_POINT` for an invalid p. */
  mul(s: Uint8Array, p: Uint8Array): Uint8Array;
  /**
   * s_i * P_i for every scalar and packed element, packed (P-256: one inversion for all of
   * them, about 15% less than one {@link PrimeGroup.mul} each). @throws KoppelError `INVALID_POINT`
   */
  mulEach(ss: readonly Uint8Array[], points: Uint8Array): Uint8Array;
  /**
   * The join's ElGamal encryption under the holder's own keys (k + 1 base-point
   * multiplications per record), in one call per chunk: for
   * every record i (values.length / columns of them) a fresh r from the platform CSPRNG,
   * then C1 = r G at `out[i * recordBytes + offset]` and C2_j = (v_ij + r x_j) G after it
   * (x_j the j-th 32-byte scalar of `secretKeys`; v_ij non-negative safe integers).
   */
  encryptOwn(values: Float64Array, columns: number, secretKeys: Uint8Array, out: Uint8Array, recordBytes: number, offset: number): void;
  /** s * G (the identity if s = 0). */
  mulBase(s: Uint8Array): Uint8Array;
  /** sum d_i P_i over packed elements P, as many as `d` holds weights. @throws KoppelError `INVALID_POINT` */
  combine(d: readonly Uint8Array[], points: Uint8Array): Uint8Array;
  /** The packed elements start + i * step for 0 <= i < count (a baby-step or giant-step walk). */
  walk(start: Uint8Array, step: Uint8Array, count: number): Uint8Array;
  /** A uniformly random non-zero scalar from the platform CSPRNG. */
  randomScalar(): Uint8Array;
  /** 64 bytes (uniform, or a hash) reduced to a scalar; statistically uniform up to 2^-250. */
  reduce(wide: Uint8Array): Uint8Array;
  /** True if `s` is the canonical encoding of a scalar (below the group order). */
  isCanonicalScalar(s: Uint8Array): boolean;
  /** A small integer (0 <= v < 2^53) as a scalar. */
  scalarFromInt(v: number): Uint8Array;
  scalarAdd(x: Uint8Array, y: Uint8Array): Uint8Array;
  scalarSub(x: Uint8Array, y: Uint8Array): Uint8Array;
  scalarMul(x: Uint8Array, y: Uint8Array): Uint8Array;
  scalarNegate(x: Uint8Array): Uint8Array;
  /** 1/x mod the group order. @throws KoppelError `INVALID_ARGUMENT` for x = 0. */
  scalarInvert(x: Uint8Array): Uint8Array;
  /**
   * Adds elements of records into accumulator slots: for every record i and every c below
   * `width`, the element at `body[i * recordBytes + offset + c * elementBytes]` goes into
   * slot `slots[i] * width + c` of `bank` (accumulatorBytes each). The same work for every
   * record, whichever slot it goes to.
   *
   * @throws KoppelError `INVALID_POINT` if an element is not a valid encoding (P-256: nor the identity)
   */
  accumulate(bank: Uint8Array, width: number, body: Uint8Array, recordBytes: number, offset: number, slots: Uint32Array): void;
  /** Adds every slot of `from` into the same slot of `into` (equally long banks). */
  mergeAccumulators(into: Uint8Array, from: Uint8Array): void;
  /** The encoded element of every slot of a bank, packed. */
  finishAccumulators(bank: Uint8Array): Uint8Array;
}

/**
 * A uniformly random non-zero scalar: 64 bytes from the platform CSPRNG, reduced by the
 * group's `reduce` (statistical distance from uniform below 2^-250), drawn again on zero.
 */
export function randomNonZeroScalar(reduce: (wide: Uint8Array) => Uint8Array): Uint8Array {
  for (;;) {
    const wide = randomBytes(64);
    const s = reduce(wide);
    wipe(wide);
    if (!isIdentityElement(s)) return s;
  }
}

/** True for the identity encoding of either group (all zeros); lengths are public. */
export function isIdentityElement(p: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < p.length; i++) acc |= p[i] as number;
  return acc === 0;
}
