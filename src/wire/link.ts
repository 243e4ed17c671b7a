/**
 * A checked link: frames of one protocol session over a {@link Channel}. Every frame
 * received is decoded, its protocol, session, suite and step checked, and an ABORT
 * from the peer turned into the peer's error code.
 *
 * @packageDocumentation
 */
import { t } from '../util/cjs.js';
import { ERROR_CODES, KoppelError, type KoppelErrorCode } from '../errors/index.js';
import type { SuiteName } from '../group/types.js';
import type { Channel } from '../transport/channel.js';
import { decodeOrThrow } from './codec.js';
import { decodeFrame, encodeFrame, jsonBody, PROTOCOLS, toJsonBody, type Frame, type ProtocolName } from './frame.js';

/** Step 1 of every protocol: the HELLO exchange (frames carry no suite yet). */
export const HELLO = 1;
/** The step of an ABORT message, in every protocol. */
export const ABORT = 63;

/** ABORT: why the peer stopped (a code only; the message is ours, not the peer's). */
export const Abort = t.exact(t.type({ code: t.keyof(ERROR_CODES as Record<KoppelErrorCode, unknown>) }), 'Abort');

/** A channel carrying checked frames of one protocol session. */
export class Link {
  readonly #channel: Channel;
  readonly #protocol: ProtocolName;
  readonly #stepNames: ReadonlyMap<number, string>;
  session: Uint8Array;
  suite: SuiteName | 'none' = 'none';
  #closed = false;

  constructor(channel: Channel, protocol: ProtocolName, session: Uint8Array, stepNames: ReadonlyMap<number, string>) {
    this.#channel = channel;
    this.#protocol = protocol;
    this.session = session;
    this.#stepNames = stepNames;
  }

  /** Sends a chunk of `count` fixed-size items. */
  send(step: number, count: number, body: Uint8Array): Promise<void> {
    return this.#channel.send(encodeFrame(this.#protocol, this.suite, step, this.session, count, body));
  }

  /** Sends a control message. */
  sendJson(step: number, value: unknown): Promise<void> {
    return this.#channel.send(encodeFrame(this.#protocol, step === HELLO ? 'none' : this.suite, step, this.session, 0, toJsonBody(value)));
  }

  /**
   * Receives the next frame, which must be one of `steps`, of this session and suite.
   * An ABORT from the peer becomes the peer's error code.
   */
  async receive(steps: readonly number[], what: string): Promise<Frame> {
    const frame = decodeFrame(await this.#channel.receive());
    if (frame.protocol !== PROTOCOLS[this.#protocol]) throw new KoppelError('VERSION_MISMATCH', `The peer is not speaking the ${this.#protocol} protocol.`);
    if (frame.step === ABORT) {
      const { code } = decodeOrThrow(Abort, jsonBody(frame, 'abort message'), 'abort message');
      throw new KoppelError(code, `The peer stopped the protocol: ${ERROR_CODES[code]}`, { details: { peer: true } });
    }
    if (!steps.includes(frame.step)) {
      throw new KoppelError('PROTOCOL_VIOLATION', `Expected ${what} from the peer, got ${this.#stepNames.get(frame.step) ?? `step ${frame.step}`}.`, {
        details: { expected: what, got: this.#stepNames.get(frame.step) ?? frame.step },
      });
    }
    if (frame.step !== HELLO) {
      if (!equalBytes(frame.session, this.session)) throw new KoppelError('PROTOCOL_VIOLATION', 'A message from the peer belongs to another session.');
      if (frame.suite !== this.suite) {
        throw new KoppelError('SUITE_MISMATCH', `A message from the peer uses suite ${frame.suite}, but the session uses ${this.suite}.`, { details: { ours: this.suite, theirs: frame.suite } });
      }
    }
    return frame;
  }

  /** Closes the channel without a message (the protocol ended normally). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#channel.close().catch(() => undefined);
  }

  /** Tells the peer why we stop (best effort), then closes the channel. */
  async abort(error: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const code: KoppelErrorCode = error instanceof KoppelError ? error.code : 'INTERNAL';
    // An error the peer itself reported, or a dead connection, needs no ABORT back.
    const peerCaused = error instanceof KoppelError && (error.details['peer'] === true || code === 'CONNECTION_CLOSED' || code === 'NETWORK_ERROR');
    if (!peerCaused) {
      try {
        await Promise.race([this.sendJson(ABORT, { code }), new Promise((r) => setTimeout(r, 1000).unref())]);
      } catch {
        // The connection is already gone: nothing more to tell.
      }
    }
    await this.#channel.close().catch(() => undefined);
  }
}


function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
