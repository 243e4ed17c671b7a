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
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { KoppelError } from '../errors/index.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_MESSAGE_BYTES, Inbox, type Channel, type ChannelOptions } from './channel.js';
import { startTimer, type Timer } from '../util/timer.js';
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
}

const PAUSE_BYTES = 32 * 1024 * 1024;

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

/** Checks `peer` against the security: a pin needs TLS. Returns the normalised pin, if any. */
function pinFor(security: Security, peer: PeerPolicy | undefined): NormalisedPeerPin | undefined {
  const pin = normalisePeerPolicy(peer);
  if (pin && !('tls' in security)) {
    throw new KoppelError('INVALID_ARGUMENT', 'A peer pin needs TLS: plain TCP (insecure) authenticates no peer, so names and fingerprints cannot be checked.');
  }
  return pin;
}

/** Tells the peer it is refused (the refusal header), then closes; reads and drops whatever it still sends. */
function refuse(socket: net.Socket): void {
  socket.on('error', () => undefined);
  socket.resume();
  const header = Buffer.alloc(4);
  header.writeUInt32BE(REFUSAL);
  socket.end(header);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** A {@link Channel} over a connected socket. */
class SocketChannel implements Channel {
  readonly #socket: net.Socket;
  readonly #inbox: Inbox;
  readonly #max: number;
  #buffer: Buffer = Buffer.alloc(0);
  #closing = false;
  /** The peer: under TLS, its verified certificate's names and fingerprint. */
  readonly peer: PeerIdentity;

  constructor(socket: net.Socket, options: ChannelOptions, secure: boolean) {
    this.#socket = socket;
    this.peer = socketPeer(socket, secure ? (socket as tls.TLSSocket) : undefined);
    this.#max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#inbox = new Inbox(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#inbox.onDrain = () => {
      if (socket.isPaused() && this.#inbox.queuedBytes < PAUSE_BYTES / 2) socket.resume();
    };
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('end', () => this.#inbox.fail(new KoppelError('CONNECTION_CLOSED', 'The peer closed the connection before the protocol finished.')));
    socket.on('close', () => this.#inbox.fail(new KoppelError('CONNECTION_CLOSED', 'The connection to the peer was lost before the protocol finished.')));
    socket.on('error', (e) => this.#inbox.fail(networkError(e)));
  }

  #onData(d: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? d : Buffer.concat([this.#buffer, d]);
    let off = 0;
    while (this.#buffer.length - off >= 4) {
      const len = this.#buffer.readUInt32BE(off);
      if (len === REFUSAL) {
        this.#inbox.fail(
          new KoppelError(
            'PEER_NOT_ALLOWED',
            "The peer refused this connection: this party's certificate is not one of its pinned peers. Ask its operator to add this certificate's name or fingerprint.",
          ),
        );
        this.#socket.destroy();
        this.#buffer = Buffer.alloc(0);
        return;
      }
      if (len > this.#max) {
        this.#inbox.fail(
          new KoppelError(
            'MESSAGE_TOO_LARGE',
            `The peer sent a message of ${len} bytes; the limit is ${this.#max}. Is it a koppel peer, with the same settings?`,
            { details: { bytes: len, max: this.#max } },
          ),
        );
        this.#socket.destroy();
        this.#buffer = Buffer.alloc(0);
        return;
      }
      if (this.#buffer.length - off - 4 < len) break;
      // Copy out: the message must not pin the (possibly large) receive buffer.
      this.#inbox.push(new Uint8Array(this.#buffer.subarray(off + 4, off + 4 + len)));
      off += 4 + len;
    }
    this.#buffer = off === 0 ? this.#buffer : this.#buffer.subarray(off);
    if (this.#inbox.queuedBytes > PAUSE_BYTES) this.#socket.pause();
  }

  async send(message: Uint8Array): Promise<void> {
    if (this.#closing || this.#socket.destroyed) throw this.#inbox.failed ?? new KoppelError('CONNECTION_CLOSED', 'The connection is closed.');
    if (message.length > this.#max || message.length >= REFUSAL) {
      throw new KoppelError('MESSAGE_TOO_LARGE', `A message of ${message.length} bytes exceeds the limit of ${this.#max} bytes.`, {
        details: { bytes: message.length, max: this.#max },
      });
    }
    const header = Buffer.alloc(4);
    header.writeUInt32BE(message.length);
    this.#socket.cork();
    this.#socket.write(header);
    const ok = this.#socket.write(message);
    this.#socket.uncork();
    if (!ok) await this.#drained();
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
    return this.#inbox.take();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#socket.destroyed) return;
    const closed = once(this.#socket, 'close').catch(() => undefined);
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 2000);
    await closed;
    clearTimeout(timer);
  }
}

function networkError(e: unknown): KoppelError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const tlsHint =
    /CERT|SSL|TLS|ALERT/i.test(code) || /certificate|alert|handshake/i.test(String((e as Error).message))
      ? ' The TLS handshake failed: check that both sides use certificates signed by the CA the other side trusts.'
      : '';
  return new KoppelError('NETWORK_ERROR', `The connection failed (${code || 'network error'}).${tlsHint}`, { details: { errno: code || undefined }, cause: e });
}

// node:tls is loaded when first needed: a plain-TCP party (tests, loopback benchmarks)
// then starts a few milliseconds sooner.
let tlsModule: Promise<typeof tls> | undefined;
const loadTls = (): Promise<typeof tls> => (tlsModule ??= import('node:tls'));

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
  const tlsLib = await loadTls();
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
   * channel.
   *
   * @param timeoutMs - give up with `TIMEOUT` after this long (default: wait forever)
   */
  accept(timeoutMs?: number): Promise<Channel>;
  /** Stops listening. Accepted channels stay open. */
  close(): Promise<void>;
}

/**
 * Listens for peers over mutual TLS (or plain TCP with `{ insecure: true }`), accepting
 * only the pinned peers when `peer` lists them.
 *
 * @throws KoppelError `NETWORK_ERROR` if the address cannot be bound,
 *   `INVALID_ARGUMENT` for a malformed pin or a pin without TLS
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const pin = pinFor(options.security, options.peer);
  const pending: net.Socket[] = [];
  const waiters: Array<(s: net.Socket) => void> = [];
  const abandon = new Map<(s: net.Socket) => void, () => void>();
  const onSocket = (s: net.Socket) => {
    if (pin) {
      const peer = socketPeer(s, s as tls.TLSSocket);
      if (!peerMatches(peer, pin)) {
        refuse(s);
        options.onRefused?.(peer, peerNotAllowed(peer, 'client'));
        return;
      }
    }
    const w = waiters.shift();
    if (w) w(s);
    else pending.push(s);
  };
  let server: net.Server;
  if ('tls' in options.security) {
    const tlsLib = await loadTls();
    try {
      server = tlsLib.createServer({ ...tlsContextOptions(options.security.tls), requestCert: true, rejectUnauthorized: true }, onSocket);
    } catch (e) {
      throw tlsMaterialError(e);
    }
  } else {
    server = net.createServer(onSocket);
  }
  // A client that fails the handshake is dropped; the listener keeps waiting for a good one.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(networkError(e)));
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    accept(timeoutMs?: number) {
      const s = pending.shift();
      if (s) return Promise.resolve(new SocketChannel(s, options, 'tls' in options.security));
      return new Promise((resolve, reject) => {
        let timer: Timer | undefined;
        const w = (sock: net.Socket) => {
          timer?.clear();
          abandon.delete(w);
          resolve(new SocketChannel(sock, options, 'tls' in options.security));
        };
        waiters.push(w);
        // Closing the listener ends a pending accept (and its timer, which would
        // otherwise keep the process alive).
        abandon.set(w, () => {
          timer?.clear();
          reject(new KoppelError('CONNECTION_CLOSED', 'The listener was closed while waiting for a peer.'));
        });
        if (timeoutMs !== undefined) {
          timer = startTimer(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) waiters.splice(i, 1);
            abandon.delete(w);
            reject(new KoppelError('TIMEOUT', `No peer connected within ${Math.round(timeoutMs / 1000)} s.`, { details: { timeoutMs } }));
          }, timeoutMs);
        }
      });
    },
    close() {
      // server.close() calls back only when every accepted connection has ended; the
      // accepted channels live on independently, so stop listening and return.
      server.close();
      for (const s of pending.splice(0)) s.destroy();
      waiters.splice(0);
      for (const end of [...abandon.values()]) end();
      abandon.clear();
      return Promise.resolve();
    },
  };
}

/**
 * Connects to a listening peer over mutual TLS (or plain TCP with `{ insecure: true }`),
 * retrying while the peer is not up yet, until `connectTimeoutMs`; with `peer`, only to
 * a server whose certificate is pinned.
 *
 * @throws KoppelError `TIMEOUT` if the peer never listens, `NETWORK_ERROR` for TLS
 *   and other connection failures, `PEER_NOT_ALLOWED` for a server outside the pin,
 *   `INVALID_ARGUMENT` for a malformed pin or a pin without TLS
 */
export async function connect(options: ConnectOptions): Promise<Channel> {
  const pin = pinFor(options.security, options.peer);
  const deadline = Date.now() + (options.connectTimeoutMs ?? 60_000);
  let delay = 50;
  for (;;) {
    try {
      const socket = await connectOnce(options, pin);
      return new SocketChannel(socket, options, 'tls' in options.security);
    } catch (e) {
      const code = ((e as KoppelError).cause as NodeJS.ErrnoException | undefined)?.code;
      const retriable = code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT';
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
  const tlsLib = 'tls' in security ? await loadTls() : undefined;
  const secureContext = 'tls' in security ? await prepareTls(security.tls) : undefined;
  return new Promise((resolve, reject) => {
    const onError = (e: unknown) => reject(networkError(e));
    let s: net.Socket;
    const onConnect = () => {
      s.off('error', onError);
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
      // The server's certificate must chain to the CA and name the host (a DNS or IP
      // subject alternative name), or `servername` when given.
      const servername = t.servername ?? (net.isIP(options.host) ? undefined : options.host);
      s = (tlsLib as typeof tls).connect({ host: options.host, port: options.port, secureContext, ...(servername ? { servername } : {}) }, onConnect);
    } else {
      s = net.connect({ host: options.host, port: options.port }, onConnect);
    }
    s.once('error', onError);
  });
}
