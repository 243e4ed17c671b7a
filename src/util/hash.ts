/**
 * The symmetric primitives koppel builds on, each checked against its RFC test vectors
 * (test/vectors/rfc4231.json, test/vectors/rfc5869.json).
 *
 * - HMAC-SHA256 (RFC 2104, vectors RFC 4231) through node:crypto: OpenSSL's
 *   implementation, about twice as fast per call as pure JavaScript here.
 * - HKDF-SHA256 (RFC 5869) through @noble/hashes: used only to derive keys, so speed
 *   does not matter and the audited portable implementation is preferred.
 *
 * @packageDocumentation
 */
import { createHmac, type KeyObject } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** HMAC-SHA256(key, data) as 32 bytes. */
export function hmacSha256(key: Uint8Array | KeyObject, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest());
}

/**
 * HKDF-SHA256 (RFC 5869): extract with `salt` (empty means a zero-filled salt, as the
 * RFC specifies), then expand with `info` to `length` bytes (at most 255 * 32).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf(sha256, ikm, salt, info, length);
}
