/**
 * ECDH private set intersection, OPRF style (the full spec
 * with its leakage table is docs/protocols/psi.md).
 *
 * Client C holds X, server S holds Y. Fresh scalars a (C) and b (S) per session.
 *  1. C -> S: B_i = H(x_i)^a, in chunks.
 *  2. S -> C: E_i = B_i^b, in the same order (intersection, payload) or shuffled
 *     (cardinality); then tag_y = KDF_tag(H(y)^b) for every y, in random order, with
 *     AEAD_{KDF_key(H(y)^b)}(payload_y) in payload mode.
 *  3. C computes U_i = E_i^(1/a) = H(x_i)^b, their tags, and matches.
 *
 * @packageDocumentation
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { getSuite, wipeScalar, type SuiteName } from '../group/suite.js';
import { NORMALISATION_VERSION, itemNormaliser, type IdType } from '../pseudonymise/normalise.js';
import { checkAgreementHash, IDENTIFIER_SHARED, type SharedParam } from '../session/hello.js';
import { runSession, type Session, type SessionScope } from '../session/session.js';
import { dummyIds, rampedChunk, resolveBatching } from '../session/streaming.js';
import type { Channel } from '../transport/channel.js';
import { concatAll, randomBytes, wipe } from '../util/bytes.js';
import { OrderedPipeline, pipelineDepth } from '../util/pipeline.js';
import { permuteRecords, randomPermutation } from '../util/shuffle.js';
import { Hello, MAX_PAYLOAD_BYTES, PSI_MODES, PSI_PROTOCOL, Step, TagsStart, type PsiMode } from './messages.js';
import { KEY_BYTES, psiOps, TAG_BYTES } from './ops.js';
import { FixedStore, StringSet, TagIndex } from './store.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const AEAD_TAG_BYTES = 16;
const ZERO_NONCE = new Uint8Array(12);

/** The phases of a PSI run, as progress reports name them. */
export type PsiPhase = 'blind' | 'evaluate' | 'unblind' | 'own-set' | 'tags' | 'match';

/** Progress of a long PSI run. */
export interface PsiProgress {
  /** What is happening: the client blinds, unblinds and matches; the server evaluates, hashes its own set and sends tags. */
  readonly phase: PsiPhase;
  /** Items done in this phase. */
  readonly done: number;
}

/** Options both roles share. */
export interface PsiCommonOptions {
  /** `intersection` (default), `cardinality` or `payload`; both parties must agree. */
  readonly mode?: PsiMode;
  /** Group suite, `x25519` (default) or `ristretto255`; both parties must agree. */
  readonly suite?: SuiteName;
  /** Worker threads for the group arithmetic; default: the machine's cores; 0: inline. */
  readonly threads?: number;
  /** Items per chunk on the wire (default 4096, at most 65536). */
  readonly chunkSize?: number;
  /**
   * Pad this party's set with random dummy elements up to this size, so the peer
   * learns the bound rather than the true size. The set must not be larger.
   */
  readonly padTo?: number;
  /**
   * How identifiers are normalised before matching (default `raw`: compared exactly as
   * given). Both parties must agree: the HELLO carries it with the normalisation rules'
   * version (`ID_TYPE_MISMATCH` otherwise, naming the field). An invalid item is a typed
   * error naming its position.
   */
  readonly idType?: IdType;
  /** The items are already normalised as {@link PsiCommonOptions.idType} (e.g. read by `openPsiClientCsv`): not again. */
  readonly prenormalised?: boolean;
  /**
   * The SHA-256 (hex) of the linking agreement this run is under; both parties must hold
   * the same one (`AGREEMENT_MISMATCH`). See `koppel/agreement`.
   */
  readonly agreement?: string;
  /** Called about once per chunk. */
  readonly onProgress?: (p: PsiProgress) => void;
  /** Cancels the run: the peer is told (`ABORTED`) and the promise rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * Called once the session is open (HELLO checked) with the session: its id, the
   * authenticated peer, and (once the run has finished) its transcript hash.
   */
  readonly onSession?: (session: Session) => void;
}

/** Options of {@link psiClient}. */
export interface PsiClientOptions extends PsiCommonOptions {
  /** With the result, before the session closes (outputs, receipts: docs/agreement.md). */
  readonly beforeClose?: (result: PsiClientResult) => Promise<void>;
}

/** Options of {@link psiServer}. */
export interface PsiServerOptions extends PsiCommonOptions {
  /** With the result, before the session closes (outputs, receipts: docs/agreement.md). */
  readonly beforeClose?: (result: PsiServerResult) => Promise<void>;
  /**
   * Payload mode: every payload is padded to this many bytes (default: the longest
   * payload, which the client then learns). At most 65535.
   */
  readonly payloadBytes?: number;
  /**
   * The most elements the client may send (default {@link DEFAULT_MAX_CLIENT_ELEMENTS});
   * more is `LIMIT_EXCEEDED`, before they are evaluated or (cardinality mode) stored.
   */
  readonly maxClientElements?: number;
}

/**
 * Default of {@link PsiServerOptions.maxClientElements}: 2^25 (33.5 million), twice a
 * national register; in cardinality mode the server holds 32 bytes for each.
 */
export const DEFAULT_MAX_CLIENT_ELEMENTS = 2 ** 25;

/** A server item in payload mode. */
export interface PayloadItem {
  readonly id: string;
  readonly payload: Uint8Array;
}

/** What the client learns. */
export type PsiClientResult =
  | { readonly mode: 'intersection'; readonly intersection: string[]; readonly serverSetSize: number }
  | { readonly mode: 'cardinality'; readonly size: number; readonly serverSetSize: number }
  | { readonly mode: 'payload'; readonly matches: Array<{ id: string; payload: Uint8Array }>; readonly serverSetSize: number };

/** What the server learns. */
export interface PsiServerResult {
  readonly mode: PsiMode;
  /** The client's (padded) set size: all the server learns. */
  readonly clientSetSize: number;
  /** The server's own set size after removing duplicates, before padding. */
  readonly serverSetSize: number;
}

interface Resolved {
  readonly mode: PsiMode;
  readonly suite: SuiteName;
  readonly chunk: number;
  readonly threads: number;
  readonly padTo: number | undefined;
  readonly idType: IdType;
  readonly normalise: (item: string, index: number) => string;
  readonly agreement: string | undefined;
}

function resolve(o: PsiCommonOptions): Resolved {
  const mode = o.mode ?? 'intersection';
  if (!PSI_MODES.includes(mode)) throw new KoppelError('INVALID_ARGUMENT', `mode must be one of ${PSI_MODES.join(', ')}.`);
  const { suite, chunk, threads } = resolveBatching(o);
  if (o.padTo !== undefined && (!Number.isInteger(o.padTo) || o.padTo < 0 || o.padTo > 2 ** 32 - 1)) {
    throw new KoppelError('INVALID_ARGUMENT', 'padTo must be a non-negative integer.');
  }
  const idType = o.idType ?? 'raw';
  return {
    mode,
    suite,
    chunk,
    threads,
    padTo: o.padTo,
    idType,
    normalise: itemNormaliser(idType, o.prenormalised),
    agreement: checkAgreementHash(o.agreement),
  };
}

function tooLarge(size: number, padTo: number): KoppelError {
  return new KoppelError('INVALID_ARGUMENT', `The set has more items than padTo (${padTo}); raise the bound.`, { details: { padTo, atLeast: size } });
}

/** The HELLO parameters both PSI parties must share, in the order they are checked. */
const SHARED: readonly SharedParam[] = [
  { field: 'suite', code: 'SUITE_MISMATCH', flag: '--suite' },
  { field: 'mode', code: 'MODE_MISMATCH', flag: '--mode' },
  ...IDENTIFIER_SHARED,
];

/** Opens a PSI session on `channel` in the scope of a run. */
async function psiSession(
  scope: SessionScope,
  channel: Channel,
  role: 'client' | 'server',
  o: Resolved,
  onSession: PsiCommonOptions['onSession'],
): Promise<Session<Hello>> {
  const s = await scope.open({
    channel,
    protocol: PSI_PROTOCOL,
    side: role === 'client' ? 'initiator' : 'responder',
    hello: { role, mode: o.mode, suite: o.suite, idType: o.idType, normalisation: NORMALISATION_VERSION },
    ...(o.agreement === undefined ? {} : { agreement: o.agreement }),
    codec: Hello,
    suite: o.suite,
    peerRole: role === 'client' ? 'server' : 'client',
    roleMessage: `Both parties are ${role}s; one side must serve and the other connect.`,
    shared: SHARED,
  });
  onSession?.(s);
  return s;
}

/**
 * Runs the client side: learns the intersection, its size, or the server's payloads
 * for matching items, depending on the mode.
 *
 * Duplicate items are sent once; the intersection lists each matching item once, in
 * the order of first occurrence. Items are compared exactly as given (normalise them
 * first, e.g. with `normaliseBsn`).
 */
export async function psiClient(channel: Channel, items: Iterable<string> | AsyncIterable<string>, options: PsiClientOptions = {}): Promise<PsiClientResult> {
  const o = resolve(options);
  return runSession(
    async (scope) => {
      const pool = scope.pool(psiOps, WORKER_URL, o.threads);
      const scalar = scope.secret(getSuite(o.suite).randomScalar(), wipeScalar);
      const payloadMode = o.mode === 'payload';
      const keys = new FixedStore(KEY_BYTES); // payload keys of the client's own elements, by position
      scope.defer(() => keys.wipe());
      const s = await psiSession(scope, channel, 'client', o, options.onSession);
      const session = s.id;

      const ids = new StringSet(); // the client's distinct items, by position
      const chunkCounts: number[] = [];
      let sent = 0;

      const sender = async (): Promise<void> => {
        const pipe = new OrderedPipeline<{ n: number; packed: Uint8Array }>(pipelineDepth(pool), scope.failFast, async ({ n, packed }) => {
          chunkCounts.push(n);
          await s.send(Step.CLIENT_ELEMENTS, n, packed);
          sent += n;
          options.onProgress?.({ phase: 'blind', done: sent });
        });
        const submit = (batch: string[]) =>
          pipe.push(pool.run('hashMultiply', { suite: o.suite, items: batch, scalar: scalar.scalar }).then((packed) => ({ n: batch.length, packed })));
        let batch: string[] = [];
        let batches = 0;
        let index = 0;
        for await (const raw of items) {
          if (typeof raw !== 'string') throw new KoppelError('INVALID_ARGUMENT', 'PSI client items must be strings.');
          const item = o.normalise(raw, index++);
          if (!ids.add(item)) continue;
          batch.push(item);
          if (o.padTo !== undefined && ids.size > o.padTo) throw tooLarge(ids.size, o.padTo);
          if (batch.length === rampedChunk(o.chunk, batches)) {
            await submit(batch);
            batches++;
            batch = [];
          }
        }
        ids.freeze(); // deduplicated: from here on, positions only
        // Padding fills the chunks of the same ramp, so their sizes depend on padTo alone.
        for (let left = o.padTo === undefined ? 0 : o.padTo - ids.size; left > 0 || batch.length > 0;) {
          const take = Math.min(left, rampedChunk(o.chunk, batches) - batch.length);
          batch.push(...dummyIds(take));
          left -= take;
          await submit(batch);
          batches++;
          batch = [];
        }
        await pipe.flush();
        await s.sendJson(Step.CLIENT_DONE, { count: sent });
      };

      // Receiver: unblind E_i and index the tags of the client's own elements.
      const index = new TagIndex(TAG_BYTES);
      const receiver = async (): Promise<number> => {
        let received = 0;
        let chunkNo = 0;
        const pipe = new OrderedPipeline<{ tags: Uint8Array; keys?: Uint8Array; base: number }>(
          pipelineDepth(pool),
          scope.failFast,
          ({ tags, keys: k, base }) => {
            const n = tags.length / TAG_BYTES;
            index.addAll(tags);
            if (k) {
              keys.pushAll(k);
              wipe(k);
            }
            options.onProgress?.({ phase: 'unblind', done: base + n });
          },
        );
        for await (const f of s.stream({
          chunk: Step.SERVER_EVALUATED,
          done: Step.SERVER_EVALUATED_DONE,
          what: 'evaluated elements',
          itemBytes: 32,
        })) {
          if (o.mode === 'cardinality') {
            // Shuffled answers come only after CLIENT_DONE, so every element is counted by now.
            if (received + f.count > sent) throw new KoppelError('PROTOCOL_VIOLATION', 'The peer sent more evaluated elements than the client sent.');
          } else {
            // Same order as sent: each chunk answers the client's chunk of the same number
            // (counts are recorded before a chunk is sent, so an honest answer finds its count).
            const expected = chunkCounts[chunkNo];
            if (expected === undefined) throw new KoppelError('PROTOCOL_VIOLATION', 'The peer sent more evaluated chunks than the client sent.');
            if (f.count !== expected) {
              throw new KoppelError('MESSAGE_MALFORMED', 'An evaluated chunk from the peer does not match the chunk it answers.', {
                details: { chunk: chunkNo, count: f.count, expected },
              });
            }
          }
          chunkNo++;
          const base = received;
          received += f.count;
          await pipe.push(
            pool
              .run('multiplyTags', { suite: o.suite, scalar: scalar.inverse, packed: new Uint8Array(f.body), session, keys: payloadMode })
              .then((r) => ({ ...r, base })),
          );
        }
        await pipe.flush();
        return received;
      };

      const [, evaluated] = await Promise.all([scope.guard(sender()), scope.guard(receiver())]);
      if (evaluated !== sent)
        throw new KoppelError('MESSAGE_MALFORMED', 'The peer evaluated another number of elements than the client sent.', { details: { sent, evaluated } });

      // Step 3: stream the server's tags past the client's own.
      const start = await s.receiveJson(Step.TAGS_START, TagsStart);
      if (!payloadMode && start.payloadBytes !== 0) throw new KoppelError('MESSAGE_MALFORMED', 'The peer announced payloads outside payload mode.');
      const entry = TAG_BYTES + (payloadMode ? 2 + start.payloadBytes + AEAD_TAG_BYTES : 0);
      const own = ids.size;
      // One bit per position matched (the client's own and padding); in order, so the
      // intersection comes out in the order of first occurrence without sorting.
      const matched = new Uint8Array(Math.ceil(index.size / 8));
      let matchCount = 0;
      const payloads = new Map<number, Uint8Array>();
      let tagsReceived = 0;
      const tags = s.stream({
        chunk: Step.SERVER_TAGS,
        done: Step.SERVER_DONE,
        what: 'tags',
        itemBytes: entry,
        expected: start.count,
        doneCount: false,
        overflowCode: 'MESSAGE_MALFORMED',
      });
      for await (const f of tags) {
        const body = new Uint8Array(f.body.buffer, f.body.byteOffset, f.body.byteLength);
        for (let i = 0; i < f.count; i++) {
          const at = index.lookup(body, i * entry);
          // In cardinality mode positions are shuffled and mean nothing; padding elements
          // of either side never match (their inputs are random).
          if (at < 0 || (o.mode !== 'cardinality' && at >= own)) continue;
          const bit = 1 << (at & 7);
          if (((matched[at >>> 3] as number) & bit) !== 0) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent the same tag twice.');
          matched[at >>> 3] = (matched[at >>> 3] as number) | bit;
          matchCount++;
          if (payloadMode) payloads.set(at, openPayload(keys.get(at), body.subarray(i * entry + TAG_BYTES, (i + 1) * entry), start.payloadBytes));
        }
        tagsReceived += f.count;
        options.onProgress?.({ phase: 'match', done: tagsReceived });
      }

      const positions = (): number[] => {
        const out: number[] = [];
        for (let b = 0; b < matched.length; b++) {
          const m = matched[b] as number;
          if (m !== 0) for (let j = 0; j < 8; j++) if ((m >>> j) & 1) out.push(b * 8 + j);
        }
        return out;
      };
      switch (o.mode) {
        case 'intersection':
          return { mode: 'intersection', intersection: positions().map((i) => ids.get(i)), serverSetSize: start.count };
        case 'cardinality':
          return { mode: 'cardinality', size: matchCount, serverSetSize: start.count };
        case 'payload':
          return {
            mode: 'payload',
            matches: positions().map((i) => ({ id: ids.get(i), payload: payloads.get(i) as Uint8Array })),
            serverSetSize: start.count,
          };
        default: {
          const never: never = o.mode;
          throw new KoppelError('INTERNAL', `Unknown mode ${String(never)}.`);
        }
      }
    },
    { signal: options.signal, ...(options.beforeClose ? { beforeClose: options.beforeClose } : {}) },
  );
}

/** AES-256-GCM with a key used for this one message only, so a fixed nonce is safe. */
function sealPayload(key: Uint8Array, payload: Uint8Array, payloadBytes: number): Uint8Array {
  const plain = new Uint8Array(2 + payloadBytes);
  plain[0] = payload.length >>> 8;
  plain[1] = payload.length & 0xff;
  plain.set(payload, 2);
  const c = createCipheriv('aes-256-gcm', key, ZERO_NONCE);
  const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  wipe(plain);
  return body;
}

function openPayload(key: Uint8Array, sealed: Uint8Array, payloadBytes: number): Uint8Array {
  try {
    const d = createDecipheriv('aes-256-gcm', key, ZERO_NONCE);
    d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
    const plain = Buffer.concat([d.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES)), d.final()]);
    const len = ((plain[0] as number) << 8) | (plain[1] as number);
    if (len > payloadBytes) throw new Error('length');
    return new Uint8Array(plain.subarray(2, 2 + len));
  } catch {
    throw new KoppelError('MESSAGE_MALFORMED', 'A payload from the peer failed authentication; the peer is not following the protocol.');
  }
}

function isPayloadItem(x: unknown): x is PayloadItem {
  return typeof x === 'object' && x !== null && typeof (x as PayloadItem).id === 'string' && (x as PayloadItem).payload instanceof Uint8Array;
}

/**
 * Runs the server side. In payload mode items are `{ id, payload }`; otherwise
 * strings. The server learns only the client's (padded) set size.
 *
 * Duplicate items are sent once (in payload mode, a duplicate id is an error: which
 * payload would be meant?).
 */
export async function psiServer(
  channel: Channel,
  items: Iterable<string | PayloadItem> | AsyncIterable<string | PayloadItem>,
  options: PsiServerOptions = {},
): Promise<PsiServerResult> {
  const o = resolve(options);
  const payloadMode = o.mode === 'payload';
  if (options.payloadBytes !== undefined && (!Number.isInteger(options.payloadBytes) || options.payloadBytes < 0 || options.payloadBytes > MAX_PAYLOAD_BYTES)) {
    throw new KoppelError('INVALID_ARGUMENT', `payloadBytes must be an integer from 0 to ${MAX_PAYLOAD_BYTES}.`);
  }
  const maxClient = options.maxClientElements ?? DEFAULT_MAX_CLIENT_ELEMENTS;
  if (!Number.isInteger(maxClient) || maxClient < 1) throw new KoppelError('INVALID_ARGUMENT', 'maxClientElements must be a positive integer.');
  return runSession(
    async (scope) => {
      const pool = scope.pool(psiOps, WORKER_URL, o.threads);
      const scalar = scope.secret(getSuite(o.suite).randomScalar(), wipeScalar);
      const s = await psiSession(scope, channel, 'server', o, options.onSession);
      const session = s.id;

      // The server's own tags, computed alongside (at low priority) and held packed.
      const own = (async () => {
        const tags = new FixedStore(TAG_BYTES);
        const keys = payloadMode ? new FixedStore(KEY_BYTES) : undefined;
        if (keys) scope.defer(() => keys.wipe());
        const payloadList: Uint8Array[] = [];
        const seen = new StringSet();
        let count = 0;
        let batches = 0;
        let batch: string[] = [];
        const pipe = new OrderedPipeline<{ tags: Uint8Array; keys?: Uint8Array }>(pipelineDepth(pool), scope.failFast, (r) => {
          tags.pushAll(r.tags);
          if (r.keys) {
            keys?.pushAll(r.keys);
            wipe(r.keys);
          }
          options.onProgress?.({ phase: 'own-set', done: count });
        });
        const submit = (b: string[]) =>
          pipe.push(pool.run('hashMultiplyTags', { suite: o.suite, items: b, scalar: scalar.scalar, session, keys: payloadMode }, { priority: 'low' }));
        let index = 0;
        for await (const item of items) {
          let id: string;
          if (payloadMode) {
            if (!isPayloadItem(item)) throw new KoppelError('INVALID_ARGUMENT', 'In payload mode server items must be { id: string, payload: Uint8Array }.');
            id = o.normalise(item.id, index++);
            if (item.payload.length > (options.payloadBytes ?? MAX_PAYLOAD_BYTES)) {
              throw new KoppelError('INVALID_ARGUMENT', `A payload is longer than ${options.payloadBytes ?? MAX_PAYLOAD_BYTES} bytes.`, {
                details: { item: count + 1 },
              });
            }
          } else {
            if (typeof item !== 'string') throw new KoppelError('INVALID_ARGUMENT', 'PSI server items must be strings outside payload mode.');
            id = o.normalise(item, index++);
          }
          if (!seen.add(id)) {
            if (payloadMode)
              throw new KoppelError('INVALID_ARGUMENT', 'An id occurs twice among the server items; in payload mode ids must be unique.', {
                details: { item: count + 1 },
              });
            continue;
          }
          if (payloadMode) payloadList.push((item as PayloadItem).payload);
          batch.push(id);
          count++;
          if (o.padTo !== undefined && count > o.padTo) throw tooLarge(count, o.padTo);
          if (batch.length === rampedChunk(o.chunk, batches)) {
            await submit(batch);
            batches++;
            batch = [];
          }
        }
        seen.clear();
        if (batch.length > 0) await submit(batch);
        await pipe.flush();
        return { tags, keys, payloads: payloadList, count };
      })();
      own.catch((e: unknown) => scope.failFast.fail(e)); // a failure reading our own items stops the run at once

      // Step 2a: evaluate the client's elements as they arrive.
      let received = 0;
      const evaluatedParts: Uint8Array[] = [];
      const pipe = new OrderedPipeline<Uint8Array>(pipelineDepth(pool), scope.failFast, async (packed) => {
        if (o.mode === 'cardinality') evaluatedParts.push(packed);
        else await s.send(Step.SERVER_EVALUATED, packed.length / 32, packed);
        options.onProgress?.({ phase: 'evaluate', done: received });
      });
      for await (const f of s.stream({
        chunk: Step.CLIENT_ELEMENTS,
        done: Step.CLIENT_DONE,
        what: 'blinded elements',
        itemBytes: 32,
      })) {
        if (received + f.count > maxClient) {
          throw new KoppelError('LIMIT_EXCEEDED', `The client sent more than ${maxClient} elements, this server's limit (maxClientElements).`, {
            details: { max: maxClient },
          });
        }
        received += f.count;
        await pipe.push(pool.run('multiply', { suite: o.suite, scalar: scalar.scalar, packed: new Uint8Array(f.body) }));
      }
      await pipe.flush();
      if (o.mode === 'cardinality') {
        // Shuffled, so the client cannot tell which of its elements matched.
        await s.sendChunks(Step.SERVER_EVALUATED, permuteRecords(concatAll(evaluatedParts), 32, randomPermutation(received)), 32, o.chunk);
      }
      await s.sendJson(Step.SERVER_EVALUATED_DONE, { count: received });

      // Step 2b: the server's tags (and sealed payloads), padded and in random order.
      const mine = await scope.race(own);
      const total = o.padTo ?? mine.count;
      const payloadBytes = payloadMode ? (options.payloadBytes ?? mine.payloads.reduce((m, p) => Math.max(m, p.length), 0)) : 0;
      const entry = TAG_BYTES + (payloadMode ? 2 + payloadBytes + AEAD_TAG_BYTES : 0);
      const perm = randomPermutation(total);
      await s.sendJson(Step.TAGS_START, { count: total, payloadBytes });
      for (let start = 0; start < total; start += o.chunk) {
        const n = Math.min(o.chunk, total - start);
        const body = new Uint8Array(n * entry);
        for (let i = 0; i < n; i++) {
          const j = perm[start + i] as number;
          const at = i * entry;
          if (j >= mine.count) {
            body.set(randomBytes(entry), at); // padding: a random tag and random "ciphertext"
            continue;
          }
          body.set(mine.tags.get(j), at);
          if (mine.keys) {
            body.set(sealPayload(mine.keys.get(j), mine.payloads[j] as Uint8Array, payloadBytes), at + TAG_BYTES);
          }
        }
        await s.send(Step.SERVER_TAGS, n, body);
        options.onProgress?.({ phase: 'tags', done: start + n });
      }
      await s.sendJson(Step.SERVER_DONE, {});
      return { mode: o.mode, clientSetSize: received, serverSetSize: mine.count };
    },
    { signal: options.signal, ...(options.beforeClose ? { beforeClose: options.beforeClose } : {}) },
  );
}
