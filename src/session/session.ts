/**
 * The session layer every protocol runs on.
 *
 * - {@link openSession} opens one protocol session over a {@link Channel}: the HELLO
 *   exchange (protocol, version, role, suite and the protocol's own parameters, compared
 *   field by field), the session id (the initiator's, adopted by the responder) and the
 *   suite every later frame must carry. It returns an immutable {@link Session}.
 * - A {@link Session} sends and receives checked frames, streams chunks with count
 *   checks, exposes the authenticated peer of its channel and the transcript hash of
 *   every frame both sides sent.
 * - {@link runSession} runs one party's part of a protocol in a {@link SessionScope}:
 *   the resources the run owns (worker pool, secret scalars, sessions, the fail-fast
 *   signal) are released in one place on success, error or cancellation, and on failure
 *   every open session tells its peer why (ABORT) before its channel closes.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { SuiteName } from '../group/types.js';
import type { Channel } from '../transport/channel.js';
import type { PeerIdentity } from '../transport/peer.js';
import type { t } from '../util/cjs.js';
import { randomBytes } from '../util/bytes.js';
import { FailFast } from '../util/pipeline.js';
import { PoolLease, type OpRegistry, type TaskRunner } from '../util/pool.js';
import { decodeOrThrow } from '../wire/codec.js';
import { jsonBody, type Frame } from '../wire/frame.js';
import { checkHello, isAgreementHash, type HelloBase, type HelloExpectation } from './hello.js';
import { HELLO, Link, type ProtocolSpec, type StreamSpec } from './link.js';
import type { TranscriptSide } from './transcript.js';

/** How to open a session. */
export interface SessionOptions<H extends HelloBase> extends HelloExpectation {
  /** The channel to the peer. */
  readonly channel: Channel;
  /** The protocol. */
  readonly protocol: ProtocolSpec;
  /** `initiator`: sends the first HELLO (and the session id); `responder`: answers it. */
  readonly side: TranscriptSide;
  /** Our HELLO without `protocol` and `version` (the session adds them from the spec). */
  readonly hello: Readonly<Record<string, unknown>> & { readonly role: string };
  /** Decodes the peer's HELLO. */
  readonly codec: t.Decoder<unknown, H>;
  /** The suite every frame after the HELLO carries (`none` where the protocol has no group). */
  readonly suite: SuiteName | 'none';
  /**
   * Whether the HELLO is answered: the responder sends its own HELLO back and the
   * initiator waits for it (default true). Protocols whose responder answers with
   * another message (aggregation) set false.
   */
  readonly answer?: boolean;
  /** Checks of the peer's HELLO beyond the shared ones, before it is answered. */
  readonly check?: (theirs: H) => void;
  /**
   * Skip the role, version and shared-parameter checks (the caller runs
   * {@link checkHello} itself, e.g. to answer a mismatch with a refusal).
   */
  readonly deferChecks?: boolean;
  /** The initiator's session id (default: 16 fresh random bytes). */
  readonly id?: Uint8Array;
  /**
   * On a failed opening: tell the peer why (`abort`, default) or just close (`close`, for
   * listeners that drop strays silently). A peer whose HELLO was valid but names another
   * agreement is told `AGREEMENT_MISMATCH` either way, so both ends stop with that code.
   */
  readonly onFailure?: 'abort' | 'close';
  /**
   * The SHA-256 (hex) of the linking agreement this party runs under, if any. Every
   * HELLO carries it, and both sides must hold the same one (or both none):
   * `AGREEMENT_MISMATCH` otherwise, before any data.
   */
  readonly agreement?: string;
  /**
   * Whether the session records its transcript hash, {@link Session.transcript} (default
   * true). Recording feeds every frame of both directions to SHA-256; a protocol run
   * whose transcript nobody asks for (no run receipt) may say false and save that work.
   * {@link Session.transcript} of such a session throws `INVALID_ARGUMENT`. Every frame
   * is checked the same either way.
   */
  readonly transcript?: boolean;
}

/**
 * Checks the agreement hash of the peer's raw HELLO against ours.
 *
 * @throws KoppelError `AGREEMENT_MISMATCH` with `details.field` `agreement`
 */
function checkAgreement(ours: string | undefined, raw: unknown): void {
  const theirs = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['agreement'] : undefined;
  if (theirs !== undefined && !isAgreementHash(theirs))
    throw new KoppelError('MESSAGE_MALFORMED', "The peer's HELLO carries a malformed agreement hash.", { details: { field: 'agreement' } });
  if (ours === theirs) return;
  const show = (h: string | undefined) => (h === undefined ? 'none' : `sha256 ${h.slice(0, 16)}...`);
  const advice =
    ours === undefined
      ? 'the peer runs under a linking agreement and this side under none; pass the same --agreement FILE on both sides'
      : theirs === undefined
        ? 'this side runs under a linking agreement and the peer under none; pass the same --agreement FILE on both sides'
        : 'the two sides hold different linking agreements; compare them with `koppel agreement show`';
  throw new KoppelError('AGREEMENT_MISMATCH', `The parties do not run under the same agreement: ${advice}.`, {
    details: { field: 'agreement', ours: show(ours), theirs: show(theirs) },
  });
}

/** One open protocol session: immutable identity, checked frames, transcript. */
export class Session<H extends HelloBase = HelloBase> {
  readonly #link: Link;
  readonly #id: Uint8Array;
  /** The protocol. */
  readonly protocol: ProtocolSpec;
  /** This party's side. */
  readonly side: TranscriptSide;
  /** The suite of every frame after the HELLO. */
  readonly suite: SuiteName | 'none';
  /** The peer's HELLO, decoded and checked. */
  readonly peerHello: H;
  /** Who is at the other end, as the channel's transport authenticated it. */
  readonly peer: PeerIdentity | undefined;

  /** @internal Sessions are made by {@link openSession}. */
  constructor(link: Link, protocol: ProtocolSpec, side: TranscriptSide, peerHello: H) {
    this.#link = link;
    this.#id = Uint8Array.from(link.session);
    this.protocol = protocol;
    this.side = side;
    this.suite = link.suite;
    this.peerHello = peerHello;
    this.peer = link.channel.peer;
    Object.freeze(this);
  }

  /** The 16-byte session id (a copy). */
  get id(): Uint8Array {
    return Uint8Array.from(this.#id);
  }

  /** The session id in hex, for logs and receipts. */
  get idHex(): string {
    return Buffer.from(this.#id).toString('hex');
  }

  /** Sends a chunk frame of `count` fixed-size items. */
  send(step: number, count: number, body: Uint8Array): Promise<void> {
    return this.#link.send(step, count, body);
  }

  /** Sends a control message (JSON). */
  sendJson(step: number, value: unknown): Promise<void> {
    return this.#link.sendJson(step, value);
  }

  /** Sends packed items in chunk frames of at most `chunkItems` items. */
  sendChunks(step: number, packed: Uint8Array, itemBytes: number, chunkItems: number, onChunk?: (sent: number) => void): Promise<void> {
    return this.#link.sendChunks(step, packed, itemBytes, chunkItems, onChunk);
  }

  /** Receives the next frame, which must be one of `steps`. */
  receive(steps: readonly number[], what: string): Promise<Frame> {
    return this.#link.receive(steps, what);
  }

  /** Receives a control message of `step`, decoded with `codec`. */
  receiveJson<A>(step: number, codec: t.Decoder<unknown, A>): Promise<A> {
    return this.#link.receiveJson(step, codec);
  }

  /** Receives a frame of one of `steps`; a `chunkStep` frame must hold `count * itemBytes` bytes. */
  receiveChunk(steps: readonly number[], chunkStep: number, what: string, itemBytes: number): Promise<Frame> {
    return this.#link.receiveChunk(steps, chunkStep, what, itemBytes);
  }

  /** The chunk frames of one stream, size- and count-checked (see {@link StreamSpec}). */
  stream(s: StreamSpec): AsyncGenerator<Frame, void, undefined> {
    return this.#link.stream(s);
  }

  /** Whether this session records its transcript (the session option `transcript`). */
  get recordsTranscript(): boolean {
    return this.#link.recordsTranscript;
  }

  /**
   * SHA-256 transcript of every frame both sides sent so far, including both HELLOs:
   * the same 32 bytes at both ends of a completed session.
   *
   * @throws KoppelError `INVALID_ARGUMENT` when the session was opened with
   *   `transcript: false` (see {@link SessionOptions.transcript})
   */
  transcript(): Uint8Array {
    return this.#link.transcript();
  }

  /** Closes the channel (the protocol ended normally). */
  close(): Promise<void> {
    return this.#link.close();
  }

  /** Tells the peer why this side stops (best effort), then closes the channel. */
  abort(error: unknown): Promise<void> {
    return this.#link.abort(error);
  }
}

/**
 * Opens a session: the HELLO exchange, checked. On failure the peer is told why
 * (ABORT with the error's code, or a plain close with `onFailure: 'close'`) and the
 * error is thrown.
 *
 * @throws KoppelError `VERSION_MISMATCH`, `PROTOCOL_VIOLATION`, `MESSAGE_MALFORMED`, or
 *   a shared parameter's mismatch code; the channel's own errors (`TIMEOUT`,
 *   `CONNECTION_CLOSED`)
 */
export function openSession<H extends HelloBase>(o: SessionOptions<H>): Promise<Session<H>> {
  return handshake(newLink(o), o);
}

function newLink(o: Pick<SessionOptions<HelloBase>, 'channel' | 'protocol' | 'side' | 'id' | 'transcript'>): Link {
  const id = o.side === 'initiator' ? Uint8Array.from(o.id ?? randomBytes(16)) : new Uint8Array(16);
  return new Link(o.channel, o.protocol, id, o.side, o.transcript === false ? { transcript: false } : {});
}

async function handshake<H extends HelloBase>(link: Link, o: SessionOptions<H>): Promise<Session<H>> {
  const ours = { protocol: o.protocol.name, version: o.protocol.version, ...o.hello, ...(o.agreement === undefined ? {} : { agreement: o.agreement }) };
  const answer = o.answer ?? true;
  const receiveHello = async (): Promise<{ frame: Frame; hello: H }> => {
    const frame = await link.receive([HELLO], 'HELLO');
    const raw = jsonBody(frame, 'HELLO');
    const hello = decodeOrThrow(o.codec, raw, 'HELLO');
    if (!o.deferChecks) checkHello(o.protocol, ours, hello as H & Readonly<Record<string, unknown>>, o);
    checkAgreement(o.agreement, raw);
    o.check?.(hello);
    return { frame, hello };
  };
  try {
    let theirs: H | undefined;
    if (o.side === 'initiator') {
      await link.sendJson(HELLO, ours);
      if (answer) theirs = (await receiveHello()).hello;
    } else {
      const { frame, hello } = await receiveHello();
      link.session = Uint8Array.from(frame.session);
      theirs = hello;
      if (answer) await link.sendJson(HELLO, ours);
    }
    link.suite = o.suite;
    return new Session(link, o.protocol, o.side, (theirs ?? ours) as H);
  } catch (e) {
    const mismatch = e instanceof KoppelError && e.code === 'AGREEMENT_MISMATCH';
    if (o.onFailure === 'close' && !mismatch) await link.close();
    else await link.abort(e);
    throw e;
  }
}

/** Something a scope closes at the end of a run. */
interface Closable {
  close(): Promise<void> | void;
}

/**
 * The resources of one party's run of a protocol, released in one place: sessions (told
 * why on failure), worker pools, secrets (wiped), and the fail-fast signal that makes
 * the first failure anywhere in the run stop every wait at once.
 */
export class SessionScope {
  /** The first failure of the run, visible to every wait that races it. */
  readonly failFast = new FailFast();
  readonly #links: Link[] = [];
  readonly #closeAtEnd: Link[] = [];
  readonly #cleanups: Array<() => unknown> = [];

  /**
   * Opens a session that belongs to this run: aborted with the run's first error if the
   * run fails, closed at the end of the run with `closeAtEnd`.
   */
  open<H extends HelloBase>(o: SessionOptions<H> & { readonly closeAtEnd?: boolean }): Promise<Session<H>> {
    // The link is the run's from the start: a run that fails while the peer has not
    // said HELLO yet closes it at once, and every later receive stops when the run fails.
    const link = newLink(o);
    link.raceWith((p) => this.race(p));
    this.#links.push(link);
    if (o.closeAtEnd) this.#closeAtEnd.push(link);
    return handshake(link, o);
  }

  /**
   * Worker threads for the run, given back at its end: shared with the other runs of
   * this process open at the same time (see {@link PoolLease}), so two parties in one
   * process, or a server's concurrent sessions, use one set of workers.
   */
  pool<R extends OpRegistry>(ops: R, workerUrl: URL, threads: number): TaskRunner<R> {
    return this.own(new PoolLease(ops, workerUrl, threads));
  }

  /** Registers something to close at the end of the run; returns it. */
  own<T extends Closable>(resource: T): T {
    this.#cleanups.push(() => resource.close());
    return resource;
  }

  /** Registers a secret to wipe at the end of the run; returns it. */
  secret<T>(value: T, wipe: (value: T) => void): T {
    this.#cleanups.push(() => wipe(value));
    return value;
  }

  /** Registers a clean-up step for the end of the run. */
  defer(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  /** `p`, unless the run fails first. */
  race<T>(p: Promise<T>): Promise<T> {
    return this.failFast.race(p);
  }

  /** `p` as a part of the run: its failure fails the run at once. */
  guard<T>(p: Promise<T>): Promise<T> {
    p.catch((e: unknown) => this.failFast.fail(e));
    return this.failFast.race(p);
  }

  /** @internal Tells every session of the run why it stops. */
  async abortAll(error: unknown): Promise<void> {
    await Promise.all(this.#links.map((l) => l.abort(error)));
  }

  /** @internal Releases everything, last registered first; never throws. */
  async release(): Promise<void> {
    for (const l of this.#closeAtEnd) await l.close();
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Releasing is best effort: one failed clean-up must not skip the others.
      }
    }
  }
}

/** Options of {@link runSession}. */
export interface RunOptions<T = unknown> {
  /** Cancels the run: every session is aborted with `ABORTED` and nothing is returned. */
  readonly signal?: AbortSignal;
  /**
   * Runs with the result once the protocol is done and before its sessions close: the
   * place to write outputs and exchange signed receipts over the still-open session
   * (docs/agreement.md, "Receipts"). A failure here fails the run (the peer is told).
   */
  readonly beforeClose?: (result: T) => Promise<void>;
}

/**
 * Runs one party's part of a protocol in a fresh {@link SessionScope}. The body's result
 * is returned; on any failure (the body's, a guarded task's, or cancellation through
 * `signal`) every session of the scope is aborted with the first error, which is thrown.
 * Resources are released in every case.
 */
export async function runSession<T>(body: (scope: SessionScope) => Promise<T>, options: RunOptions<T> = {}): Promise<T> {
  const scope = new SessionScope();
  const signal = options.signal;
  const onAbort = () => scope.failFast.fail(new KoppelError('ABORTED', 'The run was cancelled; nothing was released.'));
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const run = body(scope);
    run.catch(() => undefined); // if the run fails elsewhere first, the body's own failure comes later
    const result = await scope.race(run);
    if (options.beforeClose) await scope.race(options.beforeClose(result));
    return result;
  } catch (e) {
    const first = scope.failFast.error ?? e;
    await scope.abortAll(first);
    throw first;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await scope.release();
  }
}
