/**
 * RFC 9497 test vectors for OPRF(ristretto255, SHA-512), OPRF and VOPRF modes: key
 * derivation, blinding, evaluation, batched DLEQ proofs and finalization; plus proof
 * verification failures.
 */
import { describe, expect, it } from 'vitest';
import {
  blind,
  blindEvaluate,
  deriveKeyPair,
  deserializeScalar,
  evaluate,
  finalize,
  generateProof,
  serializeScalar,
  verifyProof,
} from '../../src/oprf/oprf.js';
import { hex, rfc9497Vectors, type Rfc9497Vector } from '../helpers.js';
import { expectCode } from '../helpers/expect-code.js';

const rfc = rfc9497Vectors();
const h = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('RFC 9497 A.1.1: OPRF mode', () => {
  const key = deriveKeyPair(hex(rfc.seed), hex(rfc.keyInfo), 'oprf');
  it('DeriveKeyPair gives skSm', () => expect(h(serializeScalar(key.secretKey))).toBe(rfc.oprf.skSm));
  it.each(rfc.oprf.vectors.map((v, i) => ({ ...v, n: i + 1 })))('test vector $n', (v) => {
    const input = hex(v.input[0] as string);
    const b = blind(input, 'oprf', deserializeScalar(hex(v.blind[0] as string)));
    expect(h(b.blindedElement)).toBe(v.blindedElement[0]);
    const e = blindEvaluate(key.secretKey, b.blindedElement);
    expect(h(e)).toBe(v.evaluationElement[0]);
    expect(h(finalize(input, b.blind, e))).toBe(v.output[0]);
    expect(h(evaluate(key.secretKey, input, 'oprf'))).toBe(v.output[0]);
  });
});

describe('RFC 9497 A.1.2: VOPRF mode, batched proofs', () => {
  const key = deriveKeyPair(hex(rfc.seed), hex(rfc.keyInfo), 'voprf');
  it('DeriveKeyPair gives skSm and pkSm', () => {
    expect(h(serializeScalar(key.secretKey))).toBe(rfc.voprf.skSm);
    expect(h(key.publicKey)).toBe(rfc.voprf.pkSm);
  });
  it.each(rfc.voprf.vectors.map((v, i) => ({ ...v, n: i + 1, size: v.input.length })))('test vector $n, batch size $size', (v) => {
    const inputs = v.input.map(hex);
    const blinds = inputs.map((x, i) => blind(x, 'voprf', deserializeScalar(hex(v.blind[i] as string))));
    expect(blinds.map((b) => h(b.blindedElement))).toEqual(v.blindedElement);
    const evaluated = blinds.map((b) => blindEvaluate(key.secretKey, b.blindedElement));
    expect(evaluated.map(h)).toEqual(v.evaluationElement);
    const proof = generateProof(
      key.secretKey,
      blinds.map((b) => b.blindedElement),
      evaluated,
      deserializeScalar(hex(v.proofRandomScalar as string)),
    );
    expect(h(proof)).toBe(v.proof);
    verifyProof(
      key.publicKey,
      blinds.map((b) => b.blindedElement),
      evaluated,
      proof,
    );
    expect(inputs.map((x, i) => h(finalize(x, (blinds[i] as { blind: bigint }).blind, evaluated[i] as Uint8Array)))).toEqual(v.output);
  });
  it('a proof does not verify for another key, a changed evaluation, or a changed proof', async () => {
    const v = rfc.voprf.vectors[2] as Rfc9497Vector;
    const blinded = v.blindedElement.map(hex);
    const evaluated = v.evaluationElement.map(hex);
    const proof = hex(v.proof as string);
    const other = deriveKeyPair(new Uint8Array(32).fill(7), hex(rfc.keyInfo), 'voprf');
    await expectCode(() => verifyProof(other.publicKey, blinded, evaluated, proof), 'PROOF_INVALID');
    await expectCode(() => verifyProof(key.publicKey, blinded, [evaluated[1] as Uint8Array, evaluated[0] as Uint8Array], proof), 'PROOF_INVALID');
    const bad = Uint8Array.from(proof);
    bad[0] = (bad[0] as number) ^ 1;
    await expectCode(() => verifyProof(key.publicKey, blinded, evaluated, bad), 'PROOF_INVALID');
    await expectCode(() => verifyProof(key.publicKey, blinded, evaluated, proof.subarray(0, 63)), 'MESSAGE_MALFORMED');
  });
  it('random blinds and proofs round-trip', () => {
    const inputs = ['111222333', '123456782', '012345672'].map((s) => new TextEncoder().encode(s));
    const bl = inputs.map((x) => blind(x, 'voprf'));
    const ev = bl.map((b) => blindEvaluate(key.secretKey, b.blindedElement));
    verifyProof(
      key.publicKey,
      bl.map((b) => b.blindedElement),
      ev,
      generateProof(
        key.secretKey,
        bl.map((b) => b.blindedElement),
        ev,
      ),
    );
    inputs.forEach((x, i) => expect(h(finalize(x, (bl[i] as { blind: bigint }).blind, ev[i] as Uint8Array))).toBe(h(evaluate(key.secretKey, x, 'voprf'))));
  });
  it('invalid elements from a client are INVALID_POINT', async () => {
    await expectCode(() => blindEvaluate(key.secretKey, new Uint8Array(32)), 'INVALID_POINT');
    await expectCode(() => blindEvaluate(key.secretKey, new Uint8Array(32).fill(0xff)), 'INVALID_POINT');
    await expectCode(() => blindEvaluate(key.secretKey, new Uint8Array(31)), 'INVALID_POINT');
  });
});

describe('interoperates with another RFC 9497 implementation (@noble/curves ristretto255_oprf)', () => {
  it('our client against its server, and its client against our server, give the same outputs', async () => {
    const { ristretto255_oprf } = await import('@noble/curves/ed25519.js');
    const noble = ristretto255_oprf.oprf;
    const keys = noble.generateKeyPair();
    const sk = deserializeScalar(keys.secretKey);
    for (const text of ['111222333', 'Zoë', '']) {
      const input = new TextEncoder().encode(text);
      const mine = blind(input, 'oprf');
      const theirs = noble.blindEvaluate(keys.secretKey, mine.blindedElement);
      const out = finalize(input, mine.blind, theirs);
      const nb = noble.blind(input);
      const ours = blindEvaluate(sk, nb.blinded);
      expect(h(noble.finalize(input, nb.blind, ours))).toBe(h(out));
      expect(h(out)).toBe(h(evaluate(sk, input, 'oprf')));
    }
  });
});

describe('deserializeScalar: canonical and non-zero only', () => {
  // The order of ristretto255, l = 2^252 + 27742317777372353535851937790883648493.
  const l = 2n ** 252n + 27742317777372353535851937790883648493n;
  const le = (x: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));

  it('decodes 1 and l - 1, and round-trips through serializeScalar', () => {
    expect(deserializeScalar(le(1n))).toBe(1n);
    expect(deserializeScalar(le(l - 1n))).toBe(l - 1n);
    expect(h(serializeScalar(deserializeScalar(le(l - 1n))))).toBe(h(le(l - 1n)));
  });

  it('refuses zero, l, an all-ones encoding and a wrong length with MESSAGE_MALFORMED', async () => {
    const zero = await expectCode(() => deserializeScalar(new Uint8Array(32)), 'MESSAGE_MALFORMED');
    expect(zero.message).toMatch(/zero/);
    await expectCode(() => deserializeScalar(le(l)), 'MESSAGE_MALFORMED');
    await expectCode(() => deserializeScalar(new Uint8Array(32).fill(0xff)), 'MESSAGE_MALFORMED');
    await expectCode(() => deserializeScalar(new Uint8Array(31)), 'MESSAGE_MALFORMED');
  });

  it('a VOPRF proof with a zero challenge or a zero response is MESSAGE_MALFORMED, not an untyped error', async () => {
    const key = deriveKeyPair(hex(rfc.seed), hex(rfc.keyInfo), 'voprf');
    const v = rfc.voprf.vectors[0] as Rfc9497Vector;
    const proof = hex(v.proof as string);
    const zeroChallenge = Uint8Array.from(proof);
    zeroChallenge.fill(0, 0, 32);
    const zeroResponse = Uint8Array.from(proof);
    zeroResponse.fill(0, 32, 64);
    for (const bad of [zeroChallenge, zeroResponse, new Uint8Array(64)]) {
      await expectCode(() => verifyProof(key.publicKey, v.blindedElement.map(hex), v.evaluationElement.map(hex), bad), 'MESSAGE_MALFORMED');
    }
  });
});
