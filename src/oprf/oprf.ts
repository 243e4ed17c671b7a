/**
 * RFC 9497 OPRF(ristretto255, SHA-512) in OPRF (mode 0x00) and VOPRF (mode 0x01) modes:
 * the protocol core for the blind pseudonymisation service. Group arithmetic from
 * @noble/curves; hashing through node:crypto SHA-512 (expand_message_xmd).
 *
 * Client: `blind` -> server: `blindEvaluate` (+ a batched DLEQ proof in VOPRF mode)
 * -> client: `finalize` (after verifying the proof). The server never sees the input,
 * the client never sees the key; the output is SHA-512 over the input and the
 * unblinded element.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { KoppelError } from '../errors/index.js';
import { xmdFor } from '../group/h2c.js';
import { concatBytes, randomBytes } from '../util/bytes.js';

const Point = ristretto255.Point;
type RPoint = InstanceType<typeof Point>;
const Fn = Point.Fn;
// eslint-disable-next-line @typescript-eslint/unbound-method -- noble's hasher does not use this
const deriveToCurve = ristretto255_hasher.deriveToCurve as (uniform: Uint8Array) => RPoint;
const enc = new TextEncoder();

/** The modes implemented. */
export type OprfMode = 'oprf' | 'voprf';
const MODE_BYTE: Record<OprfMode, number> = { oprf: 0, voprf: 1 };

/** Bytes of a serialized element or scalar. */
export const ELEMENT_BYTES = 32;
/** Bytes of a proof (c || s). */
export const PROOF_BYTES = 64;

const concat = concatBytes;

/** I2OSP(n, 2). */
function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

/** len-prefixed: I2OSP(len(x), 2) || x. */
function lp(x: Uint8Array): Uint8Array {
  if (x.length > 0xffff) throw new KoppelError('INVALID_ARGUMENT', 'An OPRF input is longer than 65535 bytes.');
  return concat(u16(x.length), x);
}

/** contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || "ristretto255-SHA512". */
export function contextString(mode: OprfMode): Uint8Array {
  return concat(enc.encode('OPRFV1-'), new Uint8Array([MODE_BYTE[mode]]), enc.encode('-ristretto255-SHA512'));
}

function leToScalar(bytes: Uint8Array): bigint {
  let x = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i] as number);
  return Fn.create(x);
}

/** HashToScalar: expand_message_xmd(SHA-512, 64 bytes) read little-endian, mod the group order. */
export function hashToScalar(input: Uint8Array, dst: Uint8Array): bigint {
  return leToScalar(xmdFor(dst).expand(input, 64));
}

/** HashToGroup: hash_to_ristretto255 with DST "HashToGroup-" || contextString. */
function hashToGroup(input: Uint8Array, mode: OprfMode): RPoint {
  return deriveToCurve(xmdFor(concat(enc.encode('HashToGroup-'), contextString(mode))).expand(input, 64));
}

/** A 32-byte scalar encoding (little-endian). */
export function serializeScalar(s: bigint): Uint8Array {
  return Fn.toBytes(s);
}

/**
 * Decodes a canonical, non-zero scalar (32 bytes little-endian, below the group order).
 * Zero is refused: no scalar koppel decodes (a blind, a key, a proof's challenge or
 * response) is zero except with negligible probability, and multiplying by zero would
 * otherwise fail inside the curve library with an untyped error.
 *
 * @throws KoppelError `MESSAGE_MALFORMED` for a wrong length, an encoding at or above the
 *   group order, or zero
 */
export function deserializeScalar(b: Uint8Array, what = 'scalar'): bigint {
  if (b.length !== 32) throw new KoppelError('MESSAGE_MALFORMED', `An OPRF ${what} must be 32 bytes.`);
  let s: bigint;
  try {
    s = Fn.fromBytes(b);
  } catch (e) {
    throw new KoppelError('MESSAGE_MALFORMED', `An OPRF ${what} is not a canonical scalar.`, { cause: e });
  }
  if (s === 0n) throw new KoppelError('MESSAGE_MALFORMED', `An OPRF ${what} is zero.`);
  return s;
}

/** Decodes a peer element: canonical RFC 9496 encoding, not the identity. */
function deserializeElement(b: Uint8Array, index = 0): RPoint {
  if (b.length !== ELEMENT_BYTES) throw new KoppelError('INVALID_POINT', 'An OPRF element must be 32 bytes.', { details: { index } });
  let p: RPoint;
  try {
    p = Point.fromBytes(b);
  } catch (e) {
    throw new KoppelError('INVALID_POINT', 'An OPRF element is not a valid ristretto255 encoding.', { details: { index }, cause: e });
  }
  if (p.is0()) throw new KoppelError('INVALID_POINT', 'An OPRF element is the identity.', { details: { index } });
  return p;
}

/** A random non-zero scalar from the platform CSPRNG. */
export function randomScalar(): bigint {
  for (;;) {
    const s = leToScalar(randomBytes(64));
    if (s !== 0n) return s;
  }
}

/** A server key pair. */
export interface OprfKeyPair {
  readonly secretKey: bigint;
  readonly publicKey: Uint8Array;
}

/** DeriveKeyPair(seed, info) of RFC 9497 section 3.2.1. */
export function deriveKeyPair(seed: Uint8Array, info: Uint8Array, mode: OprfMode): OprfKeyPair {
  if (seed.length !== 32) throw new KoppelError('INVALID_KEY', 'An OPRF key seed must be 32 bytes.');
  const deriveInput = concat(seed, lp(info));
  const dst = concat(enc.encode('DeriveKeyPair'), contextString(mode));
  for (let counter = 0; counter <= 255; counter++) {
    const sk = hashToScalar(concat(deriveInput, new Uint8Array([counter])), dst);
    if (sk !== 0n) return { secretKey: sk, publicKey: Point.BASE.multiply(sk).toBytes() };
  }
  throw new KoppelError('INVALID_KEY', 'DeriveKeyPair found no key for this seed (probability 2^-2000); use another seed.');
}

/** Blind(input): returns the blind and the blinded element. `blind` is for test vectors only. */
export function blind(input: Uint8Array, mode: OprfMode, blindScalar: bigint = randomScalar()): { blind: bigint; blindedElement: Uint8Array } {
  const inputElement = hashToGroup(input, mode);
  if (inputElement.is0()) throw new KoppelError('INVALID_IDENTIFIER', 'This input hashes to the identity element (probability 2^-252); it cannot be used.');
  return { blind: blindScalar, blindedElement: inputElement.multiply(blindScalar).toBytes() };
}

/** BlindEvaluate(skS, blindedElement), with peer validation. */
export function blindEvaluate(secretKey: bigint, blindedElement: Uint8Array, index = 0): Uint8Array {
  return deserializeElement(blindedElement, index).multiply(secretKey).toBytes();
}

/** Finalize(input, blind, evaluatedElement): SHA-512 over the input and the unblinded element. */
export function finalize(input: Uint8Array, blindScalar: bigint, evaluatedElement: Uint8Array, index = 0): Uint8Array {
  const n = deserializeElement(evaluatedElement, index).multiply(Fn.inv(blindScalar));
  return finalizeHash(input, n.toBytes());
}

function finalizeHash(input: Uint8Array, unblinded: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash('sha512')
      .update(concat(lp(input), lp(unblinded), enc.encode('Finalize')))
      .digest(),
  );
}

/** The server's own evaluation of an input (no blinding): EvaluateUnblinded, for testing and key checks. */
export function evaluate(secretKey: bigint, input: Uint8Array, mode: OprfMode): Uint8Array {
  return finalizeHash(input, hashToGroup(input, mode).multiply(secretKey).toBytes());
}

function composites(b: RPoint, c: RPoint[], d: RPoint[], mode: OprfMode, k?: bigint): { m: RPoint; z: RPoint } {
  const ctx = contextString(mode);
  const seedDst = concat(enc.encode('Seed-'), ctx);
  const seed = new Uint8Array(
    createHash('sha512')
      .update(concat(lp(b.toBytes()), lp(seedDst)))
      .digest(),
  );
  const scalarDst = concat(enc.encode('HashToScalar-'), ctx);
  let m = Point.ZERO;
  let z = Point.ZERO;
  for (let i = 0; i < c.length; i++) {
    const ci = (c[i] as RPoint).toBytes();
    const di = (d[i] as RPoint).toBytes();
    const weight = hashToScalar(concat(lp(seed), u16(i), lp(ci), lp(di), enc.encode('Composite')), scalarDst);
    m = m.add((c[i] as RPoint).multiply(weight));
    if (k === undefined) z = z.add((d[i] as RPoint).multiply(weight));
  }
  return { m, z: k === undefined ? z : m.multiply(k) };
}

function challenge(b: RPoint, m: RPoint, z: RPoint, t2: RPoint, t3: RPoint, mode: OprfMode): bigint {
  const input = concat(lp(b.toBytes()), lp(m.toBytes()), lp(z.toBytes()), lp(t2.toBytes()), lp(t3.toBytes()), enc.encode('Challenge'));
  return hashToScalar(input, concat(enc.encode('HashToScalar-'), contextString(mode)));
}

/**
 * GenerateProof: one batched DLEQ proof that every evaluated element is its blinded
 * element raised to the key behind `publicKey`. `r` is for test vectors only.
 */
export function generateProof(secretKey: bigint, blinded: Uint8Array[], evaluated: Uint8Array[], r: bigint = randomScalar()): Uint8Array {
  const b = Point.BASE.multiply(secretKey);
  const c = blinded.map((x, i) => deserializeElement(x, i));
  const d = evaluated.map((x, i) => deserializeElement(x, i));
  const { m, z } = composites(b, c, d, 'voprf', secretKey);
  const t2 = Point.BASE.multiply(r);
  const t3 = m.multiply(r);
  const ch = challenge(b, m, z, t2, t3, 'voprf');
  const s = Fn.sub(r, Fn.mul(ch, secretKey));
  return concat(serializeScalar(ch), serializeScalar(s));
}

/**
 * VerifyProof: checks the batched DLEQ proof against the server's public key.
 *
 * @throws KoppelError `PROOF_INVALID` when it does not verify; `MESSAGE_MALFORMED` or
 *   `INVALID_POINT` for malformed inputs
 */
export function verifyProof(publicKey: Uint8Array, blinded: Uint8Array[], evaluated: Uint8Array[], proof: Uint8Array): void {
  if (proof.length !== PROOF_BYTES) throw new KoppelError('MESSAGE_MALFORMED', 'A VOPRF proof must be 64 bytes.');
  if (blinded.length !== evaluated.length || blinded.length === 0)
    throw new KoppelError('MESSAGE_MALFORMED', 'A VOPRF batch needs as many evaluated as blinded elements, at least one.');
  const b = deserializeElement(publicKey);
  const c = blinded.map((x, i) => deserializeElement(x, i));
  const d = evaluated.map((x, i) => deserializeElement(x, i));
  const ch = deserializeScalar(proof.subarray(0, 32), 'proof challenge');
  const s = deserializeScalar(proof.subarray(32, 64), 'proof response');
  const { m, z } = composites(b, c, d, 'voprf');
  const t2 = Point.BASE.multiply(s).add(b.multiply(ch));
  const t3 = m.multiply(s).add(z.multiply(ch));
  if (challenge(b, m, z, t2, t3, 'voprf') !== ch) {
    throw new KoppelError(
      'PROOF_INVALID',
      "The service's proof does not verify: it did not evaluate with the key it published. Stop and contact the service operator.",
    );
  }
}
