/**
 * A hostile party in the two-party join against the P-256 value layer (join protocol
 * version 4): points that are not on P-256 never reach B's secret column keys (the
 * invalid-curve attack: any (x, y) off P-256 lies on another curve y^2 = x^3 - 3x + b',
 * possibly of small order, or, for an x alone, on the quadratic twist), and the identity,
 * which no honest party sends, is refused where an honest record never holds it.
 */
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import type { KoppelErrorCode } from '../../src/errors/index.js';
import { P256_B, P256_P } from '../../src/group/p256.js';
import { Step } from '../../src/join/messages.js';
import { recordBytes2p, VALUE_ELEMENT_BYTES } from '../../src/join/ops.js';
import type { Channel } from '../../src/transport/channel.js';
import { randomData } from './fixtures.js';
import { honest, runHostile, spy, tamper } from './harness.js';

const Fp = p256.Point.Fp;
const E = VALUE_ELEMENT_BYTES;
const be32 = (v: bigint) => new Uint8Array(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
const big = (b: Uint8Array) => BigInt('0x' + Buffer.from(b).toString('hex'));
const rhs = (x: bigint) => Fp.add(Fp.sub(Fp.mul(Fp.sqr(x), x), Fp.mul(3n, x)), P256_B);
const isSquare = (v: bigint) => v === 0n || Fp.pow(v, (P256_P - 1n) / 2n) === 1n;

const { a, b } = randomData(60, 60, 0.8, 3, 2, 50);
const id = honest;

const run = (wrapA: (c: Channel) => Channel, wrapB: (c: Channel) => Channel, aCode: KoppelErrorCode, bCode: KoppelErrorCode | null) =>
  runHostile(a, b, wrapA, wrapB, aCode, bCode);

describe('hostile group holder (A) against B on P-256: the decryption request', () => {
  it('an off-curve point (x of a real C1, y + 1; both below p): INVALID_POINT at B', async () => {
    await run(
      (c) =>
        tamper(c, Step.DECRYPT, (_count, body) => {
          const y = big(body.subarray(32, 64));
          body.set(be32(Fp.add(y, 1n)), 32);
        }),
      id,
      'INVALID_POINT',
      'INVALID_POINT',
    );
  });

  it('a twist point (an x that is no P-256 point x, any y): INVALID_POINT at B', async () => {
    await run(
      (c) =>
        tamper(c, Step.DECRYPT, (count, body) => {
          let x = big(body.subarray(0, 32));
          while (isSquare(rhs(x))) x = Fp.add(x, 1n);
          // Any y: with y^2 = d (x^3 - 3x + b) for a non-square d it is a point of the quadratic twist.
          const last = (count - 1) * E;
          body.set(be32(x), last);
          body.set(be32(Fp.sqrt(Fp.mul(rhs(x), Fp.neg(1n)))), last + 32); // -1 is a non-square mod p (p = 3 mod 4)
        }),
      id,
      'INVALID_POINT',
      'INVALID_POINT',
    );
  });

  it("the identity as a C1': B answers it with the identity (b_j O = O tells nothing), and A, whose own request it was not, finds the proof invalid (PROOF_INVALID on both sides)", async () => {
    const partials: Uint8Array[] = [];
    await run(
      (c) =>
        tamper(c, Step.DECRYPT, (_count, body) => {
          body.fill(0, 0, E);
        }),
      (c) => spy(c, Step.PARTIALS, partials),
      'PROOF_INVALID',
      'PROOF_INVALID',
    );
    // B sent its partial decryptions of both columns: the identity for the tampered list, points for the others.
    expect(partials).toHaveLength(2);
    for (const f of partials) {
      expect(f.subarray(0, E).every((x) => x === 0)).toBe(true);
      expect(f.subarray(E, 2 * E).some((x) => x !== 0)).toBe(true);
    }
  });
});

describe('hostile value holder (B) against A on P-256: the records', () => {
  const size = recordBytes2p(2);

  /** Each rewrites one record element in B's records chunk (count records, `size` bytes each). */
  const cases: Array<[string, (count: number, body: Uint8Array) => void]> = [
    [
      'a record whose C1 is the identity',
      (_count, body) => {
        body.fill(0, 32, 32 + E); // the first record's C1
      },
    ],
    [
      'a record whose C2 is the identity',
      (count, body) => {
        const at = (count - 1) * size + 32 + 2 * E; // the last record's second C2
        body.fill(0, at, at + E);
      },
    ],
    [
      'a record whose C1 is off the curve (both coordinates below p)',
      (_count, body) => {
        const y = big(body.subarray(32 + 32, 32 + 64));
        body.set(be32(Fp.add(y, 1n)), 32 + 32);
      },
    ],
  ];
  it.each(cases)('%s: INVALID_POINT at A', async (_name, f) => {
    await run(id, (c) => tamper(c, Step.RECORDS, f), 'INVALID_POINT', 'INVALID_POINT');
  });
});
