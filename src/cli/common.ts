/**
 * What every CLI command shares: integer and percentage flags, `--threads`, the
 * network flags (addresses, mutual TLS or an explicit `--insecure`, timeouts), and the
 * reporting flags (`--progress`, `--summary`, `--quiet`) with the summary line and the
 * progress reporter they drive. Files and the terminal are `io.ts`; the program and
 * where it prints ({@link Console}) are `program.ts`.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { DEFAULT_LISTENER_LIMITS, prepareTls, type ListenerEvent, type ListenOptions, type Security } from '../transport/net.js';
import { normalisePeerPolicy, type PeerIdentity, type PeerPolicy } from '../transport/peer.js';
import { isHelloFrame } from '../wire/frame.js';
import { formatCount, readTextFile, type ProgressLine } from './io.js';
import type { Console } from './program.js';

/** A commander parser for a percentage from 0 to 100 (decimals allowed). */
export function parsePercentFlag(flag: string): (value: string) => number {
  return (value) => {
    const n = /^\d{1,3}(\.\d{1,2})?$/.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError(`${flag} must be a percentage from 0 to 100, e.g. 15 or 12.5.`);
    return n;
  };
}

/** A commander argument parser for an integer flag within [min, max]. */
export function parseIntFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** Adds `--threads <n>` (0 to 256; default: the machine's parallelism). */
export function addThreadsOption(c: Command): Command {
  return c.option('--threads <n>', `worker threads (0: single thread; default: ${availableParallelism()})`, parseIntFlag('--threads', 0, 256));
}

/** The parsed reporting flags. */
export interface ReportFlags {
  readonly progress?: boolean;
  readonly summary: 'text' | 'json';
  readonly quiet?: boolean;
}

/** Adds `--progress`, `--no-progress`, `--summary text|json` and `--quiet`. */
export function addReportOptions(c: Command): Command {
  return c
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never show progress')
    .addOption(new Option('--summary <format>', 'summary on stderr').choices(['text', 'json']).default('text'))
    .option('--quiet', 'no summary');
}

/**
 * Prints a command's summary on stderr: `json` (with the process's peak resident
 * memory, worker threads included, for capacity planning) or the text line; nothing
 * with `--quiet`.
 */
export function summaryLine(io: Console, flags: Pick<ReportFlags, 'summary' | 'quiet'>, json: Record<string, unknown>, text: string): void {
  if (flags.quiet) return;
  io.err(flags.summary === 'json' ? JSON.stringify({ ...json, peakRssBytes: process.resourceUsage().maxRSS * 1024 }) : text);
}

/** Progress on stderr at most once a second: phase, items done, overall rate. */
export function progressReporter(line: ProgressLine, role: string): (p: { readonly phase: string; readonly done: number }) => void {
  const start = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 1000) return;
    last = now;
    line.update(`${role}: ${p.phase} ${formatCount(p.done)} (${formatCount((p.done / (now - start)) * 1000)}/s overall)`);
  };
}

/** The parsed network flags. */
export interface NetworkFlags {
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly tlsServername?: string;
  readonly insecure?: boolean;
  readonly peer?: string;
  readonly peerFingerprint?: string;
  readonly anyPeer?: boolean;
  readonly timeout: number;
  readonly idleTimeout: number;
}

/**
 * Adds `--tls-cert`, `--tls-key`, `--tls-ca`, `--tls-servername`, `--insecure`, the peer
 * pin (`--peer`, `--peer-fingerprint`, `--any-peer`), `--timeout`, `--idle-timeout`.
 */
export function addNetworkOptions(c: Command): Command {
  return c
    .option('--tls-cert <file>', "this party's certificate (PEM), for mutual TLS")
    .option('--tls-key <file>', "this party's private key (PEM)")
    .option('--tls-ca <file>', "the CA certificate (PEM) that signed the peer's certificate")
    .option('--tls-servername <name>', 'name the server certificate must carry (connecting side; default: the host)')
    .option('--insecure', 'plain TCP without TLS: only on loopback or a network you trust')
    .option('--peer <names>', 'accept only peers whose certificate carries one of these names (CN or DNS/IP subjectAltName), comma-separated')
    .option('--peer-fingerprint <hex>', 'accept only peers with one of these certificate SHA-256 fingerprints (hex, colons optional), comma-separated')
    .option('--any-peer', 'accept every certificate the CA signed (no pinning); with TLS one of --peer, --peer-fingerprint or --any-peer is required')
    .option('--timeout <seconds>', 'how long to wait for the peer to come up', parseIntFlag('--timeout', 1, 86400), 60)
    .option('--idle-timeout <seconds>', 'how long to wait for the next message before giving up', parseIntFlag('--idle-timeout', 1, 86400), 300)
    .addHelpText(
      'after',
      '\nPeer pinning: --peer and --peer-fingerprint list the peers this command accepts, for every\n' +
        'connection it makes or accepts (a command with several peers lists them all); a peer\n' +
        'outside the list is refused with PEER_NOT_ALLOWED. --any-peer accepts every certificate\n' +
        'the CA signed.',
    );
}

/** Turns the flags into transport security, or explains what is missing. */
export function securityFrom(f: NetworkFlags): Security {
  const tls = [f.tlsCert, f.tlsKey, f.tlsCa];
  if (f.insecure) {
    if (tls.some((x) => x !== undefined)) throw new KoppelError('INVALID_ARGUMENT', 'Use either the --tls-* flags or --insecure, not both.');
    return { insecure: true };
  }
  if (tls.some((x) => x === undefined)) {
    throw new KoppelError(
      'INVALID_ARGUMENT',
      'Networked commands need mutual TLS (--tls-cert, --tls-key and --tls-ca), or --insecure for plain TCP on loopback or a trusted network.',
    );
  }
  return {
    tls: {
      cert: readTextFile(f.tlsCert as string, 'TLS certificate'),
      key: readTextFile(f.tlsKey as string, 'TLS key'),
      ca: readTextFile(f.tlsCa as string, 'TLS CA certificate'),
      ...(f.tlsServername ? { servername: f.tlsServername } : {}),
    },
  };
}

function splitList(text: string, flag: string): string[] {
  const items = text.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw new KoppelError('INVALID_ARGUMENT', `${flag} must be a comma-separated list without empty entries.`);
  return items;
}

/**
 * Turns `--peer`, `--peer-fingerprint` and `--any-peer` into a {@link PeerPolicy}: with
 * TLS one of them is required (a command does not silently accept every certificate its
 * CA signed); with `--insecure` none is allowed (plain TCP authenticates no one).
 *
 * @throws KoppelError `INVALID_ARGUMENT` naming the flag to add or remove
 */
export function peerPolicyFrom(f: NetworkFlags, security: Security): PeerPolicy | undefined {
  const listed = f.peer !== undefined || f.peerFingerprint !== undefined;
  if (!('tls' in security)) {
    if (listed || f.anyPeer) {
      throw new KoppelError(
        'INVALID_ARGUMENT',
        '--peer, --peer-fingerprint and --any-peer need TLS: with --insecure no peer is authenticated, so none can be pinned.',
      );
    }
    return undefined;
  }
  if (f.anyPeer && listed) throw new KoppelError('INVALID_ARGUMENT', 'Use either --any-peer or --peer / --peer-fingerprint, not both.');
  if (f.anyPeer) return 'any';
  if (!listed) {
    throw new KoppelError(
      'INVALID_ARGUMENT',
      "Say which peer may connect: add --peer NAME (the peer certificate's CN or subjectAltName) or --peer-fingerprint SHA256HEX, " +
        'or --any-peer to accept every certificate the CA signed.',
    );
  }
  const policy = {
    ...(f.peer === undefined ? {} : { names: splitList(f.peer, '--peer') }),
    ...(f.peerFingerprint === undefined ? {} : { fingerprints: splitList(f.peerFingerprint, '--peer-fingerprint') }),
  };
  normalisePeerPolicy(policy);
  return policy;
}

/** What a command passes to `listen()` and `connect()`: its transport security and peer pin. */
export interface NetworkSetup {
  /** Mutual TLS or plain TCP. */
  readonly security: Security;
  /** The peers accepted (absent with `--insecure`). */
  readonly peer?: PeerPolicy;
}

/**
 * {@link checkedSecurity} and {@link peerPolicyFrom} together: spread the result into
 * `listen()` and `connect()` options.
 */
export async function checkedNetwork(f: NetworkFlags): Promise<NetworkSetup> {
  const security = securityFrom(f);
  const peer = peerPolicyFrom(f, security);
  if ('tls' in security) await prepareTls(security.tls);
  return { security, ...(peer === undefined ? {} : { peer }) };
}

/** A peer as a summary names it: the first certificate name and the fingerprint (nothing of the data). */
export function peerSummary(peer: PeerIdentity | undefined): { name?: string; fingerprint?: string; authenticated: boolean; address?: string } {
  if (!peer) return { authenticated: false };
  return {
    ...(peer.names[0] === undefined ? {} : { name: peer.names[0] }),
    ...(peer.fingerprint === undefined ? {} : { fingerprint: peer.fingerprint }),
    authenticated: peer.authenticated,
    ...(peer.authenticated || peer.address === undefined ? {} : { address: peer.address }),
  };
}

/** The flags of a command that listens: its limits against hostile load. */
export interface ListenerFlags {
  readonly maxConnections: number;
  readonly handshakeTimeout?: number;
  readonly maxBufferedMb: number;
}

/**
 * Adds `--max-connections`, `--handshake-timeout` and `--max-buffered-mb` (the
 * {@link ListenerLimits} of docs/session.md) to a command that listens.
 *
 * @param handshakeDefault - the default of `--handshake-timeout` in the help text
 */
export function addListenerOptions(c: Command, handshakeDefault = `${DEFAULT_LISTENER_LIMITS.handshakeTimeoutMs / 1000}`): Command {
  return c
    .option(
      '--max-connections <n>',
      'connections held at once; one more is closed at once',
      parseIntFlag('--max-connections', 1, 100_000),
      DEFAULT_LISTENER_LIMITS.maxConnections,
    )
    .option(
      '--handshake-timeout <seconds>',
      `a new connection must finish TLS and send its HELLO within this, or it is closed (default: ${handshakeDefault})`,
      parseIntFlag('--handshake-timeout', 1, 86400),
    )
    .option(
      '--max-buffered-mb <n>',
      'MiB all connections together may hold received and not yet processed; beyond it reading pauses',
      parseIntFlag('--max-buffered-mb', 33, 1_000_000),
      DEFAULT_LISTENER_LIMITS.maxBufferedBytes / (1024 * 1024),
    );
}

/**
 * What a listening command passes to `listen()` besides its address and security: the
 * limits from its flags, and a log line on stderr for every connection it dropped
 * (address and reason, never data) and every peer refused by the pin.
 *
 * @param handshakeDefaultMs - the handshake deadline without `--handshake-timeout`
 * @param maxHelloBytes - the largest HELLO the command's peers may send (default 1 MiB)
 */
export function listenerSetup(
  io: Console,
  role: string,
  f: ListenerFlags,
  handshakeDefaultMs: number = DEFAULT_LISTENER_LIMITS.handshakeTimeoutMs,
  maxHelloBytes?: number,
): Pick<ListenOptions, 'limits' | 'onEvent' | 'onRefused' | 'firstMessage'> {
  return {
    limits: {
      maxConnections: f.maxConnections,
      handshakeTimeoutMs: f.handshakeTimeout === undefined ? handshakeDefaultMs : f.handshakeTimeout * 1000,
      maxBufferedBytes: f.maxBufferedMb * 1024 * 1024,
      ...(maxHelloBytes === undefined ? {} : { maxHelloBytes }),
    },
    // Only a HELLO opens a session: anything else is a stray, dropped and logged.
    firstMessage: isHelloFrame,
    onRefused: logRefused(io, role),
    onEvent: (e: ListenerEvent) => {
      if (e.event === 'not-pinned') return; // onRefused names its fingerprint
      io.err(`koppel: ${role}: dropped a connection${e.address ? ` from ${e.address}` : ''}: ${e.reason} (${e.code})`);
    },
  };
}

/** For `listen()`'s `onRefused`: a line on stderr naming the refused peer's fingerprint only. */
export function logRefused(io: Console, role: string): (peer: PeerIdentity) => void {
  return (peer) => io.err(`koppel: ${role}: refused a peer outside the pin (certificate sha256 ${peer.fingerprint ?? 'unknown'})`);
}

/** A peer in a text summary: `peer "name" (sha256 hex)`, or its address when unauthenticated. */
export function peerText(peer: PeerIdentity | undefined): string {
  const p = peerSummary(peer);
  if (!p.authenticated) return `unauthenticated peer${p.address ? ` ${p.address}` : ''}`;
  return `peer ${JSON.stringify(p.name ?? '')} (sha256 ${p.fingerprint ?? '?'})`;
}

/**
 * {@link securityFrom}, with the TLS certificate, key and CA checked (and prepared for
 * every connection the command makes) before any peer is contacted.
 */
export async function checkedSecurity(f: NetworkFlags): Promise<Security> {
  const security = securityFrom(f);
  if ('tls' in security) await prepareTls(security.tls);
  return security;
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6). */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new KoppelError('INVALID_ARGUMENT', `${flag} must be HOST:PORT, e.g. 127.0.0.1:7000 or [::1]:7000.`);
  return { host: (m[1] ?? m[2]) as string, port };
}
