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
import { createHash, type Hash } from 'node:crypto';
import { PROTOCOLS } from '../wire/frame.js';
import type { ProtocolSpec } from './link.js';

/** Which side of a session a party is: the initiator sends the first HELLO. */
export type TranscriptSide = 'initiator' | 'responder';

const LABEL = Buffer.from('koppel/transcript/v1', 'utf8');

/** Running hashes of both directions of one session. */
export class TranscriptHash {
  readonly #spec: ProtocolSpec;
  readonly #side: TranscriptSide;
  readonly #hashes: Record<TranscriptSide, Hash> = { initiator: createHash('sha256'), responder: createHash('sha256') };
  readonly #counts: Record<TranscriptSide, number> = { initiator: 0, responder: 0 };

  constructor(spec: ProtocolSpec, side: TranscriptSide) {
    this.#spec = spec;
    this.#side = side;
  }

  #add(from: TranscriptSide, frame: Uint8Array): void {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(frame.length);
    this.#hashes[from].update(len).update(frame);
    this.#counts[from]++;
  }

  /** Records a frame this party sent. */
  sent(frame: Uint8Array): void {
    this.#add(this.#side, frame);
  }

  /** Records a frame this party received. */
  received(frame: Uint8Array): void {
    this.#add(this.#side === 'initiator' ? 'responder' : 'initiator', frame);
  }

  /** The transcript so far: 32 bytes, the same at both ends once both saw the same frames. */
  digest(): Uint8Array {
    const out = createHash('sha256')
      .update(LABEL)
      .update(Uint8Array.of(PROTOCOLS[this.#spec.wire], this.#spec.version & 0xff));
    for (const side of ['initiator', 'responder'] as const) {
      const n = Buffer.alloc(8);
      n.writeBigUInt64BE(BigInt(this.#counts[side]));
      out.update(n).update(this.#hashes[side].copy().digest());
    }
    return new Uint8Array(out.digest());
  }
}
