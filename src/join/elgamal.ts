/**
 * The cryptography of the two-party private join (docs/protocols/join.md, 6a):
 * exponential ElGamal, Schnorr proofs of knowledge of key shares, batched DLEQ proofs of
 * partial decryptions, and a bounded discrete logarithm (baby-step giant-step), in any
 * {@link PrimeGroup}: P-256 in the join since protocol version 4, ristretto255 before.
 *
 * Keys. For every value column j, B holds b_j and the column's encryption key is
 * K_j = b_j G. A also holds a share a_j with A_j = a_j G and proves knowledge of it
 * (the KEYS exchange of protocol version 1); since the change in docs/protocols/join.md
 * ("Why B's key alone") it does not enter the encryption: a ciphertext under A_j + K_j
 * is one under K_j plus a_j C1, which A computes itself, so it never hid anything from A.
 *
 * Encryption of one record's values v_1..v_k with one fresh r (B, who knows b_j, by
 * fixed-base multiplications only):
 *   C1 = r G,  C2_j = v_j G + r K_j = (v_j + r b_j) G.
 * Sharing r across columns is safe because every column has its own independent key
 * (multi-recipient ElGamal, Kurosawa 2002 / Bellare-Boldyreva-Staddon 2003): the
 * difference C2_1 - C2_2 = (v_1 - v_2) G + r (K_1 - K_2) stays masked. (One key for
 * all columns with one r would leak (v_1 - v_2) G.)
 *
 * Decryption of a (re-randomised) sum (C1, C2_j): B returns D_j = b_j C1 with a DLEQ
 * proof that log_G(K_j) = log_C1(D_j); A computes M = C2_j - D_j = v G and finds v by
 * baby-step giant-step below a declared bound.
 *
 * Hashes to scalars: SHA-512 over a length-prefixed transcript with a fixed label,
 * reduced mod the group order (uniform up to 2^-250).
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { isIdentityElement as isIdentity, type PrimeGroup } from '../group/prime.js';
import { constantTimeEqual } from '../util/bytes.js';

/** Bytes of a Schnorr proof or a DLEQ proof: (c, s). */
export const PROOF_BYTES = 64;

/** SHA-512 of a label and length-prefixed parts, reduced to a scalar. */
export function hashToScalar(r: PrimeGroup, label: string, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  const l = Buffer.from(label, 'utf8');
  h.update(u32(l.length)).update(l);
  for (const p of parts) h.update(u32(p.length)).update(p);
  return r.reduce(new Uint8Array(h.digest()));
}

function u32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/**
 * A Schnorr proof of knowledge of x with X = x G, bound to `context`:
 * T = t G, c = H(context, X, T), s = t + c x.
 */
export function proveKnowledge(r: PrimeGroup, x: Uint8Array, X: Uint8Array, context: Uint8Array): Uint8Array {
  const t = r.randomScalar();
  const T = r.mulBase(t);
  const c = hashToScalar(r, 'koppel/join/v1/schnorr', [context, X, T]);
  const s = r.scalarAdd(t, r.scalarMul(c, x));
  t.fill(0);
  const out = new Uint8Array(PROOF_BYTES);
  out.set(c, 0);
  out.set(s, 32);
  return out;
}

/** Verifies {@link proveKnowledge}: T = s G - c X, then c = H(context, X, T). */
export function verifyKnowledge(r: PrimeGroup, X: Uint8Array, proof: Uint8Array, context: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES || !r.isValid(X) || isIdentity(X)) return false;
  const c = proof.subarray(0, 32);
  const s = proof.subarray(32, 64);
  if (!r.isCanonicalScalar(c) || !r.isCanonicalScalar(s)) return false;
  const T = r.sub(r.mulBase(s), r.mul(c, X));
  return constantTimeEqual(hashToScalar(r, 'koppel/join/v1/schnorr', [context, X, T]), c);
}

/**
 * The weights of batched DLEQ statements (as in RFC 9497 section 2.2.1, over several
 * statements at once): d_i = H(seed, i) with seed = H(context, every Y_j, the C_i, every
 * column's D_i). The statements "D_{j,i} = x_j C_i for every i" of all k columns share
 * the C_i and one set of weights: the composite M = sum d_i C_i is the same for every
 * column (docs/protocols/join.md, "Joint decryption"). The seed binds every element of
 * every column, so no D can be chosen once the weights are known.
 *
 * @param Ys - the k public keys, packed
 * @param Ds - one packed run of D_i per column, as many as `Ys` holds keys
 */
export function dleqWeights(r: PrimeGroup, context: Uint8Array, Ys: Uint8Array, Cs: Uint8Array, Ds: readonly Uint8Array[]): Uint8Array[] {
  const h = createHash('sha512')
    .update('koppel/join/v3/dleq-seed')
    .update(u32(context.length))
    .update(context)
    .update(u32(Ys.length))
    .update(Ys)
    .update(u32(Cs.length))
    .update(Cs);
  for (const D of Ds) h.update(u32(D.length)).update(D);
  const seed = h.digest();
  return Array.from({ length: Cs.length / r.elementBytes }, (_, i) => hashToScalar(r, 'koppel/join/v3/dleq-weight', [seed, u32(i)]));
}

/**
 * A Chaum-Pedersen proof on composites (see {@link dleqWeights}) that log_G(Y) = log_M(Z),
 * by the prover who knows x with Y = x G and takes Z = x M: t random, T1 = t G,
 * T2 = t M, c = H(context, Y, M, Z, T1, T2), s = t - c x. With M = sum d_i C_i and the
 * verifier's Z = sum d_i D_i, it proves D_i = x C_i for every i, except with probability
 * about n / l per column (when one D_i is not x C_i, the verifier's Z differs from x M
 * but for a weight the prover cannot choose, and the proof fails, as it must).
 */
export function proveDleqComposite(r: PrimeGroup, x: Uint8Array, Y: Uint8Array, M: Uint8Array, context: Uint8Array): Uint8Array {
  const Z = r.mul(x, M);
  const t = r.randomScalar();
  const T1 = r.mulBase(t);
  const T2 = r.mul(t, M);
  const c = hashToScalar(r, 'koppel/join/v1/dleq', [context, Y, M, Z, T1, T2]);
  const s = r.scalarSub(t, r.scalarMul(c, x));
  t.fill(0);
  const out = new Uint8Array(PROOF_BYTES);
  out.set(c, 0);
  out.set(s, 32);
  return out;
}

/** Verifies {@link proveDleqComposite} on the verifier's own composites: T1 = s G + c Y, T2 = s M + c Z, then c = H(...). */
export function verifyDleqComposite(r: PrimeGroup, Y: Uint8Array, M: Uint8Array, Z: Uint8Array, proof: Uint8Array, context: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES) return false;
  const c = proof.subarray(0, 32);
  const s = proof.subarray(32, 64);
  if (!r.isCanonicalScalar(c) || !r.isCanonicalScalar(s)) return false;
  const T1 = r.add(r.mulBase(s), r.mul(c, Y));
  const T2 = r.add(r.mul(s, M), r.mul(c, Z));
  return constantTimeEqual(hashToScalar(r, 'koppel/join/v1/dleq', [context, Y, M, Z, T1, T2]), c);
}

/**
 * A batched Chaum-Pedersen proof that D_i = x C_i for all i and Y = x G (packed C and D,
 * elementBytes each): one column of {@link dleqWeights} and {@link proveDleqComposite}, the
 * composite M = sum d_i C_i. The prover, who knows x, takes Z = x M (one multiplication
 * instead of n).
 */
export function proveDleq(r: PrimeGroup, x: Uint8Array, Y: Uint8Array, Cs: Uint8Array, Ds: Uint8Array, context: Uint8Array): Uint8Array {
  return proveDleqComposite(r, x, Y, r.combine(dleqWeights(r, context, Y, Cs, [Ds]), Cs), context);
}

/** Verifies {@link proveDleq}: the composites M and Z from the weights, then {@link verifyDleqComposite}. */
export function verifyDleq(r: PrimeGroup, Y: Uint8Array, Cs: Uint8Array, Ds: Uint8Array, proof: Uint8Array, context: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES || Cs.length !== Ds.length || Cs.length % r.elementBytes !== 0 || Y.length !== r.elementBytes) return false;
  let M: Uint8Array;
  let Z: Uint8Array;
  try {
    const d = dleqWeights(r, context, Y, Cs, [Ds]);
    M = r.combine(d, Cs);
    Z = r.combine(d, Ds);
  } catch {
    return false; // an invalid element among the D_i
  }
  return verifyDleqComposite(r, Y, M, Z, proof, context);
}

/** Largest bound {@link DiscreteLog} accepts: 2^48. */
export const MAX_DLOG_BOUND = 2 ** 48;

/**
 * Default budget of giant steps for all the discrete logarithms of one run: 2^18. One
 * giant step (a point subtraction and a table look-up) takes about 9 us on P-256 here
 * (30 us on ristretto255), so the budget is about 2.3 s of search on top of building the
 * table (at most 2^16 entries, about 0.6 s), whatever the peer sends (docs/protocols/join.md, "Bounded discrete
 * logarithm"). With the largest table it recovers sums adding up to 2^34 over the whole
 * run (every released list and column together); honest sums beyond that need a larger
 * budget (`maxSearchSteps`, `join groups --max-search-steps`).
 */
export const DEFAULT_SEARCH_STEPS = 2 ** 18;

/** Largest search budget a run may be given: 2^32 giant steps (hours). */
export const MAX_SEARCH_STEPS = 2 ** 32;

/**
 * Baby-step giant-step discrete logarithms in [0, bound] for v G, with one shared table
 * of `tableSize` baby steps. A logarithm v costs about v / tableSize + 1 giant steps
 * (one point subtraction each), so sums far below the bound are fast; a value not
 * found up to the bound is an error, never a wrong number.
 *
 * Every solve draws its giant steps from one budget (`steps`, default
 * {@link DEFAULT_SEARCH_STEPS}) shared by all the solves of the instance: however many
 * sums there are and however large their bounds, the instance does at most `steps`
 * giant steps in all, then every further search fails with `SUM_OUT_OF_RANGE`.
 *
 * Timing depends on v: fine here, because v is a sum A is about to learn anyway.
 */
export class DiscreteLog {
  readonly #r: PrimeGroup;
  readonly #table = new Map<string, number>();
  readonly #m: number;
  /** -tableSize * G: a giant step. */
  readonly #negGiant: Uint8Array;
  readonly #budget: number;
  #left: number;

  /**
   * Builds the table of j G for 0 <= j < tableSize (about 9 us per entry on P-256, 25 us on ristretto255).
   *
   * @param steps - the budget of giant steps for every solve of this instance together
   */
  constructor(r: PrimeGroup, tableSize: number, steps: number = DEFAULT_SEARCH_STEPS) {
    if (!Number.isInteger(tableSize) || tableSize < 1 || tableSize > 2 ** 22)
      throw new KoppelError('INVALID_ARGUMENT', 'The baby-step table size must be 1 to 2^22.');
    if (!Number.isInteger(steps) || steps < 1 || steps > MAX_SEARCH_STEPS)
      throw new KoppelError('INVALID_ARGUMENT', 'The discrete-log search budget must be 1 to 2^32 giant steps.');
    this.#r = r;
    this.#m = tableSize;
    this.#budget = this.#left = steps;
    const E = r.elementBytes;
    const table = r.walk(new Uint8Array(E), r.mulBase(r.scalarFromInt(1)), tableSize);
    for (let j = 0; j < tableSize; j++) this.#table.set(key(table.subarray(j * E, j * E + E)), j);
    this.#negGiant = r.sub(new Uint8Array(E), r.mulBase(r.scalarFromInt(tableSize)));
  }

  /**
   * The table size for a sum of bounds: about sqrt(total) / 16, from 2^10 to 2^16
   * (building 2^16 entries takes about 0.6 s on P-256). Honest sums are usually far below their
   * bound (count x declared maximum), so a smaller table than sqrt(bound) is cheaper
   * overall; a sum near its bound costs bound / tableSize giant steps.
   */
  static tableSizeFor(totalBound: number): number {
    const want = Math.sqrt(Math.max(1, totalBound)) / 16;
    return Math.min(2 ** 16, Math.max(2 ** 10, 2 ** Math.ceil(Math.log2(want))));
  }

  /** Giant steps still in the budget. */
  get stepsLeft(): number {
    return this.#left;
  }

  /**
   * The v in [0, bound] with M = v G.
   *
   * @throws KoppelError `SUM_OUT_OF_RANGE` if there is none, or if the search budget runs
   *   out before it is found (`details.budget` then names the budget)
   */
  solve(M: Uint8Array, bound: number): number {
    if (!Number.isSafeInteger(bound) || bound < 0 || bound > MAX_DLOG_BOUND)
      throw new KoppelError('INVALID_ARGUMENT', `A discrete-log bound must be 0 to 2^48.`);
    const r = this.#r;
    const E = r.elementBytes;
    // The giant steps M - i * tableSize * G for i = 0..last, walked in batches (one
    // inversion per batch for P-256) that grow from 1, so a small sum costs few steps.
    const last = Math.floor(bound / this.#m);
    let P = M;
    let batch = 1;
    for (let i = 0; i <= last;) {
      if (this.#left <= 0)
        throw new KoppelError(
          'SUM_OUT_OF_RANGE',
          `The search for the decrypted sums used up its budget of ${this.#budget} giant steps: a sum is above what this run searches. ` +
            'The values exceeded the declared maximum, the peer did not follow the protocol, or the honest sums are that large (raise --max-search-steps).',
          { details: { bound, budget: this.#budget } },
        );
      const count = Math.min(batch, last - i + 1, this.#left);
      const walked = r.walk(P, this.#negGiant, count + 1);
      for (let q = 0; q < count; q++, i++) {
        this.#left--;
        const j = this.#table.get(key(walked.subarray(q * E, q * E + E)));
        if (j === undefined) continue;
        const v = i * this.#m + j;
        // The table key is a prefix; confirm the whole encoding before answering.
        if (v <= bound && constantTimeEqual(r.mulBase(r.scalarFromInt(v)), M)) return v;
      }
      P = walked.slice(count * E);
      batch = Math.min(BATCH, batch * 2);
    }
    throw new KoppelError(
      'SUM_OUT_OF_RANGE',
      `A decrypted sum is not in [0, ${bound}]: the values exceeded the declared maximum, or the peer did not follow the protocol.`,
      { details: { bound } },
    );
  }
}

/** Largest batch of giant steps walked at once. */
const BATCH = 256;

function key(p: Uint8Array): string {
  return Buffer.from(p.buffer, p.byteOffset, 12).toString('latin1');
}
