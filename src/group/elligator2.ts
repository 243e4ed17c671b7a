/**
 * Elligator 2 onto curve25519, u-coordinate only (RFC 9380 section 6.7.1 with
 * J = A = 486662, K = 1, Z = 2), batched.
 *
 * For PSI only the Montgomery u-coordinate is needed: X25519 works on u alone, so the
 * square root that would give v is skipped. Per element the map costs one field
 * inversion, shared across a batch by Montgomery's trick (three multiplications per
 * element plus one exponentiation per batch), a few BigInt multiplications, and one
 * quadratic-character test, done with the approximate binary-GCD Jacobi symbol of
 * legendre.ts (about 8x faster here than the plain BigInt algorithm it replaced).
 * {@link elligator2UReference} is the straightforward BigInt version, kept for the
 * tests and the benchmark, which compare the two.
 *
 * Timing: the Jacobi algorithm and the exceptional-case branch are variable-time in
 * the hashed value. The inputs are hashes of the caller's own identifiers, computed
 * on the caller's machine; no peer observes this timing. Documented in SECURITY.md.
 *
 * The result Q is on the curve (never the twist), which is what unblinding with an
 * inverse scalar needs. RFC 9380's encode_to_curve would then clear the cofactor
 * (P = 8Q); X25519's clamped scalars are multiples of 8, so the first multiplication
 * clears it anyway.
 *
 * @packageDocumentation
 */
import { P25519, reduce25519 } from './h2c.js';
import { jacobiFast, jacobiReference } from './legendre.js';

const p = P25519;
const A = 486662n;
const NEG_A = p - A;

const reduce = reduce25519;

/** x mod p, in [0, p). */
function mod(x: bigint): bigint {
  const r = x % p;
  return r < 0n ? r + p : r;
}

/** x^e mod p by square-and-multiply (public exponents only). */
export function powMod(x: bigint, e: bigint, m: bigint = p): bigint {
  if (m === p && x >= 0n) return powModP(x % p, e);
  let result = 1n;
  let base = x % m;
  let k = e;
  while (k > 0n) {
    if (k & 1n) result = (result * base) % m;
    base = (base * base) % m;
    k >>= 1n;
  }
  return result;
}

const TWO_256 = 1n << 256n;

/** x^e mod p for 0 <= x < p, with the folding reduction. */
function powModP(x: bigint, e: bigint): bigint {
  let result = 1n;
  let base = x;
  let k = e;
  while (k > 0n) {
    if (k & 1n) result = reduce(result * base);
    base = reduce(base * base);
    k >>= 1n;
  }
  return result;
}

/**
 * The Jacobi symbol (a/n) for odd n > 0: 1, -1 or 0. For prime n it is the Legendre
 * symbol, so (a/p) = 1 exactly when a is a non-zero square mod p. Moduli below 2^256
 * take the fast algorithm of legendre.ts, others the plain BigInt one.
 */
export function jacobi(a: bigint, n: bigint): number {
  return n < TWO_256 ? jacobiFast(a, n) : jacobiReference(a, n);
}

/** True when x is a square in GF(p), zero included (RFC 9380 is_square). */
export function isSquare(x: bigint): boolean {
  return jacobiFast(x, p) !== -1;
}

/**
 * Maps field elements to u-coordinates of curve25519 points (Elligator 2), batched.
 * Returns one u in [0, p) per input; inputs are field elements in [0, p).
 */
export function elligator2U(us: readonly bigint[]): bigint[] {
  const n = us.length;
  // d_i = 1 + Z * u_i^2; x1_i = -A / d_i, or -A where d_i = 0 (inv0(0) = 0, step 2).
  // Montgomery's trick: prefix_i = d_0 ... d_(i-1), one inversion for the whole batch.
  const d = new Array<bigint>(n);
  const prefix = new Array<bigint>(n);
  let exceptional = false;
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    const u = us[i] as bigint;
    const di = reduce(2n * u * u + 1n);
    if (di === 0n) exceptional = true;
    d[i] = di;
    prefix[i] = acc;
    if (di !== 0n) acc = reduce(acc * di);
  }
  let inv = powMod(acc, p - 2n);
  const out = new Array<bigint>(n);
  for (let i = n - 1; i >= 0; i--) {
    const di = d[i] as bigint;
    // x1 = -A / d_i = -t with t = A / d_i (never 0), or x1 = -A (t = A) where d_i = 0.
    let t: bigint;
    if (exceptional && di === 0n) {
      t = A; // exceptional case: inv0(0) = 0 gives x1 = 0, replaced by -A
    } else {
      t = reduce(A * inv * (prefix[i] as bigint)); // A inv prefix < 2^530
      inv = reduce(inv * di);
    }
    // gx1 = x1 (x1 (x1 + A) + 1) = -t (t (t - A) + 1); -1 is a square mod p (p = 1 mod 4),
    // so gx1 is a square exactly when t (t (t - A) + 1) is; t + NEG_A stands for t - A.
    const g = reduce(t * reduce(t * (t + NEG_A) + 1n));
    // x1 = p - t where gx1 is square (0 included), else x2 = -x1 - A = t - A.
    out[i] = jacobiFast(g, p) !== -1 ? p - t : t >= A ? t - A : t + NEG_A;
  }
  return out;
}

/**
 * The straightforward BigInt Elligator 2 map (the code {@link elligator2U} replaced):
 * the reference the tests and the benchmark compare it with. Same contract.
 */
export function elligator2UReference(us: readonly bigint[]): bigint[] {
  const n = us.length;
  const d = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    const u = us[i] as bigint;
    const di = mod(1n + 2n * ((u * u) % p));
    d[i] = di === 0n ? 1n : di; // exceptional case: 1 stands in, fixed below
  }
  const prefix = new Array<bigint>(n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    prefix[i] = acc;
    acc = (acc * (d[i] as bigint)) % p;
  }
  let inv = powMod(acc, p - 2n);
  const out = new Array<bigint>(n);
  for (let i = n - 1; i >= 0; i--) {
    const invD = (inv * (prefix[i] as bigint)) % p;
    inv = (inv * (d[i] as bigint)) % p;
    const u = us[i] as bigint;
    const exceptional = mod(1n + 2n * ((u * u) % p)) === 0n;
    const x1 = exceptional ? NEG_A : (NEG_A * invD) % p;
    const gx1 = (x1 * (((x1 * (x1 + A)) % p) + 1n)) % p;
    out[i] = jacobiReference(gx1, p) !== -1 ? x1 : mod(-x1 - A);
  }
  return out;
}

/** Scratch for encodeU: a BigUint64Array store keeps its value mod 2^64. */
const WORDS = new BigUint64Array(4);
const WORD_BYTES = new Uint8Array(WORDS.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Little-endian 32-byte encoding of a field element (RFC 7748 u-coordinate): the low 256
 * bits of u, two's complement for a negative u.
 */
export function encodeU(u: bigint, out: Uint8Array = new Uint8Array(32), offset = 0): Uint8Array {
  if (LITTLE_ENDIAN) {
    // Four word stores and one copy instead of 32 BigInt shifts.
    WORDS[0] = u;
    WORDS[1] = u >> 64n;
    WORDS[2] = u >> 128n;
    WORDS[3] = u >> 192n;
    out.set(WORD_BYTES, offset);
    return out;
  }
  let x = u;
  for (let i = 0; i < 32; i++) {
    out[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Little-endian decoding of 32 bytes (no masking, no reduction). */
export function decodeLE(bytes: Uint8Array): bigint {
  let hex = '0x';
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i] as number;
    hex += (b < 16 ? '0' : '') + b.toString(16);
  }
  return BigInt(hex);
}

/**
 * u-coordinate of 2Q from u(Q) on curve25519 (x-only doubling, RFC 7748 ladder
 * formulas). Used by tests to compare the bare map with RFC 9380's cofactor-cleared
 * vectors: u(8Q) is three doublings of u(Q).
 */
export function xDouble(u: bigint): bigint {
  const xx = (u * u) % p;
  const x2 = mod((xx - 1n) * (xx - 1n));
  const z2 = mod(4n * u * mod(xx + A * u + 1n));
  return z2 === 0n ? 0n : (x2 * powMod(z2, p - 2n)) % p;
}
