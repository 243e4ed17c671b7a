/**
 * The resumption key of a resumable channel (src/transport/resumable.ts): both sides of
 * OPEN / OPEN_OK derive the same key from their ephemeral X25519 exchange, a fresh one per
 * channel, and a listener refuses a peer key that is not a canonical u-coordinate or is of
 * low order with `MESSAGE_MALFORMED`.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KoppelError } from '../../src/errors/index.js';
import { hkdfSha256 } from '../../src/util/hash.js';
import { acceptOpen, openChannel, RECORD, type RawLink } from '../../src/transport/resumable.js';

/** A RawLink that hands what openChannel sends to acceptOpen and answers with its OPEN_OK. */
function loopLink(windowMs: number): { link: RawLink; accepted: () => ReturnType<typeof acceptOpen> } {
  let answer: Uint8Array | undefined;
  let accepted: ReturnType<typeof acceptOpen> | undefined;
  const link: RawLink = {
    peer: { authenticated: false } as RawLink['peer'],
    sendParts(head: Uint8Array) {
      accepted = acceptOpen(head, windowMs);
      answer = accepted.answer;
      return Promise.resolve();
    },
    next: () => (answer ? Promise.resolve(answer) : Promise.reject(new Error('nothing sent'))),
    hold: () => undefined,
    destroy: () => undefined,
    close: () => Promise.resolve(),
  };
  return { link, accepted: () => accepted as ReturnType<typeof acceptOpen> };
}

/** An OPEN record carrying `publicKey` as the client's key. */
function openWith(publicKey: Uint8Array): Uint8Array {
  const r = new Uint8Array(54);
  r[0] = RECORD.OPEN;
  r[1] = 1;
  r.set(crypto.getRandomValues(new Uint8Array(16)), 2);
  r.set(publicKey, 18);
  new DataView(r.buffer).setUint32(50, 10_000);
  return r;
}

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

describe('resumption keys', () => {
  it('both sides of an opening derive the same 32-byte key, and every channel a different one', async () => {
    const keys = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { link, accepted } = loopLink(10_000);
      const opened = await openChannel(link, 10_000, 1000);
      expect(opened.key).toBeDefined();
      expect(opened.key?.length).toBe(32);
      expect(Buffer.from(accepted().key as Buffer).equals(opened.key as Buffer)).toBe(true);
      expect(Buffer.from(accepted().id).equals(Buffer.from(opened.id))).toBe(true);
      keys.add((opened.key as Buffer).toString('hex'));
    }
    expect(keys.size).toBe(4);
  });

  it("derives with the same HKDF-SHA256 as node:crypto's hkdfSync, so a peer of an earlier version derives the same key", () => {
    // The shapes of the resumption key: a 32-byte secret, the 16-byte channel id as salt,
    // the label and both 32-byte public keys as info, 32 bytes out.
    for (let i = 0; i < 16; i++) {
      const [secret, id] = [randomBytes(32), randomBytes(16)];
      const info = Buffer.concat([Buffer.from('koppel resume key v1'), randomBytes(64)]);
      expect(Buffer.from(hkdfSha256(secret, id, info, 32)).equals(Buffer.from(hkdfSync('sha256', secret, id, info, 32)))).toBe(true);
    }
  });

  it('a listener refuses a client key that is not canonical or is of low order, with MESSAGE_MALFORMED', () => {
    const bad = [
      // p = 2^255 - 19 and 2^255 - 1: not reduced.
      hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
      hex('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
      // The top bit set.
      hex('0900000000000000000000000000000000000000000000000000000000000080'),
      // Low order: 0, 1, p - 1 and a point of order 8.
      new Uint8Array(32),
      hex('0100000000000000000000000000000000000000000000000000000000000000'),
      hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
      hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
    ];
    for (const u of bad) {
      let error: unknown;
      try {
        acceptOpen(openWith(u), 10_000);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(KoppelError);
      expect((error as KoppelError).code).toBe('MESSAGE_MALFORMED');
    }
    // Just below them, p - 2 is canonical and not of low order: taken.
    expect(() => acceptOpen(openWith(hex('ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')), 10_000)).not.toThrow();
  });
});
