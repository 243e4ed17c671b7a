/**
 * The transcript of one client run against the OPRF service (docs/agreement.md, "The
 * OPRF service"): a running SHA-256 over every evaluation batch of the run, request
 * body and response body, in the order the service answered them. The service folds a
 * batch in as it answers it and tells the client the batch's position (the
 * `Koppel-Run-Position` header); the client, whose requests are in flight several at a
 * time, folds the batches in by that position. So both ends compute the same hash with
 * one incremental SHA-256 update per body, and the service keeps no more per run than
 * the hash state and two counters.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';

/** The header naming the client's run (32 hex digits, fresh and random per run). */
export const RUN_HEADER = 'koppel-run';
/** The header of the service's answer: the batch's position in the run's transcript. */
export const RUN_POSITION_HEADER = 'koppel-run-position';
/** The header carrying the linking agreement's hash, on every request of a client under one. */
export const AGREEMENT_HEADER = 'koppel-agreement';
/** A run id: 16 random bytes as hex. */
export const RUN_ID = /^[0-9a-f]{32}$/;

/** Batches a client holds back, waiting for an earlier position, before it gives the transcript up. */
const MAX_HELD = 1024;

/** One run's transcript; the service appends, the client places by position. */
export class OprfTranscript {
  readonly #hash: Hash;
  #next = 0;
  readonly #held = new Map<number, { request: Uint8Array; response: Uint8Array; elements: number }>();
  #broken = false;
  /** Batches folded in. */
  batches = 0;
  /** Elements evaluated in the batches folded in. */
  evaluations = 0;

  /**
   * @param run - the run id (hex)
   * @param agreement - the agreement's hash, or null for a run under none
   */
  constructor(run: string, agreement: string | null) {
    this.#hash = createHash('sha256').update(`koppel-oprf-transcript-v1\n${run}\n${agreement ?? '-'}\n`);
  }

  #fold(request: Uint8Array, response: Uint8Array, elements: number): void {
    const frame = Buffer.alloc(12);
    frame.writeUInt32BE(this.#next, 0);
    frame.writeUInt32BE(request.length, 4);
    frame.writeUInt32BE(response.length, 8);
    this.#hash.update(frame).update(request).update(response);
    this.#next++;
    this.batches++;
    this.evaluations += elements;
  }

  /** The service: folds in a batch as it answers it; its position. */
  append(request: Uint8Array, response: Uint8Array, elements: number): number {
    const at = this.#next;
    this.#fold(request, response, elements);
    return at;
  }

  /**
   * The client: a batch the service answered at `position`. Batches arrive out of order
   * (several requests in flight); they are held until the ones before them are in. A
   * position seen twice or far behind (an answer lost and the batch retried: the service
   * folded the lost answer, which the client never saw) breaks the transcript.
   */
  place(position: number, request: Uint8Array, response: Uint8Array, elements: number): void {
    if (this.#broken) return;
    if (!Number.isSafeInteger(position) || position < this.#next || this.#held.has(position) || this.#held.size >= MAX_HELD) {
      this.#broken = true;
      this.#held.clear();
      return;
    }
    this.#held.set(position, { request, response, elements });
    for (let b = this.#held.get(this.#next); b; b = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.#fold(b.request, b.response, b.elements);
    }
  }

  /**
   * The transcript hash so far (hex), or null when it cannot be the service's: a batch
   * is missing or was answered twice.
   */
  digest(): string | null {
    if (this.#broken || this.#held.size > 0) return null;
    return this.#hash.copy().digest('hex');
  }
}
