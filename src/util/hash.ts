/**
 * The symmetric primitives koppel builds on, each checked against its RFC test vectors
 * (test/vectors/rfc4231.json, test/vectors/rfc5869.json).
 *
 * - HMAC-SHA256 (RFC 2104, vectors RFC 4231) through node:crypto: OpenSSL's
 *   implementation, for keys used a few times (about twice as fast per call as a general
 *   pure JavaScript HMAC here). Millions of short messages under one key (pseudonyms) use
 *   `fixed-hmac.ts`, which sets the key up once.
 * - HKDF-SHA256 (RFC 5869, vectors RFC 5869) as the RFC writes it, on that HMAC. It
 *   derives keys only, so its speed per call does not matter; what does is that a
 *   short-lived party process (an aggregation input) need not load a second hash
 *   library (about 6 ms of start-up here). Unlike node:crypto's `hkdfSync`, it takes
 *   `info` of any length.
 *
 * @packageDocumentation
 */
import { createHmac, type KeyObject } from 'node:crypto';

/** SHA-256's output length in bytes. */
const HASH_LEN = 32;

/** HMAC-SHA256(key, data) as 32 bytes. */
export function hmacSha256(key: Uint8Array | KeyObject, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}

/**
 * HKDF-SHA256 (RFC 5869): extract with `salt` (empty means a zero-filled salt, as the
 * RFC specifies), then expand with `info` to `length` bytes (at most 255 * 32).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN) throw new RangeError('HKDF-SHA256 output length must be 0 to 8160 bytes.');
  // Extract: PRK = HMAC(salt, IKM), with a zero-filled salt when none is given.
  const prk = createHmac('sha256', salt.length > 0 ? salt : new Uint8Array(HASH_LEN))
    .update(ikm)
    .digest();
  // Expand: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = the first `length` bytes of T(1) | T(2) | ...
  const okm = new Uint8Array(Math.ceil(length / HASH_LEN) * HASH_LEN);
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1; (i - 1) * HASH_LEN < length; i++) {
    previous = createHmac('sha256', prk).update(previous).update(info).update(Uint8Array.of(i)).digest();
    okm.set(previous, (i - 1) * HASH_LEN);
  }
  prk.fill(0);
  previous.fill(0);
  const out = okm.slice(0, length);
  okm.fill(0);
  return out;
}
