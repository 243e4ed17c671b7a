/**
 * What every CLI command shares: integer and percentage flags, `--threads`, the
 * network flags (addresses, mutual TLS or an explicit `--insecure`, timeouts), and the
 * reporting flags (`--progress`, `--summary`, `--quiet`) with the summary line and the
 * progress reporter they drive. Files and the terminal are `io.ts`; the program and
 * where it prints ({@link Console}) are `program.ts`.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { DEFAULT_LISTENER_LIMITS, prepareTls, type ListenerEvent, type ListenOptions, type Security } from '../transport/net.js';
import { DEFAULT_RECONNECT_WINDOW_MS, type ResumeEvent } from '../transport/resumable.js';
import { normalisePeerPolicy, type PeerIdentity, type PeerPolicy } from '../transport/peer.js';
import { formatBytes, formatCount, openOutput, readTextFile, type AtomicOutput, type CountedInput, type ProgressLine } from './io.js';
import type { InvalidRecord } from '../csv/policy.js';
import { formatHeader, formatRecord, PLAIN_STYLE, type CsvStyle } from '../csv/records.js';
import { isHelloFrame } from '../wire/frame.js';
import type { Console } from './program.js';
import { currentLogFormat } from './log.js';
import { parseReleasedTable } from '../report/table.js';

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
 * memory, worker threads included, for capacity planning; always with `--log json`) or
 * the text line; nothing with `--quiet`.
 */
export function summaryLine(io: Console, flags: Pick<ReportFlags, 'summary' | 'quiet'>, json: Record<string, unknown>, text: string): void {
  if (flags.quiet) return;
  // With --log json the summary is a JSON record whatever --summary says.
  const asJson = flags.summary === 'json' || currentLogFormat() === 'json';
  io.err(asJson ? JSON.stringify({ ...json, peakRssBytes: process.resourceUsage().maxRSS * 1024 }) : text);
}

/** A duration for a progress line: `45 s`, `12 min`, `2 h 05 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** What a progress line says about the input file: how much is read, and the time left at the rate so far. */
export function inputProgress(
  input: Pick<CountedInput, 'bytesRead' | 'totalBytes'>,
  elapsedSeconds: number,
): { text: string; fields: Record<string, number> } | undefined {
  const total = input.totalBytes;
  if (total === undefined) return undefined;
  const read = Math.min(input.bytesRead, total);
  const percent = total === 0 ? 100 : (read / total) * 100;
  if (read >= total) return { text: `input read (${formatBytes(total)})`, fields: { bytesRead: read, totalBytes: total, percent: 100 } };
  const left = read > 0 ? (elapsedSeconds * (total - read)) / read : undefined;
  return {
    text: `input ${percent.toFixed(0)}% of ${formatBytes(total)}${left === undefined ? '' : `, about ${formatDuration(left)} left`}`,
    fields: { bytesRead: read, totalBytes: total, percent: Math.round(percent * 10) / 10, ...(left === undefined ? {} : { secondsLeft: Math.round(left) }) },
  };
}

/**
 * Progress on stderr: the first line at once, then one a second (on a timer, and at
 * most once a second from the protocol's reports): phase, items done, overall rate,
 * and, where the input is a file of known size, the share read and the time left.
 * The ticker stops with {@link ProgressLine.done}.
 */
export function progressReporter(line: ProgressLine, role: string, input?: CountedInput): (p: { readonly phase: string; readonly done: number }) => void {
  if (!line.enabled) return () => undefined;
  const start = performance.now();
  let last = -Infinity;
  let state: { readonly phase: string; readonly done: number } | undefined;
  const render = (): void => {
    const now = performance.now();
    last = now;
    const seconds = (now - start) / 1000;
    const parts = [state ? `${state.phase} ${formatCount(state.done)} (${formatCount(state.done / Math.max(seconds, 1e-3))}/s overall)` : 'starting'];
    const fields: Record<string, unknown> = { role, elapsedSeconds: Math.round(seconds * 10) / 10, ...(state ? { phase: state.phase, done: state.done } : {}) };
    const p = input ? inputProgress(input, seconds) : undefined;
    if (p) {
      parts.push(p.text);
      Object.assign(fields, p.fields);
    }
    line.update(`${role}: ${parts.join('; ')}`, fields);
  };
  render();
  line.every(1000, render);
  return (p) => {
    state = p;
    if (performance.now() - last >= 1000) render();
  };
}

/**
 * The `--report FILE` of skipped records: a CSV of `record,code,reason` (never values),
 * written atomically like every output, in the input's byte order mark and line ending
 * once the input's header is read ({@link RejectReport.follow}).
 */
export class RejectReport {
  readonly #out: AtomicOutput;
  #style: CsvStyle = PLAIN_STYLE;
  #started = false;

  /**
   * @param to - the report's path, or an output to write it to (a resumable run's)
   * @param started - the output already holds the header (a resumed run's report)
   */
  constructor(to: string | AtomicOutput, started = false) {
    this.#out = typeof to === 'string' ? openOutput(to) : to;
    this.#started = started;
  }

  /** Takes the input's style (before the first line is written). */
  follow(style: CsvStyle): void {
    if (!this.#started) this.#style = style;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#out.stream.write(formatHeader(['record', 'code', 'reason'], ',', this.#style));
  }

  /** Adds one rejected record. */
  readonly add = (r: InvalidRecord): void => {
    this.#start();
    this.#out.stream.write(formatRecord([String(r.record), r.code, r.reason], ',', this.#style.newline));
  };

  /** Writes the header if no record was rejected, and moves the file into place. */
  async commit(): Promise<void> {
    this.#start();
    await this.#out.commit();
  }

  /** Removes the partial file. */
  abort(): Promise<void> {
    return this.#out.abort();
  }
}

/** Below this input size (bytes, about 40,000 BSN rows) a run computes on the main thread by default. */
export const SMALL_INPUT_BYTES = 512 * 1024;

/**
 * The worker threads of a run: `--threads` when given; otherwise none (`0`) for a small
 * input file, where starting the worker pool costs more than the work (a 1k x 1k PSI
 * between two processes: about 0.3 s of the run), else the library's default.
 */
export function threadsFor(flags: { readonly threads?: number; readonly in?: string }): { threads?: number } {
  if (flags.threads !== undefined) return { threads: flags.threads };
  if (flags.in === undefined || flags.in === '-') return {};
  try {
    const st = statSync(flags.in);
    return st.isFile() && st.size < SMALL_INPUT_BYTES ? { threads: 0 } : {};
  } catch {
    return {}; // reading the input reports the problem
  }
}

/**
 * `--report` needs a policy that skips: with `error` the first invalid record stops the run.
 *
 * @throws KoppelError `INVALID_ARGUMENT`
 */
export function checkReportFlag(flags: { readonly report?: string; readonly onInvalid: string }): void {
  if (flags.report !== undefined && flags.onInvalid !== 'skip') {
    throw new KoppelError('INVALID_ARGUMENT', '--report needs --on-invalid skip (with error, the first invalid record stops the run).');
  }
}

/** Opens the `--report` file when the flag was given. */
export function openRejectReport(path: string | undefined): RejectReport | undefined {
  return path === undefined ? undefined : new RejectReport(path);
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
  /** Seconds a dropped connection may take to come back (0: not resumable). */
  readonly reconnectWindow: number;
}

/**
 * Adds `--tls-cert`, `--tls-key`, `--tls-ca`, `--tls-servername`, `--insecure`, the peer
 * pin (`--peer`, `--peer-fingerprint`, `--any-peer`), `--timeout`, `--idle-timeout`,
 * `--reconnect-window`.
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
    .option(
      '--reconnect-window <seconds>',
      'a dropped connection is resumed if it comes back within this (0: a drop ends the run)',
      parseIntFlag('--reconnect-window', 0, 86400),
      DEFAULT_RECONNECT_WINDOW_MS / 1000,
    )
    .addHelpText(
      'after',
      '\nPeer pinning: --peer and --peer-fingerprint list the peers this command accepts (a command\n' +
        'with several peers in one role lists them all; the helper and the collector are pinned\n' +
        'apart, with --helper-peer / --collector-peer); a peer outside the list is refused with\n' +
        'PEER_NOT_ALLOWED. --any-peer accepts every certificate the CA signed.',
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
 * TLS one of them is required; without TLS none is allowed (nothing is authenticated).
 *
 * @throws KoppelError `INVALID_ARGUMENT` naming the flag to add
 */
export function peerPolicyFrom(f: NetworkFlags, security: Security): PeerPolicy | undefined {
  return pinFrom(f.peer, f.peerFingerprint, f.anyPeer, security, { names: '--peer', fingerprints: '--peer-fingerprint', who: 'which peer may connect' });
}

/** The third parties a command connects to besides its peer, each pinned on its own. */
export type PinnedRole = 'helper' | 'collector';

/** Flags of {@link addRolePinOptions}. */
export interface RolePinFlags {
  readonly helperPeer?: string;
  readonly helperPeerFingerprint?: string;
  readonly collectorPeer?: string;
  readonly collectorPeerFingerprint?: string;
}

/**
 * Adds `--<role>-peer` and `--<role>-peer-fingerprint`: the pin of a connection to a
 * third party (the join's helper, the aggregation's collector), separate from `--peer`,
 * so that a certificate allowed for one role cannot stand in for another.
 */
export function addRolePinOptions(c: Command, role: PinnedRole): Command {
  return c
    .option(`--${role}-peer <names>`, `the ${role}'s certificate names (CN or DNS/IP subjectAltName), comma-separated; pinned apart from --peer`)
    .option(`--${role}-peer-fingerprint <hex>`, `the ${role}'s certificate SHA-256 fingerprints, comma-separated`);
}

/**
 * The pin of the connection to `role`, from `--<role>-peer` / `--<role>-peer-fingerprint`
 * (or `--any-peer`): with TLS one is required, so the peer list of the command's other
 * connections never covers this one.
 *
 * @throws KoppelError `INVALID_ARGUMENT` naming the flag to add
 */
export function rolePinFrom(f: NetworkFlags & RolePinFlags, security: Security, role: PinnedRole): PeerPolicy | undefined {
  const names = role === 'helper' ? f.helperPeer : f.collectorPeer;
  const fingerprints = role === 'helper' ? f.helperPeerFingerprint : f.collectorPeerFingerprint;
  return pinFrom(names, fingerprints, f.anyPeer, security, {
    names: `--${role}-peer`,
    fingerprints: `--${role}-peer-fingerprint`,
    who: `which certificate the ${role} must have`,
  });
}

function pinFrom(
  names: string | undefined,
  fingerprints: string | undefined,
  anyPeer: boolean | undefined,
  security: Security,
  flags: { readonly names: string; readonly fingerprints: string; readonly who: string },
): PeerPolicy | undefined {
  const listed = names !== undefined || fingerprints !== undefined;
  if (!('tls' in security)) {
    if (listed || anyPeer) {
      throw new KoppelError(
        'INVALID_ARGUMENT',
        `${flags.names}, ${flags.fingerprints} and --any-peer need TLS: with --insecure no peer is authenticated, so none can be pinned.`,
      );
    }
    return undefined;
  }
  if (anyPeer && listed) throw new KoppelError('INVALID_ARGUMENT', `Use either --any-peer or ${flags.names} / ${flags.fingerprints}, not both.`);
  if (anyPeer) return 'any';
  if (!listed) {
    throw new KoppelError(
      'INVALID_ARGUMENT',
      `Say ${flags.who}: add ${flags.names} NAME (the certificate's CN or subjectAltName) or ${flags.fingerprints} SHA256HEX, ` +
        'or --any-peer to accept every certificate the CA signed.',
    );
  }
  const policy = {
    ...(names === undefined ? {} : { names: splitList(names, flags.names) }),
    ...(fingerprints === undefined ? {} : { fingerprints: splitList(fingerprints, flags.fingerprints) }),
  };
  normalisePeerPolicy(policy);
  return policy;
}

/** What a command passes to `listen()` and `connect()`: its transport security, peer pin and reconnect window. */
export interface NetworkSetup {
  /** Mutual TLS or plain TCP. */
  readonly security: Security;
  /** The peers accepted (absent with `--insecure`). */
  readonly peer?: PeerPolicy;
  /** `--reconnect-window` in ms: connections are resumable within it (0: not). */
  readonly reconnectWindowMs: number;
  /** A line on stderr for every drop and resumption of a connection. */
  readonly onResume?: (event: ResumeEvent) => void;
}

/**
 * {@link checkedSecurity} and {@link peerPolicyFrom} together, with the reconnect
 * window: spread the result into `listen()` and `connect()` options.
 *
 * @param log - where drops and resumptions are reported (stderr, with the command's name)
 */
export async function checkedNetwork(f: NetworkFlags, log?: { readonly io: Console; readonly role: string }): Promise<NetworkSetup> {
  const security = securityFrom(f);
  const peer = peerPolicyFrom(f, security);
  if ('tls' in security) await prepareTls(security.tls);
  return {
    security,
    ...(peer === undefined ? {} : { peer }),
    reconnectWindowMs: (f.reconnectWindow ?? DEFAULT_RECONNECT_WINDOW_MS / 1000) * 1000,
    ...(log ? { onResume: logResume(log.io, log.role) } : {}),
  };
}

/** For `onResume`: a line on stderr per drop and resumption (sizes and times, never data). */
export function logResume(io: Console, role: string): (e: ResumeEvent) => void {
  return (e) => {
    const window = `${Math.round(e.windowMs / 1000)} s`;
    if (e.event === 'dropped') io.err(`koppel: ${role}: the connection to the peer dropped; waiting up to ${window} for it to come back (--reconnect-window)`);
    else if (e.event === 'resumed') io.err(`koppel: ${role}: the connection came back; the session continues (${e.resent ?? 0} messages sent again)`);
    else io.err(`koppel: ${role}: the connection did not come back within ${window}`);
  };
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

/** SHA-256 of a text (UTF-8), hex: how a run's metadata names the files it wrote. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A host for a `HOST:PORT` line: an IPv6 address in brackets. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The line every listening command prints on stderr as soon as it listens, with the
 * port actually bound (so a command started with port 0 says which one it got).
 */
export function logListening(io: Console, role: string, host: string, port: number, extra = ''): void {
  io.err(`koppel: ${role}: listening on ${formatHost(host)}:${port}${extra}`);
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6). */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new KoppelError('INVALID_ARGUMENT', `${flag} must be HOST:PORT, e.g. 127.0.0.1:7000 or [::1]:7000.`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The `--report-html` option's help text, the same on every command that has it. */
export const REPORT_HTML_HELP = 'also write the results report: one self-contained HTML file (chart, sortable table, disclosure summary, parameters, parties)';

/**
 * Builds the results report's HTML from a released table's CSV text and its run's
 * metadata (the same object `--meta` writes). The report (src/report/index.ts) and the
 * charting library are loaded by dynamic import, here only: no command's start-up pays
 * for them. Nothing is written: callers build the report before they commit their
 * outputs, so a failure leaves no half-set of files.
 *
 * @throws KoppelError `CSV_MALFORMED` for a table koppel did not write; `INTERNAL` if the chart fails
 */
export async function buildReport(table: string, meta: unknown): Promise<string> {
  // Parsed first (a table koppel did not write fails before the charting library loads).
  const parsed = parseReleasedTable(table);
  const { buildReportHtml } = await import('../report/index.js');
  return buildReportHtml({ table: parsed, tableText: table, ...(meta === undefined ? {} : { meta }) });
}
