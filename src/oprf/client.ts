/**
 * The client of the blind pseudonymisation service: blinds identifiers, sends them in
 * batches (several in flight), verifies the service's proof (VOPRF), unblinds, and
 * returns pseudonyms `<kid>.<43 base64url characters>` (the first 32 bytes of the RFC
 * 9497 output), the same format as keyed pseudonyms.
 *
 * Requests are idempotent (evaluating the same blinded elements again changes nothing),
 * so transient failures (connection refused or reset, 429, 502-504) are retried with
 * exponential backoff; a service that restarts mid-file is waited for. The client pins
 * a key id and its public key: a service that no longer offers them is an error.
 *
 * @packageDocumentation
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { randomBytes, randomInt } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { availableParallelism } from 'node:os';
import { t, isLeft } from '../util/cjs.js';
import { isLoopbackHost } from '../transport/net.js';
import { certificatePeer, normalisePeerPolicy, peerMatches, type PeerIdentity, type PeerPolicy } from '../transport/peer.js';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import { checkerFor, type IdType, type InvalidReason } from '../pseudonymise/normalise.js';
import { fromBase64Url, toBase64Url } from '../util/bytes.js';
import { TaskPool } from '../util/pool.js';
import { describeErrors } from '../wire/codec.js';
import { ERROR_CODES } from '../errors/index.js';
import type { OprfMode } from './oprf.js';
import { oprfOps } from './ops.js';
import { OPRF_SUITE } from './key.js';
import { AGREEMENT_HEADER, OprfTranscript, RUN_HEADER, RUN_POSITION_HEADER } from './transcript.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Options of {@link OprfPseudonymiser.connect}. */
export interface OprfClientOptions {
  /** The service, e.g. `https://oprf.example:7400`. */
  readonly url: string;
  /** `voprf` (default: proofs checked against the published key) or `oprf`. */
  readonly mode?: OprfMode;
  /** Pin this key id (recommended); default: the service's current key of the mode. */
  readonly kid?: string;
  /** Identifier normalisation before evaluation (default `raw`). */
  readonly idType?: IdType;
  /** Bearer token, if the service uses tokens. */
  readonly token?: string;
  /** TLS: CA of the service's certificate; client certificate and key for mutual TLS. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly servername?: string };
  /** Elements per request (default 1000). */
  readonly batchSize?: number;
  /** Requests in flight (default 4). */
  readonly concurrency?: number;
  /** Give up after this long without a successful request, in ms (default 120 s). */
  readonly retryForMs?: number;
  /** Worker threads for blinding and finalising (default: the machine's cores; 0: inline). */
  readonly threads?: number;
  /** Called when a request is retried (no identifiers in it). */
  readonly onRetry?: (info: { code: KoppelErrorCode; attempt: number; waitMs: number }) => void;
  /** Cancels every request of this client, in flight or retrying: they reject with `ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * Run under a linking agreement: its hash goes with every request (`Koppel-Agreement`),
   * and a service under another agreement, or under none, is `AGREEMENT_MISMATCH`.
   */
  readonly agreementHash?: string;
  /** Accept only a service certificate with one of these names or fingerprints (besides the CA and host name checks): else `PEER_NOT_ALLOWED`. */
  readonly servicePin?: PeerPolicy;
  /**
   * Open a run for a receipt: a fresh random run id goes with every evaluation
   * (`Koppel-Run`), and the client keeps the run's transcript ({@link OprfPseudonymiser.run}).
   * The service must keep receipts (`oprf serve --receipt`), else `INVALID_ARGUMENT` before
   * anything is evaluated.
   */
  readonly receipt?: boolean;
}

/** What a client's run was, for its receipt: sizes and hashes only. */
export interface OprfRun {
  /** The run id (hex). */
  readonly run: string;
  /** The transcript hash (hex), or null when a batch's answer was lost and retried (the service folded one the client never saw). */
  readonly transcript: string | null;
  /** Batches and elements evaluated for this client. */
  readonly batches: number;
  readonly evaluations: number;
  /** The service's certificate identity, as it presented it. */
  readonly service: PeerIdentity | undefined;
}

const cancelled = () => new KoppelError('ABORTED', 'The request to the OPRF service was cancelled.');

/** A pseudonym or why an identifier was refused. */
export type OprfResult = { readonly ok: true; readonly pseudonym: string } | { readonly ok: false; readonly code: KoppelErrorCode; readonly reason: string };

const KeysResponse = t.intersection(
  [
    t.type({ suite: t.string, keys: t.array(t.type({ kid: t.string, mode: t.keyof({ oprf: null, voprf: null }), publicKey: t.string, current: t.boolean })) }),
    t.partial({ agreement: t.string, receipts: t.boolean }),
  ],
  'KeysResponse',
);
const EvalResponse = t.intersection([t.type({ kid: t.string, evaluated: t.array(t.string) }), t.partial({ proof: t.string })], 'EvaluateResponse');
const ErrorBody = t.type({ code: t.string, message: t.string });

const RETRY_STATUS = new Set([429, 502, 503, 504]);

type ResolvedOptions = Required<Pick<OprfClientOptions, 'batchSize' | 'concurrency' | 'retryForMs'>> & OprfClientOptions;

/** A `Pseudonymiser`-like client of the OPRF service. Create with {@link OprfPseudonymiser.connect}. */
export class OprfPseudonymiser {
  readonly #o: ResolvedOptions;
  readonly #url: URL;
  readonly #agent: HttpAgent;
  readonly #pool: TaskPool<typeof oprfOps>;
  readonly #check: (s: string) => string | InvalidReason;
  /** The pinned key id. */
  readonly kid: string;
  /** The mode. */
  readonly mode: OprfMode;
  readonly #publicKey: Uint8Array;
  readonly #run: { id: string; transcript: OprfTranscript; batches: number; evaluations: number } | undefined;
  readonly #service: PeerIdentity | undefined;

  private constructor(
    o: ResolvedOptions,
    url: URL,
    agent: HttpAgent,
    pool: TaskPool<typeof oprfOps>,
    kid: string,
    mode: OprfMode,
    publicKey: Uint8Array,
    service: PeerIdentity | undefined,
  ) {
    this.#o = o;
    this.#service = service;
    if (o.receipt) {
      const id = randomBytes(16).toString('hex');
      this.#run = { id, transcript: new OprfTranscript(id, o.agreementHash ?? null), batches: 0, evaluations: 0 };
    }
    this.#url = url;
    this.#agent = agent;
    this.#pool = pool;
    this.#check = checkerFor(o.idType ?? 'raw');
    this.kid = kid;
    this.mode = mode;
    this.#publicKey = publicKey;
  }

  /**
   * Fetches the service's keys and pins one.
   *
   * @throws KoppelError `KEY_MISMATCH` if the pinned key id is not offered in this mode
   */
  static async connect(options: OprfClientOptions): Promise<OprfPseudonymiser> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new KoppelError('INVALID_ARGUMENT', 'The OPRF service URL is not a valid URL, e.g. https://oprf.example:7400.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new KoppelError('INVALID_ARGUMENT', 'The OPRF service URL must be https:// (or http:// on loopback).');
    // Plain HTTP would carry the bearer token and the blinded elements in the clear.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
      throw new KoppelError('INVALID_ARGUMENT', 'http:// is for a service on this machine (loopback) only; use https:// for any other host.');
    const o = { batchSize: 1000, concurrency: 4, retryForMs: 120_000, ...options };
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 10_000) throw new KoppelError('INVALID_ARGUMENT', 'batchSize must be 1 to 10,000.');
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 64) throw new KoppelError('INVALID_ARGUMENT', 'concurrency must be 1 to 64.');
    const mode = options.mode ?? 'voprf';
    const pin = normalisePeerPolicy(options.servicePin);
    const agent =
      url.protocol === 'https:'
        ? new HttpsAgent({
            keepAlive: true,
            maxSockets: o.concurrency,
            ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
            ...(o.tls?.cert ? { cert: o.tls.cert } : {}),
            ...(o.tls?.key ? { key: o.tls.key } : {}),
            ...(o.tls?.servername ? { servername: o.tls.servername } : {}),
            // The pin is checked with the certificate, before any request is sent.
            ...(pin
              ? {
                  checkServerIdentity: (host: string, cert: PeerCertificate) => {
                    const wrong = checkServerIdentity(host, cert);
                    if (wrong) return wrong;
                    const cn = (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.['CN'];
                    if (peerMatches(certificatePeer(Array.isArray(cn) ? cn[0] : cn, cert.subjectaltname, cert.raw, true), pin)) return undefined;
                    return Object.assign(new Error('service certificate not pinned'), { code: PIN_FAILED });
                  },
                }
              : {}),
          })
        : new HttpAgent({ keepAlive: true, maxSockets: o.concurrency });
    const pool = new TaskPool(oprfOps, WORKER_URL, options.threads ?? availableParallelism());
    try {
      const reply = await call(url, agent, o, 'GET', '/v1/keys', undefined);
      const keys = KeysResponse.decode(reply.json);
      if (isLeft(keys)) throw new KoppelError('MESSAGE_MALFORMED', `The service's key list is malformed: ${describeErrors(keys.left)}`);
      if (keys.right.suite !== OPRF_SUITE)
        throw new KoppelError('SUITE_MISMATCH', `The service evaluates another suite than ${OPRF_SUITE} (the suite of its key list).`, {
          details: { field: 'suite' },
        });
      if ((keys.right.agreement ?? undefined) !== o.agreementHash)
        throw new KoppelError(
          'AGREEMENT_MISMATCH',
          o.agreementHash === undefined
            ? 'The service runs under a linking agreement (its key list names one); run with --agreement.'
            : "The service runs under another linking agreement than this client's, or under none (the agreement hash of its key list).",
          { details: { field: 'agreement' } },
        );
      if (o.receipt && keys.right.receipts !== true)
        throw new KoppelError(
          'INVALID_ARGUMENT',
          'The service writes no receipts (oprf serve --receipt), so this run cannot have one; run without --receipt or ask the operator.',
        );
      const offered = keys.right.keys.filter((k) => k.mode === mode);
      const key = options.kid ? offered.find((k) => k.kid === options.kid) : offered.find((k) => k.current);
      if (!key) {
        throw new KoppelError(
          'KEY_MISMATCH',
          options.kid
            ? `The service does not offer key id ${options.kid} in ${mode} mode; check --kid and --mode.`
            : `The service offers no current ${mode} key.`,
          { details: { mode } },
        );
      }
      const pk = fromBase64Url(key.publicKey);
      if (!pk || pk.length !== 32) throw new KoppelError('MESSAGE_MALFORMED', "The service's public key is not 32 bytes.");
      return new OprfPseudonymiser(o, url, agent, pool, key.kid, mode, pk, reply.peer);
    } catch (e) {
      agent.destroy();
      await pool.close();
      throw e;
    }
  }

  /** Pseudonyms of identifiers (normalised by `idType`), in order. @throws on the first invalid identifier */
  async pseudonymiseMany(ids: readonly string[]): Promise<string[]> {
    const rs = await this.tryPseudonymiseMany(ids);
    return rs.map((r, i) => {
      if (!r.ok) throw new KoppelError(r.code, `An identifier is invalid (${r.reason}).`, { details: { index: i, reason: r.reason } });
      return r.pseudonym;
    });
  }

  /** The pseudonym of one identifier (batch many for speed). */
  async pseudonymise(id: string): Promise<string> {
    return (await this.pseudonymiseMany([id]))[0] as string;
  }

  /** The identifier normalised by `idType`, or why it is invalid; evaluates nothing (spends no budget). */
  checkIdentifier(id: string): string | InvalidReason {
    return this.#check(id);
  }

  /** Like {@link pseudonymiseMany}, with a result per identifier instead of throwing for invalid ones. */
  async tryPseudonymiseMany(ids: readonly string[]): Promise<OprfResult[]> {
    const results: OprfResult[] = new Array<OprfResult>(ids.length);
    const valid: string[] = [];
    const at: number[] = [];
    ids.forEach((id, i) => {
      const n = this.#check(id);
      if (typeof n === 'string') {
        valid.push(n);
        at.push(i);
      } else results[i] = { ok: false, code: n.code, reason: n.reason };
    });
    const batches: Array<{ from: number; to: number }> = [];
    for (let from = 0; from < valid.length; from += this.#o.batchSize) batches.push({ from, to: Math.min(valid.length, from + this.#o.batchSize) });
    let next = 0;
    const worker = async () => {
      for (;;) {
        const b = batches[next++];
        if (!b) return;
        const inputs = valid.slice(b.from, b.to);
        const out = await this.#evaluate(inputs);
        for (let i = 0; i < inputs.length; i++)
          results[at[b.from + i] as number] = { ok: true, pseudonym: `${this.kid}.${toBase64Url(out.subarray(i * 32, i * 32 + 32))}` };
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, batches.length) }, worker));
    return results;
  }

  async #evaluate(inputs: string[]): Promise<Uint8Array> {
    const { blinds, blinded } = await this.#pool.run('blind', { mode: this.mode, inputs });
    const elements = Array.from({ length: inputs.length }, (_, i) => toBase64Url(blinded.subarray(i * 32, i * 32 + 32)));
    const text = JSON.stringify({ kid: this.kid, elements });
    const run = this.#run;
    const reply = await call(this.#url, this.#agent, this.#o, 'POST', '/v1/evaluate', text, run ? { [RUN_HEADER]: run.id } : undefined);
    if (run) {
      // The batch goes into the transcript at the position the service answered it at.
      run.batches++;
      run.evaluations += inputs.length;
      run.transcript.place(reply.position ?? -1, Buffer.from(text), reply.raw, inputs.length);
    }
    const r = EvalResponse.decode(reply.json);
    if (isLeft(r)) throw new KoppelError('MESSAGE_MALFORMED', `The service's answer is malformed: ${describeErrors(r.left)}`);
    if (r.right.kid !== this.kid || r.right.evaluated.length !== inputs.length)
      throw new KoppelError('MESSAGE_MALFORMED', 'The service answered for another key or another number of elements.');
    const evaluated = new Uint8Array(inputs.length * 32);
    r.right.evaluated.forEach((e, i) => {
      const b = fromBase64Url(e);
      if (!b || b.length !== 32)
        throw new KoppelError('MESSAGE_MALFORMED', 'An evaluated element from the service is not 32 bytes.', { details: { index: i } });
      evaluated.set(b, i * 32);
    });
    const proof = r.right.proof === undefined ? undefined : fromBase64Url(r.right.proof);
    if (this.mode === 'voprf' && (!proof || proof.length !== 64)) throw new KoppelError('PROOF_INVALID', 'The service sent no valid proof in VOPRF mode.');
    return this.#pool.run('finalize', { mode: this.mode, inputs, blinds, blinded, evaluated, publicKey: this.#publicKey, ...(proof ? { proof } : {}) });
  }

  /** The run so far (with {@link OprfClientOptions.receipt}), or undefined. */
  run(): OprfRun | undefined {
    const r = this.#run;
    if (!r) return undefined;
    return { run: r.id, transcript: r.transcript.digest(), batches: r.batches, evaluations: r.evaluations, service: this.#service };
  }

  /** The service's certificate identity (HTTPS), as it presented it on connect. */
  get service(): PeerIdentity | undefined {
    return this.#service;
  }

  /**
   * Hands the client's signed receipt of its run to the service (`POST /v1/receipt`); the
   * service's answer (its countersignature and its own signed receipt), unchecked: see
   * `exchangeOprfReceipt` in `koppel/agreement`.
   */
  async postReceipt(signed: unknown): Promise<unknown> {
    return (await call(this.#url, this.#agent, { ...this.#o, retryForMs: Math.min(this.#o.retryForMs, 10_000) }, 'POST', '/v1/receipt', JSON.stringify(signed)))
      .json;
  }

  /** Closes connections and worker threads. */
  async close(): Promise<void> {
    this.#agent.destroy();
    await this.#pool.close();
  }
}

/** The field a mismatch the service reports is about (for the message; never a value). */
const MISMATCH_FIELD: Partial<Record<KoppelErrorCode, string>> = {
  AGREEMENT_MISMATCH: 'agreement (the Koppel-Agreement header, the agreement hash)',
  MODE_MISMATCH: 'mode',
  SUITE_MISMATCH: 'suite',
  KEY_MISMATCH: 'kid',
};

/** The error code of a service certificate the pin refuses. */
const PIN_FAILED = 'KOPPEL_SERVICE_NOT_PINNED';

/** An answer of the service: the JSON, its exact bytes, and the batch's transcript position if it gave one. */
interface Reply {
  readonly json: unknown;
  readonly raw: Buffer;
  readonly position?: number;
  readonly peer?: PeerIdentity;
}

/** One HTTP call with retries on transient failures; `body` is the request's JSON text. */
async function call(
  url: URL,
  agent: HttpAgent,
  o: OprfClientOptions & { retryForMs: number },
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  extra?: Record<string, string>,
): Promise<Reply> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw cancelled();
    try {
      return await once(url, agent, o, method, path, body, extra);
    } catch (e) {
      if (o.signal?.aborted) throw cancelled();
      const transient = e instanceof Transient;
      const code: KoppelErrorCode = transient ? e.code : e instanceof KoppelError ? e.code : 'INTERNAL';
      if (!transient || Date.now() - started > o.retryForMs) {
        if (transient)
          throw new KoppelError(
            e.code === 'RATE_LIMITED' ? 'RATE_LIMITED' : 'SERVICE_UNAVAILABLE',
            `The OPRF service did not answer successfully for ${Math.round(o.retryForMs / 1000)} s (last: ${e.code}); check that it runs and that this client may use it.`,
          );
        throw e;
      }
      const waitMs = Math.min(5000, e.retryAfterMs ?? 100 * 2 ** Math.min(attempt, 6)) * (0.75 + randomInt(0, 1000) / 2000); // jitter, from the CSPRNG like all randomness in koppel
      o.onRetry?.({ code, attempt, waitMs: Math.round(waitMs) });
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        o.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}

class Transient extends Error {
  constructor(
    readonly code: KoppelErrorCode,
    readonly retryAfterMs?: number,
  ) {
    super(code);
  }
}

/** The largest answer read from the service: 100,000 evaluated elements fit in 5 MB. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** The longest a whole answer may take, from the request on. */
const RESPONSE_DEADLINE_MS = 120_000;

function once(
  url: URL,
  agent: HttpAgent,
  o: OprfClientOptions,
  method: string,
  path: string,
  text: string | undefined,
  extra?: Record<string, string>,
): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json', ...extra };
  if (o.agreementHash !== undefined) headers[AGREEMENT_HEADER] = o.agreementHash;
  if (text !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(text));
  }
  if (o.token) headers['authorization'] = `Bearer ${o.token}`;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // Every answer is bounded in size and in time: an endless or dripping response is
    // an error, never a hang or a buffer that grows without limit.
    const deadline = setTimeout(() => {
      req.destroy();
      reject(
        new KoppelError('TIMEOUT', `The OPRF service did not complete its answer within ${RESPONSE_DEADLINE_MS / 1000} s.`, {
          details: { timeoutMs: RESPONSE_DEADLINE_MS },
        }),
      );
    }, RESPONSE_DEADLINE_MS);
    const req = request(new URL(path, url), { method, agent, headers, timeout: 60_000, ...(o.signal ? { signal: o.signal } : {}) }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      const peer = peerOf(res.socket); // while the socket is the answer's (keep-alive hands it on after the end)
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_RESPONSE_BYTES) {
          clearTimeout(deadline);
          req.destroy();
          reject(
            new KoppelError('MESSAGE_TOO_LARGE', `An answer from the OPRF service exceeds ${MAX_RESPONSE_BYTES} bytes; is it a koppel OPRF service?`, {
              details: { max: MAX_RESPONSE_BYTES },
            }),
          );
          return;
        }
        parts.push(d);
      });
      res.on('error', () => reject(new Transient('CONNECTION_CLOSED')));
      res.on('end', () => {
        clearTimeout(deadline);
        const status = res.statusCode ?? 0;
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch {
          json = undefined;
        }
        if (status === 200 && json !== undefined) {
          const raw = Buffer.concat(parts);
          const at = res.headers[RUN_POSITION_HEADER];
          const position = typeof at === 'string' && /^\d{1,15}$/.test(at) ? Number(at) : undefined;
          return resolve({ json, raw, ...(position === undefined ? {} : { position }), ...peer });
        }
        if (RETRY_STATUS.has(status) && !(status === 429 && errorCode(json) === 'BUDGET_EXHAUSTED')) {
          const after = Number(res.headers['retry-after']);
          return reject(new Transient(status === 429 ? 'RATE_LIMITED' : 'SERVICE_UNAVAILABLE', Number.isFinite(after) ? after * 1000 : undefined));
        }
        const code = errorCode(json) ?? 'SERVICE_UNAVAILABLE';
        const field = MISMATCH_FIELD[code];
        reject(
          new KoppelError(code, `The OPRF service refused the request (HTTP ${status}, ${code}): ${ERROR_CODES[code]}${field ? ` Field: ${field}.` : ''}`, {
            details: { status, ...(field ? { field } : {}) },
          }),
        );
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      if (e.code === PIN_FAILED) {
        reject(
          new KoppelError(
            'PEER_NOT_ALLOWED',
            "The OPRF service's certificate is valid but not the pinned one (the agreement's service, or --peer / --peer-fingerprint); the connection was closed.",
          ),
        );
        return;
      }
      if (
        e.code === 'CERT_HAS_EXPIRED' ||
        e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
        e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
        e.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
        e.code === 'SELF_SIGNED_CERT_IN_CHAIN'
      ) {
        reject(new KoppelError('NETWORK_ERROR', `TLS with the OPRF service failed (${e.code}); check --tls-ca and the service's certificate.`));
        return;
      }
      reject(new Transient('NETWORK_ERROR'));
    });
    req.end(text);
  });
}

/** The service's certificate identity on an HTTPS answer's socket. */
function peerOf(socket: unknown): { peer?: PeerIdentity } {
  const s = socket as Partial<TLSSocket> | null;
  if (!s || typeof s.getPeerCertificate !== 'function') return {};
  const cert = s.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return {};
  const cn = (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.['CN'];
  return { peer: certificatePeer(Array.isArray(cn) ? cn[0] : cn, cert.subjectaltname, cert.raw, s.authorized === true) };
}

function errorCode(json: unknown): KoppelErrorCode | undefined {
  const e = ErrorBody.decode(json);
  if (isLeft(e)) return undefined;
  return e.right.code in ERROR_CODES ? (e.right.code as KoppelErrorCode) : undefined;
}
