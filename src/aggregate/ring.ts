/**
 * Arithmetic in Z_(2^64) on vectors (BigUint64Array wraps modulo 2^64 by itself), and
 * the encodings of integers, negatives and fixed-point decimals into it.
 *
 * Signed values use two's complement: v < 0 is stored as 2^64 + v. A sum of signed
 * values is exact as long as the true sum lies in [-2^63, 2^63); the codebook's declared
 * bounds make sure it does (see codebook.ts), so wrap-around is refused, never silent.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { readU64s, u64BytesView } from '../util/bytes.js';

/** 2^64. */
export const MOD = 1n << 64n;
/** The largest magnitude a released signed sum may have: 2^63 - 1. */
export const MAX_SIGNED = (1n << 63n) - 1n;

/** a += b (mod 2^64), element-wise. */
export function addInto(a: BigUint64Array, b: BigUint64Array): BigUint64Array {
  if (a.length !== b.length) throw new KoppelError('INTERNAL', 'Vectors of different lengths.');
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as bigint) + (b[i] as bigint);
  return a;
}

/** a -= b (mod 2^64), element-wise. */
export function subInto(a: BigUint64Array, b: BigUint64Array): BigUint64Array {
  if (a.length !== b.length) throw new KoppelError('INTERNAL', 'Vectors of different lengths.');
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as bigint) - (b[i] as bigint);
  return a;
}

/** The ring element of a signed integer in [-2^63, 2^63). */
export function encodeSigned(v: bigint): bigint {
  if (v > MAX_SIGNED || v < -(1n << 63n)) throw new KoppelError('INVALID_ARGUMENT', 'A value does not fit in 64 bits.');
  return v < 0n ? MOD + v : v;
}

/** The signed integer of a ring element (two's complement). */
export function decodeSigned(x: bigint): bigint {
  return x > MAX_SIGNED ? x - MOD : x;
}

/**
 * Parses a decimal string exactly into an integer count of 10^-scale units: "12.5" at
 * scale 2 is 1250. More decimals than the scale is an error (no silent rounding).
 */
export function parseFixed(text: string, scale: number): bigint {
  const m = /^\s*([+-]?)(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!m) throw new KoppelError('INVALID_ARGUMENT', 'A value is not a decimal number.');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length > scale)
    throw new KoppelError('INVALID_ARGUMENT', `A value has more than ${scale} decimals; round it or raise the column's scale.`, { details: { scale } });
  const digits = BigInt((m[2] as string) + frac.padEnd(scale, '0'));
  return m[1] === '-' ? -digits : digits;
}

/** Formats an integer count of 10^-scale units as a decimal string. */
export function formatFixed(v: bigint, scale: number): string {
  if (scale === 0) return v.toString();
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${s.slice(0, -scale)}.${s.slice(-scale)}`;
}

/**
 * Little-endian bytes of a vector the caller owns and does not change while the bytes
 * are in use (a share or a sum about to be framed): the same memory where the platform
 * allows, else a copy.
 */
export const vectorBytes: (v: BigUint64Array) => Uint8Array = u64BytesView;

/** A vector from little-endian bytes; the length must be a multiple of 8. A copy. */
export function bytesToVector(b: Uint8Array): BigUint64Array {
  if (b.length % 8 !== 0) throw new KoppelError('MESSAGE_MALFORMED', 'A share is not a whole number of 64-bit words.');
  return readU64s(b);
}
