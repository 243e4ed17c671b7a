/**
 * Byte helpers shared by every capability: randomness, encodings, constant-time
 * comparison and wiping.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';

// Randomness: random.ts (a pool of CSPRNG output for small requests).
export { randomBytes } from './random.js';

/**
 * Compares two byte strings in time that depends only on their lengths.
 * Lengths are treated as public.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Overwrites a buffer with zeros (best effort: JavaScript may hold other copies). */
export function wipe(...buffers: Uint8Array[]): void {
  for (const b of buffers) b.fill(0);
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes as unpadded base64url (RFC 4648 section 5). */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes unpadded base64url strictly: rejects other alphabets, padding, and
 * non-canonical trailing bits (so every byte string has exactly one encoding).
 * Returns `undefined` on any violation; the caller raises its own typed error.
 */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  return toBase64Url(bytes) === text ? bytes : undefined;
}

/** Lower-case hexadecimal encoding. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict hexadecimal decoding (even length, [0-9a-fA-F] only); `undefined` on violation. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  // Into memory of its own (Buffer.alloc does not take from Node's shared pool), so that
  // wiping the result wipes the only copy of the bytes (keys and secrets come this way).
  const out = Buffer.alloc(text.length / 2);
  out.write(text, 'hex');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

const encoder = new TextEncoder();

/** UTF-8 encoding of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The concatenation of byte strings (a few, as arguments; for a list of any length use {@link concatAll}). */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

/**
 * The concatenation of a list of byte strings of any length: no spread into an
 * argument list, which fails with a `RangeError` beyond about 100,000 parts (a peer
 * decides how many chunks it sends).
 */
export function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads a little-endian u32 array out of bytes (a copy). */
export function readU32s(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

/** Writes a u32 array as little-endian bytes. */
export function u32Bytes(xs: Uint32Array): Uint8Array {
  const out = new Uint8Array(xs.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < xs.length; i++) dv.setUint32(i * 4, xs[i] as number, true);
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads a little-endian u64 array out of bytes (a copy; `bytes.length` a multiple of 8). */
export function readU64s(bytes: Uint8Array): BigUint64Array {
  if (LITTLE_ENDIAN) return new BigUint64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const out = new BigUint64Array(bytes.length / 8);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getBigUint64(i * 8, true);
  return out;
}

/**
 * Little-endian u64s of `bytes` that the caller owns and will not use as bytes again: a
 * view of the same memory when it is 8-byte aligned (the PRG's fresh cipher output of a
 * share vector, 240 KB for 10,000 cells, need not be copied once more), else a copy.
 */
export function ownedU64s(bytes: Uint8Array): BigUint64Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 8 === 0 && bytes.byteLength % 8 === 0)
    return new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  return readU64s(bytes);
}

/**
 * The little-endian bytes of a u64 array, for a caller that owns it and will not change
 * it while the bytes are in use: a view of the same memory on a little-endian platform
 * (a 240 KB share vector need not be copied before it is framed), else a copy.
 */
export function u64BytesView(xs: BigUint64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(xs.buffer, xs.byteOffset, xs.byteLength);
  return u64Bytes(xs);
}

/** Writes a u64 array as little-endian bytes (a copy). */
export function u64Bytes(xs: BigUint64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(xs.buffer.slice(xs.byteOffset, xs.byteOffset + xs.byteLength));
  const out = new Uint8Array(xs.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < xs.length; i++) dv.setBigUint64(i * 8, xs[i] as bigint, true);
  return out;
}
