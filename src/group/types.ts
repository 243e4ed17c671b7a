/**
 * The group interface every protocol is written against; the two suites behind it
 * (docs/groups.md):
 *
 * | suite | hash to group | scalar multiplication | element |
 * |---|---|---|---|
 * | `x25519` | RFC 9380 hash_to_field + Elligator 2, u-coordinate only | X25519 (RFC 7748) in OpenSSL via node:crypto | 32-byte little-endian u |
 * | `ristretto255` | RFC 9380 hash_to_ristretto255 | @noble/curves | 32-byte RFC 9496 encoding |
 *
 * Elements travel packed: `n` elements are one `Uint8Array` of `n * 32` bytes, so
 * batches move between threads and sockets without per-element objects.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';

/** The names of the group suites. */
export type SuiteName = 'x25519' | 'ristretto255';

/** Every suite name, for validating user input and peer messages. */
export const SUITE_NAMES: readonly SuiteName[] = Object.freeze(['x25519', 'ristretto255']);

/** A secret scalar and the scalar that undoes it. Wipe with {@link wipeScalar}. */
export interface ScalarPair {
  /** The scalar, 32 bytes in the suite's encoding. */
  readonly scalar: Uint8Array;
  /** A scalar whose multiplication undoes `scalar` on prime-order elements. */
  readonly inverse: Uint8Array;
}

/** Overwrites both halves of a scalar pair with zeros. */
export function wipeScalar(s: ScalarPair): void {
  s.scalar.fill(0);
  s.inverse.fill(0);
}

/** A prime-order group (or, for x25519, the u-line of one) as protocols need it. */
export interface GroupSuite {
  /** The suite's name, as it appears on the wire. */
  readonly name: SuiteName;
  /** Bytes per encoded element (32 for both suites). */
  readonly elementBytes: number;
  /**
   * Hashes inputs to elements (RFC 9380 with the given domain separation tag).
   * Returns the elements packed, in input order.
   */
  hashToGroup(inputs: readonly (string | Uint8Array)[], dst: Uint8Array): Uint8Array;
  /** Draws a fresh secret scalar and its inverse from the platform CSPRNG. */
  randomScalar(): ScalarPair;
  /**
   * Multiplies every packed element by `scalar`. Elements that come from a peer are
   * validated first (canonical encoding, not of low order, not the identity).
   *
   * @throws KoppelError `INVALID_POINT` with `details.index` for the first bad element.
   */
  multiply(scalar: Uint8Array, packed: Uint8Array): Uint8Array;
  /**
   * The same as {@link GroupSuite.multiply}, for runtimes where only an asynchronous
   * implementation exists (WebCrypto). Protocols call this one.
   */
  multiplyAsync(scalar: Uint8Array, packed: Uint8Array): Promise<Uint8Array>;
}

/** Throws unless `packed` holds a whole number of elements. */
export function checkPacked(suite: GroupSuite, packed: Uint8Array): number {
  if (packed.length % suite.elementBytes !== 0) {
    throw new KoppelError('INVALID_POINT', `Element data is not a whole number of ${suite.elementBytes}-byte elements.`, {
      details: { bytes: packed.length },
    });
  }
  return packed.length / suite.elementBytes;
}
