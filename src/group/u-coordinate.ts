/**
 * The canonical-encoding check of a curve25519 u-coordinate (RFC 7748: 32 bytes,
 * little-endian), on the bytes alone: the PSI suite and the resumable channel's key
 * exchange both refuse a peer's non-canonical u, and the channel must not load the
 * hash-to-curve modules for it.
 *
 * @packageDocumentation
 */

/**
 * True when `buf[off .. off + 32)` is a canonical u-coordinate: the top bit clear and
 * u < p = 2^255 - 19 (only u in [p, 2^255) has the top byte 0x7f, bytes 1 to 30 all 0xff
 * and byte 0 at least 0xed).
 */
export function isCanonicalU(buf: Uint8Array, off = 0): boolean {
  const top = buf[off + 31] as number;
  if (top > 0x7f) return false;
  if (top < 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (buf[off + i] !== 0xff) return true;
  return (buf[off] as number) < 0xed;
}
