/**
 * A hostile or broken party in the private join: every deviation gives a typed error on
 * the honest side, never a wrong table.
 */
import { describe, expect, it } from 'vitest';
import type { KoppelErrorCode } from '../../src/errors/index.js';
import { joinGroups, joinValues } from '../../src/join/join.js';
import { Step } from '../../src/join/messages.js';
import { recordBytes2p, VALUE_ELEMENT_BYTES } from '../../src/join/ops.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { toJsonBody } from '../../src/wire/frame.js';
import { randomData } from './fixtures.js';
import { dropsAfter, honest, runHostile, tamper, type HostileRunOptions } from './harness.js';

const { a, b } = randomData(80, 80, 0.8, 3, 2, 50);

const run = (
  wrapA: (c: Channel) => Channel,
  wrapB: (c: Channel) => Channel,
  aCode: KoppelErrorCode | null,
  bCode: KoppelErrorCode | null,
  opts: HostileRunOptions = {},
) => runHostile(a, b, wrapA, wrapB, aCode, bCode, opts);

const id = honest;

describe('hostile value holder (B), two-party variant', () => {
  it('invalid curve points in the ciphertexts of matched records: INVALID_POINT', async () => {
    await run(
      id,
      (c) =>
        tamper(c, Step.RECORDS, (count, body) => {
          for (let i = 0; i < count; i++) body.fill(0xff, i * recordBytes2p(2) + 32, i * recordBytes2p(2) + 32 + VALUE_ELEMENT_BYTES); // C1
          return { count, body };
        }),
      'INVALID_POINT',
      'INVALID_POINT',
    );
  });

  it('a record chunk whose size does not match its count: MESSAGE_MALFORMED', async () => {
    await run(
      id,
      (c) => tamper(c, Step.RECORDS, (count, body) => ({ count, body: body.subarray(0, body.length - 5) })),
      'MESSAGE_MALFORMED',
      'MESSAGE_MALFORMED',
    );
  });

  it('partial decryptions that were not made with its key share: PROOF_INVALID, nothing released', async () => {
    await run(
      id,
      (c) =>
        tamper(c, Step.PARTIALS, (count, body) => {
          body[5] = (body[5] as number) ^ 0x40; // corrupt the first partial decryption
          return { count, body };
        }),
      'PROOF_INVALID',
      'PROOF_INVALID',
    );
  });

  it('a forged proof: PROOF_INVALID', async () => {
    await run(
      id,
      (c) =>
        tamper(c, Step.PARTIALS, (count, body) => {
          body[body.length - 3] = (body[body.length - 3] as number) ^ 1;
          return { count, body };
        }),
      'PROOF_INVALID',
      'PROOF_INVALID',
    );
  });

  it('values above the maximum it declared (sums beyond the bound): SUM_OUT_OF_RANGE, never a wrong number', async () => {
    // B's part ends when A has verified its partial decryptions: A tells B so before its
    // discrete logarithms, whose time B must not see ("Timing", docs/protocols/join.md).
    // So only A reports the sum out of range; only a B that broke its own maximum causes it.
    await run(
      id,
      (c) =>
        tamper(c, Step.HELLO, (count, body) => {
          const hello = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
          return { count, body: toJsonBody({ ...hello, maxValue: 1 }) };
        }),
      'SUM_OUT_OF_RANGE',
      null,
    );
  });

  it('value columns other than the ones A expects: COLUMN_MISMATCH on both sides', async () => {
    await run(id, id, 'COLUMN_MISMATCH', 'COLUMN_MISMATCH', { expectColumns: ['logins', 'messages'] });
  });

  it('another variant or suite: MODE_MISMATCH, SUITE_MISMATCH', async () => {
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const helperSide = createMemoryChannelPair()[0];
    const r = await Promise.allSettled([
      joinGroups(ca, a, { threads: 0 }),
      joinValues(cb, b, { threads: 0, columns: ['x', 'y'], variant: 'helper', helper: helperSide }),
    ]);
    expect(r[0]).toMatchObject({ status: 'rejected', reason: { code: 'MODE_MISMATCH' } });
    await run(id, id, 'SUITE_MISMATCH', 'SUITE_MISMATCH', { bSuite: 'ristretto255' });
  });

  it('stops halfway: CONNECTION_CLOSED, not a hang', async () => {
    await run(id, (c) => dropsAfter(c, 5), 'CONNECTION_CLOSED', null);
  });
});

describe('hostile group holder (A), two-party variant', () => {
  it('a key share without a valid proof of knowledge: PROOF_INVALID at B', async () => {
    await run(
      (c) =>
        tamper(c, Step.KEYS, (count, body) => {
          body[40] = (body[40] as number) ^ 1;
          return { count, body };
        }),
      id,
      'PROOF_INVALID',
      'PROOF_INVALID',
    );
  });

  it('asks for more decryptions than it has lists: LIMIT_EXCEEDED at B', async () => {
    await run(
      (c) =>
        tamper(c, Step.DECRYPT, (count, body) => {
          const more = new Uint8Array(body.length + VALUE_ELEMENT_BYTES);
          more.set(body);
          more.set(body.subarray(0, VALUE_ELEMENT_BYTES), body.length);
          return { count: count + 1, body: more };
        }),
      id,
      'LIMIT_EXCEEDED',
      'LIMIT_EXCEEDED',
    );
  });

  it('an invalid element in the decryption request: INVALID_POINT at B', async () => {
    await run(
      (c) =>
        tamper(c, Step.DECRYPT, (count, body) => {
          body.fill(0xff, 0, VALUE_ELEMENT_BYTES);
          return { count, body };
        }),
      id,
      'INVALID_POINT',
      'INVALID_POINT',
    );
  });

  it('more elements than its lists declare: PROTOCOL_VIOLATION at B', async () => {
    await run((c) => tamper(c, Step.LISTS, (count) => ({ count, body: toJsonBody({ sizes: [1] }) })), id, null, 'PROTOCOL_VIOLATION');
  });

  it('stops halfway: CONNECTION_CLOSED at B', async () => {
    await run((c) => dropsAfter(c, 4), id, null, 'CONNECTION_CLOSED');
  });
});

describe("bad input on the value holder's side", () => {
  it('a value above --max-value is refused before anything is sent: VALUE_OUT_OF_RANGE', async () => {
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const r = await Promise.allSettled([
      joinGroups(ca, a, { threads: 0 }),
      joinValues(cb, [{ id: 'p', values: [51, 0] }], { threads: 0, columns: ['x', 'y'], maxValue: 50 }),
    ]);
    expect(r[1]).toMatchObject({ status: 'rejected', reason: { code: 'VALUE_OUT_OF_RANGE' } });
    expect(r[0]).toMatchObject({ status: 'rejected', reason: { code: 'VALUE_OUT_OF_RANGE' } });
  });
});

describe('resource limits', () => {
  it('lists declared far beyond what B will hold: LIMIT_EXCEEDED at B before any allocation', async () => {
    await run((c) => tamper(c, Step.LISTS, (count) => ({ count, body: toJsonBody({ sizes: [2 ** 31, 2 ** 31] }) })), id, null, 'LIMIT_EXCEEDED');
  });
});
