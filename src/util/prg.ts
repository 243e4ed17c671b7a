/**
 * The PRG both secret-sharing protocols expand seeds with (aggregation shares, the join
 * helper's masks): AES-256-CTR over zero bytes (node:crypto) with key = OKM[0..32) and
 * IV = OKM[32..48), OKM = HKDF-SHA256(IKM = seed, salt = empty, info, L = 48), the stream
 * read as little-endian 64-bit words. Callers bind every expansion to its context through
 * `info` (see `aggregate/share.ts` and `join/messages.ts`).
 *
 * @packageDocumentation
 */
import { createCipheriv } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { ownedU64s, wipe } from './bytes.js';
import { hkdfSha256 } from './hash.js';

/** Bytes of a PRG seed. */
export const SEED_BYTES = 32;

/**
 * A PRG stream for `seed` and `info`. Each call returns the next `words` 64-bit words of
 * the stream.
 *
 * @throws KoppelError `MESSAGE_MALFORMED` if the seed is not 32 bytes
 */
export function prgStream(seed: Uint8Array, info: Uint8Array): (words: number) => BigUint64Array {
  if (seed.length !== SEED_BYTES) throw new KoppelError('MESSAGE_MALFORMED', 'A PRG seed must be 32 bytes.');
  const okm = hkdfSha256(seed, new Uint8Array(0), info, 48);
  const cipher = createCipheriv('aes-256-ctr', okm.subarray(0, 32), okm.subarray(32, 48));
  wipe(okm);
  return (words) => ownedU64s(cipher.update(new Uint8Array(words * 8)));
}
