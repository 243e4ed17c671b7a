/**
 * A fast Jacobi symbol for operands below 2^256, used for the quadratic-character test
 * of Elligator 2 (one per hashed identifier).
 *
 * Method: the binary GCD with Pornin's approximations ("Optimized Binary GCD for Modular
 * Inversion", 2020), extended to the Jacobi symbol through the modified symbol (x / |y|)
 * of Hamburg ("Computing the Jacobi symbol using Bernstein-Yang", 2021). Each outer step
 * takes, of both operands, the top 32 bits (of the window set by the longer one) and the
 * exact low 32 bits; 30 binary-GCD steps run on these 64-bit approximations, as int32
 * halves and without branches on the data, with the symbol's sign updated from the low
 * bits (which stay exact modulo 8 for 30 steps); then the 2x2 matrix of those steps is
 * applied once to the full operands, held as 15-bit limbs in doubles (products stay below
 * 2^53). About 10 outer steps and 180 subtractions are needed for a 255-bit operand.
 * A step decided on the approximations may leave one operand negative; the modified
 * symbol makes that harmless: (x / |-y|) = (x / |y|), (-x / |y|) = (-1 / |y|)(x / |y|),
 * and reciprocity holds for odd x, y unless both are negative, which Pornin's analysis of
 * the approximations rules out for these parameters (32 + 32 bits, 30 steps: the
 * combination halo2curves' Jacobi symbol uses and argues for). The tests compare the
 * result with the plain algorithm on tens of thousands of inputs, edge values included.
 * When both operands fit 64 bits the rest runs exactly. A bound on the outer steps (never
 * reached in tests) falls back to the plain BigInt algorithm, so the function always
 * terminates.
 *
 * Timing: variable-time in its inputs, like the BigInt algorithm it replaces (see
 * elligator2.ts and SECURITY.md).
 *
 * @packageDocumentation
 */

const LIMB_BITS = 15;
const BASE = 1 << LIMB_BITS;
const LIMB_MASK = BASE - 1;
/** 18 limbs of 15 bits: 270 bits, room for operands below 2^256. */
const LIMBS = 18;
/** Outer steps before the BigInt fallback (about 10 are needed for 255-bit operands). */
const MAX_OUTER = 64;

const nLimbs = new Float64Array(LIMBS);
const dLimbs = new Float64Array(LIMBS);
/** 2^k for k in [0, 30]: the matrix rows are scaled by whole powers of two. */
const POW2 = Float64Array.from({ length: 31 }, (_, k) => 2 ** k);

/** The plain binary Jacobi symbol in BigInt (the reference, and the fallback). */
export function jacobiReference(a: bigint, n: bigint): number {
  let x = a % n;
  if (x < 0n) x += n;
  let y = n;
  let t = 1;
  while (x !== 0n) {
    // Remove factors of two; (2/y) = -1 when y = 3 or 5 mod 8.
    let twos = 0;
    while ((x & 1n) === 0n) {
      x >>= 1n;
      twos++;
    }
    if (twos & 1) {
      const r = Number(y & 7n);
      if (r === 3 || r === 5) t = -t;
    }
    // Quadratic reciprocity: swap, with a sign change when both are 3 mod 4.
    if ((x & 3n) === 3n && (y & 3n) === 3n) t = -t;
    const z = y % x;
    y = x;
    x = z;
  }
  return y === 1n ? t : 0;
}

/** Scratch for BigInt to limb conversion: four 64-bit words, read as eight 32-bit halves. */
const WORDS = new BigUint64Array(4);
const HALVES = new Uint32Array(WORDS.buffer);
/** Index of the low 32-bit half of a 64-bit word in HALVES (0 on little-endian platforms). */
const LOW_HALF = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const w32 = new Int32Array(9);

/** Writes x (0 <= x < 2^256) into 15-bit limbs, little-endian. */
function toLimbs(x: bigint, out: Float64Array): void {
  // A BigUint64Array store keeps x mod 2^64, so four stores cut x into words.
  WORDS[0] = x;
  WORDS[1] = x >> 64n;
  WORDS[2] = x >> 128n;
  WORDS[3] = x >> 192n;
  for (let k = 0; k < 4; k++) {
    w32[2 * k] = HALVES[2 * k + LOW_HALF] as number;
    w32[2 * k + 1] = HALVES[2 * k + 1 - LOW_HALF] as number;
  }
  for (let j = 0; j < LIMBS; j++) {
    const bit = j * LIMB_BITS;
    const w = bit >>> 5;
    const r = bit & 31;
    let v = (w32[w] as number) >>> r;
    if (r > 32 - LIMB_BITS) v |= (w32[w + 1] as number) << (32 - r);
    out[j] = v & LIMB_MASK;
  }
}

/** Bit length of a non-negative 15-bit limb value. */
function bitLength15(x: number): number {
  return 32 - Math.clz32(x);
}

/**
 * The 32 bits of the limb number x starting at bit s (s >= 0), as an int32 bit
 * pattern; x must be below 2^(s + 32).
 */
function bitsAt(x: Float64Array, s: number, top: number): number {
  const q = (s / LIMB_BITS) | 0;
  const r = s - q * LIMB_BITS;
  let v = Math.floor((x[q] as number) / POW2[r]!);
  let scale = POW2[LIMB_BITS - r]!;
  for (let i = q + 1; i <= top; i++) {
    v += (x[i] as number) * scale;
    scale *= BASE;
  }
  return v | 0;
}

/** The low 32 bits of the limb number x. */
function low32(x: Float64Array): number {
  return (x[0] as number) | ((x[1] as number) << 15) | (((x[2] as number) & 3) << 30);
}

/** Bits 32..63 of the limb number x. */
function high32(x: Float64Array): number {
  return ((x[2] as number) >>> 2) | ((x[3] as number) << 13) | ((x[4] as number) << 28);
}

/**
 * Replaces x by its negation; x holds limbs in [0, 2^15) for positions below len, so the
 * value is -(sum) with a final borrow that the caller's sign accounts for.
 */
function negate(x: Float64Array, len: number): void {
  let borrow = 0;
  for (let i = 0; i < len; i++) {
    let l = -(x[i] as number) - borrow;
    borrow = 0;
    if (l < 0) {
      l += BASE;
      borrow = 1;
    }
    x[i] = l;
  }
}

/**
 * The Jacobi symbol (a/n) for odd n > 0 and 0 <= a, n < 2^256: 1, -1 or 0. For prime n
 * it is the Legendre symbol. Agrees with {@link jacobiReference} on every input.
 */
export function jacobiFast(a: bigint, n: bigint): number {
  let x = a;
  if (x < 0n || x >= n) {
    x %= n;
    if (x < 0n) x += n;
  }
  if (x === 0n) return n === 1n ? 1 : 0;
  toLimbs(x, nLimbs);
  toLimbs(n, dLimbs);
  // Bit 1 of t is the sign of the result: J = (-1)^(t>>1) * (n / |d|).
  let t = 0;
  let len = LIMBS;
  for (let outer = 0; outer < MAX_OUTER; outer++) {
    while (len > 1 && nLimbs[len - 1] === 0 && dLimbs[len - 1] === 0) len--;
    const topLimb = Math.max(nLimbs[len - 1] as number, dLimbs[len - 1] as number);
    const nbits = (len - 1) * LIMB_BITS + bitLength15(topLimb);
    let ahi: number;
    let alo = low32(nLimbs);
    let bhi: number;
    let blo = low32(dLimbs);
    if (nbits <= 64) {
      // Both operands are exact in 64 bits: finish with the plain binary algorithm.
      ahi = len > 2 ? high32(nLimbs) : 0;
      bhi = len > 2 ? high32(dLimbs) : 0;
      return jacobi64(ahi, alo, bhi, blo, t);
    }
    const s = nbits - 32;
    ahi = bitsAt(nLimbs, s, len - 1);
    bhi = bitsAt(dLimbs, s, len - 1);
    // n' = (u0 n + u1 d) / 2^30, d' = (v0 n + v1 d) / 2^30 after the 30 steps.
    let u0 = 1;
    let u1 = 0;
    let v0 = 0;
    let v1 = 1;
    let i = 30;
    if ((alo & 1) === 0) {
      // Make a odd first: z halvings, the sign flipping once if z is odd and |b| = 3 or 5 mod 8.
      let z = alo === 0 ? i : 31 - Math.clz32(alo & -alo);
      if (z > i) z = i;
      t ^= (blo ^ (blo >>> 1)) & (z << 1);
      v0 <<= z;
      v1 <<= z;
      alo = (alo >>> z) | (ahi << (32 - z));
      ahi >>>= z;
      i -= z;
    }
    while (i > 0) {
      // a is odd. One step without branches on the data: m = -1 when a < b, in which case
      // a and b swap (reciprocity: the sign flips when both are 3 mod 4); then a = |a - b|
      // with every factor 2 halved out, (2 / |b|) = -1 for each when |b| = 3 or 5 mod 8.
      let lo = (alo - blo) | 0;
      let hi = (ahi - bhi - (((~alo & blo) | (~(alo ^ blo) & lo)) >>> 31)) | 0;
      const m = -(((~ahi & bhi) | (~(ahi ^ bhi) & hi)) >>> 31) | 0;
      hi = ((hi ^ m) + (-m & (((lo | -lo) >>> 31) ^ 1))) | 0;
      lo = ((lo ^ m) - m) | 0;
      t ^= alo & blo & m;
      bhi ^= (ahi ^ bhi) & m;
      blo ^= (alo ^ blo) & m;
      // Row norms stay at most 2^30, so the matrix lives in int32.
      const du0 = (u0 - v0) | 0;
      const du1 = (u1 - v1) | 0;
      v0 = (v0 + (du0 & m)) | 0;
      v1 = (v1 + (du1 & m)) | 0;
      u0 = ((du0 ^ m) - m) | 0;
      u1 = ((du1 ^ m) - m) | 0;
      let z = lo === 0 ? i : 31 - Math.clz32(lo & -lo);
      if (z > i) z = i;
      t ^= (blo ^ (blo >>> 1)) & (z << 1);
      v0 <<= z;
      v1 <<= z;
      alo = (lo >>> z) | (hi << (32 - z));
      ahi = hi >>> z;
      i -= z;
    }
    // Apply the matrix to the full operands; the low 30 bits of both results are zero.
    let cn = 0;
    let cd = 0;
    for (let k = 0; k < len; k++) {
      const nk = nLimbs[k] as number;
      const dk = dLimbs[k] as number;
      const tn = nk * u0 + dk * u1 + cn;
      const td = nk * v0 + dk * v1 + cd;
      cn = Math.floor(tn / BASE);
      cd = Math.floor(td / BASE);
      if (k >= 2) {
        nLimbs[k - 2] = tn - cn * BASE;
        dLimbs[k - 2] = td - cd * BASE;
      }
    }
    // The carries (|c| < 2^31) fill the top two limbs; a negative carry is a negative value.
    const nNeg = cn < 0;
    const dNeg = cd < 0;
    setTop(nLimbs, len, cn);
    setTop(dLimbs, len, cd);
    if (dNeg) {
      // (x / |-y|) = (x / |y|): nothing to record.
      negate(dLimbs, len);
    }
    if (nNeg) {
      // (-x / |y|) = (-1 / |y|) (x / |y|): flips when |y| = 3 mod 4.
      negate(nLimbs, len);
      t ^= low32(dLimbs);
    }
    if (isZero(nLimbs, len)) {
      // (0 / |d|) is 1 when |d| = 1, else 0.
      return isOne(dLimbs, len) ? 1 - (t & 2) : 0;
    }
  }
  return jacobiReference(a, n);
}

/**
 * Stores the final carry c of a matrix application into limbs len-2 and len-1 (as
 * two's complement over len limbs when c is negative, which negate() then undoes).
 */
function setTop(x: Float64Array, len: number, c: number): void {
  // c in (-2^31, 2^31): write c mod 2^30 into two limbs; for c < 0 the stored value is
  // 2^(15 len) + v, and negate() over len limbs yields -v.
  const m = c < 0 ? c + 1073741824 : c;
  x[len - 2] = m & LIMB_MASK;
  x[len - 1] = (m >>> LIMB_BITS) & LIMB_MASK;
}

function isZero(x: Float64Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (x[i] !== 0) return false;
  return true;
}

function isOne(x: Float64Array, len: number): boolean {
  if (x[0] !== 1) return false;
  for (let i = 1; i < len; i++) if (x[i] !== 0) return false;
  return true;
}

/** The binary Jacobi algorithm on exact 64-bit operands, each as two int32 halves. */
function jacobi64(ahiIn: number, aloIn: number, bhiIn: number, bloIn: number, tIn: number): number {
  let ahi = ahiIn;
  let alo = aloIn;
  let bhi = bhiIn;
  let blo = bloIn;
  let t = tIn;
  // Halve out every factor 2 of a first (a = 0 ends the loop).
  if (alo === 0) {
    alo = ahi;
    ahi = 0;
  }
  if (alo !== 0) {
    const z = 31 - Math.clz32(alo & -alo);
    if (z > 0) {
      t ^= (blo ^ (blo >>> 1)) & (z << 1);
      alo = (alo >>> z) | (ahi << (32 - z));
      ahi >>>= z;
    }
  }
  while (alo !== 0) {
    // a is odd: the step of jacobiFast's inner loop, on exact values.
    let lo = (alo - blo) | 0;
    let hi = (ahi - bhi - (((~alo & blo) | (~(alo ^ blo) & lo)) >>> 31)) | 0;
    const m = -(((~ahi & bhi) | (~(ahi ^ bhi) & hi)) >>> 31) | 0;
    hi = ((hi ^ m) + (-m & (((lo | -lo) >>> 31) ^ 1))) | 0;
    lo = ((lo ^ m) - m) | 0;
    t ^= alo & blo & m;
    bhi ^= (ahi ^ bhi) & m;
    blo ^= (alo ^ blo) & m;
    let z = 0;
    if (lo === 0) {
      // 32 halvings at once: an even count, no sign change (a = b ends the loop).
      lo = hi;
      hi = 0;
    }
    if (lo !== 0) z = 31 - Math.clz32(lo & -lo);
    t ^= (blo ^ (blo >>> 1)) & (z << 1);
    alo = z === 0 ? lo : (lo >>> z) | (hi << (32 - z));
    ahi = hi >>> z;
  }
  return bhi === 0 && blo === 1 ? 1 - (t & 2) : 0;
}
