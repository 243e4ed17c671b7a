/**
 * RFC 9380 building blocks shared by the group suites: `expand_message_xmd` with
 * SHA-512 (section 5.3.1) and `hash_to_field` for GF(2^255 - 19) (section 5.2).
 *
 * SHA-512 comes from node:crypto. The 128 zero bytes that start every first block
 * (`Z_pad`) are absorbed once and the hash state is copied per message, saving one
 * compression per element; the fixed tail of b_0's input and the whole input of b_1
 * but b_0 are built once per DST, so each further block is one one-shot hash call.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import * as nodeCrypto from 'node:crypto';
import { createHash, type Hash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';

/** p = 2^255 - 19, the field of curve25519 and edwards25519. */
export const P25519 = (1n << 255n) - 19n;

const zPadState: Hash = createHash('sha512').update(new Uint8Array(128));

/** One-shot SHA-512 (crypto.hash, Node.js 20.12 and later), else through createHash. */
const sha512: (data: Uint8Array) => Buffer =
  typeof nodeCrypto.hash === 'function' ? (data) => nodeCrypto.hash('sha512', data, 'buffer') : (data) => createHash('sha512').update(data).digest();

/**
 * Precomputed parts of expand_message_xmd for one DST (RFC 9380 section 5.3.1,
 * H = SHA-512, b_in_bytes = 64, s_in_bytes = 128).
 */
export class ExpandXmdSha512 {
  readonly #dstPrime: Uint8Array;
  /** I2OSP(len, 2) || I2OSP(0, 1) || DST_prime, for the last len asked. */
  #tail: Buffer;
  #tailLen = -1;
  /** The input of b_i: 64 bytes (b_0, or b_0 xor b_(i-1)) || I2OSP(i, 1) || DST_prime. */
  readonly #block: Buffer;

  /** @param dst - the domain separation tag, 1 to 255 bytes */
  constructor(dst: Uint8Array) {
    if (dst.length === 0 || dst.length > 255) {
      throw new KoppelError('INVALID_ARGUMENT', 'A hash-to-curve domain separation tag must be 1 to 255 bytes.');
    }
    this.#dstPrime = new Uint8Array([...dst, dst.length]);
    this.#tail = Buffer.alloc(3 + this.#dstPrime.length);
    this.#block = Buffer.alloc(65 + this.#dstPrime.length);
    this.#block.set(this.#dstPrime, 65);
  }

  /** expand_message_xmd(msg, DST, len) for len at most 255 * 64. */
  expand(msg: Uint8Array | string, len: number): Uint8Array {
    const ell = Math.ceil(len / 64);
    if (ell > 255 || len > 65535 || len <= 0) throw new KoppelError('INVALID_ARGUMENT', 'expand_message_xmd length out of range.');
    if (len !== this.#tailLen) {
      this.#tail = Buffer.from([len >>> 8, len & 0xff, 0, ...this.#dstPrime]);
      this.#tailLen = len;
    }
    // b_0 = H(Z_pad || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime)
    const b0 = zPadState.copy().update(msg).update(this.#tail).digest();
    // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
    const block = this.#block;
    block.set(b0, 0);
    block[64] = 1;
    let prev = sha512(block);
    if (ell === 1) return len === 64 ? prev : prev.subarray(0, len);
    const out = new Uint8Array(ell * 64);
    out.set(prev, 0);
    for (let i = 2; i <= ell; i++) {
      for (let j = 0; j < 64; j++) block[j] = (b0[j] as number) ^ (prev[j] as number);
      block[64] = i;
      prev = sha512(block);
      out.set(prev, (i - 1) * 64);
    }
    return len === out.length ? out : out.subarray(0, len);
  }
}

/** Big-endian bytes to an integer (OS2IP). */
export function os2ip(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
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
