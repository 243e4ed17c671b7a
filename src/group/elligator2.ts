/**
 * Elligator 2 onto curve25519, u-coordinate only (RFC 9380 section 6.7.1 with
 * J = A = 486662, K = 1, Z = 2), batched.
 *
 * For PSI only the Montgomery u-coordinate is needed: X25519 works on u alone, so the
 * square root that would give v is skipped. Per element the map costs one field
 * inversion, shared across a batch by Montgomery's trick (three multiplications per
 * element plus one exponentiation per batch), and one quadratic-character test, done
 * with the binary Jacobi-symbol algorithm.
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
import { P25519 } from './h2c.js';

const p = P25519;
const A = 486662n;
const NEG_A = p - A;

/** x mod p, in [0, p). */
function mod(x: bigint): bigint {
  const r = x % p;
  return r < 0n ? r + p : r;
}

/** x^e mod p by square-and-multiply (public exponents only). */
export function powMod(x: bigint, e: bigint, m: bigint = p): bigint {
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

/**
 * The Jacobi symbol (a/n) for odd n > 0: 1, -1 or 0. For prime n it is the Legendre
 * symbol, so (a/p) = 1 exactly when a is a non-zero square mod p.
 */
export function jacobi(a: bigint, n: bigint): number {
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

/** True when x is a square in GF(p), zero included (RFC 9380 is_square). */
export function isSquare(x: bigint): boolean {
  return jacobi(x, p) !== -1;
}

/**
 * Maps field elements to u-coordinates of curve25519 points (Elligator 2), batched.
 * Returns one u in [0, p) per input.
 */
export function elligator2U(us: readonly bigint[]): bigint[] {
  const n = us.length;
  // d_i = 1 + Z * u_i^2; x1_i = -A / d_i, or -A where d_i = 0 (inv0(0) = 0, step 2).
  const d = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    const u = us[i] as bigint;
    const di = mod(1n + 2n * ((u * u) % p));
    d[i] = di === 0n ? 1n : di; // exceptional case: 1 stands in, fixed below
  }
  // Montgomery's trick: one inversion for the whole batch.
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
    // gx1 = x1^3 + A x1^2 + x1 = x1 (x1 (x1 + A) + 1)
    const gx1 = (x1 * (((x1 * (x1 + A)) % p) + 1n)) % p;
    out[i] = isSquare(gx1) ? x1 : mod(-x1 - A);
  }
  return out;
}

/** Little-endian 32-byte encoding of a field element (RFC 7748 u-coordinate). */
export function encodeU(u: bigint, out: Uint8Array = new Uint8Array(32), offset = 0): Uint8Array {
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
