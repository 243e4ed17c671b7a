/**
 * Resumable channels: a connection that drops during a session is resumed over a new
 * connection, and every message arrives once, in order (docs/session.md, "Reconnecting").
 *
 * Records. On a resumable connection every message of the 4-byte-length framing is a
 * record whose first byte says what it is:
 *
 * | record | bytes | meaning |
 * |---|---|---|
 * | OPEN | 01, version, channel id (16), X25519 public key (32), window (u32 ms) | the connecting side opens a resumable channel |
 * | OPEN_OK | 02, version, X25519 public key (32), window (u32 ms) | the listener's answer |
 * | RESUME | 03, version, channel id (16), nonce (16), next expected (u64) | a new connection continues a dropped channel |
 * | CHALLENGE | 04, nonce (16), proof (32), next expected (u64) | the listener proves it holds the channel's key |
 * | PROOF | 05, proof (32) | the connecting side proves it holds the key |
 * | REFUSED | 06, reason | the listener does not resume this channel |
 * | DATA | 10, sequence number (u64), message | one message of the channel |
 * | ACK | 11, next expected (u64) | every DATA below this number arrived |
 * | CLOSE | 12 | this side closes the channel (a drop without it is resumed) |
 *
 * The resumption key comes from an ephemeral X25519 exchange in OPEN / OPEN_OK, bound
 * to the channel id and both public keys by HKDF-SHA256; it never crosses the wire.
 * Resuming takes a fresh nonce from each side and an HMAC-SHA256 proof from each, so a
 * party that knows the channel id (it crosses the wire) but not the key cannot take the
 * channel over, and neither can a listener that restarted. Under mutual TLS the new
 * connection must also present the certificate of the first (same fingerprint).
 *
 * Sent messages stay in a replay buffer until the peer acknowledges them; on resumption
 * each side says which number it expects next and the other sends again from there, so
 * nothing is lost or delivered twice. Memory: the replay buffer holds what is in flight
 * (the network and the peer's receive buffers), bounded by {@link REPLAY_LIMIT_BYTES}.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { createHmac, createPublicKey, diffieHellman, generateKeyPairSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { randomBytes } from '../util/bytes.js';
import { isCanonicalU } from '../group/u-coordinate.js';
import { hkdfSha256 } from '../util/hash.js';
import { Inbox, type Channel } from './channel.js';
import type { PeerIdentity } from './peer.js';

/** Record types (the first byte of every message on a resumable connection). */
export const RECORD = {
  OPEN: 0x01,
  OPEN_OK: 0x02,
  RESUME: 0x03,
  CHALLENGE: 0x04,
  PROOF: 0x05,
  REFUSED: 0x06,
  DATA: 0x10,
  ACK: 0x11,
  CLOSE: 0x12,
} as const;

/** The bytes a DATA record adds to a message (type and sequence number). */
export const RECORD_OVERHEAD = 9;
/** The record format's version, in OPEN, OPEN_OK and RESUME. */
const VERSION = 1;
/** Default time a dropped connection may take to come back: 120 s. */
export const DEFAULT_RECONNECT_WINDOW_MS = 120_000;
/** Unacknowledged bytes a side keeps for resending; beyond them a send waits for the peer's acknowledgements. */
export const REPLAY_LIMIT_BYTES = 96 * 1024 * 1024;
/** How long each step of a resumption handshake may take. */
const RESUME_STEP_MS = 10_000;
/** How long {@link ResumableChannel.close} waits, at most, for the peer to acknowledge what was sent. */
const CLOSE_WAIT_MS = 30_000;
/** Received messages queued for the protocol beyond which reading pauses (the transport's budgets then apply). */
const READ_AHEAD_BYTES = 16 * 1024 * 1024;

const OPEN_BYTES = 2 + 16 + 32 + 4;
const OPEN_OK_BYTES = 2 + 32 + 4;
const RESUME_BYTES = 2 + 16 + 16 + 8;
const CHALLENGE_BYTES = 1 + 16 + 32 + 8;
const PROOF_BYTES = 1 + 32;

/** Why a listener refused to resume (the byte after REFUSED). */
const REFUSALS = {
  1: 'the listener holds no such session (it may have restarted, or the reconnect window passed)',
  2: 'the reconnecting party is not the authenticated peer this session started with',
  3: 'the listener is not accepting connections',
} as const;

/** True for the first record of a resumable connection that opens a channel. */
export function isOpenRecord(m: Uint8Array): boolean {
  return m.length === OPEN_BYTES && m[0] === RECORD.OPEN;
}

/** True for the first record of a connection that resumes a channel. */
export function isResumeRecord(m: Uint8Array): boolean {
  return m.length === RESUME_BYTES && m[0] === RECORD.RESUME;
}

/** The message inside a DATA record with sequence number 0 (the first message of a channel), or undefined. */
export function firstDataPayload(m: Uint8Array): Uint8Array | undefined {
  if (m.length < RECORD_OVERHEAD || m[0] !== RECORD.DATA) return undefined;
  return readU64(m, 1) === 0 ? m.subarray(RECORD_OVERHEAD) : undefined;
}

/** The raw connection under a resumable channel (a socket channel of net.ts). */
export interface RawLink {
  /** The peer as the transport authenticated it. */
  readonly peer: PeerIdentity;
  /** Sends one message made of `head` and then `body`. */
  sendParts(head: Uint8Array, body?: Uint8Array): Promise<void>;
  /** The next message, without keeping the process alive and without an idle timeout. */
  next(): Promise<Uint8Array>;
  /** Keeps the process alive (true) or not (false), counted. */
  hold(on: boolean): void;
  /** Ends the connection at once. */
  destroy(): void;
  /** Ends the connection after what was written. */
  close(): Promise<void>;
}

/** What a resumable channel reports about its connection, for a log (never data). */
export interface ResumeEvent {
  /** `dropped`: the connection was lost, waiting for it to come back; `resumed`: it came back; `lost`: it did not, within the window. */
  readonly event: 'dropped' | 'resumed' | 'lost';
  /** The reconnect window in ms. */
  readonly windowMs: number;
  /** For `resumed`: messages sent again. */
  readonly resent?: number;
  /** For `dropped`: why, in words. */
  readonly reason?: string;
}

function readU64(b: Uint8Array, at: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return dv.getUint32(at) * 2 ** 32 + dv.getUint32(at + 4);
}

function writeU64(b: Uint8Array, at: number, n: number): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  dv.setUint32(at, Math.floor(n / 2 ** 32));
  dv.setUint32(at + 4, n >>> 0);
}

function record(type: number, size: number): Uint8Array {
  const r = new Uint8Array(size);
  r[0] = type;
  return r;
}

/**
 * An ephemeral X25519 key pair made by OpenSSL from the platform CSPRNG: the private key
 * never leaves OpenSSL (no JavaScript copy to wipe), the public key as its 32 bytes (u,
 * little-endian, RFC 7748).
 */
function ephemeral(): { readonly privateKey: KeyObject; readonly publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const x = publicKey.export({ format: 'jwk' }).x as string;
  return { privateKey, publicKey: new Uint8Array(Buffer.from(x, 'base64url')) };
}

/**
 * The channel's resumption key: HKDF-SHA256 of the X25519 shared secret, salted with the
 * channel id and bound to both public keys.
 *
 * @throws KoppelError `MESSAGE_MALFORMED` for a peer key that is not 32 bytes, not
 *   canonical, or of low order (an all-zero shared secret, which OpenSSL refuses)
 */
function resumeKey(own: KeyObject, peerPublic: Uint8Array, id: Uint8Array, clientPublic: Uint8Array, serverPublic: Uint8Array): Buffer {
  const invalid = (cause?: unknown) =>
    new KoppelError('MESSAGE_MALFORMED', "The peer's key for resuming the connection is not a valid X25519 public key.", cause === undefined ? {} : { cause });
  if (peerPublic.length !== 32 || !isCanonicalU(peerPublic)) throw invalid();
  let shared: Buffer;
  try {
    const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublic).toString('base64url') }, format: 'jwk' });
    shared = diffieHellman({ privateKey: own, publicKey: peer });
  } catch (e) {
    throw invalid(e);
  }
  if (shared.every((b) => b === 0)) throw invalid();
  const info = Buffer.concat([Buffer.from('koppel resume key v1'), clientPublic, serverPublic]);
  // HKDF on the HMAC the process already uses (util/hash.ts): node:crypto's hkdfSync
  // would load one more internal module in every short-lived party process.
  const key = Buffer.from(hkdfSha256(shared, id, info, 32));
  shared.fill(0);
  return key;
}

/** ACK: every DATA below `next` arrived. */
function ackRecord(next: number): Uint8Array {
  const a = record(RECORD.ACK, 9);
  writeU64(a, 1, next);
  return a;
}

/**
 * The error of a REFUSED record (`doing`: what was refused, for the message). Final:
 * `details.refusal` tells a caller not to try again.
 */
function refusalError(m: Uint8Array, doing: string): KoppelError {
  const why = REFUSALS[m[1] as keyof typeof REFUSALS] ?? 'no reason given';
  return new KoppelError(m[1] === 2 ? 'PEER_NOT_ALLOWED' : 'CONNECTION_CLOSED', `The peer ${doing}: ${why}.`, { details: { refusal: m[1] } });
}

function proof(key: Buffer, who: 'client' | 'server', id: Uint8Array, first: Uint8Array, second: Uint8Array, numbers: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`koppel resume ${who}`).update(id).update(first).update(second).update(numbers).digest();
}

/** Both sides' "next expected" numbers of a resumption (the client's, then the listener's), for the proofs. */
function expectedPair(client: number, server: number): Uint8Array {
  const b = new Uint8Array(16);
  writeU64(b, 0, client);
  writeU64(b, 8, server);
  return b;
}

/** The same authenticated peer: the same certificate (fingerprint), or on plain TCP nothing to compare. */
function samePeer(a: PeerIdentity, b: PeerIdentity): boolean {
  if (!a.authenticated) return !b.authenticated;
  return b.authenticated && a.fingerprint !== undefined && a.fingerprint === b.fingerprint;
}

/** `p`, or `TIMEOUT` after `ms` (the step of a handshake that did not answer). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new KoppelError('TIMEOUT', `The peer did not answer the ${what} within ${Math.round(ms / 1000)} s.`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** What the connecting side knows of a channel once the listener answered its OPEN. */
export interface OpenedChannel {
  readonly id: Uint8Array;
  readonly key: Buffer | undefined;
  readonly windowMs: number;
}

/**
 * Opens a resumable channel on a fresh connection: sends OPEN with a new channel id and
 * ephemeral key, and waits for the listener's OPEN_OK. Only then can a drop be resumed,
 * so a connection lost before it is simply dialled again from the start.
 *
 * @throws KoppelError `CONNECTION_CLOSED` (also when the listener refuses),
 *   `TIMEOUT`, `VERSION_MISMATCH`, `MESSAGE_MALFORMED`, the connection's own errors
 */
export async function openChannel(link: RawLink, windowMs: number, timeoutMs: number): Promise<OpenedChannel> {
  const id = randomBytes(16);
  const { privateKey, publicKey } = ephemeral();
  const r = record(RECORD.OPEN, OPEN_BYTES);
  r[1] = VERSION;
  r.set(id, 2);
  r.set(publicKey, 18);
  new DataView(r.buffer).setUint32(50, Math.min(windowMs, 2 ** 32 - 1));
  await link.sendParts(r);
  link.hold(true);
  let m: Uint8Array;
  try {
    m = await within(link.next(), timeoutMs, 'opening of the connection');
  } finally {
    link.hold(false);
  }
  if (m.length === 2 && m[0] === RECORD.REFUSED) throw refusalError(m, 'refused the connection');
  if (m.length !== OPEN_OK_BYTES || m[0] !== RECORD.OPEN_OK) throw new KoppelError('MESSAGE_MALFORMED', 'The peer did not answer the resumable opening.');
  if (m[1] !== VERSION)
    throw new KoppelError('VERSION_MISMATCH', 'The peer speaks another version of resumable connections; run the same koppel version on both sides.');
  const agreed = Math.min(windowMs, new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(34));
  const serverPublic = m.slice(2, 34);
  return { id, key: agreed > 0 ? resumeKey(privateKey, serverPublic, id, publicKey, serverPublic) : undefined, windowMs: agreed };
}

/** What a listener knows of a channel once it answered its OPEN. */
export interface AcceptedOpen {
  readonly id: Uint8Array;
  readonly key: Buffer | undefined;
  readonly windowMs: number;
  /** The OPEN_OK record to send back. */
  readonly answer: Uint8Array;
}

/**
 * The listener's side of OPEN: its own ephemeral key, the shared resumption key, and the
 * OPEN_OK answer. The window is the smaller of the two sides' (0: not resumable).
 *
 * @throws KoppelError `VERSION_MISMATCH`, `MESSAGE_MALFORMED`
 */
export function acceptOpen(open: Uint8Array, ownWindowMs: number): AcceptedOpen {
  if (open[1] !== VERSION)
    throw new KoppelError('VERSION_MISMATCH', 'The peer opens a resumable connection of another version; run the same koppel version on both sides.');
  const id = open.slice(2, 18);
  const clientPublic = open.slice(18, 50);
  const windowMs = Math.min(ownWindowMs, new DataView(open.buffer, open.byteOffset, open.byteLength).getUint32(50));
  const { privateKey, publicKey } = ephemeral();
  const key = windowMs > 0 ? resumeKey(privateKey, clientPublic, id, clientPublic, publicKey) : undefined;
  const answer = record(RECORD.OPEN_OK, OPEN_OK_BYTES);
  answer[1] = VERSION;
  answer.set(publicKey, 2);
  new DataView(answer.buffer).setUint32(34, Math.min(ownWindowMs, 2 ** 32 - 1));
  return { id, key, windowMs, answer };
}

/** The REFUSED record with a reason. */
export function refusedRecord(reason: keyof typeof REFUSALS): Uint8Array {
  const r = record(RECORD.REFUSED, 2);
  r[1] = reason;
  return r;
}

/** The channel id a RESUME record names. */
export function resumeId(m: Uint8Array): Uint8Array {
  return m.slice(2, 18);
}

/** How a resumable channel starts. */
export interface ResumableSetup {
  /** `client`: dials again after a drop; `server`: waits for the peer's RESUME through its listener. */
  readonly side: 'client' | 'server';
  /** The first connection. */
  readonly link: RawLink;
  /** Largest message the protocol may send or receive. */
  readonly maxMessageBytes: number;
  /** How long a receive waits for the peer. */
  readonly idleTimeoutMs: number;
  /** Client: the channel as {@link openChannel} opened it. */
  readonly opened?: OpenedChannel;
  /** Client: a new connection to the listener, checked as the first (TLS, pin). */
  readonly redial?: () => Promise<RawLink>;
  /** Server: what the listener agreed in OPEN_OK. */
  readonly accepted?: AcceptedOpen;
  /** Reports drops and resumptions (for a log). */
  readonly onEvent?: (e: ResumeEvent) => void;
  /** Called once when the channel has ended (closed or failed). */
  readonly onEnd?: () => void;
  /** Server: checks the channel's first message (the HELLO); one that fails it fails the channel (`MESSAGE_MALFORMED`). */
  readonly firstMessage?: (message: Uint8Array) => boolean;
}

interface Pending {
  readonly seq: number;
  readonly message: Uint8Array;
  /** Written on a connection (or acknowledged). */
  sent?: boolean;
}

const retriable = (e: unknown): boolean => e instanceof KoppelError && (e.code === 'CONNECTION_CLOSED' || e.code === 'NETWORK_ERROR' || e.code === 'TIMEOUT');

/**
 * A {@link Channel} that survives dropped connections: see the module documentation.
 * Made by `connect()` (with `reconnectWindowMs`) and by `listen()` for peers that open
 * one; protocols use it like any channel.
 */
export class ResumableChannel implements Channel {
  readonly peer: PeerIdentity;
  readonly #side: 'client' | 'server';
  readonly #max: number;
  readonly #inbox: Inbox;
  readonly #redial: (() => Promise<RawLink>) | undefined;
  readonly #onEvent: ((e: ResumeEvent) => void) | undefined;
  readonly #onEnd: (() => void) | undefined;
  readonly #id: Uint8Array;
  #key: Buffer | undefined;
  #windowMs = 0;
  #link: RawLink | undefined;
  /** Incremented for every connection, so a dead connection's late events are ignored. */
  #gen = 0;
  #state: 'up' | 'down' | 'closed' | 'failed' = 'up';
  #failure: KoppelError | undefined;
  #peerClosed = false;
  #closing = false;
  /** Sent and not acknowledged, in order; `#unacked[0].seq === #base`. */
  #unacked: Pending[] = [];
  #unackedBytes = 0;
  #base = 0;
  #nextSeq = 0;
  /** The next sequence number to write on the current connection. */
  #writeSeq = 0;
  #flushing = false;
  /** The next sequence number expected from the peer. */
  #expected = 0;
  #ackQueued = false;
  #holds = 0;
  #windowTimer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];
  #drainWaiter: (() => void) | undefined;
  readonly #check: ((message: Uint8Array) => boolean) | undefined;
  #onFirst: ((error?: KoppelError) => void) | undefined;
  /**
   * Settles when the peer's first message arrived (over any of the channel's
   * connections), or with the error that ended the channel before it.
   */
  readonly firstData: Promise<KoppelError | undefined>;
  /** Messages read ahead of the protocol: none until a protocol takes the channel (server). */
  #readAhead: number;
  /** Server: a protocol took the channel (accept returned it). */
  #taken: boolean;

  constructor(s: ResumableSetup) {
    this.#side = s.side;
    this.#max = s.maxMessageBytes;
    this.#inbox = new Inbox(s.idleTimeoutMs);
    this.#inbox.onDrain = () => {
      const w = this.#drainWaiter;
      this.#drainWaiter = undefined;
      w?.();
    };
    this.#redial = s.redial;
    this.#check = s.firstMessage;
    this.#taken = s.side === 'client';
    this.#readAhead = this.#taken ? READ_AHEAD_BYTES : 0;
    this.firstData = new Promise((resolve) => (this.#onFirst = resolve));
    this.#onEvent = s.onEvent;
    this.#onEnd = s.onEnd;
    this.peer = s.link.peer;
    const o = s.side === 'client' ? s.opened : s.accepted;
    if (!o) throw new KoppelError('INTERNAL', 'A resumable channel needs its opening.');
    this.#id = o.id;
    this.#key = o.key;
    this.#windowMs = o.windowMs;
    this.#link = s.link;
    this.#read(s.link, this.#gen);
  }

  /** The channel id (hex), for logs. */
  get channelId(): string {
    return Buffer.from(this.#id).toString('hex');
  }

  /**
   * @internal A protocol took the channel (the listener handed it out): it reads ahead
   * from now on, and a drop is resumed from now on. Until then a listener's channel
   * holds at most one message (its HELLO) beyond what the connection's budget counts, and
   * one whose HELLO arrived and whose connection then drops is ended (nobody started a
   * protocol on it).
   */
  take(): void {
    this.#taken = true;
    this.#readAhead = READ_AHEAD_BYTES;
    const w = this.#drainWaiter;
    this.#drainWaiter = undefined;
    w?.();
  }

  /** True while its connection is gone and it waits for the peer to come back. */
  get down(): boolean {
    return this.#state === 'down';
  }

  /** True once the channel has ended. */
  get ended(): boolean {
    return this.#state === 'closed' || this.#state === 'failed';
  }

  // ---- keeping the process alive while the protocol waits ----

  #hold<T>(p: Promise<T>): Promise<T> {
    if (this.#holds++ === 0) {
      this.#link?.hold(true);
      this.#windowTimer?.ref();
    }
    const done = () => {
      if (--this.#holds === 0) {
        this.#link?.hold(false);
        this.#windowTimer?.unref();
      }
    };
    p.then(done, done);
    return p;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves at the next change of state or acknowledgement. */
  #changed(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }

  // ---- sending ----

  /** The state, read afresh (it changes while a send waits). */
  #now(): 'up' | 'down' | 'closed' | 'failed' {
    return this.#state;
  }

  async send(message: Uint8Array): Promise<void> {
    if (this.#closing && !this.ended) throw new KoppelError('CONNECTION_CLOSED', 'The connection is closed.');
    this.#throwIfEnded();
    if (message.length > this.#max) {
      throw new KoppelError('MESSAGE_TOO_LARGE', `A message of ${message.length} bytes exceeds the limit of ${this.#max} bytes.`, {
        details: { bytes: message.length, max: this.#max },
      });
    }
    while (this.#unackedBytes > REPLAY_LIMIT_BYTES && !this.ended) await this.#hold(this.#changed());
    this.#throwIfEnded();
    const p: Pending = { seq: this.#nextSeq++, message };
    this.#unacked.push(p);
    this.#unackedBytes += message.length;
    if (this.#now() !== 'up') return; // kept for resending once the connection is back
    this.#flush();
    // Back-pressure: wait until the connection took it, or dropped (the message is then resent).
    while (!p.sent && this.#now() === 'up') await this.#hold(this.#changed());
    if (this.#now() === 'failed') throw this.#failure as KoppelError;
  }

  #throwIfEnded(): void {
    if (this.#state === 'failed') throw this.#failure as KoppelError;
    if (this.#state === 'closed') throw new KoppelError('CONNECTION_CLOSED', 'The connection is closed.');
  }

  #flush(): void {
    if (this.#flushing || this.#state !== 'up') return;
    this.#flushing = true;
    void this.#flushLoop();
  }

  async #flushLoop(): Promise<void> {
    const gen = this.#gen;
    const link = this.#link as RawLink;
    try {
      while (this.#state === 'up' && gen === this.#gen) {
        const p = this.#unacked[this.#writeSeq - this.#base];
        if (!p) break;
        this.#writeSeq++;
        const head = record(RECORD.DATA, RECORD_OVERHEAD);
        writeU64(head, 1, p.seq);
        try {
          await link.sendParts(head, p.message);
        } catch (e) {
          // A message the connection refuses (its size) ends the channel; any other
          // failure is the connection dropping: the reader sees it, and the message is resent.
          if (e instanceof KoppelError && e.code === 'MESSAGE_TOO_LARGE') this.#fail(e);
          break;
        }
        p.sent = true;
        this.#wake();
      }
    } finally {
      this.#flushing = false;
    }
    if (this.#state === 'up' && gen !== this.#gen) this.#flush();
  }

  #acked(upTo: number): void {
    if (upTo < this.#base || upTo > this.#nextSeq) throw new KoppelError('PROTOCOL_VIOLATION', 'The peer acknowledged messages this side never sent.');
    while (this.#base < upTo) {
      const p = this.#unacked.shift() as Pending;
      this.#unackedBytes -= p.message.length;
      p.sent = true;
      this.#base++;
    }
    this.#wake();
  }

  #queueAck(): void {
    if (this.#ackQueued) return;
    this.#ackQueued = true;
    setImmediate(() => {
      this.#ackQueued = false;
      if (this.#state !== 'up') return;
      (this.#link as RawLink).sendParts(ackRecord(this.#expected)).catch(() => undefined);
    });
  }

  // ---- receiving ----

  receive(): Promise<Uint8Array> {
    if (this.#inbox.length > 0) return this.#inbox.take();
    return this.#hold(this.#inbox.take());
  }

  #read(link: RawLink, gen: number): void {
    void (async () => {
      for (;;) {
        while (this.#inbox.queuedBytes > this.#readAhead && gen === this.#gen && !this.ended) await new Promise<void>((r) => (this.#drainWaiter = r));
        let m: Uint8Array;
        try {
          m = await link.next();
        } catch (e) {
          if (gen === this.#gen) this.#dropped(e);
          return;
        }
        if (gen !== this.#gen || this.ended) return;
        try {
          this.#record(m);
        } catch (e) {
          this.#fail(e instanceof KoppelError ? e : new KoppelError('MESSAGE_MALFORMED', 'The peer sent a malformed record.'));
          return;
        }
      }
    })();
  }

  #record(m: Uint8Array): void {
    switch (m[0] ?? -1) {
      case RECORD.DATA: {
        if (m.length < RECORD_OVERHEAD) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent a truncated record.');
        const seq = readU64(m, 1);
        if (seq < this.#expected) return; // sent again after a resumption: already delivered
        if (seq > this.#expected) throw new KoppelError('PROTOCOL_VIOLATION', 'A message from the peer is missing (a sequence number was skipped).');
        const message = m.subarray(RECORD_OVERHEAD);
        if (seq === 0) {
          if (this.#check && !this.#check(message))
            throw new KoppelError('MESSAGE_MALFORMED', 'The first message of the connection is not a HELLO: it is not a koppel peer of this protocol.');
          this.#onFirst?.(undefined);
          this.#onFirst = undefined;
        }
        this.#expected++;
        this.#inbox.push(message);
        this.#queueAck();
        return;
      }
      case RECORD.ACK:
        if (m.length !== 9) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent a malformed acknowledgement.');
        this.#acked(readU64(m, 1));
        return;
      case RECORD.CLOSE:
        this.#peerClosed = true;
        this.#inbox.fail(new KoppelError('CONNECTION_CLOSED', 'The peer closed the connection before the protocol finished.'));
        this.#wake();
        return;
      default:
        throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent a record of an unknown type.');
    }
  }

  // ---- drops and resumption ----

  #dropped(e: unknown): void {
    if (this.ended) return;
    if (this.#peerClosed || (this.#closing && this.#unacked.length === 0)) {
      this.#end();
      return;
    }
    const error = e instanceof KoppelError ? e : new KoppelError('CONNECTION_CLOSED', 'The connection to the peer was lost.');
    if (!retriable(error) || this.#key === undefined || this.#windowMs <= 0) {
      this.#fail(error);
      return;
    }
    // A listener's channel that said HELLO but no protocol took yet is not worth keeping.
    if (!this.#taken && this.#expected > 0) {
      this.#fail(new KoppelError('CONNECTION_CLOSED', 'The connection dropped before a protocol took it.'));
      return;
    }
    this.#gen++;
    this.#link?.destroy();
    this.#link = undefined;
    this.#state = 'down';
    this.#wake();
    this.#emit({ event: 'dropped', windowMs: this.#windowMs, reason: error.message });
    this.#windowTimer = setTimeout(() => {
      this.#emit({ event: 'lost', windowMs: this.#windowMs });
      this.#fail(
        new KoppelError(
          'CONNECTION_CLOSED',
          `The connection to the peer dropped and did not come back within the reconnect window of ${Math.round(this.#windowMs / 1000)} s.`,
          { details: { reconnectWindowMs: this.#windowMs } },
        ),
      );
    }, this.#windowMs);
    if (this.#holds === 0) this.#windowTimer.unref();
    if (this.#side === 'client') void this.#redialLoop();
  }

  #emit(e: ResumeEvent): void {
    try {
      this.#onEvent?.(e);
    } catch {
      // A logger's failure must not stop the channel.
    }
  }

  async #redialLoop(): Promise<void> {
    let delay = 100;
    while (this.#state === 'down') {
      let link: RawLink | undefined;
      try {
        link = await within((this.#redial as () => Promise<RawLink>)(), RESUME_STEP_MS, 'new connection');
        if (this.#state !== 'down') {
          link.destroy();
          return;
        }
        await this.#resumeAsClient(link);
        return;
      } catch (e) {
        link?.destroy();
        if (this.#state !== 'down') return;
        if (!retriable(e) || (e instanceof KoppelError && e.details['refusal'] !== undefined)) {
          this.#fail(e instanceof KoppelError ? e : new KoppelError('CONNECTION_CLOSED', 'The connection to the peer could not be resumed.'));
          return;
        }
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        if (this.#holds === 0) t.unref();
      });
      delay = Math.min(delay * 2, 2000);
    }
  }

  async #resumeAsClient(link: RawLink): Promise<void> {
    const key = this.#key as Buffer;
    const nonce = randomBytes(16);
    const r = record(RECORD.RESUME, RESUME_BYTES);
    r[1] = VERSION;
    r.set(this.#id, 2);
    r.set(nonce, 18);
    const mine = this.#expected;
    writeU64(r, 34, mine);
    await link.sendParts(r);
    const m = await within(link.next(), RESUME_STEP_MS, 'reconnection');
    // A refusal is final: the listener will not know this session on the next attempt either.
    if (m[0] === RECORD.REFUSED && m.length === 2) throw refusalError(m, 'did not resume the connection');
    if (m[0] !== RECORD.CHALLENGE || m.length !== CHALLENGE_BYTES)
      throw new KoppelError('MESSAGE_MALFORMED', 'The peer answered the reconnection with something else.');
    const theirNonce = m.slice(1, 17);
    const theirs = readU64(m, 49);
    const numbers = expectedPair(mine, theirs);
    if (!timingSafeEqual(m.subarray(17, 49), proof(key, 'server', this.#id, nonce, theirNonce, numbers)))
      throw new KoppelError(
        'PEER_NOT_ALLOWED',
        'The party that answered the reconnection does not hold this session: it is not the peer the session started with.',
      );
    const p = record(RECORD.PROOF, PROOF_BYTES);
    p.set(proof(key, 'client', this.#id, theirNonce, nonce, numbers), 1);
    await link.sendParts(p);
    this.#attach(link, theirs);
  }

  /**
   * The listener's side of a RESUME for this channel, on a new connection: checks the
   * peer, proves this side holds the key, checks the peer's proof, and continues. A
   * connection that fails any check is refused and dropped; the channel keeps waiting.
   *
   * @internal Called by `listen()`.
   */
  async resume(link: RawLink, resumeRecord: Uint8Array): Promise<boolean> {
    const key = this.#key;
    if (this.ended || key === undefined) {
      await link.sendParts(refusedRecord(1)).catch(() => undefined);
      await link.close();
      return false;
    }
    if (!samePeer(this.peer, link.peer)) {
      await link.sendParts(refusedRecord(2)).catch(() => undefined);
      await link.close();
      return false;
    }
    const theirNonce = resumeRecord.slice(18, 34);
    const theirExpected = readU64(resumeRecord, 34);
    const nonce = randomBytes(16);
    const own = this.#expected;
    const numbers = expectedPair(theirExpected, own);
    const c = record(RECORD.CHALLENGE, CHALLENGE_BYTES);
    c.set(nonce, 1);
    c.set(proof(key, 'server', this.#id, theirNonce, nonce, numbers), 17);
    writeU64(c, 49, own);
    try {
      await link.sendParts(c);
      const m = await within(link.next(), RESUME_STEP_MS, 'reconnection');
      if (m.length !== PROOF_BYTES || m[0] !== RECORD.PROOF || !timingSafeEqual(m.subarray(1), proof(key, 'client', this.#id, nonce, theirNonce, numbers))) {
        link.destroy();
        return false;
      }
    } catch {
      link.destroy();
      return false;
    }
    if (this.ended) {
      link.destroy();
      return false;
    }
    if (this.#link) {
      // The old connection has not failed here yet: the peer knows better.
      this.#gen++;
      this.#link.destroy();
    }
    this.#attach(link, theirExpected);
    return true;
  }

  #attach(link: RawLink, theirExpected: number): void {
    if (theirExpected < this.#base || theirExpected > this.#nextSeq) {
      link.destroy();
      this.#fail(new KoppelError('PROTOCOL_VIOLATION', 'The peer resumed at a message this side never sent.'));
      return;
    }
    this.#acked(theirExpected);
    clearTimeout(this.#windowTimer);
    this.#windowTimer = undefined;
    this.#gen++;
    this.#link = link;
    if (this.#holds > 0) link.hold(true);
    this.#state = 'up';
    const resent = this.#nextSeq - theirExpected;
    this.#writeSeq = theirExpected;
    this.#read(link, this.#gen);
    this.#emit({ event: 'resumed', windowMs: this.#windowMs, resent });
    this.#queueAck();
    this.#flush();
    this.#wake();
  }

  // ---- ending ----

  #fail(error: KoppelError): void {
    if (this.ended) return;
    this.#state = 'failed';
    this.#failure = error;
    this.#onFirst?.(error);
    this.#onFirst = undefined;
    this.#inbox.fail(error);
    this.#end();
  }

  #end(): void {
    if (this.#state !== 'failed') this.#state = 'closed';
    clearTimeout(this.#windowTimer);
    this.#gen++;
    this.#link?.destroy();
    this.#link = undefined;
    this.#key?.fill(0);
    this.#key = undefined;
    this.#inbox.fail(this.#failure ?? new KoppelError('CONNECTION_CLOSED', 'The connection is closed.'));
    this.#wake();
    this.#onEnd?.();
  }

  /**
   * Closes the channel: waits (at most 30 s, and within the reconnect window if the
   * connection is down) until the peer has acknowledged every message sent, so the last
   * ones are not lost to a drop, then says CLOSE and ends the connection.
   *
   * @throws KoppelError `CONNECTION_CLOSED` (with `details.unacknowledged`) when messages
   *   were still unacknowledged at the end and the peer had not closed first
   */
  async close(): Promise<void> {
    if (this.#closing || this.ended) return;
    this.#closing = true;
    const deadline = Date.now() + CLOSE_WAIT_MS;
    const pending = () => this.#unacked.length > 0 && !this.#peerClosed && (this.#state === 'up' || this.#state === 'down');
    while (pending() && Date.now() < deadline) {
      this.#flush();
      await this.#hold(
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
          void this.#changed().then(() => {
            clearTimeout(t);
            resolve();
          });
        }),
      );
    }
    const link = this.#link;
    if (this.#state === 'up' && link) {
      // What arrived is acknowledged before CLOSE, so the peer's close need not wait.
      await link.sendParts(ackRecord(this.#expected)).catch(() => undefined);
      await link.sendParts(record(RECORD.CLOSE, 1)).catch(() => undefined);
      this.#gen++; // the end of this connection is ours, not a drop
      await link.close().catch(() => undefined);
    }
    const unacknowledged = this.#peerClosed ? 0 : this.#unacked.length;
    if (!this.ended) this.#end();
    if (unacknowledged > 0)
      throw new KoppelError(
        'CONNECTION_CLOSED',
        `The channel closed with ${unacknowledged} message${unacknowledged === 1 ? '' : 's'} the peer had not acknowledged: ${unacknowledged === 1 ? 'it' : 'they'} may not have arrived.`,
        { details: { unacknowledged } },
      );
  }

  /** Ends a channel no protocol took (its listener closes, or it never said HELLO): at once. */
  destroy(error?: KoppelError): void {
    this.#fail(error ?? new KoppelError('CONNECTION_CLOSED', 'The listener was closed before a protocol took this connection.'));
  }
}
