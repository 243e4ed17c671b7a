/**
 * RFC 9380 building blocks shared by the group suites: `expand_message_xmd` with
 * SHA-512 (section 5.3.1) and `hash_to_field` for GF(2^255 - 19) (section 5.2).
 *
 * SHA-512 comes from node:crypto. The 128 zero bytes that start every first block
 * (`Z_pad`) are absorbed once and the hash state is copied per message, saving one
 * compression per element.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';

/** p = 2^255 - 19, the field of curve25519 and edwards25519. */
export const P25519 = (1n << 255n) - 19n;

const zPadState: Hash = createHash('sha512').update(new Uint8Array(128));

/**
 * Precomputed parts of expand_message_xmd for one DST (RFC 9380 section 5.3.1,
 * H = SHA-512, b_in_bytes = 64, s_in_bytes = 128).
 */
export class ExpandXmdSha512 {
  readonly #dstPrime: Uint8Array;

  /** @param dst - the domain separation tag, 1 to 255 bytes */
  constructor(dst: Uint8Array) {
    if (dst.length === 0 || dst.length > 255) {
      throw new KoppelError('INVALID_ARGUMENT', 'A hash-to-curve domain separation tag must be 1 to 255 bytes.');
    }
    this.#dstPrime = new Uint8Array([...dst, dst.length]);
  }

  /** expand_message_xmd(msg, DST, len) for len at most 255 * 64. */
  expand(msg: Uint8Array | string, len: number): Uint8Array {
    const ell = Math.ceil(len / 64);
    if (ell > 255 || len > 65535 || len <= 0) throw new KoppelError('INVALID_ARGUMENT', 'expand_message_xmd length out of range.');
    // b_0 = H(Z_pad || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime)
    const b0 = zPadState
      .copy()
      .update(msg)
      .update(new Uint8Array([len >>> 8, len & 0xff, 0]))
      .update(this.#dstPrime)
      .digest();
    const out = new Uint8Array(ell * 64);
    // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
    let prev = createHash('sha512')
      .update(b0)
      .update(new Uint8Array([1]))
      .update(this.#dstPrime)
      .digest();
    out.set(prev, 0);
    for (let i = 2; i <= ell; i++) {
      const x = new Uint8Array(64);
      for (let j = 0; j < 64; j++) x[j] = (b0[j] as number) ^ (prev[j] as number);
      prev = createHash('sha512')
        .update(x)
        .update(new Uint8Array([i]))
        .update(this.#dstPrime)
        .digest();
      out.set(prev, (i - 1) * 64);
    }
    return len === out.length ? out : out.subarray(0, len);
  }
}

/** Big-endian bytes to an integer (OS2IP). */
export function os2ip(bytes: Uint8Array): bigint {
  let hex = '0x';
  for (const b of bytes) hex += (b < 16 ? '0' : '') + b.toString(16);
  return bytes.length === 0 ? 0n : BigInt(hex);
}

/**
 * hash_to_field(msg, count = 1) for GF(2^255 - 19): L = 48 bytes of
 * expand_message_xmd, read big-endian, reduced mod p (RFC 9380 section 5.2).
 */
export function hashToField25519(xmd: ExpandXmdSha512, msg: Uint8Array | string): bigint {
  return os2ip(xmd.expand(msg, 48)) % P25519;
}

const xmdCache = new Map<string, ExpandXmdSha512>();

/** A cached {@link ExpandXmdSha512} for a DST (protocols use a handful of fixed DSTs). */
export function xmdFor(dst: Uint8Array): ExpandXmdSha512 {
  const key = Buffer.from(dst).toString('latin1');
  let x = xmdCache.get(key);
  if (!x) {
    x = new ExpandXmdSha512(dst);
    if (xmdCache.size < 64) xmdCache.set(key, x);
  }
  return x;
}
