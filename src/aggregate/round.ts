/**
 * An aggregation round (docs/protocols/aggregate.md): input parties, m >= 2
 * aggregators and a collector, over {@link Channel}s.
 *
 * 1. Each input party splits its vector into m shares (m - 1 PRG seeds, one full
 *    vector) and sends share j to aggregator j.
 * 2. Each aggregator checks every share against the round (id, settings hash, deadline,
 *    duplicates, its own index, the codebook's length) and acknowledges it.
 * 3. At the deadline each aggregator tells the collector which parties it accepted; the
 *    collector announces the intersection (a party that reached only some aggregators is
 *    dropped whole) or fails the round if fewer than `minInputs` remain.
 * 4. Each aggregator sums the shares of exactly the agreed parties, adds its own noise
 *    sample (when the round asks for noise) and sends the sum to the collector, who adds
 *    the m sums and applies disclosure control.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import type { t } from '../util/cjs.js';
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';
import type { Channel } from '../transport/channel.js';
import { checkAgreementHash, checkHello } from '../session/hello.js';
import { openSession, runSession, type Session, type SessionOptions } from '../session/session.js';
import { normalisePeerPolicy, peerMatches, type NormalisedPeerPin } from '../transport/peer.js';
import { AGGREGATE_PROTOCOL, AGGREGATE_VERSION, AggregatorHello, AggStep, Agreed, InputHello, SHARED, SubmitResult } from './messages.js';
import type { Codebook } from './codebook.js';
import { protectTable, type DisclosureOptions, type TableEntry } from '../disclosure/index.js';
import { checkCellKeyOptions } from '../disclosure/table.js';
import { addInto, bytesToVector, encodeSigned, vectorBytes } from './ring.js';
import { sampleNoise, type NoiseSpec } from './sampler.js';
import { addShareInto, split, type Share } from './share.js';

export { AGGREGATE_PROTOCOL, AGGREGATE_VERSION, AggStep } from './messages.js';

/** The settings every party of a round must share. */
export interface RoundConfig {
  /** Round id, e.g. `2026-q4-usage`. */
  readonly round: string;
  /** The public codebook. */
  readonly codebook: Codebook;
  /** Number of aggregators, m >= 2. */
  readonly aggregators: number;
  /** The round fails unless at least this many inputs reach every aggregator. */
  readonly minInputs: number;
  /** Submissions after this time (ms since the epoch) are refused. */
  readonly deadline: number;
  /** Noise each aggregator adds to its sum (default none). */
  readonly noise?: NoiseSpec;
  /**
   * Who may submit: each party id with the certificate it must connect with (a subject
   * CN or DNS/IP subject alternative name, or the certificate's SHA-256 fingerprint in
   * hex). With a list, an aggregator accepts a submission only over mutual TLS from the
   * certificate its party id names (`PEER_NOT_ALLOWED` otherwise), and `minInputs` counts
   * distinct certificates. Without one, party ids are whatever the senders claim.
   */
  readonly parties?: readonly RoundParty[];
}

/** Party ids of a round may be: the same rule the HELLO codec applies. */
const PARTY_ID = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$/;

/** How many distinct certificates stand behind the agreed party ids. */
function distinctCertificates(parties: readonly RoundParty[], agreed: readonly string[]): number {
  const byId = new Map(parties.map((p) => [p.id, p]));
  const certs = new Set<string>();
  for (const id of agreed) {
    const entry = byId.get(id);
    if (!entry) continue; // an aggregator accepted no id outside the list; ignore defensively
    const pin = partyPin(entry);
    certs.add(pin.fingerprints[0] ?? `name:${pin.names[0] ?? ''}`);
  }
  return certs.size;
}

/** A party of a round and the certificate it must connect with. */
export interface RoundParty {
  /** The party id its submissions carry, e.g. `gemeente-0363`. */
  readonly id: string;
  /** A certificate name (CN, DNS or IP subjectAltName) or a SHA-256 fingerprint (hex). */
  readonly peer: string;
}

const FINGERPRINT = /^[0-9a-fA-F]{2}(:?[0-9a-fA-F]{2}){31}$/;

/** The pin of one party's entry: a fingerprint when it looks like one, else a name. */
function partyPin(entry: RoundParty): NormalisedPeerPin {
  const pin = normalisePeerPolicy(FINGERPRINT.test(entry.peer) ? { fingerprints: [entry.peer] } : { names: [entry.peer] });
  if (!pin) throw new KoppelError('INTERNAL', 'A party entry gave no pin.');
  return pin;
}

/** SHA-256 of everything the parties must agree on, hex. */
export function configHash(c: RoundConfig): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        v: AGGREGATE_VERSION,
        round: c.round,
        codebook: c.codebook.hash,
        aggregators: c.aggregators,
        minInputs: c.minInputs,
        deadline: c.deadline,
        noise: c.noise ?? { distribution: 'none' },
        // Who may submit is part of what every party agrees on (absent: as before).
        ...(c.parties ? { parties: c.parties.map((p) => ({ id: p.id, peer: p.peer })) } : {}),
      }),
    )
    .digest('hex');
}

/** Checks a round configuration. */
export function checkConfig(c: RoundConfig): RoundConfig {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/.test(c.round)) throw new KoppelError('INVALID_ARGUMENT', 'A round id is 1 to 64 letters, digits, _ . : -.');
  if (!Number.isInteger(c.aggregators) || c.aggregators < 2 || c.aggregators > 64)
    throw new KoppelError('INVALID_ARGUMENT', 'A round needs 2 to 64 aggregators.');
  if (!Number.isInteger(c.minInputs) || c.minInputs < 1 || c.minInputs > c.codebook.spec.maxInputs)
    throw new KoppelError('INVALID_ARGUMENT', "minInputs must be at least 1 and at most the codebook's maxInputs.");
  if (!Number.isFinite(c.deadline)) throw new KoppelError('INVALID_ARGUMENT', 'A round needs a deadline.');
  if (c.parties) {
    const ids = new Set<string>();
    for (const p of c.parties) {
      if (typeof p.id !== 'string' || !PARTY_ID.test(p.id))
        throw new KoppelError('INVALID_ARGUMENT', 'A party id in the round is 1 to 128 letters, digits, _ . : @ -.');
      if (ids.has(p.id)) throw new KoppelError('INVALID_ARGUMENT', "A party id occurs twice in the round's parties.");
      ids.add(p.id);
      partyPin(p); // checks the certificate name or fingerprint
    }
    if (distinctCertificates(c.parties, [...ids]) < c.minInputs) {
      throw new KoppelError('INVALID_ARGUMENT', 'The round lists fewer distinct party certificates than minInputs: it could never release a table.');
    }
  }
  return c;
}

/** Opens a round session with one peer: nobody answers a HELLO with a HELLO here. */
function roundSession<H extends t.TypeOf<typeof InputHello> | t.TypeOf<typeof AggregatorHello>>(
  o: Pick<SessionOptions<H>, 'channel' | 'side' | 'hello' | 'codec' | 'peerRole' | 'deferChecks' | 'agreement' | 'transcript'>,
): Promise<Session<H>> {
  return openSession(roundOptions(o));
}

/**
 * The session options of every round session; by default a failed opening just closes
 * (a HELLO under another agreement is still told `AGREEMENT_MISMATCH`). Each role says
 * `transcript`: a round session records its transcript only when a hook that may ask
 * for it (a receipt exchange) is given; without one, hashing every share twice in a
 * process that holds both ends was most of a round's session cost.
 */
function roundOptions<H extends t.TypeOf<typeof InputHello> | t.TypeOf<typeof AggregatorHello>>(
  o: Pick<SessionOptions<H>, 'channel' | 'side' | 'hello' | 'codec' | 'peerRole' | 'deferChecks' | 'onFailure' | 'agreement' | 'transcript'>,
): SessionOptions<H> {
  const { agreement, ...rest } = o;
  return {
    onFailure: 'close',
    ...rest,
    ...(agreement === undefined ? {} : { agreement }),
    protocol: AGGREGATE_PROTOCOL,
    suite: 'none',
    answer: false,
    shared: SHARED,
  };
}

/** What every role of a round may be told. */
export interface RoundRunOptions {
  /**
   * The SHA-256 (hex) of the linking agreement the round runs under. Every HELLO carries
   * it; a peer under another agreement, or under none, stops both ends of that session
   * with `AGREEMENT_MISMATCH` before its share or sum is used.
   */
  readonly agreement?: string;
  /** Cancels the run: the peers are told (`ABORTED`) and the promise rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** Options of {@link submitInput}. */
export interface SubmitOptions extends RoundRunOptions {
  /**
   * The last step of each session an aggregator accepted the share on, before its
   * channel closes (e.g. the receipt exchange, docs/agreement.md). A failure makes that
   * aggregator's outcome a refusal with the error's code. Waits are bounded by the
   * channel's idle timeout. Only with this hook do the sessions record their transcript
   * ({@link Session.transcript}); without it they do not, and refuse to give one.
   */
  readonly afterSession?: (session: Session, aggregator: number) => Promise<void>;
}

/** Options of an {@link Aggregator}. */
export interface AggregatorOptions extends RoundRunOptions {
  /**
   * The last step of an input's session, after the share was found valid and
   * acknowledged and before it counts (e.g. the receipt exchange). A failure refuses
   * the share with the error's code: it is not summed. Only with this hook do input
   * sessions record their transcript ({@link Session.transcript}).
   */
  readonly afterInput?: (session: Session, party: string) => Promise<void>;
  /**
   * The last step of the session with the collector, after the sum was sent. Only with
   * this hook does that session record its transcript ({@link Session.transcript}).
   */
  readonly afterReport?: (session: Session, r: { agreed: number; dropped: number }) => Promise<void>;
}

/** Options of {@link collect}. */
export interface CollectOptions extends RoundRunOptions {
  /**
   * With the result, before the aggregators' sessions close (in index order): the place
   * to write the table and exchange receipts on every session. A failure fails the round
   * (every aggregator is told). Only with this hook do the sessions record their
   * transcript ({@link Session.transcript}).
   */
  readonly beforeClose?: (result: RoundResult, sessions: readonly Session[]) => Promise<void>;
}

/** The outcome of one input party's submission, per aggregator. */
export interface SubmitOutcome {
  readonly aggregator: number;
  readonly accepted: boolean;
  /** Why not, when not accepted. */
  readonly code?: KoppelErrorCode;
}

/**
 * Runs an input party: splits `vector` and sends share j over `channels[j]`. Resolves
 * with each aggregator's answer; a party accepted by only some aggregators is dropped
 * by the round, never half counted.
 */
export async function submitInput(
  channels: readonly Channel[],
  config: RoundConfig,
  party: string,
  vector: BigUint64Array,
  options: SubmitOptions = {},
): Promise<SubmitOutcome[]> {
  checkConfig(config);
  const agreement = checkAgreementHash(options.agreement);
  if (channels.length !== config.aggregators)
    throw new KoppelError('INVALID_ARGUMENT', `The round has ${config.aggregators} aggregators; give one channel for each.`);
  if (vector.length !== config.codebook.length) throw new KoppelError('INVALID_ARGUMENT', "The input vector does not have the codebook's length.");
  const hash = configHash(config);
  const signal = options.signal;
  if (signal?.aborted) throw new KoppelError('ABORTED', 'The run was cancelled; nothing was sent.');
  // Cancelling tells every aggregator whose session is open (ABORT), and closes the other
  // connections: the aggregators drop a share that did not arrive whole.
  const open: Array<Session | undefined> = channels.map(() => undefined);
  const onAbort = () =>
    channels.forEach((c, j) => {
      const s = open[j];
      if (s) void s.abort(new KoppelError('ABORTED', 'The run was cancelled.')).catch(() => undefined);
      else void c.close().catch(() => undefined);
    });
  signal?.addEventListener('abort', onAbort, { once: true });
  const shares = split(vector, config.aggregators, { round: config.round, codebookHash: config.codebook.hash, party });
  return Promise.all(
    channels.map(async (channel, j): Promise<SubmitOutcome> => {
      const share = shares[j] as Share;
      try {
        const s = await roundSession({
          channel,
          side: 'initiator',
          hello: { role: 'input', round: config.round, config: hash, party, aggregator: j, kind: share.kind },
          codec: InputHello,
          peerRole: 'aggregator',
          transcript: options.afterSession !== undefined,
          ...(agreement === undefined ? {} : { agreement }),
        });
        open[j] = s;
        if (signal?.aborted) throw new KoppelError('ABORTED', 'The run was cancelled.');
        const body = share.kind === 'seed' ? share.seed : vectorBytes(share.vector);
        await s.send(AggStep.SUBMIT_DATA, share.kind === 'seed' ? 1 : share.vector.length, body);
        const r = await s.receiveJson(AggStep.SUBMIT_RESULT, SubmitResult);
        if (r.accepted) await options.afterSession?.(s, j);
        return r.accepted ? { aggregator: j, accepted: true } : { aggregator: j, accepted: false, code: (r.code ?? 'INTERNAL') as KoppelErrorCode };
      } catch (e) {
        if (signal?.aborted) await open[j]?.abort(new KoppelError('ABORTED', 'The run was cancelled.')).catch(() => undefined);
        return { aggregator: j, accepted: false, code: signal?.aborted ? 'ABORTED' : e instanceof KoppelError ? e.code : 'INTERNAL' };
      } finally {
        await channel.close().catch(() => undefined);
        if (share.kind === 'seed') share.seed.fill(0);
      }
    }),
  ).finally(() => signal?.removeEventListener('abort', onAbort));
}

/** One aggregator of a round. Feed it input connections, then let it report to the collector. */
export class Aggregator {
  readonly #config: RoundConfig;
  readonly #index: number;
  readonly #hash: string;
  readonly #shares = new Map<string, Share>();
  readonly #sum: BigUint64Array;
  readonly #options: AggregatorOptions;
  /** Parties whose share is valid and whose session's last step is under way. */
  readonly #pending = new Set<string>();
  readonly #agreement: string | undefined;
  #closed = false;

  constructor(config: RoundConfig, index: number, options: AggregatorOptions = {}) {
    this.#config = checkConfig(config);
    this.#agreement = checkAgreementHash(options.agreement);
    this.#options = options;
    if (!Number.isInteger(index) || index < 0 || index >= config.aggregators)
      throw new KoppelError('INVALID_ARGUMENT', `The aggregator index must be 0 to ${config.aggregators - 1}.`);
    this.#index = index;
    this.#hash = configHash(config);
    this.#sum = new BigUint64Array(config.codebook.length);
  }

  /** Parties accepted so far. */
  get accepted(): string[] {
    return [...this.#shares.keys()].sort();
  }

  #ctx(party: string) {
    return { round: this.#config.round, codebookHash: this.#config.codebook.hash, party, aggregator: this.#index };
  }

  /**
   * Handles one input party's connection: validates its share and answers. A refused
   * share is answered with its code; the connection is closed either way.
   */
  async handleInput(channel: Channel, now: () => number = Date.now): Promise<SubmitOutcome & { party?: string }> {
    let s: Session<t.TypeOf<typeof InputHello>> | undefined;
    const refuse = async (code: KoppelErrorCode, party?: string) => {
      await s?.sendJson(AggStep.SUBMIT_RESULT, { accepted: false, code }).catch(() => undefined);
      return { aggregator: this.#index, accepted: false, code, ...(party ? { party } : {}) };
    };
    try {
      // The round check is deferred: a party of another round is answered with a refusal.
      s = await roundSession({
        channel,
        side: 'responder',
        hello: { role: 'aggregator' },
        codec: InputHello,
        peerRole: 'input',
        deferChecks: true,
        transcript: this.#options.afterInput !== undefined,
        ...(this.#agreement === undefined ? {} : { agreement: this.#agreement }),
      });
      const hello = s.peerHello;
      const data = await s.receive([AggStep.SUBMIT_DATA], 'SUBMIT_DATA');
      try {
        checkHello(AGGREGATE_PROTOCOL, { round: this.#config.round, config: this.#hash }, hello, { peerRole: 'input', shared: SHARED });
      } catch (e) {
        return await refuse((e as KoppelError).code, hello.party);
      }
      if (this.#closed || now() > this.#config.deadline) return await refuse('LATE_INPUT', hello.party);
      if (hello.aggregator !== this.#index) return await refuse('PROTOCOL_VIOLATION', hello.party);
      if (this.#config.parties) {
        // The party id must be one the round lists, and the connection must come from its certificate.
        const entry = this.#config.parties.find((p) => p.id === hello.party);
        if (!entry || !s.peer || !peerMatches(s.peer, partyPin(entry))) return await refuse('PEER_NOT_ALLOWED', hello.party);
      }
      if (this.#shares.has(hello.party) || this.#pending.has(hello.party)) return await refuse('DUPLICATE_INPUT', hello.party);
      if (this.#shares.size + this.#pending.size >= this.#config.codebook.spec.maxInputs) return await refuse('ROUND_FAILED', hello.party);
      const last = this.#index === this.#config.aggregators - 1;
      let share: Share;
      if (hello.kind === 'seed' && !last && data.count === 1 && data.body.length === 32) share = { kind: 'seed', seed: Uint8Array.from(data.body) };
      else if (hello.kind === 'vector' && last && data.count === this.#config.codebook.length && data.body.length === data.count * 8)
        share = { kind: 'vector', vector: bytesToVector(data.body) };
      else return await refuse('MESSAGE_MALFORMED', hello.party);
      // Held apart until acknowledged and the last step is done: a second connection of
      // the same party meanwhile is a duplicate, and a failed last step gives the id back.
      this.#pending.add(hello.party);
      try {
        await s.sendJson(AggStep.SUBMIT_RESULT, { accepted: true, code: null });
        await this.#options.afterInput?.(s, hello.party);
      } catch (e) {
        if (share.kind === 'seed') share.seed.fill(0);
        throw e;
      } finally {
        this.#pending.delete(hello.party);
      }
      if (this.#closed) {
        // The round closed for inputs while the last step ran: this share is not summed.
        if (share.kind === 'seed') share.seed.fill(0);
        return { aggregator: this.#index, accepted: false, code: 'LATE_INPUT', party: hello.party };
      }
      addShareInto(this.#sum, share, this.#ctx(hello.party), 1);
      this.#shares.set(hello.party, share);
      return { aggregator: this.#index, accepted: true, party: hello.party };
    } catch (e) {
      const code: KoppelErrorCode = e instanceof KoppelError ? e.code : 'INTERNAL';
      return { aggregator: this.#index, accepted: false, code };
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Closes the round for inputs, reports the accepted parties to the collector, and
   * sends the (noised) sum over exactly the parties the collector agrees on.
   *
   * @param options.signal - cancels the report: the collector is told (`ABORTED`)
   */
  async report(collector: Channel, options: { readonly signal?: AbortSignal } = {}): Promise<{ agreed: number; dropped: number }> {
    this.#closed = true;
    return runSession(
      async (scope) => {
        const s = await scope.open({
          channel: collector,
          protocol: AGGREGATE_PROTOCOL,
          side: 'initiator',
          hello: { role: 'aggregator', round: this.#config.round, config: this.#hash, aggregator: this.#index, parties: this.accepted },
          codec: AggregatorHello,
          suite: 'none',
          answer: false,
          peerRole: 'collector',
          transcript: this.#options.afterReport !== undefined,
          ...(this.#agreement === undefined ? {} : { agreement: this.#agreement }),
        });
        scope.defer(() => {
          for (const share of this.#shares.values()) if (share.kind === 'seed') share.seed.fill(0);
        });
        const { parties } = await s.receiveJson(AggStep.AGREED, Agreed);
        const agreed = new Set(parties);
        if (agreed.size !== parties.length || parties.some((p) => !this.#shares.has(p))) {
          throw new KoppelError('PROTOCOL_VIOLATION', 'The collector agreed on a party this aggregator never accepted.');
        }
        const sum = new BigUint64Array(this.#sum);
        let dropped = 0;
        for (const [party, share] of this.#shares) {
          if (agreed.has(party)) continue;
          addShareInto(sum, share, this.#ctx(party), -1);
          dropped++;
        }
        this.#addNoise(sum);
        await s.send(AggStep.AGGREGATE, sum.length, vectorBytes(sum));
        const r = { agreed: agreed.size, dropped };
        await this.#options.afterReport?.(s, r);
        return r;
      },
      signalOf(options.signal ? options : this.#options),
    );
  }

  /** Adds one noise sample to every count and value word (not to cell key sums). */
  #addNoise(sum: BigUint64Array): void {
    const spec = this.#config.noise ?? { distribution: 'none' };
    if (spec.distribution === 'none') return;
    const w = this.#config.codebook.width;
    for (let i = 0; i < sum.length; i++) {
      if (i % w === 1) continue;
      sum[i] = (sum[i] as bigint) + encodeSigned(sampleNoise(spec));
    }
  }
}

/** What the collector releases. */
export interface RoundResult {
  readonly round: string;
  /** The protected table: cells and totals, each with the rule that decided it. */
  readonly table: TableEntry[];
  /** Inputs summed: those that reached every aggregator. */
  readonly inputs: number;
  /** Parties dropped because they reached only some aggregators. */
  readonly dropped: number;
  /**
   * What the party ids mean: `certificates` when the round lists its parties (every
   * summed input came over mutual TLS from its party's certificate, and `inputs`
   * counted for `minInputs` as distinct certificates), `claimed` otherwise (ids are what
   * the senders said: unauthenticated).
   */
  readonly partyIds: 'certificates' | 'claimed';
  /** The ids of the parties whose inputs were summed, sorted (what {@link RoundResult.partyIds} says they mean). */
  readonly parties: readonly string[];
  /** The noise each aggregator added (the released noise is the sum of m samples). */
  readonly noise: NoiseSpec;
  /** The disclosure control applied. */
  readonly disclosure: {
    threshold: number;
    secondary: boolean;
    protection: number;
    valueProtection: number;
    /** The p-table's name, or null without the cell key method. */
    cellKey: string | null;
    /** True when the operator accepted exact value sums beside perturbed counts. */
    cellKeyCountsOnly: boolean;
  };
}

/** HELLO failures of a stray connection: it is dropped and the collector waits on. */
const STRAY = new Set<KoppelErrorCode>(['CONNECTION_CLOSED', 'MESSAGE_MALFORMED', 'PROTOCOL_VIOLATION', 'TIMEOUT', 'MESSAGE_TOO_LARGE', 'VERSION_MISMATCH']);

/**
 * Opens sessions on incoming channels concurrently until `m` have said HELLO or the
 * channels end (then waits for the openings still under way). Strays are dropped; any
 * other failure ends the wait with that error. Sessions beyond `m` are closed.
 */
async function firstSessions<S extends { close(): Promise<void> }>(
  channels: AsyncIterable<Channel>,
  m: number,
  open: (c: Channel) => Promise<S>,
): Promise<S[]> {
  const sessions: S[] = [];
  const openings = new Set<Promise<void>>();
  let fatal: { error: unknown } | undefined;
  let wake: () => void = () => undefined;
  let woken = new Promise<void>((r) => (wake = r));
  const settle = () => {
    wake();
    woken = new Promise<void>((r) => (wake = r));
  };
  const start = (c: Channel) => {
    const p: Promise<void> = open(c).then(
      async (x) => {
        if (sessions.length < m && !fatal) sessions.push(x);
        else await x.close();
      },
      (e: unknown) => {
        if (!(e instanceof KoppelError && STRAY.has(e.code))) fatal ??= { error: e };
      },
    );
    const tracked = p.finally(() => {
      openings.delete(tracked);
      settle();
    });
    openings.add(tracked);
  };
  const it = channels[Symbol.asyncIterator]();
  let next: Promise<IteratorResult<Channel>> | undefined;
  let ended = false;
  while (sessions.length < m && !fatal && !ended) {
    next ??= it.next();
    const r = await Promise.race([next, woken.then(() => undefined)]);
    if (r === undefined) continue; // an opening settled: look again
    next = undefined;
    if (r.done) ended = true;
    else start(r.value);
  }
  next?.catch(() => undefined); // a wait for one more channel nobody needs now
  // The channels ended: the openings still under way may yet bring the aggregators.
  while (sessions.length < m && !fatal && openings.size > 0) await woken;
  if (fatal) throw fatal.error;
  return sessions;
}

/**
 * Runs the collector: one channel per aggregator (from {@link Aggregator.report}).
 * Agrees the set of inputs, adds the aggregators' sums and applies disclosure control.
 *
 * @throws KoppelError `ROUND_FAILED` if fewer than `minInputs` inputs reached every
 *   aggregator or an aggregator was lost; `ROUND_MISMATCH` if an aggregator has
 *   other settings; `INVALID_ARGUMENT`, before anything is sent, for the cell key method
 *   with value columns without `cellKeyCountsOnly`; `ABORTED` when `options.signal`
 *   cancels the round (every aggregator is told)
 */
export async function collect(
  channels: readonly Channel[] | AsyncIterable<Channel>,
  config: RoundConfig,
  disclosure: DisclosureOptions = {},
  options: CollectOptions = {},
): Promise<RoundResult> {
  checkConfig(config);
  const agreement = checkAgreementHash(options.agreement);
  checkCellKeyOptions(config.codebook, disclosure);
  if (Array.isArray(channels) && channels.length !== config.aggregators)
    throw new KoppelError('INVALID_ARGUMENT', `The round has ${config.aggregators} aggregators; give one channel for each.`);
  const hash = configHash(config);
  const lost = (e: unknown, j: number) =>
    e instanceof KoppelError && ['CONNECTION_CLOSED', 'TIMEOUT', 'NETWORK_ERROR'].includes(e.code)
      ? new KoppelError('ROUND_FAILED', `Aggregator ${j} was lost (${e.code}); the round released nothing.`, { details: { aggregator: j, cause: e.code } })
      : e;
  const hello = (channel: Channel, onFailure: 'abort' | 'close') =>
    roundOptions({
      channel,
      side: 'responder',
      hello: { role: 'collector', round: config.round, config: hash },
      codec: AggregatorHello,
      peerRole: 'aggregator',
      onFailure,
      transcript: options.beforeClose !== undefined,
      ...(agreement === undefined ? {} : { agreement }),
    });
  return runSession(async (scope) => {
    let sessions: Array<Session<t.TypeOf<typeof AggregatorHello>>>;
    if (Array.isArray(channels)) {
      sessions = await Promise.all(
        (channels as readonly Channel[]).map(async (c, j) => {
          try {
            return await scope.open(hello(c, 'abort'));
          } catch (e) {
            throw lost(e, j);
          }
        }),
      );
    } else {
      // From a listener: every connection's HELLO is read at once, so a silent or slow
      // one (a health check, a port scan) never delays an aggregator that speaks. One
      // that closes or sends no valid HELLO is dropped; another round's aggregator is fatal.
      sessions = await firstSessions(channels as AsyncIterable<Channel>, config.aggregators, (c) => scope.open(hello(c, 'close')));
      if (sessions.length < config.aggregators) {
        throw new KoppelError('ROUND_FAILED', `Only ${sessions.length} of ${config.aggregators} aggregators reported; the round released nothing.`);
      }
    }
    const hellos = sessions.map((x) => x.peerHello);
    const indices = new Set(hellos.map((h) => h.aggregator));
    if (indices.size !== config.aggregators || [...indices].some((i) => i >= config.aggregators)) {
      throw new KoppelError('ROUND_MISMATCH', 'Each aggregator index must appear exactly once.');
    }
    const counts = new Map<string, number>();
    for (const h of hellos) for (const p of new Set(h.parties)) counts.set(p, (counts.get(p) ?? 0) + 1);
    const agreed = [...counts]
      .filter(([, n]) => n === config.aggregators)
      .map(([p]) => p)
      .sort();
    // With a parties list, inputs are counted by certificate: one certificate behind two ids counts once.
    const distinct = config.parties ? distinctCertificates(config.parties, agreed) : agreed.length;
    const dropped = counts.size - agreed.length;
    if (distinct < config.minInputs) {
      throw new KoppelError(
        'ROUND_FAILED',
        `Only ${distinct} ${config.parties ? 'distinct party certificates' : 'inputs'} reached every aggregator; the round needs ${config.minInputs}. Nothing was released.`,
        {
          details: { agreed: agreed.length, distinct, minInputs: config.minInputs, dropped },
        },
      );
    }
    await Promise.all(sessions.map((x) => x.sendJson(AggStep.AGREED, { parties: agreed })));
    const total = new BigUint64Array(config.codebook.length);
    await Promise.all(
      sessions.map(async (x, j) => {
        try {
          const f = await x.receive([AggStep.AGGREGATE], 'AGGREGATE');
          if (f.count !== config.codebook.length || f.body.length !== f.count * 8)
            throw new KoppelError('MESSAGE_MALFORMED', "An aggregate share does not have the codebook's length.", { details: { aggregator: j } });
          addInto(total, bytesToVector(f.body));
        } catch (e) {
          throw lost(e, j);
        }
      }),
    );
    const threshold = disclosure.threshold ?? 10;
    const result: RoundResult = {
      round: config.round,
      table: protectTable(config.codebook, total, disclosure),
      inputs: agreed.length,
      partyIds: config.parties ? 'certificates' : 'claimed',
      parties: agreed,
      dropped,
      noise: config.noise ?? { distribution: 'none' },
      disclosure: {
        threshold,
        secondary: disclosure.secondary ?? true,
        protection: disclosure.protection ?? 1,
        valueProtection: disclosure.valueProtection ?? 0,
        cellKey: disclosure.cellKey?.name ?? null,
        cellKeyCountsOnly: disclosure.cellKey !== undefined && disclosure.cellKeyCountsOnly === true,
      },
    };
    if (options.beforeClose) {
      const byIndex = [...sessions].sort((x, y) => x.peerHello.aggregator - y.peerHello.aggregator);
      await options.beforeClose(result, byIndex);
    }
    return result;
  }, signalOf(options));
}

/** `runSession`'s options with the caller's `signal`, if any. */
function signalOf(o: RoundRunOptions): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}
