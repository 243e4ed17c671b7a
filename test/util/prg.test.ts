/**
 * The PRG both secret-sharing protocols expand seeds with: the stream is AES-256-CTR over
 * zero bytes keyed by HKDF-SHA256 as util/prg.ts says (checked against WebCrypto, another
 * implementation of both), and prgAddInto adds or subtracts exactly the words prgStream
 * gives, across its 64 KiB chunks.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { webcrypto } from 'node:crypto';
import { prgAddInto, prgStream, SEED_BYTES } from '../../src/util/prg.js';
import { u64Bytes, u64BytesView } from '../../src/util/bytes.js';
import { expectCodeSync } from '../helpers.js';

const subtle = webcrypto.subtle;

/** The stream's first `words` words, from WebCrypto's HKDF and AES-CTR. */
async function webStream(seed: Uint8Array, info: Uint8Array, words: number): Promise<BigUint64Array> {
  const ikm = await subtle.importKey('raw', seed, 'HKDF', false, ['deriveBits']);
  const okm = new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, ikm, 48 * 8));
  const key = await subtle.importKey('raw', okm.subarray(0, 32), 'AES-CTR', false, ['encrypt']);
  const out = await subtle.encrypt({ name: 'AES-CTR', counter: okm.subarray(32, 48), length: 128 }, key, new Uint8Array(words * 8));
  const dv = new DataView(out);
  return BigUint64Array.from({ length: words }, (_, i) => dv.getBigUint64(i * 8, true));
}

const seedOf = (n: number) => Uint8Array.from({ length: SEED_BYTES }, (_, i) => (i * 7 + n) & 0xff);
const info = new TextEncoder().encode('koppel/test/prg');

describe('the PRG stream', () => {
  it('is AES-256-CTR over zero bytes, key and IV from HKDF-SHA256(seed, empty salt, info, 48), read as little-endian words', async () => {
    for (const words of [1, 5, 1000]) expect(prgStream(seedOf(words), info)(words)).toEqual(await webStream(seedOf(words), info, words));
  });

  it('prgAddInto adds and subtracts exactly the words of prgStream, at lengths around its 8,192-word chunks', () => {
    for (const words of [0, 1, 8191, 8192, 8193, 20000]) {
      const start = BigUint64Array.from({ length: words }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n);
      const stream = prgStream(seedOf(1), info)(words);
      const added = new BigUint64Array(start);
      prgAddInto(seedOf(1), info, added, 1);
      expect(added).toEqual(start.map((v, i) => v + (stream[i] as bigint)));
      prgAddInto(seedOf(1), info, added, -1);
      expect(added).toEqual(start);
    }
  });

  it('prgAddInto wraps modulo 2^64 for any target words', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 40 }), fc.integer({ min: 0, max: 255 }), (ws, n) => {
        const target = BigUint64Array.from(ws);
        const stream = prgStream(seedOf(n), info)(ws.length);
        prgAddInto(seedOf(n), info, target, 1);
        expect([...target]).toEqual(ws.map((w, i) => (w + (stream[i] as bigint)) % (1n << 64n)));
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a seed that is not 32 bytes with MESSAGE_MALFORMED', () => {
    expectCodeSync(() => prgAddInto(new Uint8Array(31), info, new BigUint64Array(1), 1), 'MESSAGE_MALFORMED');
    expectCodeSync(() => prgStream(new Uint8Array(33), info), 'MESSAGE_MALFORMED');
  });
});

describe('u64BytesView', () => {
  it('gives the bytes u64Bytes gives, of the same memory on a little-endian platform', () => {
    const xs = BigUint64Array.from([0n, 1n, 0x0102030405060708n, (1n << 64n) - 1n]);
    const view = u64BytesView(xs);
    expect(view).toEqual(u64Bytes(xs));
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) expect(view.buffer).toBe(xs.buffer);
  });
});
