/**
 * Round trips of the PSI control-message codecs, and their refusal of anything else
 * (extra fields are dropped by the exact codecs, wrong types refused).
 */
import { describe, expect, it } from 'vitest';
import { isRight } from 'fp-ts/lib/Either.js';
import { Abort, Done, Hello, TagsStart } from '../../src/psi/messages.js';
import { decodeFrame, encodeFrame, jsonBody, toJsonBody } from '../../src/wire/frame.js';
import { decode } from '../../src/wire/codec.js';

const session = new Uint8Array(16).fill(3);
const roundTrip = (value: unknown) => jsonBody(decodeFrame(encodeFrame('psi', 'x25519', 1, session, 0, toJsonBody(value))), 'x');

describe('PSI control messages', () => {
  const cases: Array<[string, Parameters<typeof decode>[0], unknown]> = [
    ['Hello', Hello, { protocol: 'koppel-psi', version: 1, role: 'client', mode: 'payload', suite: 'ristretto255' }],
    ['Done', Done, { count: 123456 }],
    ['TagsStart', TagsStart, { count: 7, payloadBytes: 300 }],
    ['Abort', Abort, { code: 'SUITE_MISMATCH' }],
  ];
  it.each(cases)('%s round-trips through a frame', (_, codec, value) => {
    const r = decode(codec, roundTrip(value), 'm');
    expect(isRight(r) && r.right).toEqual(value);
  });
  it('exact codecs strip unknown fields', () => {
    const r = decode(Done, roundTrip({ count: 1, extra: 'x' }), 'm');
    expect(isRight(r) && r.right).toEqual({ count: 1 });
  });
  it.each([
    ['Hello', Hello, { protocol: 'other', version: 1, role: 'client', mode: 'intersection', suite: 'x25519' }],
    ['Hello', Hello, { protocol: 'koppel-psi', version: 1.5, role: 'client', mode: 'intersection', suite: 'x25519' }],
    ['Done', Done, { count: -1 }],
    ['Done', Done, { count: '5' }],
    ['TagsStart', TagsStart, { count: 1, payloadBytes: 70000 }],
    ['Abort', Abort, { code: 'NOT_A_CODE' }],
  ] as Array<[string, Parameters<typeof decode>[0], unknown]>)('%s refuses %j with MESSAGE_MALFORMED, naming no value', (_, codec, value) => {
    const r = decode(codec, value, 'm');
    expect(isRight(r)).toBe(false);
    if (!isRight(r)) {
      expect(r.left.code).toBe('MESSAGE_MALFORMED');
      expect(r.left.message).not.toMatch(/other|NOT_A_CODE|70000/);
    }
  });
});
