/**
 * The frame level of a session: a {@link Channel} carrying checked frames of one protocol
 * session. Every frame received is decoded, its protocol, session, suite and step checked,
 * and an ABORT from the peer turned into the peer's error code. Every frame that crosses
 * the link in either direction is fed to the session's transcript hash, when the session
 * records one (the default).
 *
 * Protocol code does not use this class directly: it runs on a {@link Session} (see
 * `session.ts`), which opens the link with a checked HELLO. Tests use it to script a
 * hostile peer frame by frame.
 *
 * @packageDocumentation
 */
import { constantTimeEqual } from '../util/bytes.js';
import { t } from '../util/cjs.js';
import { ERROR_CODES, KoppelError, type KoppelErrorCode } from '../errors/index.js';
import type { SuiteName } from '../group/types.js';
import type { Channel } from '../transport/channel.js';
import { decodeOrThrow, intRange } from '../wire/codec.js';
import { decodeFrame, encodeFrame, jsonBody, PROTOCOLS, toJsonBody, type Frame, type ProtocolName } from '../wire/frame.js';
import { TranscriptHash, type TranscriptSide } from './transcript.js';

/** Step 1 of every protocol: the HELLO exchange (frames carry no suite yet). */
export const HELLO = 1;
/** The step of an ABORT message, in every protocol. */
export const ABORT = 63;
/** Largest number of items in one chunk frame, in every protocol. */
export const MAX_CHUNK_ITEMS = 65536;

/** A protocol parameter's name or value in an ABORT: short printable ASCII (it reaches the user's screen). */
const AbortText = t.refinement(t.string, (s) => s.length <= 80 && /^[\x20-\x7e]*$/.test(s), 'AbortText');

/**
 * ABORT: why the peer stopped. A code, and for a mismatched shared parameter its field
 * and both values as the peer saw them (protocol settings, never data). The message is
 * ours, not the peer's.
 */
export const Abort = t.exact(
  t.intersection([
    t.type({ code: t.keyof(ERROR_CODES as Record<KoppelErrorCode, unknown>) }),
    t.partial({ field: AbortText, ours: AbortText, theirs: AbortText }),
  ]),
  'Abort',
);

/** `*_DONE` messages that end a stream: how many items were sent. */
export const Done = t.exact(t.type({ count: intRange(0, 2 ** 32 - 1) }), 'Done');

/**
 * What a session layer needs to know about a protocol: its wire number, the name its
 * HELLO carries, its version and the names of its steps (for error messages).
 */
export interface ProtocolSpec {
  /** The protocol byte of every frame. */
  readonly wire: ProtocolName;
  /** The `protocol` field of the HELLO, e.g. `koppel-psi`. */
  readonly name: string;
  /** The protocol version both sides must speak. */
  readonly version: number;
  /** Step numbers by name; HELLO is 1 and ABORT 63 in every protocol. */
  readonly steps: Readonly<Record<string, number>>;
}

/** One chunked stream: chunk frames of one step until a done frame. */
export interface StreamSpec {
  /** The step of each chunk frame. */
  readonly chunk: number;
  /** The step that ends the stream. */
  readonly done: number;
  /** What the items are, for messages: `blinded elements`. */
  readonly what: string;
  /** Bytes per item: every chunk must carry exactly `count * itemBytes` bytes. */
  readonly itemBytes: number;
  /**
   * Items the stream must carry in all, when known in advance; more is
   * `PROTOCOL_VIOLATION`, fewer `MESSAGE_MALFORMED`. Unknown: any number.
   */
  readonly expected?: number;
  /** The done frame carries `{ count }` (default); `false`: an empty JSON object. */
  readonly doneCount?: boolean;
  /** Error code when the peer sends more items than `expected` (default `PROTOCOL_VIOLATION`). */
  readonly overflowCode?: KoppelErrorCode;
}

/** How a {@link Link} is made. */
export interface LinkOptions {
  /**
   * Whether every frame is fed to the transcript hash (default true). Only a session
   * whose transcript is asked for (a run receipt names it) needs one; a link without it
   * refuses {@link Link.transcript}. Every frame is checked the same either way.
   */
  readonly transcript?: boolean;
}

/** The error of a transcript asked of a link that does not record one. */
function noTranscript(): KoppelError {
  return new KoppelError(
    'INVALID_ARGUMENT',
    'This session does not record its transcript: open it with the session option `transcript: true` (the default) to ask for one.',
  );
}

const stepNames = new WeakMap<ProtocolSpec, ReadonlyMap<number, string>>();

/** Step names by number, made once per protocol (a link is opened per session, thousands in a round). */
function stepNamesOf(spec: ProtocolSpec): ReadonlyMap<number, string> {
  let names = stepNames.get(spec);
  if (!names) {
    names = new Map(Object.entries(spec.steps).map(([k, v]) => [v, k]));
    stepNames.set(spec, names);
  }
  return names;
}

/** A channel carrying checked frames of one protocol session. */
export class Link {
  readonly #channel: Channel;
  readonly #spec: ProtocolSpec;
  readonly #stepNames: ReadonlyMap<number, string>;
  /** The transcript hash, when this link records one (see {@link LinkOptions.transcript}). */
  readonly #transcript: TranscriptHash | undefined;
  /** The session id; a responder adopts the initiator's from its HELLO. */
  session: Uint8Array;
  /** The suite frames carry after the HELLO. */
  suite: SuiteName | 'none' = 'none';
  #closed = false;
  /** The receive from the channel in flight, if any. */
  #receiving: Promise<Uint8Array> | undefined;
  /** The peer's reason, once its ABORT arrived. */
  #peerAbort: KoppelError | undefined;
  /** Every wait for the peer races this: a run that fails elsewhere stops waiting at once. */
  #race: <T>(p: Promise<T>) => Promise<T> = (p) => p;

  /**
   * @param side - which side this party is, for the transcript (`initiator` speaks first)
   * @param options - whether the link records the transcript (default: it does)
   */
  constructor(channel: Channel, spec: ProtocolSpec, session: Uint8Array, side: TranscriptSide = 'initiator', options: LinkOptions = {}) {
    this.#channel = channel;
    this.#spec = spec;
    this.session = session;
    this.#stepNames = stepNamesOf(spec);
    this.#transcript = options.transcript === false ? undefined : new TranscriptHash(spec, side);
  }

  /** Makes every receive of this link stop when `race` rejects (a run's fail-fast). */
  raceWith(race: <T>(p: Promise<T>) => Promise<T>): void {
    this.#race = race;
  }

  /** The channel under this link. */
  get channel(): Channel {
    return this.#channel;
  }

  /** Whether this link records the transcript (see {@link LinkOptions.transcript}). */
  get recordsTranscript(): boolean {
    return this.#transcript !== undefined;
  }

  /**
   * The transcript of every frame so far (see {@link TranscriptHash.digest}).
   *
   * @throws KoppelError `INVALID_ARGUMENT` when the link was opened with `transcript: false`
   */
  transcript(): Uint8Array {
    if (!this.#transcript) throw noTranscript();
    return this.#transcript.digest();
  }

  async #send(frame: Uint8Array): Promise<void> {
    this.#transcript?.sent(frame);
    try {
      await this.#channel.send(frame);
    } catch (e) {
      throw await this.#explainClosed(e);
    }
  }

  /**
   * A send that failed because the peer closed: if the peer said why (an ABORT waiting
   * in the channel, or one a receive of this link already got), its reason, not the
   * bare `CONNECTION_CLOSED`. Waits at most a quarter of a second.
   */
  async #explainClosed(e: unknown): Promise<unknown> {
    if (!(e instanceof KoppelError) || e.code !== 'CONNECTION_CLOSED') return e;
    if (this.#peerAbort) return this.#peerAbort;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 250)));
    try {
      if (this.#receiving) {
        await Promise.race([
          this.#receiving.then(
            () => undefined,
            () => undefined,
          ),
          late,
        ]);
        return this.#peerAbort ?? e;
      }
      const bytes = await Promise.race([this.#channel.receive(), late]);
      if (bytes === undefined) return e;
      const frame = decodeFrame(bytes);
      return frame.step === ABORT ? this.#abortError(frame) : e;
    } catch {
      return e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The peer's reason from its ABORT frame, remembered for a send that fails after it. */
  #abortError(frame: Frame): KoppelError {
    const a = decodeOrThrow(Abort, jsonBody(frame, 'abort message'), 'abort message');
    // The peer's "ours" is this side's "theirs".
    // A limit (LIMIT_EXCEEDED) names what the peer accepts at most; any other field, a parameter both must share.
    const mismatch =
      a.field === undefined
        ? ''
        : a.code === 'LIMIT_EXCEEDED'
          ? ` (${a.field}: the peer accepts at most ${JSON.stringify(a.ours ?? '')}, this side has ${JSON.stringify(a.theirs ?? '')})`
          : ` (${a.field}: the peer has ${JSON.stringify(a.ours ?? '')}, this side ${JSON.stringify(a.theirs ?? '')}; both sides must use the same)`;
    this.#peerAbort = new KoppelError(a.code, `The peer stopped the protocol: ${ERROR_CODES[a.code]}${mismatch}`, {
      details: { peer: true, ...(a.field === undefined ? {} : { field: a.field, ours: a.theirs ?? '', theirs: a.ours ?? '' }) },
    });
    return this.#peerAbort;
  }

  /** Sends a chunk of `count` fixed-size items. */
  send(step: number, count: number, body: Uint8Array): Promise<void> {
    return this.#send(encodeFrame(this.#spec.wire, this.suite, step, this.session, count, body));
  }

  /** Sends a control message. */
  sendJson(step: number, value: unknown): Promise<void> {
    return this.#send(encodeFrame(this.#spec.wire, step === HELLO ? 'none' : this.suite, step, this.session, 0, toJsonBody(value)));
  }

  /**
   * Sends packed items in chunk frames of at most `chunkItems` items each.
   *
   * @param onChunk - called after each chunk with the items sent so far
   */
  async sendChunks(step: number, packed: Uint8Array, itemBytes: number, chunkItems: number, onChunk?: (sent: number) => void): Promise<void> {
    const total = packed.length / itemBytes;
    for (let at = 0; at < total; at += chunkItems) {
      const m = Math.min(chunkItems, total - at);
      await this.send(step, m, packed.subarray(at * itemBytes, (at + m) * itemBytes));
      onChunk?.(at + m);
    }
  }

  /** The name of a step, for messages. */
  stepName(step: number): string {
    return this.#stepNames.get(step) ?? `step ${step}`;
  }

  /**
   * Receives the next frame, which must be one of `steps`, of this session and suite.
   * An ABORT from the peer becomes the peer's error code.
   */
  async receive(steps: readonly number[], what: string): Promise<Frame> {
    const receiving = this.#channel.receive();
    this.#receiving = receiving;
    let bytes: Uint8Array;
    try {
      bytes = await this.#race(receiving);
    } finally {
      this.#receiving = undefined;
    }
    this.#transcript?.received(bytes);
    const frame = decodeFrame(bytes);
    if (frame.protocol !== PROTOCOLS[this.#spec.wire]) throw new KoppelError('VERSION_MISMATCH', `The peer is not speaking the ${this.#spec.wire} protocol.`);
    if (frame.step === ABORT) throw this.#abortError(frame);
    if (!steps.includes(frame.step)) {
      throw new KoppelError('PROTOCOL_VIOLATION', `Expected ${what} from the peer, got ${this.stepName(frame.step)}.`, {
        details: { expected: what, got: this.#stepNames.get(frame.step) ?? frame.step },
      });
    }
    if (frame.step !== HELLO) {
      if (!constantTimeEqual(frame.session, this.session)) throw new KoppelError('PROTOCOL_VIOLATION', 'A message from the peer belongs to another session.');
      if (frame.suite !== this.suite) {
        throw new KoppelError('SUITE_MISMATCH', `A message from the peer uses suite ${frame.suite}, but the session uses ${this.suite}.`, {
          details: { ours: this.suite, theirs: frame.suite },
        });
      }
    }
    return frame;
  }

  /** Receives a control message of `step` and decodes its JSON body with `codec`. */
  async receiveJson<A>(step: number, codec: t.Decoder<unknown, A>): Promise<A> {
    const name = this.stepName(step);
    return decodeOrThrow(codec, jsonBody(await this.receive([step], name), name), name);
  }

  /** Receives a frame of one of `steps`; a frame of `chunkStep` must hold `count * itemBytes` bytes. */
  async receiveChunk(steps: readonly number[], chunkStep: number, what: string, itemBytes: number): Promise<Frame> {
    const f = await this.receive(steps, what);
    if (f.step === chunkStep) checkChunk(f, itemBytes, what);
    return f;
  }

  /**
   * The chunks of one stream (see {@link StreamSpec}): each checked for its size, their
   * total checked against the done frame's count and against `expected`.
   */
  async *stream(s: StreamSpec): AsyncGenerator<Frame, void, undefined> {
    let received = 0;
    for (;;) {
      const f = await this.receiveChunk([s.chunk, s.done], s.chunk, s.what, s.itemBytes);
      if (f.step === s.done) {
        const declared = s.doneCount === false ? received : decodeOrThrow(Done, jsonBody(f, `end of ${s.what}`), `end of ${s.what}`).count;
        if (declared !== received || (s.expected !== undefined && received !== s.expected)) {
          throw new KoppelError('MESSAGE_MALFORMED', `The peer sent another number of ${s.what} than announced.`, {
            details: { expected: s.expected, declared, received },
          });
        }
        return;
      }
      if (s.expected !== undefined && received + f.count > s.expected) {
        throw new KoppelError(s.overflowCode ?? 'PROTOCOL_VIOLATION', `The peer sent more ${s.what} than announced.`, { details: { expected: s.expected } });
      }
      received += f.count;
      yield f;
    }
  }

  /** Closes the channel without a message (the protocol ended normally). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#channel.close().catch(() => undefined);
  }

  /** Tells the peer why we stop (best effort, at most 1 s), then closes the channel. */
  async abort(error: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const code: KoppelErrorCode = error instanceof KoppelError ? error.code : 'INTERNAL';
    // An error this link's peer itself reported, or a dead connection, needs no ABORT
    // back. One another session's peer reported (the helper, an aggregator) is passed on.
    const peerCaused =
      error instanceof KoppelError &&
      ((error.details['peer'] === true && this.#peerAbort !== undefined) || code === 'CONNECTION_CLOSED' || code === 'NETWORK_ERROR');
    if (!peerCaused) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([this.sendJson(ABORT, { code, ...mismatchOf(error) }), new Promise((r) => (timer = setTimeout(r, 1000)))]);
      } catch {
        // The connection is already gone: nothing more to tell.
      } finally {
        clearTimeout(timer);
      }
    }
    await this.#channel.close().catch(() => undefined);
  }
}

/** The field and both values of a shared-parameter mismatch, as an ABORT carries them (each cut to 80 printable characters). */
function mismatchOf(error: unknown): { field?: string; ours?: string; theirs?: string } {
  if (!(error instanceof KoppelError)) return {};
  const { field, ours, theirs } = error.details;
  if (typeof field !== 'string' || typeof ours !== 'string' || typeof theirs !== 'string') return {};
  const clean = (x: string) => x.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
  return { field: clean(field), ours: clean(ours), theirs: clean(theirs) };
}

/** Checks a chunk frame: 1..MAX_CHUNK_ITEMS items of exactly `itemBytes` each. */
export function checkChunk(f: Frame, itemBytes: number, what: string): void {
  if (f.count < 1 || f.count > MAX_CHUNK_ITEMS) {
    throw new KoppelError('MESSAGE_MALFORMED', `The peer's ${what} has ${f.count} items; a chunk holds 1 to ${MAX_CHUNK_ITEMS}.`, {
      details: { count: f.count },
    });
  }
  if (f.body.length !== f.count * itemBytes) {
    throw new KoppelError(
      'MESSAGE_MALFORMED',
      `The peer's ${what} declares ${f.count} items but carries ${f.body.length} bytes (expected ${f.count * itemBytes}).`,
      {
        details: { count: f.count, bytes: f.body.length },
      },
    );
  }
}
