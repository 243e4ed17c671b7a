/**
 * Channels: ordered, reliable message pipes between two parties. Protocols are written
 * against {@link Channel} only, so they run unchanged in memory (tests), over TCP, or
 * over mutual TLS.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { startTimer, type Timer } from '../util/timer.js';
import { MEMORY_PEER, type PeerIdentity } from './peer.js';

/** Default largest message a channel accepts from its peer: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Default time a receive waits for the peer: 5 minutes. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60 * 1000;

/** An ordered, reliable, message-oriented connection to one peer. */
export interface Channel {
  /**
   * Sends one message. Resolves when the transport has taken it (back-pressure: a slow
   * peer slows the sender).
   *
   * @throws KoppelError `CONNECTION_CLOSED`, `MESSAGE_TOO_LARGE`, `NETWORK_ERROR`
   */
  send(message: Uint8Array): Promise<void>;
  /**
   * The next message from the peer.
   *
   * @throws KoppelError `TIMEOUT` when nothing arrives within the idle timeout,
   *   `CONNECTION_CLOSED` when the peer has gone, `MESSAGE_TOO_LARGE`, `NETWORK_ERROR`
   */
  receive(): Promise<Uint8Array>;
  /** Closes the channel; the peer's pending and later receives fail with `CONNECTION_CLOSED`. */
  close(): Promise<void>;
  /**
   * Who is at the other end, as the transport knows it (under mutual TLS: the peer's
   * verified certificate). Channels of koppel's transports always set it; a wrapper
   * should pass it on.
   */
  readonly peer?: PeerIdentity;
}

/** Options every channel accepts. */
export interface ChannelOptions {
  /** Largest message accepted from the peer (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** How long `receive` waits before `TIMEOUT` (default 5 minutes). */
  readonly idleTimeoutMs?: number;
}

/**
 * A queue of received messages with waiting receivers: the shared core of every
 * channel implementation.
 */
export class Inbox {
  readonly #queue: Uint8Array[] = [];
  readonly #waiting: Array<{ resolve: (m: Uint8Array) => void; reject: (e: unknown) => void; timer: Timer | undefined }> = [];
  #failure: KoppelError | undefined;
  #lazyFailure: (() => KoppelError) | undefined;
  #queuedBytes = 0;
  #idleTimeoutMs: number;
  /** Called when the queue drains below the low-water mark (to resume a paused source). */
  onDrain: (() => void) | undefined;
  /** Called after every queued message is taken (for a transport's byte accounting). */
  onTake: (() => void) | undefined;

  constructor(idleTimeoutMs: number) {
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  /** Changes the idle timeout of later receives (0: none). */
  setIdleTimeout(ms: number): void {
    this.#idleTimeoutMs = ms;
  }

  /** Bytes queued and not yet received. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Number of messages queued and not yet received. */
  get length(): number {
    return this.#queue.length;
  }

  /** Delivers a message from the peer. */
  push(message: Uint8Array): void {
    const w = this.#waiting.shift();
    if (w) {
      w.timer?.clear();
      w.resolve(message);
      return;
    }
    this.#queue.push(message);
    this.#queuedBytes += message.length;
  }

  /**
   * Ends the inbox: queued messages can still be received, then `error` is thrown. A
   * function is called only once the error is needed (a receiver waits or comes), so an
   * orderly close that nobody reads past costs no error object and its stack trace.
   */
  fail(error: KoppelError | (() => KoppelError)): void {
    if (this.#failure || this.#lazyFailure) return;
    if (typeof error === 'function') {
      this.#lazyFailure = error;
      if (this.#waiting.length === 0) return;
      error = error();
    }
    this.#failure = error;
    for (const w of this.#waiting.splice(0)) {
      w.timer?.clear();
      w.reject(error);
    }
  }

  /** The failure, made now if it was given as a function. */
  #failureNow(): KoppelError | undefined {
    if (!this.#failure && this.#lazyFailure) this.#failure = this.#lazyFailure();
    return this.#failure;
  }

  /** Drops every queued message (a connection nobody will read from). */
  drop(): void {
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }

  /** True once {@link Inbox.fail} was called. */
  get failed(): KoppelError | undefined {
    return this.#failureNow();
  }

  /** The next message, or the failure, or `TIMEOUT`. */
  take(): Promise<Uint8Array> {
    const m = this.#queue.shift();
    if (m) {
      this.#queuedBytes -= m.length;
      this.onTake?.();
      if (this.#queue.length === 0) this.onDrain?.();
      return Promise.resolve(m);
    }
    const failure = this.#failureNow();
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => {
      const entry = {
        resolve,
        reject,
        timer: undefined as Timer | undefined,
      };
      if (this.#idleTimeoutMs > 0 && Number.isFinite(this.#idleTimeoutMs)) {
        entry.timer = startTimer(
          () => {
            const i = this.#waiting.indexOf(entry);
            if (i >= 0) this.#waiting.splice(i, 1);
            reject(
              new KoppelError('TIMEOUT', `The peer sent nothing for ${Math.round(this.#idleTimeoutMs / 1000)} s; it may have stalled or crashed.`, {
                details: { idleTimeoutMs: this.#idleTimeoutMs },
              }),
            );
          },
          this.#idleTimeoutMs,
          true,
        );
      }
      this.onDrain?.();
      this.#waiting.push(entry);
    });
  }
}

function closedError(): KoppelError {
  return new KoppelError('CONNECTION_CLOSED', 'The peer closed the connection before the protocol finished.');
}

/**
 * Two connected in-memory channels, for tests and for running both parties in one
 * process. Messages are copied, so neither side can alter what the other received.
 * A sender waits while the receiver has more than 64 messages queued.
 */
export function createMemoryChannelPair(options: ChannelOptions = {}): [Channel, Channel] {
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const inboxes = [new Inbox(idle), new Inbox(idle)] as const;
  const drainWaiters: Array<Array<() => void>> = [[], []];
  inboxes.forEach((inbox, i) => {
    inbox.onDrain = () => {
      for (const w of (drainWaiters[i] as Array<() => void>).splice(0)) w();
    };
  });
  let closed = false;
  const make = (self: 0 | 1): Channel => {
    const peer = (1 - self) as 0 | 1;
    return {
      peer: MEMORY_PEER,
      async send(message) {
        if (closed) throw closedError();
        if (message.length > max) {
          throw new KoppelError('MESSAGE_TOO_LARGE', `A message of ${message.length} bytes exceeds the limit of ${max} bytes.`, {
            details: { bytes: message.length, max },
          });
        }
        while (inboxes[peer].length >= 64 && !closed) await new Promise<void>((r) => (drainWaiters[peer] as Array<() => void>).push(r));
        if (closed) throw closedError();
        inboxes[peer].push(new Uint8Array(message));
      },
      receive() {
        return inboxes[self].take();
      },
      async close() {
        if (closed) return;
        closed = true;
        inboxes[0].fail(closedError);
        inboxes[1].fail(closedError);
        for (const ws of drainWaiters) for (const w of ws.splice(0)) w();
      },
    };
  };
  return [make(0), make(1)];
}
