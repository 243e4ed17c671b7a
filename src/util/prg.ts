/**
 * The PRG both secret-sharing protocols expand seeds with (aggregation shares, the join
 * helper's masks): AES-256-CTR over zero bytes (node:crypto) with key = OKM[0..32) and
 * IV = OKM[32..48), OKM = HKDF-SHA256(IKM = seed, salt = empty, info, L = 48), the stream
 * read as little-endian 64-bit words. Callers bind every expansion to its context through
 * `info` (see `aggregate/share.ts` and `join/messages.ts`).
 *
 * @packageDocumentation
 */
import { createCipheriv, type Cipher } from 'node:crypto';
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
  const cipher = prgCipher(seed, info);
  return (words) => ownedU64s(cipher.update(new Uint8Array(words * 8)));
}

/** The AES-256-CTR cipher of the stream, its HKDF output wiped once keyed. */
function prgCipher(seed: Uint8Array, info: Uint8Array): Cipher {
  if (seed.length !== SEED_BYTES) throw new KoppelError('MESSAGE_MALFORMED', 'A PRG seed must be 32 bytes.');
  const okm = hkdfSha256(seed, new Uint8Array(0), info, 48);
  const cipher = createCipheriv('aes-256-ctr', okm.subarray(0, 32), okm.subarray(32, 48));
  wipe(okm);
  return cipher;
}

/** Words of the stream made per cipher call by {@link prgAddInto} (64 KiB). */
const CHUNK_WORDS = 8192;
/** The zero bytes every chunk encrypts; never written to (the cipher writes its own output). */
const ZERO_CHUNK = new Uint8Array(CHUNK_WORDS * 8);

/**
 * Adds (`sign` 1) or subtracts (`sign` -1) the first `target.length` words of the PRG
 * stream for `seed` and `info` into `target`, modulo 2^64: the same words as
 * `prgStream(seed, info)(target.length)`, made 64 KiB at a time from one shared zero
 * block, so that expanding a share allocates neither its zero input nor its full-size
 * output (for 10,000 cells, 240 KB each, two per input party at each aggregator). Each
 * chunk of the stream is zeroed once added.
 *
 * @throws KoppelError `MESSAGE_MALFORMED` if the seed is not 32 bytes
 */
export function prgAddInto(seed: Uint8Array, info: Uint8Array, target: BigUint64Array, sign: 1 | -1): void {
  const cipher = prgCipher(seed, info);
  for (let at = 0; at < target.length; at += CHUNK_WORDS) {
    const words = Math.min(CHUNK_WORDS, target.length - at);
    const bytes = cipher.update(words === CHUNK_WORDS ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, words * 8));
    const stream = ownedU64s(bytes);
    if (sign === 1) for (let i = 0; i < words; i++) target[at + i] = (target[at + i] as bigint) + (stream[i] as bigint);
    else for (let i = 0; i < words; i++) target[at + i] = (target[at + i] as bigint) - (stream[i] as bigint);
    bytes.fill(0);
  }
}
