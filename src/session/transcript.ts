/**
 * The transcript hash of a session: a digest of every frame both sides sent, which both
 * sides compute identically, so that a signed run receipt can name exactly what crossed
 * the wire.
 *
 * Frames in the two directions interleave differently at each end (both sides stream at
 * once), but each direction is an ordered, reliable stream that both ends see alike. So
 * each direction has its own running SHA-256 over length-prefixed frames, and the
 * transcript is
 *
 *   SHA-256( "koppel/transcript/v1" || u8 protocol || u8 version
 *            || u64 n_I || H_I || u64 n_R || H_R )
 *
 * where H_I is the running hash of the initiator's frames (the side that sent the first
 * HELLO), H_R the responder's, and n their frame counts. A party that sent a frame the
 * other never received (a connection cut mid-run) has another transcript: the digest is
 * meaningful for a completed session.
 *
 * @packageDocumentation
 */
import { createHash, hash, type Hash } from 'node:crypto';
import { PROTOCOLS } from '../wire/frame.js';
import type { ProtocolSpec } from './link.js';

/** Which side of a session a party is: the initiator sends the first HELLO. */
export type TranscriptSide = 'initiator' | 'responder';

const LABEL = Buffer.from('koppel/transcript/v1', 'utf8');

/**
 * A direction's frames are gathered (copied) in memory up to this many bytes before a
 * running hash takes over. Most sessions of an aggregation round are a few small frames,
 * where a hash object per direction per session was a tenth of an input's cost; a long
 * stream is hashed as it goes, holding at most this much.
 */
const GATHER_BYTES = 64 * 1024;

/** The running SHA-256 of one direction's length-prefixed frames. */
class DirectionHash {
  #hash: Hash | undefined;
  #parts: Buffer[] = [];
  #gathered = 0;
  /** Frames so far. */
  count = 0;

  add(frame: Uint8Array): void {
    this.count++;
    if (!this.#hash && this.#gathered + 4 + frame.length > GATHER_BYTES) {
      this.#hash = createHash('sha256');
      for (const p of this.#parts) this.#hash.update(p);
      this.#parts = [];
    }
    if (this.#hash) {
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(frame.length);
      this.#hash.update(len).update(frame);
      return;
    }
    const entry = Buffer.allocUnsafe(4 + frame.length);
    entry.writeUInt32BE(frame.length);
    entry.set(frame, 4);
    this.#parts.push(entry);
    this.#gathered += entry.length;
  }

  /** SHA-256 of everything added so far (the running hash goes on). */
  digest(): Buffer {
    return this.#hash ? this.#hash.copy().digest() : hash('sha256', Buffer.concat(this.#parts), 'buffer');
  }
}

/** Running hashes of both directions of one session. */
export class TranscriptHash {
  readonly #spec: ProtocolSpec;
  readonly #side: TranscriptSide;
  readonly #directions: Record<TranscriptSide, DirectionHash> = { initiator: new DirectionHash(), responder: new DirectionHash() };

  constructor(spec: ProtocolSpec, side: TranscriptSide) {
    this.#spec = spec;
    this.#side = side;
  }

  /** Records a frame this party sent. */
  sent(frame: Uint8Array): void {
    this.#directions[this.#side].add(frame);
  }

  /** Records a frame this party received. */
  received(frame: Uint8Array): void {
    this.#directions[this.#side === 'initiator' ? 'responder' : 'initiator'].add(frame);
  }

  /** The transcript so far: 32 bytes, the same at both ends once both saw the same frames. */
  digest(): Uint8Array {
    const parts: Uint8Array[] = [LABEL, Uint8Array.of(PROTOCOLS[this.#spec.wire], this.#spec.version & 0xff)];
    for (const side of ['initiator', 'responder'] as const) {
      const d = this.#directions[side];
      const n = Buffer.alloc(8);
      n.writeBigUInt64BE(BigInt(d.count));
      parts.push(n, d.digest());
    }
    return new Uint8Array(hash('sha256', Buffer.concat(parts), 'buffer'));
  }
}
