/**
 * The `ristretto255` suite: RFC 9380 hash_to_ristretto255 and constant-time scalar
 * multiplication from @noble/curves. Portable (no OpenSSL needed) and a full prime-order
 * group, but about 30x slower per multiplication than the `x25519` suite here.
 *
 * Peer elements are decoded with RFC 9496 decoding, which rejects non-canonical and
 * invalid encodings; the identity is rejected too.
 *
 * @packageDocumentation
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { KoppelError } from '../errors/index.js';
import { randomBytes } from '../util/bytes.js';
import { checkPacked, type GroupSuite, type ScalarPair } from './types.js';
import { xmdFor } from './h2c.js';

const Point = ristretto255.Point;
// eslint-disable-next-line @typescript-eslint/unbound-method -- noble's hasher does not use this
const deriveToCurve = ristretto255_hasher.deriveToCurve as (uniform: Uint8Array) => InstanceType<typeof Point>;
const Fn = Point.Fn;

function scalarToBytes(s: bigint): Uint8Array {
  return Fn.toBytes(s);
}

/** Decodes and checks one peer element. */
function decodeRistretto(bytes: Uint8Array, index: number): InstanceType<typeof Point> {
  let p: InstanceType<typeof Point>;
  try {
    p = Point.fromBytes(bytes);
  } catch (e) {
    throw new KoppelError('INVALID_POINT', 'An element from the peer is not a valid ristretto255 encoding.', { details: { index }, cause: e });
  }
  if (p.is0()) throw new KoppelError('INVALID_POINT', 'An element from the peer is the identity.', { details: { index } });
  return p;
}

/** The `ristretto255` suite. */
export const ristretto255Suite: GroupSuite = Object.freeze({
  name: 'ristretto255' as const,
  elementBytes: 32,
  hashToGroup(inputs: readonly (string | Uint8Array)[], dst: Uint8Array): Uint8Array {
    // hash_to_ristretto255 (RFC 9380 appendix B): expand_message_xmd(SHA-512) to 64
    // bytes (node:crypto's SHA-512), then RFC 9496 element derivation (@noble/curves).
    const xmd = xmdFor(dst);
    const out = new Uint8Array(inputs.length * 32);
    inputs.forEach((m, i) => out.set(deriveToCurve(xmd.expand(m, 64)).toBytes(), i * 32));
    return out;
  },
  randomScalar(): ScalarPair {
    for (;;) {
      // 64 bytes reduced mod l: bias below 2^-250.
      const wide = randomBytes(64);
      const s = Fn.create(BigInt('0x' + Buffer.from(wide).toString('hex')));
      wide.fill(0);
      if (s !== 0n) return { scalar: scalarToBytes(s), inverse: scalarToBytes(Fn.inv(s)) };
    }
  },
  multiplyAsync(scalar: Uint8Array, packed: Uint8Array): Promise<Uint8Array> {
    try {
      return Promise.resolve(ristretto255Suite.multiply(scalar, packed));
    } catch (e) {
      return Promise.reject(e);
    }
  },
  multiply(scalar: Uint8Array, packed: Uint8Array): Uint8Array {
    const n = checkPacked(ristretto255Suite, packed);
    const s = Fn.fromBytes(scalar);
    const out = new Uint8Array(packed.length);
    for (let i = 0; i < n; i++) {
      const p = decodeRistretto(packed.subarray(i * 32, i * 32 + 32), i);
      out.set(p.multiply(s).toBytes(), i * 32);
    }
    return out;
  },
});
