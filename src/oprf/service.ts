/**
 * The blind pseudonymisation service: RFC 9497 OPRF and VOPRF over HTTPS (docs/oprf.md).
 *
 * Endpoints (JSON):
 * - `GET /health`: `{ "status": "ok", "keys": n }` (no authentication; reveals nothing).
 * - `GET /v1/keys`: the served keys, `{ suite, keys: [{ kid, mode, publicKey, current }] }`.
 * - `POST /v1/evaluate`: `{ kid, elements: [base64url] }` → `{ kid, mode, evaluated: [...], proof? }`.
 * - `POST /v1/receipt` (with `receipts`): a client's signed receipt of its run → the
 *   service's countersignature and its own signed receipt (docs/agreement.md).
 *
 * Under a linking agreement (`agreement`), every request but `/health` carries the
 * agreement's hash (`Koppel-Agreement` header) or is refused (`AGREEMENT_MISMATCH`, 409)
 * before anything is evaluated; only the agreement's clients are served, each with the
 * budget the agreement gives it, in the agreement's mode (and key id, if it fixes one).
 *
 * Every client is authenticated (mutual TLS: the certificate's subject CN; or a bearer
 * token from a token file), rate limited per client (token bucket) and metered against
 * a per-client evaluation budget per period: the valid BSN space is only about 91
 * million numbers, so an unmetered service is an enumeration oracle for anyone who may
 * call it. Access logs are JSON lines with client, path, status, element count and time:
 * never an element, a token or a key.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { availableParallelism } from 'node:os';
import { t, isLeft } from '../util/cjs.js';
import { isLoopbackHost } from '../transport/net.js';
import { normalisePeerPolicy, peerMatches, socketPeer, type NormalisedPeerPin, type PeerIdentity, type PeerPin, type PeerPolicy } from '../transport/peer.js';
import { answerOprfReceipt, decodeSignedReceipt, signReceipt, type ReceiptBody, type ReceiptFile } from '../agreement/receipt.js';
import { certificateIdentity, type Signer } from '../agreement/signature.js';
import { VERSION } from '../version.js';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { fromBase64Url, toBase64Url } from '../util/bytes.js';
import { TaskPool } from '../util/pool.js';
import { describeErrors } from '../wire/codec.js';
import { OPRF_SUITE, type OprfKey } from './key.js';
import { oprfOps } from './ops.js';
import type { OprfMode } from './oprf.js';
import { AGREEMENT_HEADER, OprfTranscript, RUN_HEADER, RUN_ID, RUN_POSITION_HEADER } from './transcript.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A client allowed by bearer token. */
export interface TokenEntry {
  readonly client: string;
  readonly token: string;
}

/** Options of {@link startOprfService}. */
export interface OprfServiceOptions {
  /** The keys served; the first two (one per mode) are marked current. */
  readonly keys: readonly OprfKey[];
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** HTTPS; with `ca`, clients must present a certificate signed by it (mutual TLS). Absent: plain HTTP (loopback demos only). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
  /** Bearer tokens; when given, every request must carry one of them. */
  readonly tokens?: readonly TokenEntry[];
  /** Requests per second per client (token bucket, burst twice this). Default 50. */
  readonly rate?: number;
  /** Evaluations per client per budget period. Default 1,000,000. */
  readonly budget?: number;
  /** Length of a budget period in milliseconds. Default 24 hours. */
  readonly budgetPeriodMs?: number;
  /** Most elements in one request. Default 10,000. */
  readonly maxBatch?: number;
  /** Worker threads for evaluation. Default: the machine's cores. */
  readonly threads?: number;
  /** Receives one structured entry per request and per lifecycle event. */
  readonly log?: (entry: Record<string, unknown>) => void;
  /**
   * Under mutual TLS (`tls.ca`): which client certificates may use the service, by name
   * (subject CN or DNS/IP SAN) or SHA-256 fingerprint. Others get 403
   * `PEER_NOT_ALLOWED`. Omitted or `'any'`: every certificate the CA signed.
   */
  readonly clients?: PeerPolicy;
  /**
   * A file that keeps the budget ledger (evaluations used per client in the current
   * period) across restarts and crashes: read on start (a file that is not a koppel
   * ledger is refused: `INVALID_ARGUMENT`), written atomically (a temporary file, then a
   * rename) before every evaluation is answered. Without it, a restart resets every
   * budget.
   */
  readonly stateFile?: string;
  /**
   * Failed authentications (401) a source address may cause per second before it gets
   * 429 instead, with a burst of twice this. Default 5.
   */
  readonly authFailuresPerSecond?: number;
  /**
   * Connections held at once (default 256); more are closed at once. The service's
   * equivalent of a koppel listener's `maxConnections`.
   */
  readonly maxConnections?: number;
  /**
   * A client must send a request's headers within this many ms of connecting or of its
   * previous request (default 10 s; the TLS handshake is bounded the same), so a silent
   * or slow-drip connection is closed.
   */
  readonly headersTimeoutMs?: number;
  /** A whole request, body included, must arrive within this many ms (default 60 s). */
  readonly requestTimeoutMs?: number;
  /** Run under a linking agreement (docs/agreement.md, "The OPRF service"). */
  readonly agreement?: OprfAgreementTerms;
  /**
   * Keep a transcript of every client run that names one (`Koppel-Run`) and answer its
   * receipt (`POST /v1/receipt`). Needs mutual TLS: the service signs with its TLS key,
   * and the client signs with its certificate.
   */
  readonly receipts?: OprfReceiptOptions;
}

/** What a linking agreement fixes for the service. */
export interface OprfAgreementTerms {
  /** The agreement's SHA-256 (hex): what every request's `Koppel-Agreement` header must be. */
  readonly hash: string;
  /** The agreement's id and version and the service's party name, for receipts. */
  readonly id: string;
  readonly version: number;
  readonly party: string;
  /** The only mode served (an evaluation under a key of the other mode is `MODE_MISMATCH`). */
  readonly mode?: OprfMode;
  /** The only key id served (another is `KEY_MISMATCH`). */
  readonly kid?: string;
  /**
   * The clients: each by certificate (a client matching none is `PEER_NOT_ALLOWED`),
   * with its own evaluation budget and period (default: the service's).
   */
  readonly clients: ReadonlyArray<{ readonly name: string; readonly certificate: PeerPin; readonly budget?: number; readonly budgetPeriodMs?: number }>;
}

/** Receipts of the service (see {@link OprfServiceOptions.receipts}). */
export interface OprfReceiptOptions {
  /** The service's TLS certificate and key (PEM): what signs its receipts. */
  readonly signer: Signer;
  /** The CA the clients' certificates chain to (PEM). */
  readonly ca: string;
  /**
   * Keeps one receipt per client run: countersigned runs (`completed`, the client's
   * receipt beside it) and runs that ended without one (`failed`: `TIMEOUT` when the run
   * was idle past `runIdleMs`, `ABORTED` when the service stopped or the client opened
   * too many runs, `PROOF_INVALID` when the client's receipt did not hold). Called
   * before the client is answered; a throw refuses the receipt.
   */
  readonly write: (receipt: ReceiptFile) => void;
  /** Open runs held at once, over all clients (default 4096); a new run beyond is refused with 503. */
  readonly maxRuns?: number;
  /** Open runs per client (default 16): a client's oldest is closed (`ABORTED`) when it opens another. */
  readonly maxRunsPerClient?: number;
  /** A run idle this long is closed without receipt (`TIMEOUT`); default 1 hour. */
  readonly runIdleMs?: number;
}

/**
 * A receipts file of `oprf serve --receipt FILE`: one JSON line per client run,
 * appended and flushed to disk (fsync) before the client is answered.
 */
export function appendReceiptLine(path: string): (receipt: ReceiptFile) => void {
  return (receipt) => {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'a', 0o600);
      writeSync(fd, JSON.stringify(receipt) + '\n');
      fsyncSync(fd);
    } catch (e) {
      throw new KoppelError('IO_ERROR', 'The receipts file (--receipt) cannot be written.', { details: { path }, cause: e });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
}

/** How often the service checks its connections' header and request deadlines. */
const CHECK_INTERVAL_MS = 1000;

/** Defaults of the service's connection limits (see {@link OprfServiceOptions}). */
export const DEFAULT_SERVICE_LIMITS = Object.freeze({ maxConnections: 256, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 } as const);

/** A running service. */
export interface OprfService {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting, finishes requests in flight, then stops the workers. */
  close(): Promise<void>;
}

const Evaluate = t.exact(t.type({ kid: t.string, elements: t.array(t.string) }), 'EvaluateRequest');

const STATUS: Partial<Record<KoppelErrorCode, number>> = {
  MESSAGE_MALFORMED: 400,
  INVALID_POINT: 400,
  UNAUTHORIZED: 401,
  PEER_NOT_ALLOWED: 403,
  KEY_MISMATCH: 404,
  MESSAGE_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  BUDGET_EXHAUSTED: 429,
  SERVICE_UNAVAILABLE: 503,
  AGREEMENT_MISMATCH: 409,
  MODE_MISMATCH: 409,
  PROOF_INVALID: 409,
  INVALID_ARGUMENT: 400,
};

/** Who asked, as the service authenticated it, and the budget it has. */
interface Caller {
  readonly id: string;
  readonly peer?: PeerIdentity;
  readonly budget: number;
  readonly period: number;
}

/** One client run the service keeps a transcript of, for its receipt. */
interface Run {
  readonly key: string;
  readonly run: string;
  readonly client: string;
  readonly peer: PeerIdentity;
  readonly transcript: OprfTranscript;
  readonly startedAt: Date;
  lastSeen: number;
  kid: string | undefined;
  mode: OprfMode | undefined;
}

class HttpError extends KoppelError {
  constructor(
    code: KoppelErrorCode,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(code, message);
  }
}

interface Meter {
  tokens: number;
  last: number;
  used: number;
  periodStart: number;
}

/** Starts the service; resolves once it listens. */
export async function startOprfService(options: OprfServiceOptions): Promise<OprfService> {
  if (options.keys.length === 0) throw new KoppelError('INVALID_ARGUMENT', 'The service needs at least one key.');
  if (!options.tls && !isLoopbackHost(options.host)) {
    throw new KoppelError(
      'INVALID_ARGUMENT',
      'Plain HTTP (no TLS) is for loopback demos only: listen on 127.0.0.1 or ::1, or give the service a TLS certificate and key.',
    );
  }
  for (const e of options.tokens ?? []) checkToken(e.token);
  const keys = new Map(options.keys.map((k) => [k.kid, k]));
  const current = new Set(options.keys.slice(0, 2).map((k) => k.kid));
  const rate = options.rate ?? 50;
  const budget = options.budget ?? 1_000_000;
  const period = options.budgetPeriodMs ?? 24 * 3600 * 1000;
  const maxBatch = options.maxBatch ?? 10_000;
  const maxRequest = maxBatch * 48 + 1024;
  const tokenClients = new Map((options.tokens ?? []).map((e) => [hashToken(e.token), e.client]));
  const log = options.log ?? (() => undefined);
  const pool = new TaskPool(oprfOps, WORKER_URL, options.threads ?? availableParallelism());
  const meters = new Map<string, Meter>();
  let closing = false;
  let inFlight = 0;
  let drained: () => void = () => undefined;

  const clientPin = normalisePeerPolicy(options.clients);
  if (clientPin && !options.tls?.ca) throw new KoppelError('INVALID_ARGUMENT', 'An allow-list of client certificates needs mutual TLS (tls.ca).');
  const terms = options.agreement;
  if (terms && !options.tls?.ca)
    throw new KoppelError('INVALID_ARGUMENT', 'A service under an agreement names its clients by certificate: it needs mutual TLS (tls.ca).');
  if (options.receipts && (!options.tls?.ca || !options.tls.cert))
    throw new KoppelError('INVALID_ARGUMENT', 'Receipts are signed with TLS keys: they need mutual TLS (tls.ca).');
  if (terms?.kid !== undefined && !options.keys.some((k) => k.kid === terms.kid && (terms.mode === undefined || k.mode === terms.mode)))
    throw new KoppelError('AGREEMENT_INVALID', "The agreement's key id (parameters.kid) is not among the served keys (--key) in the agreement's mode.");
  const agreementClients: ReadonlyArray<{ pin: NormalisedPeerPin; budget: number; period: number }> = (terms?.clients ?? []).map((c) => ({
    pin: normalisePeerPolicy(c.certificate) as NormalisedPeerPin,
    budget: c.budget ?? budget,
    period: c.budgetPeriodMs ?? period,
  }));
  const failureRate = options.authFailuresPerSecond ?? 5;
  /** Failed authentications per source address: a token bucket, so guessing tokens is slow. */
  const failures = new Map<string, { tokens: number; last: number }>();
  const authFailed = (source: string, message: string): HttpError => {
    const now = Date.now();
    const f = failures.get(source) ?? { tokens: 2 * failureRate, last: now };
    f.tokens = Math.min(2 * failureRate, f.tokens + ((now - f.last) / 1000) * failureRate);
    f.last = now;
    failures.set(source, f);
    if (failures.size > 10_000) failures.delete(failures.keys().next().value as string); // bounded memory
    if (f.tokens < 1)
      return new HttpError('RATE_LIMITED', 'Too many failed authentications from this address; slow down.', Math.ceil((1 - f.tokens) / failureRate));
    f.tokens -= 1;
    return new HttpError('UNAUTHORIZED', message);
  };

  /**
   * Who is asking, as the service authenticated it: the token's client name, or the
   * client certificate's CN, or (a certificate without a CN) its fingerprint; never the
   * address of an authenticated client, so one identity has one budget wherever it
   * connects from. Plain HTTP (loopback demos) meters by address.
   */
  const identify = (req: IncomingMessage): Caller => {
    const source = req.socket.remoteAddress ?? 'unknown';
    const blocked = failures.get(source);
    if (blocked) {
      // A source that used up its failures is slowed down before any token is checked.
      const now = Date.now();
      if (Math.min(2 * failureRate, blocked.tokens + ((now - blocked.last) / 1000) * failureRate) < 1) throw authFailed(source, '');
    }
    const auth = req.headers.authorization;
    let tokenClient: string | undefined;
    if (tokenClients.size > 0) {
      const m = auth ? /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/.exec(auth) : null;
      tokenClient = m ? tokenClients.get(hashToken(m[1] as string)) : undefined;
      if (!tokenClient) throw authFailed(source, 'A valid bearer token is required (Authorization: Bearer <token>).');
      // Under an agreement, or for receipts, the client certificate counts too.
      if (!terms && !options.receipts) return { id: tokenClient, budget, period };
    }
    const socket = req.socket as TLSSocket;
    if (typeof socket.getPeerCertificate === 'function' && socket.authorized) {
      const peer = socketPeer(socket, socket);
      if (clientPin && !peerMatches(peer, clientPin)) {
        throw new HttpError('PEER_NOT_ALLOWED', "This client certificate is valid but not on the service's list of clients.");
      }
      // Under an agreement a client is one of its parties, with that party's budget.
      const party = terms ? agreementClients.find((c) => peerMatches(peer, c.pin)) : undefined;
      if (terms && !party) throw new HttpError('PEER_NOT_ALLOWED', "This client certificate is valid but not one of the agreement's clients.");
      const limits = party ? { budget: party.budget, period: party.period } : { budget, period };
      if (tokenClient) return { id: tokenClient, peer, ...limits };
      if (peer.commonName) return { id: `cert:${peer.commonName}`, peer, ...limits };
      if (peer.fingerprint) return { id: `cert-sha256:${peer.fingerprint}`, peer, ...limits };
    }
    if (terms) throw new HttpError('PEER_NOT_ALLOWED', "A service under an agreement serves only the agreement's clients, by certificate.");
    return { id: tokenClient ?? `addr:${source}`, budget, period };
  };

  const ledger = options.stateFile === undefined ? undefined : new BudgetLedger(options.stateFile);
  for (const [client, entry] of ledger?.load() ?? []) {
    meters.set(client, { tokens: 2 * rate, last: Date.now(), used: entry.used, periodStart: entry.periodStart });
  }

  const meterOf = (client: string): Meter => {
    let m = meters.get(client);
    if (!m) {
      const now = Date.now();
      m = { tokens: 2 * rate, last: now, used: 0, periodStart: now };
      meters.set(client, m);
    }
    return m;
  };

  /** The per-client rate limit, checked before any other work on a request. */
  const limitRate = (client: string): void => {
    const now = Date.now();
    const m = meterOf(client);
    m.tokens = Math.min(2 * rate, m.tokens + ((now - m.last) / 1000) * rate);
    m.last = now;
    if (m.tokens < 1) throw new HttpError('RATE_LIMITED', `More than ${rate} requests per second; slow down.`, Math.ceil((1 - m.tokens) / rate));
    m.tokens -= 1;
  };

  /** The per-client evaluation budget of the current period. */
  const meter = (caller: Caller, elements: number): void => {
    const now = Date.now();
    const m = meterOf(caller.id);
    const { budget, period } = caller;
    if (now - m.periodStart >= period) {
      m.periodStart = now;
      m.used = 0;
    }
    if (m.used + elements > budget) {
      throw new HttpError(
        'BUDGET_EXHAUSTED',
        `This client's budget of ${budget} evaluations per period is used up; ask the operator for more.`,
        Math.ceil((m.periodStart + period - now) / 1000),
      );
    }
    m.used += elements;
    // Written before the answer leaves: a crash never hands out evaluations the ledger forgot.
    ledger?.save(meters);
  };

  const readBody = (req: IncomingMessage, maxBody = maxRequest): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > maxBody) {
        reject(new HttpError('MESSAGE_TOO_LARGE', `A request body may hold at most ${maxBody} bytes.`));
        req.resume();
        return;
      }
      const parts: Buffer[] = [];
      let size = 0;
      req.on('data', (d: Buffer) => {
        size += d.length;
        if (size > maxBody) {
          reject(new HttpError('MESSAGE_TOO_LARGE', `A request body may hold at most ${maxBody} bytes.`));
          req.destroy();
          return;
        }
        parts.push(d);
      });
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });

  const receiptOptions = options.receipts;
  const maxRuns = receiptOptions?.maxRuns ?? 4096;
  const maxRunsPerClient = receiptOptions?.maxRunsPerClient ?? 16;
  const runIdleMs = receiptOptions?.runIdleMs ?? 3_600_000;
  /** Open client runs, least recently used first: bounded in number, per client and in idle time. */
  const runs = new Map<string, Run>();
  const serviceSelf = receiptOptions ? certificateIdentity(receiptOptions.signer.cert) : undefined;
  const agreementOfReceipts = terms ? { id: terms.id, version: terms.version, hash: terms.hash, party: terms.party } : null;

  /** The service's receipt of a run. */
  const runBody = (r: Run, status: 'completed' | 'failed', error: KoppelErrorCode | null, finishedAt: Date, transcript: string | null): ReceiptBody => ({
    koppelReceipt: 1,
    command: 'oprf serve',
    role: 'service',
    koppel: VERSION,
    protocol: { name: 'oprf', version: 1 },
    agreement: agreementOfReceipts,
    session: r.run,
    transcript,
    self: { names: serviceSelf?.names ?? [], fingerprint: serviceSelf?.fingerprint ?? '' },
    peer: { names: r.peer.names, fingerprint: r.peer.fingerprint ?? null },
    startedAt: r.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    status,
    error,
    inputs: {},
    learned: {
      batches: r.transcript.batches,
      evaluations: r.transcript.evaluations,
      suite: OPRF_SUITE,
      ...(r.mode ? { mode: r.mode } : {}),
      ...(r.kid ? { kid: r.kid } : {}),
    },
    outputs: [],
  });

  /** A run that ends without the client's receipt: the service's own, self-signed, with why. */
  const closeRun = (r: Run, error: KoppelErrorCode): void => {
    runs.delete(r.key);
    if (!receiptOptions || r.transcript.batches === 0) return;
    try {
      const body = runBody(r, 'failed', error, new Date(r.lastSeen), r.transcript.digest());
      receiptOptions.write({ receipt: body, ...signReceipt(body, receiptOptions.signer), countersignature: null, peerReceipt: null });
    } catch (e) {
      log({ time: new Date().toISOString(), event: 'receipt', client: r.client, status: 'failed', code: e instanceof KoppelError ? e.code : 'INTERNAL' });
    }
  };

  const sweepRuns = (now: number): void => {
    for (const r of runs.values()) {
      if (now - r.lastSeen < runIdleMs) break; // least recently used first: the rest are younger
      closeRun(r, 'TIMEOUT');
    }
  };
  const sweeper = receiptOptions ? setInterval(() => sweepRuns(Date.now()), Math.min(60_000, runIdleMs)).unref() : undefined;

  /** The open run `id` of this client, opened on its first batch. */
  const runOf = (caller: Caller, id: string): Run => {
    const key = `${caller.peer?.fingerprint ?? caller.id}/${id}`;
    const now = Date.now();
    const open = runs.get(key);
    if (open) {
      runs.delete(key);
      runs.set(key, open);
      open.lastSeen = now;
      return open;
    }
    if (!caller.peer?.fingerprint) throw new HttpError('INVALID_ARGUMENT', 'A run with a receipt needs a client certificate (mutual TLS).');
    sweepRuns(now);
    const mine = [...runs.values()].filter((r) => r.client === caller.id);
    if (mine.length >= maxRunsPerClient) closeRun(mine[0] as Run, 'ABORTED');
    if (runs.size >= maxRuns) throw new HttpError('SERVICE_UNAVAILABLE', 'The service holds as many open runs as it may; retry shortly.', 5);
    const r: Run = {
      key,
      run: id,
      client: caller.id,
      peer: caller.peer,
      transcript: new OprfTranscript(id, terms?.hash ?? null),
      startedAt: new Date(now),
      lastSeen: now,
      kid: undefined,
      mode: undefined,
    };
    runs.set(key, r);
    return r;
  };

  /** `POST /v1/receipt`: the client's signed receipt of its run, checked, countersigned and kept with the service's own. */
  const receipt = async (req: IncomingMessage, caller: Caller): Promise<unknown> => {
    if (!receiptOptions) throw new HttpError('INVALID_ARGUMENT', 'This service writes no receipts (oprf serve --receipt).');
    const text = await readBody(req, 64 * 1024);
    let raw: unknown;
    try {
      raw = JSON.parse(text.toString('utf8'));
    } catch {
      throw new HttpError('MESSAGE_MALFORMED', 'The request body is not JSON.');
    }
    const signed = decodeSignedReceipt(raw);
    const id = signed.receipt.session;
    const r = id === null ? undefined : runs.get(`${caller.peer?.fingerprint ?? caller.id}/${id}`);
    if (!r)
      throw new HttpError(
        'PROOF_INVALID',
        'The service holds no open run of this client with this run id (it ended, the service restarted, or no batch of it was evaluated).',
      );
    runs.delete(r.key);
    const body = runBody(r, 'completed', null, new Date(), r.transcript.digest());
    try {
      const { line, answer } = answerOprfReceipt(signed, body, {
        clientFingerprint: caller.peer?.fingerprint ?? '',
        signer: receiptOptions.signer,
        ca: receiptOptions.ca,
      });
      receiptOptions.write(line);
      return answer;
    } catch (e) {
      if (e instanceof KoppelError && e.code === 'PROOF_INVALID') {
        const failed = { ...body, status: 'failed' as const, error: 'PROOF_INVALID' };
        try {
          receiptOptions.write({ receipt: failed, ...signReceipt(failed, receiptOptions.signer), countersignature: null, peerReceipt: null });
        } catch {
          // The client's receipt is refused either way; the write error is in the next line's absence.
        }
      }
      throw e;
    }
  };

  /** Under an agreement every request names it; a request naming one the service does not run under is refused too. */
  const checkAgreement = (req: IncomingMessage): void => {
    const sent = req.headers[AGREEMENT_HEADER];
    if (terms && sent !== terms.hash)
      throw new HttpError(
        'AGREEMENT_MISMATCH',
        sent === undefined
          ? 'This service runs under a linking agreement: every request carries its hash (the Koppel-Agreement header), and this one carries none.'
          : "The request's Koppel-Agreement header names another linking agreement than the service's.",
      );
    if (!terms && sent !== undefined)
      throw new HttpError('AGREEMENT_MISMATCH', "The request's Koppel-Agreement header names a linking agreement, but this service runs under none.");
  };

  const evaluate = async (
    req: IncomingMessage,
    caller: Caller,
  ): Promise<{ body: unknown; elements: number; kid: string; request: Buffer; run: Run | undefined }> => {
    const runId = receiptOptions ? req.headers[RUN_HEADER] : undefined;
    if (runId !== undefined && (typeof runId !== 'string' || !RUN_ID.test(runId)))
      throw new HttpError('MESSAGE_MALFORMED', 'The Koppel-Run header is not a run id (32 lower-case hex digits).');
    const text = await readBody(req);
    let raw: unknown;
    try {
      raw = JSON.parse(text.toString('utf8'));
    } catch {
      throw new HttpError('MESSAGE_MALFORMED', 'The request body is not JSON.');
    }
    const decoded = Evaluate.decode(raw);
    if (isLeft(decoded)) throw new HttpError('MESSAGE_MALFORMED', `The request does not match { kid, elements }: ${describeErrors(decoded.left)}`);
    const { kid, elements } = decoded.right;
    const key = keys.get(kid);
    if (!key) throw new HttpError('KEY_MISMATCH', 'This service does not hold the key id asked for; fetch /v1/keys.');
    if (terms?.mode !== undefined && key.mode !== terms.mode)
      throw new HttpError('MODE_MISMATCH', `The agreement fixes the mode (parameters.mode ${terms.mode}); this key id is of the other mode.`);
    if (terms?.kid !== undefined && kid !== terms.kid)
      throw new HttpError('KEY_MISMATCH', 'The agreement fixes the key id (parameters.kid); this request names another.');
    if (elements.length < 1 || elements.length > maxBatch) throw new HttpError('MESSAGE_MALFORMED', `A request carries 1 to ${maxBatch} elements.`);
    const blinded = new Uint8Array(elements.length * 32);
    elements.forEach((e, i) => {
      const b = e.length === 43 ? fromBase64Url(e) : undefined;
      if (!b || b.length !== 32) throw new HttpError('MESSAGE_MALFORMED', `Element ${i} is not 32 bytes of base64url.`);
      blinded.set(b, i * 32);
    });
    const run = typeof runId === 'string' ? runOf(caller, runId) : undefined;
    meter(caller, elements.length);
    const r = await pool.run('evaluate', { mode: key.mode, secretKey: key.secretKey, blinded });
    const evaluated = Array.from({ length: elements.length }, (_, i) => toBase64Url(r.evaluated.subarray(i * 32, i * 32 + 32)));
    if (run) {
      run.kid = kid;
      run.mode = key.mode;
    }
    return {
      body: { kid, mode: key.mode, evaluated, ...(r.proof ? { proof: toBase64Url(r.proof) } : {}) },
      elements: elements.length,
      kid,
      request: text,
      run,
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0] as string;
    let status = 200;
    let client = '-';
    let elements = 0;
    let kid: string | undefined;
    let code: string | undefined;
    inFlight++;
    try {
      if (closing) throw new HttpError('SERVICE_UNAVAILABLE', 'The service is shutting down; retry shortly.', 1);
      let body: unknown;
      if (req.method === 'GET' && path === '/health') body = { status: 'ok', keys: keys.size };
      else {
        const caller = identify(req);
        client = caller.id;
        limitRate(client);
        checkAgreement(req);
        if (req.method === 'GET' && path === '/v1/keys') {
          body = {
            suite: OPRF_SUITE,
            keys: [...keys.values()].map((k) => ({ kid: k.kid, mode: k.mode, publicKey: toBase64Url(k.publicKey), current: current.has(k.kid) })),
            ...(terms ? { agreement: terms.hash } : {}),
            ...(receiptOptions ? { receipts: true } : {}),
          };
        } else if (req.method === 'POST' && path === '/v1/evaluate') {
          const r = await evaluate(req, caller);
          elements = r.elements;
          kid = r.kid;
          const text = Buffer.from(JSON.stringify(r.body));
          // The batch goes into the run's transcript as it is answered (the run may have
          // been closed meanwhile: then no position, and the client's receipt fails).
          if (r.run && runs.get(r.run.key) === r.run) res.setHeader(RUN_POSITION_HEADER, String(r.run.transcript.append(r.request, text, r.elements)));
          sendBytes(res, 200, text);
          return;
        } else if (req.method === 'POST' && path === '/v1/receipt') {
          body = await receipt(req, caller);
        } else {
          status = 404;
          body = { code: 'NOT_FOUND', message: 'Unknown endpoint: GET /health, GET /v1/keys, POST /v1/evaluate, POST /v1/receipt.' };
        }
      }
      send(res, status, body);
    } catch (e) {
      const k = e instanceof KoppelError ? e : new KoppelError('INTERNAL', 'Unexpected error; please report this.');
      code = k.code;
      status = STATUS[k.code] ?? 500;
      if (e instanceof HttpError && e.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, e.retryAfterSeconds)));
      send(res, status, { code: k.code, message: k.message });
    } finally {
      log({
        time: new Date().toISOString(),
        event: 'request',
        client,
        method: req.method,
        path,
        status,
        elements,
        ...(kid ? { kid } : {}),
        ...(code ? { code } : {}),
        ms: Math.round(performance.now() - started),
      });
      if (--inFlight === 0 && closing) drained();
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          minVersion: 'TLSv1.3',
          handshakeTimeout: options.headersTimeoutMs ?? DEFAULT_SERVICE_LIMITS.headersTimeoutMs,
          connectionsCheckingInterval: CHECK_INTERVAL_MS,
          ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
        },
        listener,
      )
    : createHttpServer({ connectionsCheckingInterval: CHECK_INTERVAL_MS }, listener);
  server.keepAliveTimeout = 10_000;
  // Hostile load: a bounded number of connections, each sending its headers and its
  // request within a deadline (the body is capped by maxBatch in readBody).
  server.maxConnections = options.maxConnections ?? DEFAULT_SERVICE_LIMITS.maxConnections;
  server.headersTimeout = options.headersTimeoutMs ?? DEFAULT_SERVICE_LIMITS.headersTimeoutMs;
  server.requestTimeout = options.requestTimeoutMs ?? DEFAULT_SERVICE_LIMITS.requestTimeoutMs;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'EADDRINUSE' ? 'the address is in use (another process listens there; stop it or choose another port)' : (e.code ?? 'error');
        reject(
          new KoppelError('NETWORK_ERROR', `Cannot listen on ${options.host}:${options.port}: ${why}.`, {
            details: { host: options.host, port: options.port, errno: e.code },
          }),
        );
      });
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (e) {
    // Nothing may keep the process alive after a failed start: the workers stop too.
    await pool.close();
    throw e;
  }
  const port = (server.address() as { port: number }).port;
  log({
    time: new Date().toISOString(),
    event: 'start',
    port,
    keys: [...keys.keys()],
    tls: options.tls ? (options.tls.ca ? 'mutual' : 'server') : 'none',
    auth: tokenClients.size > 0 ? 'token' : options.tls?.ca ? 'certificate' : 'none',
  });
  return {
    port,
    async close() {
      if (closing) return;
      closing = true;
      if (sweeper) clearInterval(sweeper);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      server.closeAllConnections();
      await stopped;
      // Runs whose client never handed in its receipt: the service's own, self-signed.
      for (const r of [...runs.values()]) closeRun(r, 'ABORTED');
      await pool.close();
      log({ time: new Date().toISOString(), event: 'stop' });
    },
  };
}

const LedgerFile = t.exact(
  t.type({
    type: t.literal('koppel-oprf-ledger'),
    version: t.literal(1),
    clients: t.record(t.string, t.exact(t.type({ used: t.number, periodStart: t.number }))),
  }),
  'OprfLedger',
);

/** The budget ledger on disk: what each client used in its current period. */
class BudgetLedger {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** The entries of the file, or none when it does not exist yet. */
  load(): Array<[string, { used: number; periodStart: number }]> {
    let text: string;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new KoppelError('IO_ERROR', 'The budget ledger (--state) cannot be read; check the path and its permissions.', {
        details: { path: this.#path },
        cause: e,
      });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const r = LedgerFile.decode(raw);
    const bad = () =>
      new KoppelError(
        'INVALID_ARGUMENT',
        'The budget ledger (--state) is not a koppel OPRF ledger; restore it from a backup (deleting it resets every budget).',
        {
          details: { path: this.#path },
        },
      );
    if (isLeft(r)) throw bad();
    const entries = Object.entries(r.right.clients);
    if (entries.some(([, v]) => !Number.isSafeInteger(v.used) || v.used < 0 || !Number.isFinite(v.periodStart))) throw bad();
    return entries;
  }

  /** Writes the ledger atomically: a temporary file beside it, then a rename. */
  save(meters: ReadonlyMap<string, { used: number; periodStart: number }>): void {
    const clients: Record<string, { used: number; periodStart: number }> = {};
    for (const [client, m] of meters) if (m.used > 0) clients[client] = { used: m.used, periodStart: m.periodStart };
    const tmp = `${this.#path}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, JSON.stringify({ type: 'koppel-oprf-ledger', version: 1, clients }) + '\n', { mode: 0o600 });
      renameSync(tmp, this.#path);
    } catch (e) {
      throw new KoppelError('IO_ERROR', 'The budget ledger (--state) cannot be written; the request was refused.', { details: { path: this.#path }, cause: e });
    }
  }
}

/**
 * Refuses a bearer token that cannot carry 128 bits of entropy: fewer than 22 characters
 * of the base64url alphabet (6 bits each) or 32 hexadecimal digits (4 bits each), or one
 * that visibly is no random string (one character making up half of it, or fewer than a
 * third of the distinct characters a random token of its length has on average; a random
 * token fails either test with a probability far below 10^-9).
 * The token itself is never in the message.
 *
 * @throws KoppelError `WEAK_KEY`
 */
export function checkToken(token: string): void {
  const hex = /^[0-9a-fA-F]+$/.test(token);
  const bitsPerChar = hex ? 4 : /^[A-Za-z0-9_-]+$/.test(token) ? 6 : 6.5;
  const counts = new Map<string, number>();
  for (const ch of token) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const most = Math.max(0, ...counts.values());
  const alphabet = hex ? 16 : 64;
  // A random token of length n over an alphabet of a draws about a(1 - (1 - 1/a)^n) distinct characters; ask for a third.
  const expectedDistinct = alphabet * (1 - (1 - 1 / alphabet) ** token.length);
  if (token.length * bitsPerChar < 128 || most >= token.length / 2 || counts.size < expectedDistinct / 3) {
    throw new KoppelError(
      'WEAK_KEY',
      'A bearer token is too short or does not look random: use at least 128 random bits, e.g. `openssl rand -base64 32` or `openssl rand -hex 16`.',
      { details: { length: token.length } },
    );
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendBytes(res, status, Buffer.from(JSON.stringify(body)));
}

function sendBytes(res: ServerResponse, status: number, bytes: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, 'cache-control': 'no-store' });
  res.end(bytes);
}
