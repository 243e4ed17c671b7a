/**
 * Channels over TCP and mutual TLS.
 *
 * Framing: every message is a 4-byte big-endian length, then that many bytes. A length
 * above the receiver's maximum is refused before anything is buffered
 * (`MESSAGE_TOO_LARGE`, and the connection is dropped). Reading pauses while more than
 * 32 MiB of received messages wait to be processed, so a fast peer cannot fill memory.
 *
 * TLS is mutual and TLS 1.3 only: each side presents a certificate and checks the
 * other's against the given CA. Plain TCP must be asked for explicitly (`insecure`).
 *
 * Peer pinning (`peer`): a CA such as PKIoverheid signs many organisations'
 * certificates, so "signed by the CA" says little about who connected. With a
 * {@link PeerPolicy} list, a peer whose certificate carries none of the names and has
 * none of the fingerprints is refused right after the handshake (`PEER_NOT_ALLOWED`): a
 * listener closes the connection and keeps serving, a connecting side closes it and
 * throws. The side that refuses first sends the 4 bytes `FF FF FF FF` (a length no
 * frame can have), so the refused side reports `PEER_NOT_ALLOWED` too.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_MESSAGE_BYTES, Inbox, type Channel, type ChannelOptions } from './channel.js';
import { startTimer, type Timer } from '../util/timer.js';
import {
  acceptOpen,
  type AcceptedOpen,
  DEFAULT_RECONNECT_WINDOW_MS,
  isOpenRecord,
  isResumeRecord,
  openChannel,
  RECORD_OVERHEAD,
  refusedRecord,
  resumeId,
  ResumableChannel,
  type RawLink,
  type ResumeEvent,
} from './resumable.js';

export type { ResumeEvent } from './resumable.js';
import { normalisePeerPolicy, peerMatches, peerNotAllowed, socketPeer, type NormalisedPeerPin, type PeerIdentity, type PeerPolicy } from './peer.js';

/** Mutual-TLS material, PEM-encoded. */
export interface TlsOptions {
  /** This party's certificate chain. */
  readonly cert: string | Buffer;
  /** This party's private key. */
  readonly key: string | Buffer;
  /** The CA (or CAs) that signed the peer's certificate. */
  readonly ca: string | Buffer;
  /** For the client: the name the server's certificate must carry (default: the host). */
  readonly servername?: string;
}

/** Transport security: mutual TLS, or an explicit opt-out. */
export type Security = { readonly tls: TlsOptions } | { readonly insecure: true };

/**
 * Limits of a listener against hostile load (docs/session.md, "Listener limits"): how
 * many connections it holds, how long a new one may take to say something, and how
 * many received bytes not yet consumed it may buffer, per connection and in all.
 */
export interface ListenerLimits {
  /**
   * Connections held at once (accepted or not, until they close); one more is closed at
   * once and reported as `too-many-connections` (default 64).
   */
  readonly maxConnections?: number;
  /**
   * A new connection must finish the TLS handshake, and then deliver its first complete
   * message (the session's HELLO), each within this many ms; otherwise it is closed
   * (default 30 s; `Infinity` or 0: no deadline).
   */
  readonly handshakeTimeoutMs?: number;
  /** Largest first message (the HELLO) a connection may announce (default 1 MiB). */
  readonly maxHelloBytes?: number;
  /**
   * Bytes one connection may hold received and not yet consumed (a partial message and
   * queued messages); beyond it reading pauses until the protocol consumes (default
   * 32 MiB, and at least `maxMessageBytes` + 4 so every message can complete).
   */
  readonly maxConnectionBufferedBytes?: number;
  /**
   * Bytes all connections of the listener together may hold received and not yet
   * consumed; beyond it every connection that receives more pauses until the total
   * falls again (default 128 MiB, and at least the per-connection budget).
   */
  readonly maxBufferedBytes?: number;
}

/** The defaults of {@link ListenerLimits}: sized for a national run (a few peers, frames of up to 16 MiB). */
export const DEFAULT_LISTENER_LIMITS = Object.freeze({
  maxConnections: 64,
  handshakeTimeoutMs: 30_000,
  maxHelloBytes: 1024 * 1024,
  maxConnectionBufferedBytes: 32 * 1024 * 1024,
  maxBufferedBytes: 128 * 1024 * 1024,
} as const);

/** What a listener reports about a connection it dropped (never any data the peer sent). */
export interface ListenerEvent {
  /**
   * `tls-failed`: the TLS handshake or the certificate check failed (either side refused);
   * `no-hello`: nothing (or no complete first message) within the handshake deadline;
   * `too-many-connections`: over `maxConnections`; `malformed`: the first message was
   * too large or not a message at all (e.g. HTTP); `not-pinned`: a valid certificate
   * outside {@link ListenOptions.peer} (also reported to `onRefused`);
   * `refused-by-peer`: the client refused this listener's certificate (its own pin);
   * `resume-refused`: a connection asked to resume a session this listener does not
   * hold, or failed to prove it is that session's peer (the session, if any, goes on).
   */
  readonly event: 'tls-failed' | 'no-hello' | 'too-many-connections' | 'malformed' | 'not-pinned' | 'refused-by-peer' | 'resume-refused';
  /** The peer's address and port, when known. */
  readonly address?: string;
  /** The error code the attempt ended with. */
  readonly code: KoppelErrorCode;
  /** Why, in words (no data from the peer). */
  readonly reason: string;
}

/** Options for {@link listen}. */
export interface ListenOptions extends ChannelOptions {
  /** Interface to listen on, e.g. `127.0.0.1`. */
  readonly host: string;
  /** Port; 0 picks a free one (see {@link Listener.port}). */
  readonly port: number;
  /** Mutual TLS, or `{ insecure: true }` for plain TCP. */
  readonly security: Security;
  /**
   * Which clients may connect, under TLS: certificate names and/or fingerprints (see
   * {@link PeerPolicy}). A client outside the list is refused right after the handshake
   * with `PEER_NOT_ALLOWED` and {@link Listener.accept} waits for the next one. Omitted
   * or `'any'`: every certificate the CA signed, as before. Agencies should pin: under a
   * shared CA every other certificate holder can connect otherwise. A list with
   * `insecure` is refused (`INVALID_ARGUMENT`): plain TCP authenticates nobody.
   */
  readonly peer?: PeerPolicy;
  /**
   * Called for every client refused by {@link ListenOptions.peer}, with its identity
   * and the error (for a log: name the fingerprint, the names are the client's choice).
   */
  readonly onRefused?: (peer: PeerIdentity, error: KoppelError) => void;
  /** Limits against hostile load (see {@link ListenerLimits}; defaults {@link DEFAULT_LISTENER_LIMITS}). */
  readonly limits?: ListenerLimits;
  /**
   * Called for every connection the listener dropped before a protocol got it (a failed
   * TLS handshake, a silent or malformed connection, one too many), with its address
   * and the reason; the listener keeps waiting for the right peer.
   */
  readonly onEvent?: (event: ListenerEvent) => void;
  /**
   * Checks a connection's first message: one that fails it is dropped (`malformed`,
   * `MESSAGE_MALFORMED`) and never reaches {@link Listener.acceptReady}, so a stray that
   * sends something other than a HELLO does not disturb a session. Default: any message.
   */
  readonly firstMessage?: (message: Uint8Array) => boolean;
  /**
   * How long a dropped connection of a resumable channel (one the client opened with
   * {@link ConnectOptions.reconnectWindowMs}) may take to come back, in ms (default
   * 120 s; 0: not resumable). The smaller of the two sides' windows applies. While such
   * a channel lives, the port stays bound after {@link Listener.close} so its peer can
   * reconnect; new sessions are refused.
   */
  readonly reconnectWindowMs?: number;
  /** Reports drops and resumptions of resumable channels (for a log; never data). */
  readonly onResume?: (event: ResumeEvent) => void;
}

/** Options for {@link connect}. */
export interface ConnectOptions extends ChannelOptions {
  /** Host to connect to. */
  readonly host: string;
  /** Port to connect to. */
  readonly port: number;
  /** Mutual TLS, or `{ insecure: true }` for plain TCP. */
  readonly security: Security;
  /**
   * Which servers this party accepts, under TLS: certificate names and/or fingerprints
   * (see {@link PeerPolicy}); a server outside the list makes {@link connect} throw
   * `PEER_NOT_ALLOWED` (it is not retried). Omitted or `'any'`: every certificate the CA
   * signed for the host, as before; agencies should pin. A list with `insecure` is
   * refused (`INVALID_ARGUMENT`).
   */
  readonly peer?: PeerPolicy;
  /**
   * How long to keep trying while the peer is not listening yet (default 60 s), so
   * either party may be started first.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Makes the channel resumable (docs/session.md, "Reconnecting"): a connection that
   * drops is dialled again and continues where each side's acknowledgements left off,
   * for up to this many ms; 0 or absent: a plain channel that ends with the connection.
   * The listener must be koppel's {@link listen} (which accepts both).
   */
  readonly reconnectWindowMs?: number;
  /** Reports drops and resumptions of a resumable channel (for a log; never data). */
  readonly onResume?: (event: ResumeEvent) => void;
}

/**
 * True when `host` names this machine's loopback interface: `localhost`, an IPv4
 * address in 127.0.0.0/8, or `::1` (with or without brackets). The only addresses where
 * plain, unauthenticated transport is acceptable.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || h.toLowerCase() === '::ffff:127.0.0.1';
  return false;
}
/** The frame header no message can have: "I refuse you as my peer", then the connection ends. */
const REFUSAL = 0xffffffff;
/** The header "I refuse your certificate", then one byte: the {@link TlsReason}, then the connection ends. */
const TLS_REFUSAL = 0xfffffffe;
/** Lengths from here up are signals, never messages. */
const SIGNALS = 0xfffffff0;

/** Why a TLS peer was refused: the byte after {@link TLS_REFUSAL}. */
const TLS_REASONS = {
  1: { peer: 'is not signed by the CA this side trusts (--tls-ca)', own: 'is not signed by the CA the peer trusts' },
  2: { peer: 'has expired', own: 'has expired (the peer checked its validity dates)' },
  3: { peer: 'is not valid yet', own: 'is not valid yet (the peer checked its validity dates)' },
  4: { peer: 'is missing: the client sent no certificate', own: 'was not sent: this side presented no client certificate' },
  5: { peer: 'does not carry the name connected to (no matching DNS or IP subjectAltName)', own: 'does not carry the name the peer connected to' },
  6: { peer: 'was refused by the certificate check', own: 'was refused by the certificate check' },
} as const;
type TlsReason = keyof typeof TLS_REASONS;

/** The reason of an OpenSSL verification code (a certificate the other side presented). */
function tlsReasonOf(code: string | undefined | null, hasCert: boolean): TlsReason {
  if (!hasCert) return 4;
  switch (code ?? '') {
    case 'CERT_HAS_EXPIRED':
      return 2;
    case 'CERT_NOT_YET_VALID':
      return 3;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 5;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
      return 1;
    default:
      return 6;
  }
}

/** A TLS failure in words, under `TLS_ERROR`. */
function tlsError(message: string, details: Record<string, string | number | undefined> = {}, cause?: unknown): KoppelError {
  return new KoppelError('TLS_ERROR', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/** `TLS_ERROR` for a certificate the other side presented and this side refused. */
function peerCertificateError(reason: TlsReason, role: 'client' | 'server', code?: string): KoppelError {
  return tlsError(`The ${role}'s certificate ${TLS_REASONS[reason].peer}; the connection was refused.`, { reason, verify: code ?? undefined });
}

/** `TLS_ERROR` for this party's certificate, which the peer refused. */
function ownCertificateError(reason: number): KoppelError {
  const r = TLS_REASONS[reason as TlsReason] ?? TLS_REASONS[6];
  return tlsError(`The peer refused this party's certificate: it ${r.own}. Check --tls-cert against the CA the peer trusts.`, { reason });
}

/** The TLS error of a socket error, when it is one (OpenSSL alerts and verification codes). */
function tlsFailureOf(e: NodeJS.ErrnoException): KoppelError | undefined {
  const code = e.code ?? '';
  if (code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || code === 'ERR_SSL_WRONG_VERSION_NUMBER')
    return tlsError(
      'The peer does not speak TLS 1.3: it listens on plain TCP (--insecure) or is not a koppel peer. Use TLS on both sides, or --insecure on both.',
      {
        errno: code,
      },
    );
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return ownCertificateError(4);
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE') return ownCertificateError(1);
  if (code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED') return ownCertificateError(2);
  if (/^ERR_SSL_|^ERR_TLS_/.test(code)) return tlsError(`The TLS handshake failed (${code}).`, { errno: code }, e);
  return undefined;
}

/** A TLS alert record (fatal, protocol_version): what a plain-TCP listener answers a TLS ClientHello with. */
const PROTOCOL_VERSION_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

/** True when the first bytes a peer sent are a TLS record (handshake or alert), not a frame. */
function looksLikeTls(b0: number, b1: number, b2: number): boolean {
  return (b0 === 0x16 || b0 === 0x15) && b1 === 0x03 && b2 <= 0x04;
}

/** Checks `peer` against the security: a pin needs TLS. Returns the normalised pin, if any. */
function pinFor(security: Security, peer: PeerPolicy | undefined): NormalisedPeerPin | undefined {
  const pin = normalisePeerPolicy(peer);
  if (pin && !('tls' in security)) {
    throw new KoppelError('INVALID_ARGUMENT', 'A peer pin needs TLS: plain TCP (insecure) authenticates no peer, so names and fingerprints cannot be checked.');
  }
  return pin;
}

/** Sends `bytes` (a signal), then closes; reads and drops whatever the peer still sends. */
function endWith(socket: net.Socket, bytes: Buffer): void {
  socket.on('error', () => undefined);
  socket.resume();
  socket.end(bytes);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Tells the peer it is refused (the refusal header), then closes. */
function refuse(socket: net.Socket): void {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(REFUSAL);
  endWith(socket, header);
}

/** Tells the peer its certificate is refused, and why (one reason byte), then closes. */
function refuseCertificate(socket: net.Socket, reason: TlsReason): void {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(TLS_REFUSAL);
  b[4] = reason;
  endWith(socket, b);
}

/**
 * Bytes received and not yet consumed, shared by the connections of one listener: over
 * its limit, a connection that receives more pauses until the total falls.
 */
class ByteBudget {
  #used = 0;
  readonly #waiting = new Set<() => boolean>();
  constructor(readonly limit: number) {}
  get used(): number {
    return this.#used;
  }
  get spent(): boolean {
    return this.#used > this.limit;
  }
  /** Adds (or, negative, releases) bytes; a release wakes paused connections. */
  add(n: number): void {
    this.#used += n;
    if (n < 0 && !this.spent) for (const w of [...this.#waiting]) if (w()) this.#waiting.delete(w);
  }
  /** `resume` is called on every release until it returns true. */
  wait(resume: () => boolean): void {
    this.#waiting.add(resume);
  }
  forget(resume: () => boolean): void {
    this.#waiting.delete(resume);
  }
}

/** How a listener's connection differs from a connecting one. */
interface ServerSide {
  readonly maxHelloBytes: number;
  readonly firstMessage: ((message: Uint8Array) => boolean) | undefined;
  readonly budget: ByteBudget;
  readonly helloTimeoutMs: number;
  /** A first message that opens a resumable channel (its HELLO is the next one). */
  readonly onOpen: (c: SocketChannel, open: Uint8Array) => void;
  /** A first message that resumes a dropped channel (never reaches accept). */
  readonly onResume: (c: SocketChannel, resume: Uint8Array) => void;
}

/**
 * A {@link Channel} over a connected socket.
 *
 * Reassembly is linear: received chunks are kept in a list and copied once into each
 * message, never re-concatenated per chunk. Memory held is the bytes received and not
 * yet consumed, bounded by the per-connection budget (and a listener's total budget):
 * over it, reading pauses. The socket keeps the process alive only while a receive or
 * send waits for the peer, so a channel left open does not stop a script from exiting.
 */
class SocketChannel implements Channel, RawLink {
  readonly #socket: net.Socket;
  readonly #inbox: Inbox;
  #max: number;
  /** Which message carries the HELLO: the first, or the second after a resumable OPEN. */
  #helloAt = 1;
  readonly #perConnection: number;
  readonly #server: ServerSide | undefined;
  readonly #secure: boolean;
  /** Received chunks not yet consumed, from `#head` on. */
  #chunks: Buffer[] = [];
  #head = 0;
  /** Bytes in the chunks from `#head` on, less `#offset` (consumed from the first). */
  #have = 0;
  #offset = 0;
  /** The length of the message being received, once its header is read. */
  #need = -1;
  /** Bytes counted against the budgets. */
  #accounted = 0;
  #paused = false;
  #closing = false;
  #waits = 0;
  #messages = 0;
  #firstTimer: Timer | undefined;
  #onFirst: ((error?: KoppelError) => void) | undefined;
  /** The peer: under TLS, its verified certificate's names and fingerprint. */
  readonly peer: PeerIdentity;
  /** Settles when the first message arrived (or the connection failed before it). */
  readonly firstMessage: Promise<KoppelError | undefined>;
  /** Called once the socket has closed. */
  onClose: (() => void) | undefined;

  constructor(socket: net.Socket, options: ChannelOptions & { readonly limits?: ListenerLimits }, secure: boolean, server?: ServerSide) {
    this.#socket = socket;
    this.#secure = secure;
    this.#server = server;
    this.peer = socketPeer(socket, secure ? (socket as tls.TLSSocket) : undefined);
    this.#max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#perConnection = Math.max(options.limits?.maxConnectionBufferedBytes ?? DEFAULT_LISTENER_LIMITS.maxConnectionBufferedBytes, this.#max + 4);
    this.#inbox = new Inbox(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#inbox.onTake = () => this.#sync();
    this.firstMessage = new Promise((resolve) => (this.#onFirst = resolve));
    if (server && server.helloTimeoutMs > 0 && Number.isFinite(server.helloTimeoutMs)) {
      this.#firstTimer = startTimer(
        () =>
          this.#fail(
            new KoppelError('TIMEOUT', `The peer sent no complete first message within ${Math.round(server.helloTimeoutMs / 1000)} s of connecting.`, {
              details: { handshakeTimeoutMs: server.helloTimeoutMs },
            }),
          ),
        server.helloTimeoutMs,
        true,
      );
    }
    socket.setNoDelay(true);
    socket.unref();
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('end', () => this.#fail(this.#closedError('The peer closed the connection before the protocol finished.')));
    socket.on('close', () => {
      this.#fail(this.#closedError('The connection to the peer was lost before the protocol finished.'));
      this.#release();
      this.onClose?.();
    });
    socket.on('error', (e) => this.#fail(networkError(e)));
  }

  /**
   * CONNECTION_CLOSED, made when someone needs it (an orderly close after the protocol's
   * last message, every connection of a round, costs no error object and stack trace); on
   * plain TCP with nothing received, with the hint that the peer may speak TLS, decided now.
   */
  #closedError(message: string): () => KoppelError {
    const hint =
      !this.#secure && this.#messages === 0 && this.#have === 0 && this.#need < 0 && !this.#server
        ? ' Nothing came back: if the peer uses TLS, this side must too (it is plain TCP, --insecure).'
        : '';
    return () => new KoppelError('CONNECTION_CLOSED', message + hint);
  }

  /** Fails the channel; `error` may be a function, called once the error is needed (as {@link Inbox.fail}). */
  #fail(error: KoppelError | (() => KoppelError)): void {
    this.#inbox.fail(error);
    this.#firstTimer?.clear();
    if (this.#onFirst) this.#onFirst(typeof error === 'function' ? error() : error);
    this.#onFirst = undefined;
    // A lazy error is always CONNECTION_CLOSED: the socket is closing already.
    if (typeof error !== 'function' && error.code !== 'CONNECTION_CLOSED') this.#socket.destroy();
  }

  /** Drops every buffered byte and gives them back to the budgets. */
  #release(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#have = 0;
    this.#offset = 0;
    this.#sync();
    if (this.#server) this.#server.budget.forget(this.#resume);
  }

  /** True once a first message arrived, or the connection failed. */
  get started(): boolean {
    return this.#messages > 0 || this.#inbox.failed !== undefined;
  }

  /** Drops what was received: nobody will read this channel (it closed before a protocol took it). */
  discard(): void {
    this.#inbox.drop();
    this.#release();
  }

  /** Ends a connection no protocol took (the listener closes): at once, nothing kept. */
  destroy(): void {
    this.#fail(new KoppelError('CONNECTION_CLOSED', 'The listener was closed before a protocol took this connection.'));
    this.#socket.destroy();
    this.discard();
  }

  /** Re-counts the bytes held, and pauses or resumes reading by the budgets. */
  #sync(): void {
    const held = this.#have + this.#inbox.queuedBytes;
    const budget = this.#server?.budget;
    if (held !== this.#accounted) {
      budget?.add(held - this.#accounted);
      this.#accounted = held;
    }
    const over = held > this.#perConnection || (budget !== undefined && budget.spent && held > 0);
    if (over && !this.#paused && !this.#socket.destroyed) {
      this.#paused = true;
      this.#socket.pause();
      budget?.wait(this.#resume);
    } else if (!over && this.#paused) {
      this.#resume();
    }
  }

  readonly #resume = (): boolean => {
    const held = this.#have + this.#inbox.queuedBytes;
    if (held > this.#perConnection || this.#server?.budget.spent) return false;
    this.#paused = false;
    this.#server?.budget.forget(this.#resume);
    if (!this.#socket.destroyed) this.#socket.resume();
    return true;
  };

  /** Copies the next `n` received bytes out (each byte once), consuming them. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[this.#head] as Buffer;
      const m = Math.min(n - at, c.length - this.#offset);
      out.set(c.subarray(this.#offset, this.#offset + m), at);
      at += m;
      this.#offset += m;
      if (this.#offset === c.length) {
        this.#head++;
        this.#offset = 0;
      }
    }
    this.#have -= n;
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** The `i`-th unconsumed byte (i < 4, for a header). */
  #peek(i: number): number {
    let h = this.#head;
    let o = this.#offset + i;
    while (o >= (this.#chunks[h] as Buffer).length) {
      o -= (this.#chunks[h] as Buffer).length;
      h++;
    }
    return (this.#chunks[h] as Buffer)[o] as number;
  }

  #onData(d: Buffer): void {
    if (this.#inbox.failed) return;
    this.#chunks.push(d);
    this.#have += d.length;
    while (!this.#inbox.failed) {
      if (this.#need < 0) {
        if (this.#have < 4) break;
        const b = [this.#peek(0), this.#peek(1), this.#peek(2), this.#peek(3)] as const;
        const len = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
        if (this.#messages === 0 && this.#signal(len, b)) return;
        const first = this.#server && this.#messages < this.#helloAt;
        const limit = first ? Math.min(this.#max, this.#server.maxHelloBytes + (this.#helloAt === 2 ? RECORD_OVERHEAD : 0)) : this.#max;
        if (len > limit) {
          this.#fail(
            new KoppelError(
              'MESSAGE_TOO_LARGE',
              `The peer ${first ? 'announced a first message' : 'sent a message'} of ${len} bytes; the limit is ${limit}. Is it a koppel peer, with the same settings?`,
              { details: { bytes: len, max: limit } },
            ),
          );
          this.#release();
          return;
        }
        this.#take(4);
        this.#need = len;
      }
      if (this.#have < this.#need) break;
      const message = this.#take(this.#need);
      this.#need = -1;
      this.#messages++;
      if (this.#messages === 1 && this.#server) {
        if (isOpenRecord(message)) {
          // A resumable channel: records carry up to RECORD_OVERHEAD bytes more, the
          // HELLO comes next (its deadline and check are the resumable channel's), and
          // idle waits are the resumable channel's.
          this.#helloAt = 2;
          this.#max += RECORD_OVERHEAD;
          this.#inbox.setIdleTimeout(0);
          this.#firstArrived();
          this.#server.onOpen(this, message);
          continue;
        }
        if (isResumeRecord(message)) {
          this.#max += RECORD_OVERHEAD;
          this.#inbox.setIdleTimeout(0);
          this.#firstArrived();
          this.#server.onResume(this, message);
          continue;
        }
      }
      if (this.#messages === 1 && this.#server?.firstMessage) {
        if (!this.#server.firstMessage(message)) {
          this.#fail(new KoppelError('MESSAGE_MALFORMED', 'The first message of the connection is not a HELLO: it is not a koppel peer of this protocol.'));
          this.#release();
          return;
        }
      }
      if (this.#messages === 1) this.#firstArrived();
      this.#inbox.push(message);
    }
    this.#sync();
  }

  #firstArrived(): void {
    this.#firstTimer?.clear();
    this.#onFirst?.(undefined);
    this.#onFirst = undefined;
  }

  /**
   * The signals a peer may send instead of a first message: the pin refusal, the
   * certificate refusal, and (on plain TCP) a TLS record. True when one was handled.
   */
  #signal(len: number, b: readonly [number, number, number, number]): boolean {
    if (len === REFUSAL) {
      this.#fail(
        new KoppelError(
          'PEER_NOT_ALLOWED',
          "The peer refused this connection: this party's certificate is not one of its pinned peers. Ask its operator to add this certificate's name or fingerprint.",
        ),
      );
      this.#release();
      return true;
    }
    if (len === TLS_REFUSAL) {
      if (this.#have < 5) return true; // wait for the reason byte
      this.#take(4);
      const reason = this.#take(1)[0] as number;
      this.#fail(ownCertificateError(reason));
      this.#release();
      return true;
    }
    if (!this.#secure && looksLikeTls(b[0], b[1], b[2])) {
      if (this.#server) {
        this.#socket.write(PROTOCOL_VERSION_ALERT);
        this.#fail(
          tlsError('A client opened a TLS connection, but this side listens on plain TCP (--insecure). Use TLS on both sides, or --insecure on both.'),
        );
      } else {
        this.#fail(tlsError('The peer speaks TLS, but this side connected over plain TCP (--insecure). Use TLS on both sides, or --insecure on both.'));
      }
      this.#release();
      return true;
    }
    return false;
  }

  /** Keeps the process alive while `p` waits for the peer. */
  #waiting<T>(p: Promise<T>): Promise<T> {
    if (this.#waits++ === 0) this.#socket.ref();
    const done = () => {
      if (--this.#waits === 0) this.#socket.unref();
    };
    p.then(done, done);
    return p;
  }

  send(message: Uint8Array): Promise<void> {
    return this.sendParts(message);
  }

  /** Sends one message made of `head` and then `body` (a record header and its message, without copying). */
  async sendParts(head: Uint8Array, body?: Uint8Array): Promise<void> {
    if (this.#closing || this.#socket.destroyed) throw this.#inbox.failed ?? new KoppelError('CONNECTION_CLOSED', 'The connection is closed.');
    const length = head.length + (body?.length ?? 0);
    if (length > this.#max || length >= SIGNALS) {
      throw new KoppelError('MESSAGE_TOO_LARGE', `A message of ${length} bytes exceeds the limit of ${this.#max} bytes.`, {
        details: { bytes: length, max: this.#max },
      });
    }
    const header = Buffer.alloc(4);
    header.writeUInt32BE(length);
    this.#socket.cork();
    this.#socket.write(header);
    let ok = this.#socket.write(head);
    if (body) ok = this.#socket.write(body);
    this.#socket.uncork();
    if (!ok) await this.#waiting(this.#drained());
  }

  /** The next message, for a resumable channel's reader: no idle timeout, and it does not keep the process alive. */
  next(): Promise<Uint8Array> {
    return this.#inbox.take();
  }

  /** Keeps the process alive while a resumable channel's protocol waits (counted). */
  hold(on: boolean): void {
    if (on) {
      if (this.#waits++ === 0) this.#socket.ref();
    } else if (--this.#waits === 0) this.#socket.unref();
  }

  /** Resolves on 'drain', rejects if the socket closes first; leaves no listener behind. */
  #drained(): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      const done = () => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
      };
      const onDrain = () => {
        done();
        resolve();
      };
      const onClose = () => {
        done();
        reject(this.#inbox.failed ?? new KoppelError('CONNECTION_CLOSED', 'The connection closed while sending.'));
      };
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  receive(): Promise<Uint8Array> {
    if (this.#inbox.length > 0) return this.#inbox.take();
    return this.#waiting(this.#inbox.take());
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#firstTimer?.clear();
    if (this.#socket.destroyed) return;
    const closed = once(this.#socket, 'close').catch(() => undefined);
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 2000);
    await closed;
    clearTimeout(timer);
  }
}

/** How long a send on a connection that has said nothing waits to learn whether it is resumable. */
const FIRST_WORD_MS = 1000;

/** A channel that is closed from the start (a connection that turned out to be no session). */
function closedChannel(peer: PeerIdentity, message: string): Channel {
  const error = () => Promise.reject(new KoppelError('CONNECTION_CLOSED', message));
  return { peer, send: error, receive: error, close: () => Promise.resolve() };
}

/**
 * What {@link Listener.accept} returns for a connection that has not sent its first
 * message yet: the channel it turns out to be (plain, or resumable after OPEN), once the
 * first message says.
 */
class AcceptedChannel implements Channel {
  readonly peer: PeerIdentity;
  readonly #raw: SocketChannel;
  #target: Channel | undefined;
  readonly #known: Promise<Channel>;
  #settle: ((c: Channel) => void) | undefined;

  constructor(raw: SocketChannel) {
    this.#raw = raw;
    this.peer = raw.peer;
    this.#known = new Promise((resolve) => (this.#settle = resolve));
  }

  /** True once the connection said what it is (or was taken as plain). */
  get settled(): boolean {
    return this.#target !== undefined;
  }

  /** The channel the connection turned out to be. */
  settle(c: Channel): void {
    if (this.#target) return;
    this.#target = c;
    this.#settle?.(c);
  }

  /** The target, keeping the process alive while the first message is awaited. */
  #get(): Promise<Channel> {
    if (this.#target) return Promise.resolve(this.#target);
    this.#raw.hold(true);
    const done = () => this.#raw.hold(false);
    this.#known.then(done, done);
    return this.#known;
  }

  /**
   * A send before the peer said anything waits at most {@link FIRST_WORD_MS} for its first
   * message (a resumable client sends OPEN as soon as it is connected); after that the
   * connection is plain, and the protocol may speak first, as before.
   */
  async send(message: Uint8Array): Promise<void> {
    if (!this.#target) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#get(), new Promise<void>((r) => (timer = setTimeout(r, FIRST_WORD_MS)))]);
      clearTimeout(timer);
      if (!this.#target) this.settle(this.#raw);
    }
    return (this.#target as Channel).send(message);
  }

  async receive(): Promise<Uint8Array> {
    return (await this.#get()).receive();
  }

  close(): Promise<void> {
    return this.#target ? this.#target.close() : this.#raw.close();
  }
}

function networkError(e: unknown): KoppelError {
  const tlsFailure = tlsFailureOf(e as NodeJS.ErrnoException);
  if (tlsFailure) return tlsFailure;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new KoppelError('NETWORK_ERROR', `The connection failed (${code || 'network error'}).`, { details: { errno: code || undefined }, cause: e });
}

// node:tls is loaded when first needed: a plain-TCP party (tests, loopback benchmarks)
// then starts a few milliseconds sooner. Loaded with require in the form the CLI's bundle
// follows (src/util/cjs.ts): the bundle's chunks cannot import() (scripts/bundle-cli.mjs).
let tlsModule: typeof tls | undefined;
const loadTls = (): typeof tls => (tlsModule ??= createRequire(import.meta.url)('node:tls') as typeof tls);

function tlsContextOptions(t: TlsOptions): tls.SecureContextOptions {
  return { cert: t.cert, key: t.key, ca: t.ca, minVersion: 'TLSv1.3' };
}

/** Certificate, key or CA that OpenSSL cannot use: said without echoing the material. */
function tlsMaterialError(e: unknown): KoppelError {
  return new KoppelError(
    'INVALID_KEY',
    'The TLS certificate, key or CA cannot be used: check that all three are PEM files and that the key belongs to the certificate.',
    { cause: e },
  );
}

const clientContexts = new WeakMap<TlsOptions, tls.SecureContext>();

/**
 * Checks mutual-TLS material and prepares it for connecting: the certificate, key and
 * CA are parsed once per `TlsOptions` object and the context is reused by every
 * connection made with it (the same context is returned). Call it at start-up to find
 * bad material before any peer is contacted ({@link connect} calls it too).
 *
 * @throws KoppelError `INVALID_KEY` if the material cannot be used (not PEM, or a key
 *   that does not belong to the certificate)
 */
export async function prepareTls(t: TlsOptions): Promise<tls.SecureContext> {
  const known = clientContexts.get(t);
  if (known) return known;
  const tlsLib = loadTls();
  let context: tls.SecureContext;
  try {
    context = tlsLib.createSecureContext(tlsContextOptions(t));
  } catch (e) {
    throw tlsMaterialError(e);
  }
  clientContexts.set(t, context);
  return context;
}

/** A listening endpoint that accepts one peer at a time. */
export interface Listener {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /**
   * Waits for the next peer (TLS handshake completed and verified) and returns its
   * channel. A connection that then sends no complete first message within the
   * handshake deadline fails with `TIMEOUT` and is closed.
   *
   * @param timeoutMs - give up with `TIMEOUT` after this long (default: wait forever)
   */
  accept(timeoutMs?: number): Promise<Channel>;
  /**
   * Waits for the next peer that has also sent its first complete message (the
   * session's HELLO) within the handshake deadline, and returns its channel (the
   * message is its first receive). Silent, slow or malformed connections never reach
   * the caller and never delay a peer that speaks: protocols' accept loops use this.
   * Connections that arrived but are still within their deadline extend the wait.
   *
   * @param timeoutMs - give up with `TIMEOUT` after this long (default: wait forever);
   *   the message says how many connections arrived and failed, and the last reason
   */
  acceptReady(timeoutMs?: number): Promise<Channel>;
  /**
   * Bytes the listener's connections hold received and not yet consumed, in all: at
   * most `maxBufferedBytes` plus one socket read (64 KiB) per connection.
   */
  readonly bufferedBytes: number;
  /**
   * Resumable channels the listener holds (live, or waiting for their peer to come
   * back). Those that have not said HELLO yet are at most `maxConnections`: beyond it a
   * new one replaces the oldest whose connection is gone, or is refused.
   */
  readonly sessions: number;
  /** Stops listening. Accepted channels stay open. */
  close(): Promise<void>;
}

/** The resolved limits of one listener, checked. */
function resolveLimits(o: ListenOptions): Required<ListenerLimits> {
  const l = { ...DEFAULT_LISTENER_LIMITS, ...o.limits };
  const max = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const positive = (n: number) => Number.isFinite(n) && n > 0;
  if (!Number.isInteger(l.maxConnections) || l.maxConnections < 1)
    throw new KoppelError('INVALID_ARGUMENT', 'maxConnections must be a positive integer.', { details: { maxConnections: l.maxConnections } });
  if (!(l.handshakeTimeoutMs >= 0)) throw new KoppelError('INVALID_ARGUMENT', 'handshakeTimeoutMs must be 0 or more.');
  if (!positive(l.maxHelloBytes)) throw new KoppelError('INVALID_ARGUMENT', 'maxHelloBytes must be positive.');
  if (o.limits?.maxConnectionBufferedBytes !== undefined && !(l.maxConnectionBufferedBytes >= max + 4))
    throw new KoppelError('INVALID_ARGUMENT', 'maxConnectionBufferedBytes must hold at least one message of maxMessageBytes (+ 4).', {
      details: { maxConnectionBufferedBytes: l.maxConnectionBufferedBytes, maxMessageBytes: max },
    });
  const perConnection = Math.max(l.maxConnectionBufferedBytes, max + 4);
  if (o.limits?.maxBufferedBytes !== undefined && !(l.maxBufferedBytes >= perConnection))
    throw new KoppelError('INVALID_ARGUMENT', 'maxBufferedBytes must be at least the per-connection budget.', {
      details: { maxBufferedBytes: l.maxBufferedBytes, perConnection },
    });
  return { ...l, maxConnectionBufferedBytes: perConnection, maxBufferedBytes: Math.max(l.maxBufferedBytes, perConnection) };
}

/** `host:port`, with brackets around an IPv6 address. */
function hostPort(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** The error of a listen that failed, naming the address. */
function listenError(e: unknown, host: string, port: number): KoppelError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const why =
    code === 'EADDRINUSE'
      ? 'the address is in use (another process listens there; stop it or choose another port)'
      : code === 'EADDRNOTAVAIL'
        ? 'this machine has no such address'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : code || 'network error';
  return new KoppelError('NETWORK_ERROR', `Cannot listen on ${hostPort(host, port)}: ${why}.`, { details: { host, port, errno: code || undefined }, cause: e });
}

const addressOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | undefined => socketPeer(s, undefined).address;

/**
 * Listens for peers over mutual TLS (or plain TCP with `{ insecure: true }`), accepting
 * only the pinned peers when `peer` lists them, within the {@link ListenerLimits}.
 *
 * @throws KoppelError `NETWORK_ERROR` if the address cannot be bound (the message
 *   names `host:port`), `INVALID_ARGUMENT` for a malformed pin, a pin without TLS or
 *   inconsistent limits
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const pin = pinFor(options.security, options.peer);
  const limits = resolveLimits(options);
  const secure = 'tls' in options.security;
  const windowMs = options.reconnectWindowMs ?? DEFAULT_RECONNECT_WINDOW_MS;
  if (!(windowMs >= 0)) throw new KoppelError('INVALID_ARGUMENT', 'reconnectWindowMs must be 0 or more.');
  /** The resumable channel each connection that said OPEN carries. */
  const resumables = new WeakMap<SocketChannel, ResumableChannel>();
  /** What accept() returned for a connection that had not said what it is yet. */
  const deferred = new WeakMap<SocketChannel, AcceptedChannel>();
  /** Connections that resume a channel: never candidates for accept(). */
  const resuming = new WeakSet<SocketChannel>();
  /** Live resumable channels by channel id: their peers may reconnect here. */
  const sessions = new Map<string, ResumableChannel>();
  /**
   * Resumable channels that have not said HELLO yet, oldest first: bounded by
   * `maxConnections`, so connections that open a channel and drop cannot pile up.
   */
  const opening = new Set<ResumableChannel>();
  const server: ServerSide = {
    maxHelloBytes: limits.maxHelloBytes,
    firstMessage: options.firstMessage,
    budget: new ByteBudget(limits.maxBufferedBytes),
    helloTimeoutMs: limits.handshakeTimeoutMs,
    onOpen: (c, m) => {
      if (deferred.get(c)?.settled) {
        // accept()'s caller already spoke on it as a plain connection: it cannot become resumable.
        c.destroy();
        return;
      }
      let a: AcceptedOpen | undefined;
      try {
        // After close(), only a connection accept() already returned may still open.
        a = stopped && !deferred.has(c) ? undefined : acceptOpen(m, windowMs);
      } catch {
        a = undefined;
      }
      if (a && opening.size >= limits.maxConnections) {
        // Make room: the oldest opening channel whose connection is gone, else refuse.
        const stale = [...opening].find((r) => r.down);
        if (stale) stale.destroy(new KoppelError('LIMIT_EXCEEDED', `Over ${limits.maxConnections} resumable channels waiting for their HELLO.`));
        else a = undefined;
      }
      if (!a || sessions.has(Buffer.from(a.id).toString('hex'))) {
        c.sendParts(refusedRecord(3)).catch(() => undefined);
        void c.close();
        return;
      }
      c.sendParts(a.answer).catch(() => undefined);
      const accepted = a;
      const id = Buffer.from(a.id).toString('hex');
      const r: ResumableChannel = new ResumableChannel({
        side: 'server',
        link: c,
        accepted,
        maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        ...(options.onResume ? { onEvent: options.onResume } : {}),
        ...(options.firstMessage ? { firstMessage: options.firstMessage } : {}),
        onEnd: () => {
          opening.delete(r);
          if (sessions.get(id) === r) sessions.delete(id);
          const i = pending.indexOf(r);
          if (i >= 0) pending.splice(i, 1);
          ready.delete(r);
          closeWhenIdle();
        },
      });
      sessions.set(id, r);
      opening.add(r);
      resumables.set(c, r);
      // Its HELLO is due within the handshake deadline of the first connection, across
      // drops; then it is ready (acceptReady), or dropped and reported like a stray.
      const deadline =
        limits.handshakeTimeoutMs > 0 && Number.isFinite(limits.handshakeTimeoutMs)
          ? startTimer(
              () =>
                r.destroy(
                  new KoppelError('TIMEOUT', `The peer sent no complete first message within ${Math.round(limits.handshakeTimeoutMs / 1000)} s of connecting.`),
                ),
              limits.handshakeTimeoutMs,
              true,
            )
          : undefined;
      const address = c.peer.address;
      void r.firstData.then((error) => {
        deadline?.clear();
        opening.delete(r);
        if (error) {
          reportFirst(error, address);
          expireIfIdle();
          return;
        }
        becomeReady(r);
        expireIfIdle();
      });
      // The resumable channel takes the connection's place: among the candidates, or in
      // the channel accept() already returned.
      const d = deferred.get(c);
      if (d) {
        r.take();
        d.settle(r);
      } else {
        const at = pending.indexOf(c);
        if (at >= 0) pending[at] = r;
        const k = keyOf.get(c);
        if (k !== undefined) keyOf.set(r, k);
      }
    },
    onResume: (c, m) => {
      resuming.add(c);
      // accept() may have handed this connection out: it is no session of its own.
      deferred.get(c)?.settle(closedChannel(c.peer, 'The connection resumed another session; it is not a new one.'));
      const at = pending.indexOf(c);
      if (at >= 0) pending.splice(at, 1);
      taken(c);
      const address = c.peer.address;
      const r = sessions.get(Buffer.from(resumeId(m)).toString('hex'));
      const refused = (reason: string, code: KoppelErrorCode) => report({ event: 'resume-refused', ...(address ? { address } : {}), code, reason });
      if (!r) {
        c.sendParts(refusedRecord(1)).catch(() => undefined);
        void c.close();
        refused('it asked to resume a session this listener does not hold', 'CONNECTION_CLOSED');
        return;
      }
      void r.resume(c, m).then((ok) => {
        if (!ok) refused('it did not prove it is the peer of the session it asked to resume', 'PEER_NOT_ALLOWED');
      });
    },
  };
  const channelOptions = { ...options, limits };
  /** Channels not yet taken by accept/acceptReady, oldest first. */
  const pending: Array<SocketChannel | ResumableChannel> = [];
  const ready = new Set<SocketChannel | ResumableChannel>();
  /** Connections still within their deadline: TCP connected, no first message yet. */
  const unready = new Map<string, net.Socket>();
  /** The `unready` key of each channel: a channel taken by accept() belongs to its taker, not to close(). */
  const keyOf = new WeakMap<SocketChannel | ResumableChannel, string>();
  const taken = (c: SocketChannel | ResumableChannel) => {
    const k = keyOf.get(c);
    if (k !== undefined && unready.get(k) !== undefined) unready.delete(k);
  };
  /** Once closed, the port stays bound only while resumable channels may still reconnect. */
  const closeWhenIdle = () => {
    if (stopped && sessions.size === 0) netServer.close();
  };
  type Waiter = { readonly wantsReady: boolean; give(c: Channel): void; expired: boolean; expire(): void; end(): void };
  const waiters: Waiter[] = [];
  let failed = 0;
  let lastFailure: string | undefined;
  let stopped = false;

  const report = (e: ListenerEvent) => {
    failed++;
    lastFailure = e.reason;
    try {
      options.onEvent?.(e);
    } catch {
      // A logger's failure must not stop the listener.
    }
    // A waiter past its timeout was only waiting for connections still in their deadline.
    expireIfIdle();
  };
  /**
   * Ends the waits past their timeout that were only waiting for connections still in
   * their deadline (plain ones before their first message, resumable ones before HELLO).
   */
  const expireIfIdle = () => {
    if (unready.size === 0 && opening.size === 0) for (const w of waiters.filter((x) => x.expired)) w.expire();
  };
  /** Reports a connection (or resumable channel) that failed before its first message. */
  const reportFirst = (error: KoppelError, address: string | undefined) => {
    const event: ListenerEvent['event'] =
      error.code === 'TIMEOUT' || error.code === 'CONNECTION_CLOSED'
        ? 'no-hello'
        : error.code === 'TLS_ERROR'
          ? 'tls-failed'
          : error.code === 'PEER_NOT_ALLOWED'
            ? 'refused-by-peer'
            : 'malformed';
    const reason =
      error.code === 'CONNECTION_CLOSED'
        ? 'closed before sending a complete first message'
        : error.code === 'PEER_NOT_ALLOWED'
          ? "the client refused this listener's certificate (not one of its pinned peers)"
          : error.message;
    report({ event, ...(address ? { address } : {}), code: error.code, reason });
  };
  const refreshRef = () => {
    if (waiters.length > 0) netServer.ref();
    else netServer.unref();
  };
  const hand = (c: SocketChannel | ResumableChannel) => {
    const i = waiters.findIndex((w) => !w.wantsReady || ready.has(c));
    if (i < 0) return false;
    const [w] = waiters.splice(i, 1);
    const at = pending.indexOf(c);
    if (at >= 0) pending.splice(at, 1);
    taken(c);
    let channel: Channel = c;
    if (c instanceof ResumableChannel) c.take();
    if (c instanceof SocketChannel && !c.started) {
      // Not known yet whether it opens a resumable channel: the first message tells.
      const d = new AcceptedChannel(c);
      deferred.set(c, d);
      channel = d;
    }
    (w as Waiter).give(channel);
    refreshRef();
    return true;
  };
  /** A candidate said its first message (a resumable one: its HELLO): to a waiting accept, unless it was taken or the listener closed. */
  const becomeReady = (c: SocketChannel | ResumableChannel) => {
    if (!pending.includes(c)) return;
    if (stopped) {
      c.destroy();
      return;
    }
    ready.add(c);
    hand(c);
  };
  const onSocket = (s: net.Socket) => {
    const address = addressOf(s);
    const key = `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;
    if (secure) {
      const t = s as tls.TLSSocket;
      if (!t.authorized) {
        const cert = t.getPeerCertificate();
        const has = Boolean(cert && Object.keys(cert).length > 0);
        const reason = tlsReasonOf(typeof t.authorizationError === 'string' ? t.authorizationError : (t.authorizationError as Error | null)?.message, has);
        refuseCertificate(s, reason);
        unready.delete(key);
        report({ event: 'tls-failed', ...(address ? { address } : {}), code: 'TLS_ERROR', reason: `the client's certificate ${TLS_REASONS[reason].peer}` });
        return;
      }
    }
    if (pin) {
      const peer = socketPeer(s, s as tls.TLSSocket);
      if (!peerMatches(peer, pin)) {
        refuse(s);
        unready.delete(key);
        options.onRefused?.(peer, peerNotAllowed(peer, 'client'));
        report({
          event: 'not-pinned',
          ...(address ? { address } : {}),
          code: 'PEER_NOT_ALLOWED',
          reason: "the client's certificate is not one of the pinned peers",
        });
        return;
      }
    }
    const c = new SocketChannel(s, channelOptions, secure, server);
    c.onClose = () => {
      // Closed before any protocol took it: nothing will read it, so nothing stays held.
      const at = pending.indexOf(c);
      if (at < 0) return;
      pending.splice(at, 1);
      ready.delete(c);
      c.discard();
    };
    unready.set(key, s);
    keyOf.set(c, key);
    pending.push(c);
    void c.firstMessage.then((error) => {
      unready.delete(key);
      if (error) {
        const at = pending.indexOf(c);
        if (at >= 0) pending.splice(at, 1);
        deferred.get(c)?.settle(c);
        reportFirst(error, address);
        return;
      }
      if (resuming.has(c) || resumables.has(c)) return; // their channels are followed above
      deferred.get(c)?.settle(c);
      becomeReady(c);
    });
    hand(c);
  };
  let netServer: net.Server;
  if (secure) {
    const tlsLib = loadTls();
    try {
      netServer = tlsLib.createServer(
        {
          ...tlsContextOptions((options.security as { tls: TlsOptions }).tls),
          requestCert: true,
          // The certificate is checked in onSocket, so the client can be told why it is refused.
          rejectUnauthorized: false,
          ...(limits.handshakeTimeoutMs > 0 && Number.isFinite(limits.handshakeTimeoutMs) ? { handshakeTimeout: limits.handshakeTimeoutMs } : {}),
        },
        onSocket,
      );
    } catch (e) {
      throw tlsMaterialError(e);
    }
    netServer.on('connection', (raw: net.Socket) => {
      const key = `${raw.remoteAddress ?? ''}|${raw.remotePort ?? ''}`;
      unready.set(key, raw);
      raw.once('close', () => {
        if (unready.get(key) === raw) {
          unready.delete(key);
          expireIfIdle();
        }
      });
    });
    netServer.on('tlsClientError', (e: NodeJS.ErrnoException, s: tls.TLSSocket) => {
      const address = addressOf(s);
      const code = e.code ?? '';
      const reason =
        code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL'
          ? 'the client speaks plain TCP (or not TLS 1.3), not TLS'
          : code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
            ? `the client did not complete the TLS handshake within ${Math.round(limits.handshakeTimeoutMs / 1000)} s`
            : code === 'ECONNRESET'
              ? 'the client closed the connection during the TLS handshake (it may have refused this server certificate)'
              : `the TLS handshake failed (${code || 'error'})`;
      report({ event: 'tls-failed', ...(address ? { address } : {}), code: 'TLS_ERROR', reason });
    });
  } else {
    netServer = net.createServer(onSocket);
  }
  netServer.maxConnections = limits.maxConnections;
  netServer.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) => {
    const address = d ? addressOf(d) : undefined;
    report({
      event: 'too-many-connections',
      ...(address ? { address } : {}),
      code: 'LIMIT_EXCEEDED',
      reason: `over the limit of ${limits.maxConnections} connections at once`,
    });
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once('error', (e) => reject(listenError(e, options.host, options.port)));
    netServer.listen(options.port, options.host, () => resolve());
  });
  netServer.unref();
  const address = netServer.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  const wait = (timeoutMs: number | undefined, wantsReady: boolean): Promise<Channel> => {
    if (stopped) return Promise.reject(new KoppelError('CONNECTION_CLOSED', 'The listener is closed.'));
    const c = wantsReady ? pending.find((x) => ready.has(x)) : pending[0];
    if (c) {
      pending.splice(pending.indexOf(c), 1);
      taken(c);
      if (c instanceof ResumableChannel) c.take();
      return Promise.resolve(c);
    }
    const failedBefore = failed;
    return new Promise<Channel>((resolve, reject) => {
      let timer: Timer | undefined;
      const remove = () => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        refreshRef();
      };
      const timeout = () => {
        remove();
        const n = failed - failedBefore;
        const s = Math.round((timeoutMs ?? 0) / 1000);
        reject(
          new KoppelError(
            'TIMEOUT',
            n > 0
              ? `No peer connected within ${s} s: ${n} connection${n === 1 ? '' : 's'} arrived but failed (last: ${lastFailure ?? 'unknown'}).`
              : `No peer connected within ${s} s.`,
            { details: { timeoutMs, failedConnections: n } },
          ),
        );
      };
      const w: Waiter = {
        wantsReady,
        expired: false,
        give(ch) {
          timer?.clear();
          resolve(ch);
        },
        expire: timeout,
        end() {
          timer?.clear();
          reject(new KoppelError('CONNECTION_CLOSED', 'The listener was closed while waiting for a peer.'));
        },
      };
      waiters.push(w);
      refreshRef();
      if (timeoutMs !== undefined) {
        timer = startTimer(() => {
          // A connection still within its handshake deadline may yet speak: wait for it.
          if (wantsReady && (unready.size > 0 || opening.size > 0)) w.expired = true;
          else timeout();
        }, timeoutMs);
      }
    });
  };

  return {
    port,
    get bufferedBytes() {
      return server.budget.used;
    },
    get sessions() {
      return sessions.size;
    },
    accept: (timeoutMs?: number) => wait(timeoutMs, false),
    acceptReady: (timeoutMs?: number) => wait(timeoutMs, true),
    close() {
      // server.close() calls back only when every accepted connection has ended; the
      // accepted channels live on independently, so stop listening and return. While a
      // resumable channel lives, its peer may still reconnect: the port closes after it.
      stopped = true;
      for (const c of pending.splice(0)) c.destroy();
      closeWhenIdle();
      for (const s of unready.values()) s.destroy();
      unready.clear();
      for (const w of waiters.splice(0)) w.end();
      refreshRef();
      return Promise.resolve();
    },
  };
}

/**
 * Connects to a listening peer over mutual TLS (or plain TCP with `{ insecure: true }`),
 * retrying while the peer is not up yet, until `connectTimeoutMs`; with `peer`, only to
 * a server whose certificate is pinned.
 *
 * @throws KoppelError `TIMEOUT` if the peer never listens, `TLS_ERROR` when the TLS
 *   handshake or a certificate check fails (the reason in words; the server is told why
 *   too), `NETWORK_ERROR` for other connection failures, `PEER_NOT_ALLOWED` for a
 *   server outside the pin, `INVALID_ARGUMENT` for a malformed pin or a pin without TLS
 */
export async function connect(options: ConnectOptions): Promise<Channel> {
  const pin = pinFor(options.security, options.peer);
  const deadline = Date.now() + (options.connectTimeoutMs ?? 60_000);
  let delay = 50;
  const secure = 'tls' in options.security;
  const windowMs = options.reconnectWindowMs ?? 0;
  if (!(windowMs >= 0)) throw new KoppelError('INVALID_ARGUMENT', 'reconnectWindowMs must be 0 or more.');
  for (;;) {
    /** Set when the connection dropped while a resumable channel was being opened: dial again. */
    let lostOpening = false;
    try {
      const socket = await connectOnce(options, pin);
      if (windowMs === 0) return new SocketChannel(socket, options, secure);
      const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
      const raw = (s: net.Socket) => new SocketChannel(s, { ...options, maxMessageBytes: max + RECORD_OVERHEAD, idleTimeoutMs: 0 }, secure);
      const link = raw(socket);
      let opened;
      try {
        opened = await openChannel(link, windowMs, Math.max(1000, Math.min(30_000, deadline - Date.now())));
      } catch (e) {
        link.destroy();
        lostOpening = e instanceof KoppelError && (e.code === 'NETWORK_ERROR' || (e.code === 'CONNECTION_CLOSED' && e.details['refusal'] === undefined));
        throw e;
      }
      return new ResumableChannel({
        side: 'client',
        link,
        opened,
        maxMessageBytes: max,
        idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        redial: async () => raw(await connectOnce(options, pin)),
        ...(options.onResume ? { onEvent: options.onResume } : {}),
      });
    } catch (e) {
      const code = ((e as KoppelError).cause as NodeJS.ErrnoException | undefined)?.code;
      const retriable = lostOpening || ((e as KoppelError).code === 'NETWORK_ERROR' && (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT'));
      if (!retriable) throw e;
      if (Date.now() + delay > deadline) {
        throw new KoppelError(
          'TIMEOUT',
          `Could not reach the peer at ${options.host}:${options.port} within ${Math.round((options.connectTimeoutMs ?? 60_000) / 1000)} s; is it running?`,
          {
            details: { host: options.host, port: options.port },
          },
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}

async function connectOnce(options: ConnectOptions, pin: NormalisedPeerPin | undefined): Promise<net.Socket> {
  const security = options.security;
  const tlsLib = 'tls' in security ? loadTls() : undefined;
  const secureContext = 'tls' in security ? await prepareTls(security.tls) : undefined;
  return new Promise((resolve, reject) => {
    const onError = (e: unknown) => reject(networkError(e));
    let s: net.Socket;
    const onConnect = () => {
      s.off('error', onError);
      if ('tls' in security) {
        // The server's certificate must chain to the CA and name the host (a DNS or IP
        // subject alternative name), or `servername` when given. Checked here rather
        // than by OpenSSL, so the server is told why it was refused.
        const t = s as tls.TLSSocket;
        const cert = t.getPeerCertificate();
        const has = Boolean(cert && Object.keys(cert).length > 0);
        let reason: TlsReason | undefined;
        let verify: string | undefined;
        if (!t.authorized) {
          verify = typeof t.authorizationError === 'string' ? t.authorizationError : (t.authorizationError as Error | null)?.message;
          reason = tlsReasonOf(verify, has);
        } else {
          const name = security.tls.servername ?? options.host;
          const mismatch = (tlsLib as typeof tls).checkServerIdentity(name.startsWith('[') ? name.slice(1, -1) : name, cert);
          if (mismatch) {
            reason = 5;
            verify = 'ERR_TLS_CERT_ALTNAME_INVALID';
          }
        }
        if (reason !== undefined) {
          refuseCertificate(s, reason);
          reject(peerCertificateError(reason, 'server', verify));
          return;
        }
      }
      if (pin) {
        const peer = socketPeer(s, s as tls.TLSSocket);
        if (!peerMatches(peer, pin)) {
          refuse(s);
          reject(peerNotAllowed(peer, 'server'));
          return;
        }
      }
      resolve(s);
    };
    if ('tls' in security) {
      const t = security.tls;
      const servername = t.servername ?? (net.isIP(options.host) ? undefined : options.host);
      s = (tlsLib as typeof tls).connect(
        { host: options.host, port: options.port, secureContext, rejectUnauthorized: false, ...(servername ? { servername } : {}) },
        onConnect,
      );
    } else {
      s = net.connect({ host: options.host, port: options.port }, onConnect);
    }
    s.once('error', onError);
  });
}
