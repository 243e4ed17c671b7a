/**
 * The `x25519` suite: Elligator 2 u-coordinates hashed per RFC 9380, multiplied by
 * X25519 in OpenSSL (node:crypto), about 28x faster than pure JavaScript here.
 *
 * Scalars. X25519 clamps every scalar to 2^254 + 8t (0 <= t < 2^251), so a scalar is
 * drawn already clamped. To undo a multiplication, a party needs a clamped s' with
 * s' = a^-1 (mod q), q = 2^252 + 27742317777372353535851937790883648493 the prime
 * order. The residue class of a^-1 contains exactly one multiple of 8 in [0, 8q); it
 * is a clamped scalar exactly when it lies in [2^254, 2^255), which holds for about
 * half of all a, so `a` is redrawn until it does (two draws on average).
 *
 * Why this is sound: a clamped scalar is a multiple of 8, so the first multiplication
 * maps the (possibly cofactor-carrying) Elligator point Q = P + T (P of order q, T of
 * order dividing 8) to [a]P; then [s']([b][a]P) = [b]P because s'a = 1 (mod q), and
 * the server's own [b]Q_y is also [b]P_y. Equal identifiers give equal results.
 *
 * Backends: OpenSSL through node:crypto where it has X25519 (every supported Node.js),
 * otherwise WebCrypto's X25519 (`crypto.subtle`, asynchronous, about 1.5x slower here).
 * Both are checked against each other and against @noble/curves in the tests.
 *
 * Validation of peer elements: a u must be a canonical encoding (< p, top bit clear).
 * X25519 is twist-secure, so u on the twist leaks nothing useful about the scalar;
 * low-order inputs make OpenSSL return an error (an all-zero result), which becomes
 * `INVALID_POINT`.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import * as nodeCrypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { randomBytes } from '../util/bytes.js';
import { decodeLE, elligator2U, encodeU, powMod } from './elligator2.js';
import { hashToField25519, xmdFor } from './h2c.js';
import { checkPacked, type GroupSuite, type ScalarPair } from './types.js';
import { isCanonicalU } from './u-coordinate.js';

/** The prime order of the curve25519 base point subgroup. */
export const Q25519 = (1n << 252n) + 27742317777372353535851937790883648493n;
const TWO_254 = 1n << 254n;
const TWO_255 = 1n << 255n;
/** PKCS#8 DER prefix of an X25519 private key (RFC 8410). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Clamps 32 bytes as RFC 7748 decodeScalar25519 does. */
export function clamp(bytes: Uint8Array): Uint8Array {
  bytes[0] = (bytes[0] as number) & 248;
  bytes[31] = ((bytes[31] as number) & 127) | 64;
  return bytes;
}

/**
 * The clamped representative of a^-1 mod q, or undefined when none exists.
 * `a` is a clamped scalar (an integer multiple of 8 in [2^254, 2^255)).
 */
export function clampedInverse(a: bigint): bigint | undefined {
  const inv = powMod(a % Q25519, Q25519 - 2n, Q25519);
  // The multiple of 8 in inv's class mod q: inv + k q with k = -inv * q^-1 (mod 8); q = 5 (mod 8), q^-1 = 5 (mod 8).
  const k = (((-inv * 5n) % 8n) + 8n) % 8n;
  const r = inv + k * Q25519;
  return r >= TWO_254 && r < TWO_255 ? r : undefined;
}

function privateKey(scalar: Uint8Array): KeyObject {
  return nodeCrypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
}

/** Throws unless element `i` of `buf` is a canonical u-coordinate. */
function checkCanonical(buf: Uint8Array, i: number): void {
  if (!isCanonicalU(buf, i * 32)) {
    throw new KoppelError('INVALID_POINT', 'An element from the peer is not a canonical curve25519 u-coordinate.', { details: { index: i } });
  }
}

function lowOrder(i: number, cause: unknown): KoppelError {
  return new KoppelError('INVALID_POINT', 'An element from the peer is of low order (X25519 gave the all-zero result).', { details: { index: i }, cause });
}

function nodeMultiply(scalar: Uint8Array, packed: Uint8Array): Uint8Array {
  const n = checkPacked(x25519Suite, packed);
  const key = privateKey(scalar);
  const out = new Uint8Array(packed.length);
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  for (let i = 0; i < n; i++) {
    checkCanonical(buf, i);
    const off = i * 32;
    let shared: Buffer;
    try {
      // JWK import is about 12x cheaper than DER (SPKI) for a public key: ~9 us against ~108 us here.
      const pub = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: buf.toString('base64url', off, off + 32) }, format: 'jwk' });
      shared = nodeCrypto.diffieHellman({ privateKey: key, publicKey: pub });
    } catch (e) {
      throw lowOrder(i, e);
    }
    out.set(shared, off);
  }
  return out;
}

async function webCryptoMultiply(scalar: Uint8Array, packed: Uint8Array): Promise<Uint8Array> {
  const n = checkPacked(x25519Suite, packed);
  const subtle = globalThis.crypto.subtle;
  const pkcs8 = new Uint8Array([...PKCS8_PREFIX, ...scalar]);
  const key = await subtle.importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
  pkcs8.fill(0);
  const out = new Uint8Array(packed.length);
  for (let i = 0; i < n; i++) checkCanonical(packed, i);
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      try {
        const pub = await subtle.importKey('raw', packed.slice(i * 32, i * 32 + 32), { name: 'X25519' }, false, []);
        out.set(new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub } as unknown as { name: 'ECDH'; public: typeof pub }, key, 256)), i * 32);
      } catch (e) {
        throw lowOrder(i, e);
      }
    }),
  );
  return out;
}

/** True when node:crypto offers X25519 (OpenSSL); otherwise WebCrypto is used. */
export const HAS_NODE_X25519 = typeof nodeCrypto.diffieHellman === 'function' && typeof nodeCrypto.createPublicKey === 'function';

function makeSuite(backend: 'node' | 'webcrypto'): GroupSuite {
  const suite: GroupSuite = Object.freeze({
    name: 'x25519' as const,
    elementBytes: 32,
    hashToGroup(inputs: readonly (string | Uint8Array)[], dst: Uint8Array): Uint8Array {
      const xmd = xmdFor(dst);
      const us = inputs.map((m) => hashToField25519(xmd, m));
      const out = new Uint8Array(inputs.length * 32);
      elligator2U(us).forEach((u, i) => encodeU(u, out, i * 32));
      return out;
    },
    randomScalar(): ScalarPair {
      for (;;) {
        const bytes = clamp(randomBytes(32));
        const inv = clampedInverse(decodeLE(bytes));
        if (inv !== undefined) return { scalar: bytes, inverse: encodeU(inv) };
        bytes.fill(0);
      }
    },
    multiply(scalar: Uint8Array, packed: Uint8Array): Uint8Array {
      if (backend !== 'node') throw new KoppelError('INTERNAL', 'This runtime has only asynchronous X25519 (WebCrypto): use multiplyAsync.');
      return nodeMultiply(scalar, packed);
    },
    multiplyAsync(scalar: Uint8Array, packed: Uint8Array): Promise<Uint8Array> {
      if (backend === 'webcrypto') return webCryptoMultiply(scalar, packed);
      try {
        return Promise.resolve(nodeMultiply(scalar, packed));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  });
  return suite;
}

/** The `x25519` suite: OpenSSL through node:crypto where available, else WebCrypto. */
export const x25519Suite: GroupSuite = makeSuite(HAS_NODE_X25519 ? 'node' : 'webcrypto');

/** The `x25519` suite on WebCrypto only (what runtimes without node:crypto use), for cross-checks. */
export const x25519WebCryptoSuite: GroupSuite = makeSuite('webcrypto');
