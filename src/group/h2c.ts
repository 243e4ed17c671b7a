/**
 * RFC 9380 building blocks shared by the group suites: `expand_message_xmd` with
 * SHA-512 (section 5.3.1) and `hash_to_field` for GF(2^255 - 19) (section 5.2).
 *
 * SHA-512 comes from node:crypto, one one-shot `crypto.hash` call per block: b_0's input
 * (`Z_pad` || msg || I2OSP(len, 2) || 0 || DST_prime) is written into a per-DST scratch
 * buffer whose 128 leading zero bytes stay in place, and b_1's input (b_0 || 1 ||
 * DST_prime) into another whose DST_prime stays in place; a one-shot call costs less here
 * than copying a pre-absorbed `Z_pad` state (which saves one compression but builds a Hash
 * object and a digest Buffer per message). hash_to_field reads b_1 as hex straight into a
 * BigInt.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { KoppelError } from '../errors/index.js';

/** p = 2^255 - 19, the field of curve25519 and edwards25519. */
export const P25519 = (1n << 255n) - 19n;

const MASK255 = (1n << 255n) - 1n;

/**
 * x mod p for 0 <= x < 2^530, by 2^255 = 19 (mod p): two folds and one conditional
 * subtraction, a little faster than BigInt's % (a long division) in the map here.
 */
export function reduce25519(x: bigint): bigint {
  const r = (x & MASK255) + 19n * (x >> 255n);
  const s = (r & MASK255) + 19n * (r >> 255n);
  return s >= P25519 ? s - P25519 : s;
}

const hasOneShot = typeof nodeCrypto.hash === 'function';

/** SHA-512 of data in the given output encoding: crypto.hash (Node.js 20.12 and later), else createHash. */
function sha512(data: Uint8Array, encoding: 'binary' | 'hex'): string;
function sha512(data: Uint8Array, encoding: 'buffer'): Buffer;
function sha512(data: Uint8Array, encoding: 'binary' | 'hex' | 'buffer'): string | Buffer {
  if (hasOneShot) return encoding === 'buffer' ? nodeCrypto.hash('sha512', data, 'buffer') : nodeCrypto.hash('sha512', data, encoding);
  const h = createHash('sha512').update(data);
  return encoding === 'buffer' ? h.digest() : h.digest(encoding);
}

/**
 * Precomputed parts of expand_message_xmd for one DST (RFC 9380 section 5.3.1,
 * H = SHA-512, b_in_bytes = 64, s_in_bytes = 128).
 */
export class ExpandXmdSha512 {
  readonly #dstPrime: Uint8Array;
  /** Z_pad || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime, msg written per call. */
  #first = Buffer.alloc(0);
  /** The input of b_i: 64 bytes (b_0, or b_0 xor b_(i-1)) || I2OSP(i, 1) || DST_prime. */
  readonly #block: Buffer;

  /** @param dst - the domain separation tag, 1 to 255 bytes */
  constructor(dst: Uint8Array) {
    if (dst.length === 0 || dst.length > 255) {
      throw new KoppelError('INVALID_ARGUMENT', 'A hash-to-curve domain separation tag must be 1 to 255 bytes.');
    }
    this.#dstPrime = new Uint8Array([...dst, dst.length]);
    this.#block = Buffer.alloc(65 + this.#dstPrime.length);
    this.#block.set(this.#dstPrime, 65);
    this.#grow(256);
  }

  /** A zero-filled #first of at least size bytes (128 of them stay zero: Z_pad). */
  #grow(size: number): void {
    this.#first = Buffer.alloc(Math.max(size, 2 * this.#first.length));
  }

  /** b_0 for msg and len, as a latin1 string of its 64 bytes. */
  #b0(msg: Uint8Array | string, len: number): string {
    const tailBytes = 3 + this.#dstPrime.length;
    // A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair is 4 for 2 units).
    const most = typeof msg === 'string' ? msg.length * 3 : msg.length;
    if (128 + most + tailBytes > this.#first.length) this.#grow(128 + most + tailBytes);
    const first = this.#first;
    let n: number;
    if (typeof msg === 'string') {
      n = first.write(msg, 128, 'utf8');
    } else {
      first.set(msg, 128);
      n = msg.length;
    }
    let at = 128 + n;
    first[at++] = len >>> 8;
    first[at++] = len & 0xff;
    first[at++] = 0;
    first.set(this.#dstPrime, at);
    return sha512(first.subarray(0, at + this.#dstPrime.length), 'binary');
  }

  /** expand_message_xmd(msg, DST, len) for len at most 255 * 64. */
  expand(msg: Uint8Array | string, len: number): Uint8Array {
    const ell = Math.ceil(len / 64);
    if (ell > 255 || len > 65535 || len <= 0) throw new KoppelError('INVALID_ARGUMENT', 'expand_message_xmd length out of range.');
    const b0 = this.#b0(msg, len);
    // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
    const block = this.#block;
    block.write(b0, 0, 64, 'latin1');
    block[64] = 1;
    let prev = sha512(block, 'buffer');
    if (ell === 1) return len === 64 ? prev : prev.subarray(0, len);
    const b0Bytes = Buffer.from(b0, 'latin1');
    const out = new Uint8Array(ell * 64);
    out.set(prev, 0);
    for (let i = 2; i <= ell; i++) {
      for (let j = 0; j < 64; j++) block[j] = (b0Bytes[j] as number) ^ (prev[j] as number);
      block[64] = i;
      prev = sha512(block, 'buffer');
      out.set(prev, (i - 1) * 64);
    }
    return len === out.length ? out : out.subarray(0, len);
  }

  /**
   * hash_to_field(msg, count = 1) for GF(2^255 - 19): the first 48 bytes of
   * expand_message_xmd(msg, DST, 48) as a big-endian integer, reduced mod p. Equals
   * os2ip(expand(msg, 48)) mod p, without the intermediate buffers.
   */
  fieldElement25519(msg: Uint8Array | string): bigint {
    const block = this.#block;
    block.write(this.#b0(msg, 48), 0, 64, 'latin1');
    block[64] = 1;
    // x < 2^384: one fold leaves x_lo + 19 x_hi < 2^255 + 2^134 < 2p.
    const x = BigInt('0x' + sha512(block, 'hex').slice(0, 96));
    const r = (x & MASK255) + 19n * (x >> 255n);
    return r >= P25519 ? r - P25519 : r;
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
  return xmd.fieldElement25519(msg);
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
