/**
 * ECDH private set intersection, OPRF style (protocols.md section 4; the full spec
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
import { availableParallelism } from 'node:os';
import { KoppelError } from '../errors/index.js';
import { getSuite, wipeScalar, SUITE_NAMES, type ScalarPair, type SuiteName } from '../group/suite.js';
import type { Channel } from '../transport/channel.js';
import { concatBytes, randomBytes, toHex, wipe } from '../util/bytes.js';
import { TaskPool } from '../util/pool.js';
import { permuteRecords, randomPermutation } from '../util/shuffle.js';
import { decodeOrThrow } from '../wire/codec.js';
import { jsonBody } from '../wire/frame.js';
import { Done, FailFast, Hello, MAX_CHUNK_ITEMS, MAX_PAYLOAD_BYTES, OrderedPipeline, PSI_MODES, PSI_VERSION, PsiLink, Step, TagsStart, type PsiMode } from './messages.js';
import { KEY_BYTES, psiOps, TAG_BYTES } from './ops.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const AEAD_TAG_BYTES = 16;
const ZERO_NONCE = new Uint8Array(12);

/** Progress of a long PSI run. */
export interface PsiProgress {
  /** What is happening: `blind`, `evaluate`, `unblind`, `own-set`, `tags`, `match`. */
  readonly phase: string;
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
  /** Called about once per chunk. */
  readonly onProgress?: (p: PsiProgress) => void;
}

/** Options of {@link psiClient}. */
export type PsiClientOptions = PsiCommonOptions;

/** Options of {@link psiServer}. */
export interface PsiServerOptions extends PsiCommonOptions {
  /**
   * Payload mode: every payload is padded to this many bytes (default: the longest
   * payload, which the client then learns). At most 65535.
   */
  readonly payloadBytes?: number;
}

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
}

/**
 * The suite, chunk size and thread count every streaming protocol (PSI, join) takes,
 * with their defaults, checked.
 */
export function resolveBatching(o: { readonly suite?: SuiteName; readonly chunkSize?: number; readonly threads?: number }): { suite: SuiteName; chunk: number; threads: number } {
  const suite = o.suite ?? 'x25519';
  if (!SUITE_NAMES.includes(suite)) throw new KoppelError('INVALID_ARGUMENT', `suite must be one of ${SUITE_NAMES.join(', ')}.`);
  const chunk = o.chunkSize ?? 4096;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_CHUNK_ITEMS) throw new KoppelError('INVALID_ARGUMENT', `chunkSize must be an integer from 1 to ${MAX_CHUNK_ITEMS}.`);
  const threads = o.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw new KoppelError('INVALID_ARGUMENT', 'threads must be an integer from 0 to 256.');
  return { suite, chunk, threads };
}

function resolve(o: PsiCommonOptions): Resolved {
  const mode = o.mode ?? 'intersection';
  if (!PSI_MODES.includes(mode)) throw new KoppelError('INVALID_ARGUMENT', `mode must be one of ${PSI_MODES.join(', ')}.`);
  const { suite, chunk, threads } = resolveBatching(o);
  if (o.padTo !== undefined && (!Number.isInteger(o.padTo) || o.padTo < 0 || o.padTo > 2 ** 32 - 1)) {
    throw new KoppelError('INVALID_ARGUMENT', 'padTo must be a non-negative integer.');
  }
  return { mode, suite, chunk, threads, padTo: o.padTo };
}

function tooLarge(size: number, padTo: number): KoppelError {
  return new KoppelError('INVALID_ARGUMENT', `The set has more items than padTo (${padTo}); raise the bound.`, { details: { padTo, atLeast: size } });
}

/** Random identifiers for padding: hashed like real ones, so they look like real elements. */
export function dummyIds(n: number): string[] {
  return Array.from({ length: n }, () => 'koppel-pad-' + toHex(randomBytes(16)));
}

function checkHello(h: Hello, ours: Resolved, role: 'client' | 'server'): void {
  if (h.role === role) throw new KoppelError('PROTOCOL_VIOLATION', `Both parties are ${role}s; one side must serve and the other connect.`);
  if (h.version !== PSI_VERSION) {
    throw new KoppelError('VERSION_MISMATCH', `The peer speaks PSI version ${h.version}; this koppel speaks ${PSI_VERSION}.`, { details: { peerVersion: h.version } });
  }
  if (h.suite !== ours.suite) throw new KoppelError('SUITE_MISMATCH', `The peer uses suite ${h.suite}, this side ${ours.suite}; pass the same --suite on both sides.`, { details: { ours: ours.suite, theirs: h.suite } });
  if (h.mode !== ours.mode) throw new KoppelError('MODE_MISMATCH', `The peer runs mode ${h.mode}, this side ${ours.mode}; pass the same --mode on both sides.`, { details: { ours: ours.mode, theirs: h.mode } });
}

function tagKey(tags: Uint8Array, i: number): string {
  return Buffer.from(tags.buffer, tags.byteOffset + i * TAG_BYTES, TAG_BYTES).toString('latin1');
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
  const session = randomBytes(16);
  const link = new PsiLink(channel, session);
  const pool = new TaskPool(psiOps, WORKER_URL, o.threads);
  const scalar: ScalarPair = getSuite(o.suite).randomScalar();
  const payloadMode = o.mode === 'payload';
  const keys: Uint8Array[] = []; // payload keys of the client's own elements, by position
  const ff = new FailFast();
  try {
    await link.sendJson(Step.HELLO, { protocol: 'koppel-psi', version: PSI_VERSION, role: 'client', mode: o.mode, suite: o.suite });
    const hello = decodeOrThrow(Hello, jsonBody(await link.receive([Step.HELLO], 'HELLO'), 'HELLO'), 'HELLO');
    checkHello(hello, o, 'client');
    link.suite = o.suite;

    const ids: string[] = [];
    const seen = new Set<string>();
    const chunkCounts: number[] = [];
    let sent = 0;

    const sender = async (): Promise<void> => {
      const pipe = new OrderedPipeline<{ n: number; packed: Uint8Array }>(Math.max(2, 2 * pool.size), ff, async ({ n, packed }) => {
        chunkCounts.push(n);
        await link.send(Step.CLIENT_ELEMENTS, n, packed);
        sent += n;
        options.onProgress?.({ phase: 'blind', done: sent });
      });
      const submit = (batch: string[]) => pipe.push(pool.run('hashMultiply', { suite: o.suite, items: batch, scalar: scalar.scalar }).then((packed) => ({ n: batch.length, packed })));
      let batch: string[] = [];
      for await (const item of items) {
        if (typeof item !== 'string') throw new KoppelError('INVALID_ARGUMENT', 'PSI client items must be strings.');
        if (seen.has(item)) continue;
        seen.add(item);
        ids.push(item);
        batch.push(item);
        if (o.padTo !== undefined && ids.length > o.padTo) throw tooLarge(ids.length, o.padTo);
        if (batch.length === o.chunk) {
          await submit(batch);
          batch = [];
        }
      }
      seen.clear();
      for (let left = o.padTo === undefined ? 0 : o.padTo - ids.length; left > 0 || batch.length > 0; ) {
        const take = Math.min(left, o.chunk - batch.length);
        batch.push(...dummyIds(take));
        left -= take;
        await submit(batch);
        batch = [];
      }
      await pipe.flush();
      await link.sendJson(Step.CLIENT_DONE, { count: sent });
    };

    // Receiver: unblind E_i and index the tags of the client's own elements.
    const index = new Map<string, number>();
    const receiver = async (): Promise<number> => {
      let received = 0;
      let chunkNo = 0;
      const pipe = new OrderedPipeline<{ tags: Uint8Array; keys?: Uint8Array; base: number }>(Math.max(2, 2 * pool.size), ff, ({ tags, keys: k, base }) => {
        const n = tags.length / TAG_BYTES;
        for (let i = 0; i < n; i++) index.set(tagKey(tags, i), base + i);
        if (k) keys.push(k);
        options.onProgress?.({ phase: 'unblind', done: base + n });
      });
      for (;;) {
        const f = await ff.race(link.receiveChunk([Step.SERVER_EVALUATED, Step.SERVER_EVALUATED_DONE], 'evaluated elements', 32));
        if (f.step === Step.SERVER_EVALUATED_DONE) {
          const { count } = decodeOrThrow(Done, jsonBody(f, 'SERVER_EVALUATED_DONE'), 'SERVER_EVALUATED_DONE');
          await pipe.flush();
          if (count !== received) throw new KoppelError('MESSAGE_MALFORMED', 'The peer declared another number of evaluated elements than it sent.', { details: { declared: count, received } });
          return received;
        }
        if (o.mode === 'cardinality') {
          // Shuffled answers come only after CLIENT_DONE, so every element is counted by now.
          if (received + f.count > sent) throw new KoppelError('PROTOCOL_VIOLATION', 'The peer sent more evaluated elements than the client sent.');
        } else {
          // Same order as sent: each chunk answers the client's chunk of the same number
          // (counts are recorded before a chunk is sent, so an honest answer finds its count).
          const expected = chunkCounts[chunkNo];
          if (expected === undefined) throw new KoppelError('PROTOCOL_VIOLATION', 'The peer sent more evaluated chunks than the client sent.');
          if (f.count !== expected) {
            throw new KoppelError('MESSAGE_MALFORMED', 'An evaluated chunk from the peer does not match the chunk it answers.', { details: { chunk: chunkNo, count: f.count, expected } });
          }
        }
        chunkNo++;
        const base = received;
        received += f.count;
        await pipe.push(pool.run('multiplyTags', { suite: o.suite, scalar: scalar.inverse, packed: new Uint8Array(f.body), session, keys: payloadMode }).then((r) => ({ ...r, base })));
      }
    };

    const guard = <T>(p: Promise<T>) => {
      p.catch((e: unknown) => ff.fail(e));
      return ff.race(p);
    };
    const [, evaluated] = await Promise.all([guard(sender()), guard(receiver())]);
    if (evaluated !== sent) throw new KoppelError('MESSAGE_MALFORMED', 'The peer evaluated another number of elements than the client sent.', { details: { sent, evaluated } });

    // Step 3: stream the server's tags past the client's own.
    const start = decodeOrThrow(TagsStart, jsonBody(await link.receive([Step.TAGS_START], 'TAGS_START'), 'TAGS_START'), 'TAGS_START');
    if (!payloadMode && start.payloadBytes !== 0) throw new KoppelError('MESSAGE_MALFORMED', 'The peer announced payloads outside payload mode.');
    const entry = TAG_BYTES + (payloadMode ? 2 + start.payloadBytes + AEAD_TAG_BYTES : 0);
    const matched: number[] = [];
    const matchedSet = new Set<number>();
    const payloads = new Map<number, Uint8Array>();
    const keyAll = payloadMode ? concatBytes(...keys) : undefined;
    let tagsReceived = 0;
    for (;;) {
      const f = await link.receiveChunk([Step.SERVER_TAGS, Step.SERVER_DONE], 'tags', entry);
      if (f.step === Step.SERVER_DONE) break;
      for (let i = 0; i < f.count; i++) {
        const at = index.get(Buffer.from(f.body.buffer, f.body.byteOffset + i * entry, TAG_BYTES).toString('latin1'));
        // In cardinality mode positions are shuffled and mean nothing; padding elements
        // of either side never match (their inputs are random).
        if (at === undefined || (o.mode !== 'cardinality' && at >= ids.length)) continue;
        if (matchedSet.has(at)) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent the same tag twice.');
        matchedSet.add(at);
        matched.push(at);
        if (keyAll) payloads.set(at, openPayload(keyAll.subarray(at * KEY_BYTES, (at + 1) * KEY_BYTES), f.body.subarray(i * entry + TAG_BYTES, (i + 1) * entry), start.payloadBytes));
      }
      tagsReceived += f.count;
      if (tagsReceived > start.count) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent more tags than it announced.');
      options.onProgress?.({ phase: 'match', done: tagsReceived });
    }
    if (tagsReceived !== start.count) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent fewer tags than it announced.', { details: { announced: start.count, received: tagsReceived } });
    if (keyAll) wipe(keyAll);

    matched.sort((x, y) => x - y);
    switch (o.mode) {
      case 'intersection':
        return { mode: 'intersection', intersection: matched.map((i) => ids[i] as string), serverSetSize: start.count };
      case 'cardinality':
        return { mode: 'cardinality', size: matched.length, serverSetSize: start.count };
      case 'payload':
        return { mode: 'payload', matches: matched.map((i) => ({ id: ids[i] as string, payload: payloads.get(i) as Uint8Array })), serverSetSize: start.count };
      default: {
        const never: never = o.mode;
        throw new KoppelError('INTERNAL', `Unknown mode ${String(never)}.`);
      }
    }
  } catch (e) {
    const first = ff.error ?? e;
    await link.abort(first);
    throw first;
  } finally {
    wipeScalar(scalar);
    for (const k of keys) wipe(k);
    await pool.close();
  }
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
export async function psiServer(channel: Channel, items: Iterable<string | PayloadItem> | AsyncIterable<string | PayloadItem>, options: PsiServerOptions = {}): Promise<PsiServerResult> {
  const o = resolve(options);
  const payloadMode = o.mode === 'payload';
  if (options.payloadBytes !== undefined && (!Number.isInteger(options.payloadBytes) || options.payloadBytes < 0 || options.payloadBytes > MAX_PAYLOAD_BYTES)) {
    throw new KoppelError('INVALID_ARGUMENT', `payloadBytes must be an integer from 0 to ${MAX_PAYLOAD_BYTES}.`);
  }
  const link = new PsiLink(channel, new Uint8Array(16));
  const pool = new TaskPool(psiOps, WORKER_URL, o.threads);
  const scalar: ScalarPair = getSuite(o.suite).randomScalar();
  let ownKeys: Uint8Array | undefined;
  const ff = new FailFast();
  try {
    const helloFrame = await link.receive([Step.HELLO], 'HELLO');
    const hello = decodeOrThrow(Hello, jsonBody(helloFrame, 'HELLO'), 'HELLO');
    link.session = Uint8Array.from(helloFrame.session);
    checkHello(hello, o, 'server');
    await link.sendJson(Step.HELLO, { protocol: 'koppel-psi', version: PSI_VERSION, role: 'server', mode: o.mode, suite: o.suite });
    link.suite = o.suite;
    const session = link.session;

    // The server's own tags, computed alongside (at low priority) and held packed.
    const own = (async () => {
      const tagParts: Uint8Array[] = [];
      const keyParts: Uint8Array[] = [];
      const payloadList: Uint8Array[] = [];
      const seen = new Set<string>();
      let count = 0;
      let batch: string[] = [];
      const pipe = new OrderedPipeline<{ tags: Uint8Array; keys?: Uint8Array }>(Math.max(2, 2 * pool.size), ff, (r) => {
        tagParts.push(r.tags);
        if (r.keys) keyParts.push(r.keys);
        options.onProgress?.({ phase: 'own-set', done: count });
      });
      const submit = (b: string[]) => pipe.push(pool.run('hashMultiplyTags', { suite: o.suite, items: b, scalar: scalar.scalar, session, keys: payloadMode }, { priority: 'low' }));
      for await (const item of items) {
        let id: string;
        if (payloadMode) {
          if (!isPayloadItem(item)) throw new KoppelError('INVALID_ARGUMENT', 'In payload mode server items must be { id: string, payload: Uint8Array }.');
          id = item.id;
          if (item.payload.length > (options.payloadBytes ?? MAX_PAYLOAD_BYTES)) {
            throw new KoppelError('INVALID_ARGUMENT', `A payload is longer than ${options.payloadBytes ?? MAX_PAYLOAD_BYTES} bytes.`, { details: { item: count + 1 } });
          }
        } else {
          if (typeof item !== 'string') throw new KoppelError('INVALID_ARGUMENT', 'PSI server items must be strings outside payload mode.');
          id = item;
        }
        if (seen.has(id)) {
          if (payloadMode) throw new KoppelError('INVALID_ARGUMENT', 'An id occurs twice among the server items; in payload mode ids must be unique.', { details: { item: count + 1 } });
          continue;
        }
        seen.add(id);
        if (payloadMode) payloadList.push((item as PayloadItem).payload);
        batch.push(id);
        count++;
        if (o.padTo !== undefined && count > o.padTo) throw tooLarge(count, o.padTo);
        if (batch.length === o.chunk) {
          await submit(batch);
          batch = [];
        }
      }
      seen.clear();
      if (batch.length > 0) await submit(batch);
      await pipe.flush();
      return { tags: concatBytes(...tagParts), keys: payloadMode ? concatBytes(...keyParts) : undefined, payloads: payloadList, count };
    })();
    own.catch((e: unknown) => ff.fail(e)); // a failure reading our own items stops the run at once

    // Step 2a: evaluate the client's elements as they arrive.
    let received = 0;
    const evaluatedParts: Uint8Array[] = [];
    const pipe = new OrderedPipeline<Uint8Array>(Math.max(2, 2 * pool.size), ff, async (packed) => {
      if (o.mode === 'cardinality') evaluatedParts.push(packed);
      else await link.send(Step.SERVER_EVALUATED, packed.length / 32, packed);
      options.onProgress?.({ phase: 'evaluate', done: received });
    });
    for (;;) {
      const f = await ff.race(link.receiveChunk([Step.CLIENT_ELEMENTS, Step.CLIENT_DONE], 'blinded elements', 32));
      if (f.step === Step.CLIENT_DONE) {
        const { count } = decodeOrThrow(Done, jsonBody(f, 'CLIENT_DONE'), 'CLIENT_DONE');
        if (count !== received) throw new KoppelError('MESSAGE_MALFORMED', 'The peer declared another number of elements than it sent.', { details: { declared: count, received } });
        break;
      }
      received += f.count;
      await pipe.push(pool.run('multiply', { suite: o.suite, scalar: scalar.scalar, packed: new Uint8Array(f.body) }));
    }
    await pipe.flush();
    if (o.mode === 'cardinality') {
      // Shuffled, so the client cannot tell which of its elements matched.
      const all = permuteRecords(concatBytes(...evaluatedParts), 32, randomPermutation(received));
      for (let off = 0; off < all.length; off += o.chunk * 32) {
        const part = all.subarray(off, Math.min(all.length, off + o.chunk * 32));
        await link.send(Step.SERVER_EVALUATED, part.length / 32, part);
      }
    }
    await link.sendJson(Step.SERVER_EVALUATED_DONE, { count: received });

    // Step 2b: the server's tags (and sealed payloads), padded and in random order.
    const mine = await ff.race(own);
    ownKeys = mine.keys;
    const total = o.padTo ?? mine.count;
    const payloadBytes = payloadMode ? (options.payloadBytes ?? mine.payloads.reduce((m, p) => Math.max(m, p.length), 0)) : 0;
    const entry = TAG_BYTES + (payloadMode ? 2 + payloadBytes + AEAD_TAG_BYTES : 0);
    const perm = randomPermutation(total);
    await link.sendJson(Step.TAGS_START, { count: total, payloadBytes });
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
        body.set(mine.tags.subarray(j * TAG_BYTES, (j + 1) * TAG_BYTES), at);
        if (payloadMode && mine.keys) {
          body.set(sealPayload(mine.keys.subarray(j * KEY_BYTES, (j + 1) * KEY_BYTES), mine.payloads[j] as Uint8Array, payloadBytes), at + TAG_BYTES);
        }
      }
      await link.send(Step.SERVER_TAGS, n, body);
      options.onProgress?.({ phase: 'tags', done: start + n });
    }
    await link.sendJson(Step.SERVER_DONE, {});
    return { mode: o.mode, clientSetSize: received, serverSetSize: mine.count };
  } catch (e) {
    const first = ff.error ?? e;
    await link.abort(first);
    throw first;
  } finally {
    wipeScalar(scalar);
    if (ownKeys) wipe(ownKeys);
    await pool.close();
  }
}
