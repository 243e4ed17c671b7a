/**
 * The libsodium-backed OPRF (the service's and client's hot path) passes the same
 * RFC 9497 vectors as the reference implementation and agrees with it, and with
 * @noble/curves' ristretto255_oprf, on random inputs.
 */
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { FastOprf } from '../../src/oprf/fast.js';
import { deriveKeyPair, evaluate, serializeScalar } from '../../src/oprf/oprf.js';
import { randomBytes } from '../../src/util/bytes.js';
import { hex, rfc9497Vectors } from '../helpers.js';
import { expectCode } from '../helpers/expect-code.js';

const rfc = rfc9497Vectors();
const h = (b: Uint8Array) => Buffer.from(b).toString('hex');
const packed = (xs: string[]) => Uint8Array.from(Buffer.concat(xs.map((x) => Buffer.from(x, 'hex'))));

describe.each(['oprf', 'voprf'] as const)('FastOprf, RFC 9497 %s vectors', (mode) => {
  const key = deriveKeyPair(hex(rfc.seed), hex(rfc.keyInfo), mode);
  const sk = serializeScalar(key.secretKey);
  it.each(rfc[mode].vectors.map((v, i) => ({ ...v, n: i + 1 })))('test vector $n', async (v) => {
    const f = await FastOprf.load(mode);
    const inputs = v.input.map(hex);
    const { blinds, blinded } = f.blind(inputs, v.blind.map(hex));
    expect(h(blinded)).toBe(v.blindedElement.join(''));
    const evaluated = f.evaluate(sk, blinded);
    expect(h(evaluated)).toBe(v.evaluationElement.join(''));
    expect(f.finalize(inputs, blinds, evaluated).map(h)).toEqual(v.output);
    if (mode === 'voprf') {
      const proof = f.prove(sk, blinded, evaluated, hex(v.proofRandomScalar as string));
      expect(h(proof)).toBe(v.proof);
      f.verify(f.publicKey(sk), blinded, evaluated, proof);
    }
  });
});

describe('FastOprf cross-checks', () => {
  it('agrees with the reference implementation and with @noble/curves ristretto255_oprf on random inputs', async () => {
    const f = await FastOprf.load('voprf');
    const key = deriveKeyPair(randomBytes(32), new Uint8Array(0), 'voprf');
    const sk = serializeScalar(key.secretKey);
    const inputs = Array.from({ length: 8 }, () => randomBytes(9));
    const { blinds, blinded } = f.blind(inputs);
    const evaluated = f.evaluate(sk, blinded);
    const proof = f.prove(sk, blinded, evaluated);
    f.verify(key.publicKey, blinded, evaluated, proof);
    const ours = f.finalize(inputs, blinds, evaluated);
    const noble = ristretto255_oprf.voprf;
    inputs.forEach((x, i) => {
      expect(h(ours[i] as Uint8Array)).toBe(h(evaluate(key.secretKey, x, 'voprf')));
    });
    // noble's client verifies our server's batched proof.
    const els = Array.from({ length: 8 }, (_, i) => ({ blinded: blinded.subarray(i * 32, i * 32 + 32), evaluated: evaluated.subarray(i * 32, i * 32 + 32) }));
    const items = els.map((e, i) => ({ input: inputs[i] as Uint8Array, blind: blinds[i] as Uint8Array, evaluated: e.evaluated, blinded: e.blinded }));
    expect(noble.finalizeBatch(items, key.publicKey, proof).map(h)).toEqual(ours.map(h));
    const forged = proof.slice();
    forged[40] = (forged[40] as number) ^ 1;
    expect(() => noble.finalizeBatch(items, key.publicKey, forged)).toThrow();
  });

  it('refuses invalid blinded elements, a wrong proof, and a proof under another key', async () => {
    const f = await FastOprf.load('voprf');
    const sk = serializeScalar(deriveKeyPair(randomBytes(32), new Uint8Array(0), 'voprf').secretKey);
    await expectCode(() => f.evaluate(sk, new Uint8Array(32)), 'INVALID_POINT');
    await expectCode(() => f.evaluate(sk, new Uint8Array(32).fill(0xff)), 'INVALID_POINT');
    await expectCode(() => f.evaluate(sk, new Uint8Array(31)), 'MESSAGE_MALFORMED');
    const { blinded } = f.blind([randomBytes(4), randomBytes(4)]);
    const evaluated = f.evaluate(sk, blinded);
    const proof = f.prove(sk, blinded, evaluated);
    const other = serializeScalar(deriveKeyPair(randomBytes(32), new Uint8Array(0), 'voprf').secretKey);
    await expectCode(() => f.verify(f.publicKey(other), blinded, evaluated, proof), 'PROOF_INVALID');
    const swapped = packed([h(evaluated.subarray(32)), h(evaluated.subarray(0, 32))]);
    await expectCode(() => f.verify(f.publicKey(sk), blinded, swapped, proof), 'PROOF_INVALID');
  });
});
