/**
 * The frame codec: round trips, and every malformed header a peer could send is a
 * typed error (never a crash or a silently accepted frame).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, HEADER_BYTES } from '../../src/wire/frame.js';
import { checkChunk } from '../../src/session/link.js';
import { expectCodeSync } from '../helpers.js';

const session = new Uint8Array(16).fill(7);

describe('frame codec', () => {
  it('round-trips every header field and body', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('none', 'x25519', 'ristretto255'),
        fc.integer({ min: 1, max: 63 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.uint8Array({ maxLength: 200 }),
        (suite, step, sid, count, body) => {
          const f = decodeFrame(encodeFrame('psi', suite, step, sid, count, body));
          expect(f).toMatchObject({ protocol: 1, suite, step, count });
          expect(f.session).toEqual(sid);
          expect(f.body).toEqual(body);
        },
      ),
    );
  });
  it('rejects an empty or truncated header', () => {
    expectCodeSync(() => decodeFrame(new Uint8Array(0)), 'MESSAGE_MALFORMED');
    expectCodeSync(() => decodeFrame(encodeFrame('psi', 'x25519', 2, session, 0, new Uint8Array()).subarray(0, HEADER_BYTES - 1)), 'MESSAGE_MALFORMED');
  });
  it('rejects bad magic, unknown protocol, suite or step, and non-zero reserved bits', () => {
    const good = encodeFrame('psi', 'x25519', 2, session, 1, new Uint8Array(32));
    const mutate = (i: number, v: number) => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    expectCodeSync(() => decodeFrame(mutate(0, 0x00)), 'MESSAGE_MALFORMED'); // magic
    expectCodeSync(() => decodeFrame(mutate(3, 9)), 'MESSAGE_MALFORMED'); // protocol
    expectCodeSync(() => decodeFrame(mutate(4, 3)), 'MESSAGE_MALFORMED'); // suite
    expectCodeSync(() => decodeFrame(mutate(5, 0)), 'MESSAGE_MALFORMED'); // step 0
    expectCodeSync(() => decodeFrame(mutate(5, 64)), 'MESSAGE_MALFORMED'); // step out of range
    expectCodeSync(() => decodeFrame(mutate(7, 1)), 'MESSAGE_MALFORMED'); // reserved
  });
  it('names another wire version as VERSION_MISMATCH', () => {
    const b = encodeFrame('psi', 'x25519', 2, session, 0, new Uint8Array());
    b[2] = 2;
    const e = expectCodeSync(() => decodeFrame(b), 'VERSION_MISMATCH');
    expect(e.details).toMatchObject({ peerVersion: 2, ourVersion: 1 });
  });
  it('never echoes frame contents in an error', () => {
    const b = encodeFrame('psi', 'x25519', 2, session, 0, new TextEncoder().encode('111222333'));
    b[0] = 0;
    const e = expectCodeSync(() => decodeFrame(b), 'MESSAGE_MALFORMED');
    expect(e.message + JSON.stringify(e.details)).not.toContain('111222333');
  });
  it('a chunk whose count disagrees with its bytes, or is empty or too large, is MESSAGE_MALFORMED', () => {
    const f = (count: number, bytes: number) => decodeFrame(encodeFrame('psi', 'x25519', 2, session, count, new Uint8Array(bytes)));
    expectCodeSync(() => checkChunk(f(2, 32), 32, 'x'), 'MESSAGE_MALFORMED');
    expectCodeSync(() => checkChunk(f(1, 33), 32, 'x'), 'MESSAGE_MALFORMED');
    expectCodeSync(() => checkChunk(f(0, 0), 32, 'x'), 'MESSAGE_MALFORMED');
    expectCodeSync(() => checkChunk(f(70000, 70000 * 32), 32, 'x'), 'MESSAGE_MALFORMED');
    expect(() => checkChunk(f(2, 64), 32, 'x')).not.toThrow();
  });
});
