/**
 * koppel's versioned binary framing for protocol messages.
 *
 * Every protocol message is one transport frame: a fixed 28-byte header, then a body.
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0 | 2 | magic `KP` (0x4b 0x50) |
 * | 2 | 1 | wire format version (1) |
 * | 3 | 1 | protocol (1 = psi, 2 = join, 3 = aggregate) |
 * | 4 | 1 | suite (0 = none, 1 = x25519, 2 = ristretto255) |
 * | 5 | 1 | step (message type; per protocol) |
 * | 6 | 2 | reserved, must be zero |
 * | 8 | 16 | session id |
 * | 24 | 4 | item count (big-endian unsigned) |
 * | 28 | ... | body: `count` fixed-size items, or UTF-8 JSON for control steps |
 *
 * The header is decoded into an object and validated with an io-ts codec (ranges,
 * known enumerations), then cross-checked against the body size. A frame that fails
 * any check is a typed error; nothing from it is used.
 *
 * @packageDocumentation
 */
import { t } from '../util/cjs.js';
import { KoppelError } from '../errors/index.js';
import type { SuiteName } from '../group/types.js';
import { decodeOrThrow, intRange } from './codec.js';

/** Bytes in a frame header. */
export const HEADER_BYTES = 28;
/** The wire format version this code speaks. */
export const WIRE_VERSION = 1;
const MAGIC0 = 0x4b;
const MAGIC1 = 0x50;

/** Protocol numbers. */
export const PROTOCOLS = { psi: 1, join: 2, aggregate: 3 } as const;
/** A protocol name. */
export type ProtocolName = keyof typeof PROTOCOLS;

const SUITE_IDS: Record<SuiteName | 'none', number> = { none: 0, x25519: 1, ristretto255: 2 };
const SUITE_BY_ID = new Map<number, SuiteName | 'none'>(Object.entries(SUITE_IDS).map(([k, v]) => [v, k as SuiteName | 'none']));

/** A decoded frame. */
export interface Frame {
  readonly protocol: number;
  readonly suite: SuiteName | 'none';
  readonly step: number;
  readonly session: Uint8Array;
  readonly count: number;
  readonly body: Uint8Array;
}

/** The io-ts codec for a header once read from its bytes. */
export const FrameHeader = t.type(
  {
    magic: t.literal('KP'),
    version: intRange(0, 255),
    protocol: intRange(1, 3),
    suite: intRange(0, 2),
    step: intRange(1, 63),
    reserved: t.literal(0),
    count: intRange(0, 0x7fffffff),
  },
  'FrameHeader',
);

/** Encodes a frame. */
export function encodeFrame(protocol: ProtocolName, suite: SuiteName | 'none', step: number, session: Uint8Array, count: number, body: Uint8Array): Uint8Array {
  if (session.length !== 16) throw new KoppelError('INTERNAL', 'Session ids are 16 bytes.');
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const dv = new DataView(out.buffer);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[2] = WIRE_VERSION;
  out[3] = PROTOCOLS[protocol];
  out[4] = SUITE_IDS[suite];
  out[5] = step;
  out.set(session, 8);
  dv.setUint32(24, count);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Decodes and validates a frame's header.
 *
 * @throws KoppelError `MESSAGE_MALFORMED` (short, bad magic, bad fields),
 *   `VERSION_MISMATCH` (another wire version).
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < HEADER_BYTES) {
    throw new KoppelError('MESSAGE_MALFORMED', `A message from the peer is shorter than a frame header (${HEADER_BYTES} bytes).`, {
      details: { bytes: bytes.length },
    });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const raw = {
    magic: String.fromCharCode(bytes[0] as number, bytes[1] as number),
    version: bytes[2],
    protocol: bytes[3],
    suite: bytes[4],
    step: bytes[5],
    reserved: dv.getUint16(6),
    count: dv.getUint32(24),
  };
  if (raw.magic === 'KP' && raw.version !== WIRE_VERSION) {
    throw new KoppelError(
      'VERSION_MISMATCH',
      `The peer speaks koppel wire format ${raw.version}; this version speaks ${WIRE_VERSION}. Use the same koppel version on both sides.`,
      {
        details: { peerVersion: raw.version, ourVersion: WIRE_VERSION },
      },
    );
  }
  const h = decodeOrThrow(FrameHeader, raw, 'frame header');
  return {
    protocol: h.protocol,
    suite: SUITE_BY_ID.get(h.suite) ?? 'none',
    step: h.step,
    session: bytes.subarray(8, 24),
    count: h.count,
    body: bytes.subarray(HEADER_BYTES),
  };
}

/**
 * True when `bytes` can be the first frame of a session: the magic `KP` and step 1
 * (HELLO, in every protocol). Any wire version passes, so another version is still told
 * `VERSION_MISMATCH` by the session. For a listener's first-message check.
 */
export function isHelloFrame(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_BYTES && bytes[0] === MAGIC0 && bytes[1] === MAGIC1 && bytes[5] === 1;
}

/** Parses a UTF-8 JSON body, mapping syntax errors to `MESSAGE_MALFORMED`. */
export function jsonBody(frame: Frame, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame.body));
  } catch {
    throw new KoppelError('MESSAGE_MALFORMED', `The peer's ${what} is not valid JSON.`, { details: { message: what } });
  }
}

/** Encodes a JSON body. */
export function toJsonBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
