/**
 * Private join and aggregate (protocols.md section 6; the full spec with its leakage
 * table is docs/protocols/join.md).
 *
 * A holds (id, group), B holds (id, values). A learns, per group, how many of its
 * records matched and the sums of B's values over the matches; not which records
 * matched. B learns A's list sizes and the number of groups. Two variants share one
 * blinding layer:
 *
 *  1. A -> B: per group, the list H(y)^a, lists in random order, each shuffled.
 *  2. B -> A: every list raised to b and shuffled within the list, so A can tell per
 *     list how many matched, never which.
 *  3. B -> A: for each of B's records, in random order, H(x)^b with its values hidden:
 *     ElGamal ciphertexts under a joint key (two-party) or one additive share mod 2^64
 *     whose other half only the helper can expand (helper).
 *  4. A raises H(x)^b to a and finds, for each of B's positions, its list or no match;
 *     it adds up the hidden values per list, and the sums are revealed to A only: by
 *     joint decryption with B (two-party) or with the helper's per-list sums of the
 *     other shares (helper).
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { getSuite, wipeScalar, type ScalarPair, type SuiteName } from '../group/suite.js';
import { isIdentity, loadRistretto255, type Ristretto255 } from '../group/sodium.js';
import { prgStream } from '../aggregate/share.js';
import { FailFast, OrderedPipeline } from '../util/pipeline.js';
import { deriveTags, TAG_BYTES } from '../psi/ops.js';
import { dummyIds, resolveBatching } from '../psi/psi.js';
import type { Channel } from '../transport/channel.js';
import { concatBytes, randomBytes, utf8, wipe } from '../util/bytes.js';
import { TaskPool } from '../util/pool.js';
import { randomPermutation } from '../util/shuffle.js';
import { decodeOrThrow } from '../wire/codec.js';
import { jsonBody } from '../wire/frame.js';
import { DiscreteLog, MAX_DLOG_BOUND, PROOF_BYTES, proveDleq, proveKnowledge, verifyDleq, verifyKnowledge } from './elgamal.js';
import { Hello, HelperHello, JOIN_VARIANTS, JOIN_VERSION, JoinLink, Lists, MAX_GROUPS, MAX_LIST_ELEMENTS, MAX_VALUE_BOUND, MAX_VALUE_COLUMNS, NO_MATCH, RecordsStart, Step, type JoinVariant } from './messages.js';
import { joinOps, recordBytes2p } from './ops.js';
import { protectJoinTable, type JoinDisclosureOptions, type JoinGroup, type JoinTableRow } from './table.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Progress of a long join. */
export interface JoinProgress {
  /** `read`, `lists`, `evaluate`, `own-records`, `records`, `match`, `sums`, `decrypt`, `helper`. */
  readonly phase: string;
  /** Items done in this phase. */
  readonly done: number;
}

/** Options every party shares. */
export interface JoinCommonOptions {
  /** `two-party` (default: ElGamal, no third party) or `helper` (a non-colluding helper); both parties must agree. */
  readonly variant?: JoinVariant;
  /** Group suite of the blinding layer, `x25519` (default) or `ristretto255`; both parties must agree. */
  readonly suite?: SuiteName;
  /** Worker threads (default: the machine's cores; 0: inline). */
  readonly threads?: number;
  /** Items per chunk on the wire (default 4096). */
  readonly chunkSize?: number;
  /** Helper variant: an open channel to the helper. */
  readonly helper?: Channel;
  /** Called about once per chunk. */
  readonly onProgress?: (p: JoinProgress) => void;
}

/** A record of A: an identifier and its group labels (e.g. region, household type). */
export interface GroupRecord {
  readonly id: string;
  readonly group: readonly string[];
}

/** A record of B: an identifier and its values (non-negative integers, one per value column). */
export interface ValueRecord {
  readonly id: string;
  readonly values: readonly number[];
}

/** Options of {@link joinGroups} (party A). */
export interface JoinGroupsOptions extends JoinCommonOptions, JoinDisclosureOptions {
  /** How many group labels every record has (default: taken from the first record). */
  readonly groupColumns?: number;
  /** Refuse to run unless B's value columns are exactly these names, in this order. */
  readonly expectColumns?: readonly string[];
  /** Pad every list with dummies to exactly this size, so B learns this bound and not the group sizes. */
  readonly padListsTo?: number;
  /** Add dummy lists up to this many, so B learns this bound and not the number of groups. */
  readonly padGroupsTo?: number;
}

/** Options of {@link joinValues} (party B). */
export interface JoinValuesOptions extends JoinCommonOptions {
  /** Names of the value columns, in the order of every record's values. */
  readonly columns: readonly string[];
  /**
   * Declared maximum of any single value (default 1,000,000; at most 2^40). A learns it;
   * it bounds every sum (count x maxValue), and a larger value is refused here.
   */
  readonly maxValue?: number;
  /** Pad B's list with dummies to exactly this size, so A learns the bound, not the true size. */
  readonly padTo?: number;
}

/** Options of {@link joinHelper}. */
export interface JoinHelperOptions {
  /** Called as work progresses. */
  readonly onProgress?: (p: JoinProgress) => void;
}

/** What A learns. */
export interface JoinGroupsResult {
  readonly variant: JoinVariant;
  /** B's value column names. */
  readonly columns: readonly string[];
  /** B's declared maximum per value. */
  readonly maxValue: number;
  /**
   * The exact per-group counts and sums, in order of first appearance: A's own view,
   * before disclosure control. Publish {@link JoinGroupsResult.table}, not this.
   */
  readonly groups: readonly JoinGroup[];
  /** The released table: every group (first) and every total, with the rule that decided it. */
  readonly table: readonly JoinTableRow[];
  /** Size of B's (padded) list. */
  readonly valuesListSize: number;
  /** A's distinct records. */
  readonly records: number;
}

/** What B learns. */
export interface JoinValuesResult {
  readonly variant: JoinVariant;
  /** The (padded) sizes of A's lists, in the order A sent them (random). */
  readonly listSizes: readonly number[];
  /** B's distinct records, before padding. */
  readonly records: number;
}

/** What the helper learns. */
export interface JoinHelperResult {
  /** Number of A's lists. */
  readonly groups: number;
  /** Size of B's list. */
  readonly positions: number;
  /** Matches per (relabelled) list, sorted descending: the anonymous histogram of group sizes. */
  readonly histogram: readonly number[];
}

interface Resolved {
  readonly variant: JoinVariant;
  readonly suite: SuiteName;
  readonly chunk: number;
  readonly threads: number;
}

function resolve(o: JoinCommonOptions): Resolved {
  const variant = o.variant ?? 'two-party';
  if (!JOIN_VARIANTS.includes(variant)) throw new KoppelError('INVALID_ARGUMENT', `variant must be one of ${JOIN_VARIANTS.join(', ')}.`);
  const { suite, chunk, threads } = resolveBatching(o);
  if (variant === 'helper' && !o.helper) throw new KoppelError('INVALID_ARGUMENT', 'The helper variant needs a channel to the helper (options.helper).');
  if (variant === 'two-party' && o.helper) throw new KoppelError('INVALID_ARGUMENT', 'A helper channel was given, but the variant is two-party.');
  return { variant, suite, chunk, threads };
}

function optionalCount(v: number | undefined, name: string, min: number, max: number): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new KoppelError('INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}.`);
  return v;
}

function checkHello(h: Hello, o: Resolved, expectRole: 'groups' | 'values'): void {
  if (h.role !== expectRole) throw new KoppelError('PROTOCOL_VIOLATION', `Both parties are ${h.role === 'groups' ? 'group' : 'value'} holders; one side must run \`join groups\` and the other \`join values\`.`);
  if (h.version !== JOIN_VERSION) throw new KoppelError('VERSION_MISMATCH', `The peer speaks join version ${h.version}; this koppel speaks ${JOIN_VERSION}.`, { details: { peerVersion: h.version } });
  if (h.variant !== o.variant) throw new KoppelError('MODE_MISMATCH', `The peer runs the ${h.variant} variant, this side ${o.variant}; pass the same --variant on both sides.`, { details: { ours: o.variant, theirs: h.variant } });
  if (h.suite !== o.suite) throw new KoppelError('SUITE_MISMATCH', `The peer uses suite ${h.suite}, this side ${o.suite}; pass the same --suite on both sides.`, { details: { ours: o.suite, theirs: h.suite } });
}

/** Bytes of one of B's records on the wire. */
function recordBytes(variant: JoinVariant, columns: number): number {
  return variant === 'two-party' ? recordBytes2p(columns) : 32 + 8 * columns;
}

/** Context strings that bind proofs and PRG expansions to the session. */
function context(session: Uint8Array, what: string, index = 0): Uint8Array {
  return concatBytes(utf8(`koppel/join/v1/${what}\u0000`), session, new Uint8Array([index >>> 8, index & 0xff]));
}

/** Reads a little-endian u32 array out of bytes (a copy). */
function u32s(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

function u32Bytes(xs: Uint32Array): Uint8Array {
  const out = new Uint8Array(xs.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < xs.length; i++) dv.setUint32(i * 4, xs[i] as number, true);
  return out;
}

function u64Bytes(xs: BigUint64Array): Uint8Array {
  const out = new Uint8Array(xs.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < xs.length; i++) dv.setBigUint64(i * 8, xs[i] as bigint, true);
  return out;
}

function u64s(bytes: Uint8Array): BigUint64Array {
  const out = new BigUint64Array(bytes.length / 8);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getBigUint64(i * 8, true);
  return out;
}

/** Tells every open link why the run stops; returns the error to throw. */
async function abortLinks(error: unknown, ...links: Array<JoinLink | undefined>): Promise<unknown> {
  for (const l of links) if (l) await l.abort(error);
  return error;
}

function guard<T>(ff: FailFast, p: Promise<T>): Promise<T> {
  p.catch((e: unknown) => ff.fail(e));
  return ff.race(p);
}

/** A's records grouped: labels per group (first-appearance order) and the identifiers of each. */
interface Groups {
  readonly labels: string[][];
  readonly ids: string[][];
  readonly records: number;
}

async function collectGroups(records: Iterable<GroupRecord> | AsyncIterable<GroupRecord>, width: number | undefined, onProgress?: (p: JoinProgress) => void): Promise<Groups> {
  const index = new Map<string, number>();
  const labels: string[][] = [];
  const ids: string[][] = [];
  const seen = new Set<string>();
  let n = 0;
  let w = width;
  for await (const r of records) {
    n++;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !Array.isArray(r.group) || r.group.some((x) => typeof x !== 'string')) {
      throw new KoppelError('INVALID_ARGUMENT', 'Group records must be { id: string, group: string[] }.', { details: { record: n } });
    }
    w ??= r.group.length;
    if (r.group.length !== w || w < 1) throw new KoppelError('INVALID_ARGUMENT', `Every group record needs ${w} group labels.`, { details: { record: n } });
    if (seen.has(r.id)) throw new KoppelError('INVALID_ARGUMENT', 'An identifier occurs twice among the group records; each person may be in one group only. Remove duplicates first.', { details: { record: n } });
    seen.add(r.id);
    const key = JSON.stringify(r.group);
    let g = index.get(key);
    if (g === undefined) {
      g = labels.length;
      if (g >= MAX_GROUPS) throw new KoppelError('INVALID_ARGUMENT', `More than ${MAX_GROUPS} groups; coarsen the group columns.`);
      index.set(key, g);
      labels.push([...r.group]);
      ids.push([]);
    }
    (ids[g] as string[]).push(r.id);
    if (n % 65536 === 0) onProgress?.({ phase: 'read', done: n });
  }
  return { labels, ids, records: n };
}

/**
 * Party A (`join groups`): holds (id, group); learns per group the matched count and
 * the sums of B's values, and returns them with the disclosure-controlled table.
 *
 * The channel must be connected to a party running {@link joinValues}, which speaks
 * first. Identifiers are compared exactly as given: normalise them first.
 */
export async function joinGroups(channel: Channel, records: Iterable<GroupRecord> | AsyncIterable<GroupRecord>, options: JoinGroupsOptions = {}): Promise<JoinGroupsResult> {
  const o = resolve(options);
  const padListsTo = optionalCount(options.padListsTo, 'padListsTo', 1, 2 ** 32 - 1);
  const padGroupsTo = optionalCount(options.padGroupsTo, 'padGroupsTo', 1, MAX_GROUPS);
  optionalCount(options.threshold, 'threshold', 1, 2 ** 31);
  optionalCount(options.protection, 'protection', 1, 2 ** 31);
  if (options.valueProtection !== undefined && !(options.valueProtection >= 0 && options.valueProtection <= 100)) throw new KoppelError('INVALID_ARGUMENT', 'valueProtection must be a percentage from 0 to 100.');
  const link = new JoinLink(channel, new Uint8Array(16));
  const helperLink = options.helper ? new JoinLink(options.helper, new Uint8Array(16)) : undefined;
  const pool = new TaskPool(joinOps, WORKER_URL, o.threads);
  const scalar: ScalarPair = getSuite(o.suite).randomScalar();
  const secrets: Uint8Array[] = [];
  const ff = new FailFast();
  const progress = options.onProgress;
  try {
    const own = await collectGroups(records, options.groupColumns, progress);
    const helloFrame = await link.receive([Step.HELLO], 'HELLO');
    const hello = decodeOrThrow(Hello, jsonBody(helloFrame, 'HELLO'), 'HELLO');
    checkHello(hello, o, 'values');
    if (hello.columns === undefined || hello.maxValue === undefined || hello.columns.length < 1 || hello.columns.length > MAX_VALUE_COLUMNS) {
      throw new KoppelError('MESSAGE_MALFORMED', `The peer's HELLO must name 1 to ${MAX_VALUE_COLUMNS} value columns and their maximum.`);
    }
    const columns = hello.columns;
    const maxValue = hello.maxValue;
    const k = columns.length;
    if (options.expectColumns && (options.expectColumns.length !== k || options.expectColumns.some((c, j) => c !== columns[j]))) {
      throw new KoppelError('COLUMN_MISMATCH', `The peer's value columns (${k}) are not the ones expected (${options.expectColumns.length}); check --value-columns on both sides.`, {
        details: { expected: options.expectColumns.join(','), got: columns.join(',') },
      });
    }
    const session = Uint8Array.from(helloFrame.session);
    link.session = session;
    await link.sendJson(Step.HELLO, { protocol: 'koppel-join', version: JOIN_VERSION, role: 'groups', variant: o.variant, suite: o.suite });
    link.suite = o.suite;

    // Two-party: key shares a_j with proofs of knowledge; PK_j = A_j + B_j.
    let r: Ristretto255 | undefined;
    const publicKeys: Uint8Array[] = [];
    const peerKeys: Uint8Array[] = [];
    if (o.variant === 'two-party') {
      r = await loadRistretto255();
      const body = new Uint8Array(k * (32 + PROOF_BYTES));
      const mine: Uint8Array[] = [];
      for (let j = 0; j < k; j++) {
        const a = r.randomScalar();
        secrets.push(a);
        const A = r.mulBase(a);
        mine.push(A);
        body.set(A, j * (32 + PROOF_BYTES));
        body.set(proveKnowledge(r, a, A, context(session, 'key-a', j)), j * (32 + PROOF_BYTES) + 32);
      }
      await link.send(Step.KEYS, k, body);
      const f = await link.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', 32);
      if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
      for (let j = 0; j < k; j++) {
        const B = f.body.slice(j * 32, j * 32 + 32);
        if (!r.isValid(B) || isIdentity(B)) throw new KoppelError('INVALID_POINT', 'A key share from the peer is not a valid ristretto255 element.', { details: { column: j } });
        peerKeys.push(B);
        publicKeys.push(r.add(mine[j] as Uint8Array, B));
      }
    }

    // Lists: one per group, plus dummy lists up to padGroupsTo, in random order.
    const lists: Array<{ group: number; ids: string[] }> = own.ids.map((ids, group) => {
      if (padListsTo !== undefined && ids.length > padListsTo) throw new KoppelError('INVALID_ARGUMENT', `A group has more records than padListsTo (${padListsTo}); raise the bound.`);
      return { group, ids };
    });
    if (padGroupsTo !== undefined) {
      const real = lists.length;
      if (real > padGroupsTo) throw new KoppelError('INVALID_ARGUMENT', `There are more groups than padGroupsTo (${padGroupsTo}); raise the bound.`);
      const pick = randomPermutation(Math.max(real, 1));
      for (let d = real; d < padGroupsTo; d++) {
        // A dummy list has random identifiers (they match nothing) and the size of a real list.
        const size = padListsTo ?? (real > 0 ? (own.ids[pick[d % real] as number] as string[]).length : 1);
        lists.push({ group: -1, ids: dummyIds(size) });
      }
    }
    const order = randomPermutation(lists.length);
    lists.splice(0, lists.length, ...Array.from(order, (i) => lists[i] as { group: number; ids: string[] }));
    const sizes = lists.map((l) => (padListsTo ?? l.ids.length));
    const total = sizes.reduce((s, x) => s + x, 0);
    if (total > MAX_LIST_ELEMENTS) throw new KoppelError('INVALID_ARGUMENT', `More than ${MAX_LIST_ELEMENTS} list elements (records and padding) in one join.`);
    await link.sendJson(Step.LISTS, { sizes });

    const sender = async (): Promise<void> => {
      const pipe = new OrderedPipeline<Uint8Array>(Math.max(2, 2 * pool.size), ff, async (packed) => {
        await link.send(Step.GROUP_ELEMENTS, packed.length / 32, packed);
      });
      let batch: string[] = [];
      let sent = 0;
      const flush = async () => {
        const items = batch;
        batch = [];
        sent += items.length;
        await pipe.push(pool.run('hashMultiply', { suite: o.suite, items, scalar: scalar.scalar, protocol: 'join' }));
        progress?.({ phase: 'lists', done: sent });
      };
      for (const l of lists) {
        const perm = randomPermutation(l.ids.length);
        for (const i of perm) {
          batch.push(l.ids[i] as string);
          if (batch.length === o.chunk) await flush();
        }
        const pad = (padListsTo ?? l.ids.length) - l.ids.length;
        for (const d of dummyIds(pad)) {
          batch.push(d);
          if (batch.length === o.chunk) await flush();
        }
      }
      if (batch.length > 0) await flush();
      await pipe.flush();
      await link.sendJson(Step.GROUP_DONE, { count: total });
    };

    // B answers with every list raised to b, shuffled within the list: tags per list.
    const listOf = new Map<string, number>();
    const receiver = async (): Promise<void> => {
      let received = 0;
      let list = 0;
      let left = sizes[0] ?? 0;
      for await (const f of link.stream(Step.EVALUATED, Step.EVALUATED_DONE, 'evaluated elements', 32, total, (p) => ff.race(p))) {
        const { tags } = deriveTags(f.body, session, false);
        for (let i = 0; i < f.count; i++) {
          while (left === 0) left = sizes[++list] as number;
          listOf.set(Buffer.from(tags.buffer, tags.byteOffset + i * TAG_BYTES, TAG_BYTES).toString('latin1'), list);
          left--;
        }
        received += f.count;
        progress?.({ phase: 'evaluate', done: received });
      }
    };
    await Promise.all([guard(ff, sender()), guard(ff, receiver())]);

    // B's records: match each to a list and add up its hidden values per list.
    const start = decodeOrThrow(RecordsStart, jsonBody(await link.receive([Step.RECORDS_START], 'RECORDS_START'), 'RECORDS_START'), 'RECORDS_START');
    const n = start.count;
    const L = lists.length;
    const counts = new Float64Array(L);
    const entry = recordBytes(o.variant, k);
    // two-party: matched ciphertexts (C1, C2_1..k) and their lists; helper: share sums per list.
    const matchedCipher: Uint8Array[] = [];
    const matchedList: number[] = [];
    const shareSums = new BigUint64Array(o.variant === 'helper' ? L * k : 0);
    const relabel = randomPermutation(L);
    if (helperLink) {
      helperLink.session = session;
      await helperLink.sendJson(Step.HELLO, { protocol: 'koppel-join-helper', version: JOIN_VERSION, role: 'groups', columns: k, positions: n, groups: L });
    }
    let got = 0;
    const pipe = new OrderedPipeline<{ tags: Uint8Array; body: Uint8Array }>(Math.max(2, 2 * pool.size), ff, async ({ tags, body }) => {
      const m = body.length / entry;
      const indices = new Uint32Array(m);
      for (let i = 0; i < m; i++) {
        const list = listOf.get(Buffer.from(tags.buffer, tags.byteOffset + i * TAG_BYTES, TAG_BYTES).toString('latin1'));
        if (list === undefined) {
          indices[i] = NO_MATCH;
          continue;
        }
        counts[list] = (counts[list] as number) + 1;
        if (o.variant === 'two-party') {
          matchedCipher.push(body.subarray(i * entry + 32, (i + 1) * entry));
          matchedList.push(list);
        } else {
          indices[i] = relabel[list] as number;
          const dv = new DataView(body.buffer, body.byteOffset + i * entry + 32, 8 * k);
          for (let c = 0; c < k; c++) shareSums[list * k + c] = (shareSums[list * k + c] as bigint) + dv.getBigUint64(c * 8, true);
        }
      }
      if (helperLink) await helperLink.send(Step.INDICES, m, u32Bytes(indices));
      progress?.({ phase: 'match', done: got });
    });
    for await (const f of link.stream(Step.RECORDS, Step.RECORDS_DONE, 'records', entry, n, (p) => ff.race(p))) {
      got += f.count;
      const body = new Uint8Array(f.body);
      const elements = new Uint8Array(f.count * 32);
      for (let i = 0; i < f.count; i++) elements.set(body.subarray(i * entry, i * entry + 32), i * 32);
      await pipe.push(pool.run('multiplyTags', { suite: o.suite, scalar: scalar.scalar, packed: elements, session, keys: false }).then(({ tags }) => ({ tags, body })));
    }
    await pipe.flush();

    // Per-list sums, revealed to A only.
    const sums: number[][] = Array.from({ length: L }, () => new Array<number>(k).fill(0));
    const bound = (list: number) => (counts[list] as number) * maxValue;
    for (let l = 0; l < L; l++) {
      if (bound(l) > MAX_DLOG_BOUND) throw new KoppelError('SUM_OUT_OF_RANGE', `A group's sums could exceed 2^48 (matches x declared maximum); ask the value holder for a lower --max-value.`, { details: { matches: counts[l] as number, maxValue } });
    }
    if (o.variant === 'two-party') {
      await decryptSums(r as Ristretto255, { link, pool, session, k, L, counts, matchedCipher, matchedList, publicKeys, peerKeys, secrets, sums, bound, lists, progress });
    } else {
      const h = helperLink as JoinLink;
      await h.sendJson(Step.INDICES_DONE, { count: n });
      for (let c = 0; c < k; c++) {
        const f = await h.receiveChunk([Step.SUMS], Step.SUMS, 'helper sums', 8);
        if (f.count !== L) throw new KoppelError('MESSAGE_MALFORMED', 'The helper sent sums for another number of groups.');
        const t = u64s(f.body);
        for (let l = 0; l < L; l++) {
          const v = ((shareSums[l * k + c] as bigint) + (t[relabel[l] as number] as bigint)) & 0xffffffffffffffffn;
          if (v > BigInt(bound(l))) throw new KoppelError('SUM_OUT_OF_RANGE', 'A sum from the helper is beyond matches x the declared maximum: the helper or the value holder did not follow the protocol.');
          (sums[l] as number[])[c] = Number(v);
        }
      }
      progress?.({ phase: 'helper', done: L });
    }
    await link.sendJson(Step.FINISHED, {});

    const groups: JoinGroup[] = new Array<JoinGroup>(own.labels.length);
    lists.forEach((l, i) => {
      if (l.group >= 0) groups[l.group] = { labels: own.labels[l.group] as string[], count: counts[i] as number, sums: sums[i] as number[] };
    });
    const width = own.labels[0]?.length ?? options.groupColumns ?? 1;
    const table = protectJoinTable(width, k, groups, { threshold: options.threshold, secondary: options.secondary, protection: options.protection, valueProtection: options.valueProtection });
    return { variant: o.variant, columns, maxValue, groups, table, valuesListSize: n, records: own.records };
  } catch (e) {
    throw await abortLinks(ff.error ?? e, link, helperLink);
  } finally {
    wipeScalar(scalar);
    wipe(...secrets);
    await pool.close();
  }
}

interface DecryptState {
  readonly link: JoinLink;
  readonly pool: TaskPool<typeof joinOps>;
  readonly session: Uint8Array;
  readonly k: number;
  readonly L: number;
  readonly counts: Float64Array;
  readonly matchedCipher: Uint8Array[];
  readonly matchedList: number[];
  readonly publicKeys: Uint8Array[];
  readonly peerKeys: Uint8Array[];
  readonly secrets: Uint8Array[];
  readonly sums: number[][];
  readonly bound: (list: number) => number;
  readonly lists: ReadonlyArray<{ group: number }>;
  readonly progress: ((p: JoinProgress) => void) | undefined;
}

/** Two-party: per-list ciphertext sums, re-randomised, jointly decrypted, discrete logs. */
async function decryptSums(r: Ristretto255, s: DecryptState): Promise<void> {
  const { k, L } = s;
  const width = (1 + k) * 32;
  // Counting sort of the matched ciphertexts by list.
  const starts = new Uint32Array(L + 1);
  for (const l of s.matchedList) starts[l + 1] = (starts[l + 1] as number) + 1;
  for (let l = 0; l < L; l++) starts[l + 1] = (starts[l + 1] as number) + (starts[l] as number);
  const fill = starts.slice(0, L);
  const packed = new Uint8Array(s.matchedList.length * width);
  s.matchedList.forEach((l, i) => {
    const at = fill[l] as number;
    fill[l] = at + 1;
    packed.set(s.matchedCipher[i] as Uint8Array, at * width);
  });
  s.matchedCipher.length = 0;
  // Lists split into one slice per worker, by matched records.
  const slices = Math.max(1, s.pool.size);
  const parts: Array<Promise<Uint8Array>> = [];
  let from = 0;
  for (let p = 0; p < slices; p++) {
    const target = Math.round(((p + 1) * s.matchedList.length) / slices);
    let to = from;
    while (to < L && (p === slices - 1 || (starts[to + 1] as number) <= target)) to++;
    if (p === slices - 1) to = L;
    const lo = starts[from] as number;
    const hi = starts[to] as number;
    parts.push(s.pool.run('sumCiphertexts', { packed: packed.slice(lo * width, hi * width), columns: k, starts: starts.slice(from, to + 1).map((x) => x - lo) }));
    from = to;
  }
  const sumsPacked = concatBytes(...(await Promise.all(parts)));
  s.progress?.({ phase: 'sums', done: s.matchedList.length });

  // Re-randomise every list's sum: (C1 + t G, C2_j + t PK_j), so B sees uniformly random C1'.
  const c1 = new Uint8Array(L * 32);
  const c2: Uint8Array[] = [];
  for (let l = 0; l < L; l++) {
    const t = r.randomScalar();
    const at = l * width;
    c1.set(r.add(sumsPacked.subarray(at, at + 32), r.mulBase(t)), l * 32);
    for (let j = 0; j < k; j++) c2.push(r.add(sumsPacked.subarray(at + 32 + j * 32, at + 64 + j * 32), r.mul(t, s.publicKeys[j] as Uint8Array)));
    t.fill(0);
  }
  await s.link.send(Step.DECRYPT, L, c1);
  const tableBound = Array.from({ length: L }, (_, l) => (s.lists[l]?.group ?? -1) >= 0 ? s.bound(l) * k : 0).reduce((a, b) => a + b, 0);
  const dlog = new DiscreteLog(r, DiscreteLog.tableSizeFor(tableBound));
  for (let j = 0; j < k; j++) {
    const f = await s.link.receiveChunk([Step.PARTIALS], Step.PARTIALS, 'partial decryptions', 32);
    if (f.count !== L + 2) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent partial decryptions for another number of groups.', { details: { expected: L, got: f.count - 2 } });
    const Ds = f.body.subarray(0, L * 32);
    const proof = f.body.subarray(L * 32);
    if (!verifyDleq(r, s.peerKeys[j] as Uint8Array, c1, Ds, proof, context(s.session, 'partials', j))) {
      throw new KoppelError('PROOF_INVALID', 'The peer\'s proof of its partial decryptions does not verify; it did not decrypt with its key share. Nothing was released.', { details: { column: j } });
    }
    const a = s.secrets[j] as Uint8Array;
    for (let l = 0; l < L; l++) {
      if ((s.lists[l]?.group ?? -1) < 0) continue; // a dummy list
      const C1 = c1.subarray(l * 32, l * 32 + 32);
      const M = r.sub(r.sub(c2[l * k + j] as Uint8Array, r.mul(a, C1)), Ds.subarray(l * 32, l * 32 + 32));
      (s.sums[l] as number[])[j] = dlog.solve(M, s.bound(l));
    }
    s.progress?.({ phase: 'decrypt', done: (j + 1) * L });
  }
}

/** B's own records: identifiers in input order and their values. */
interface ValueSet {
  readonly ids: string[];
  readonly values: Float64Array;
}

async function collectValues(records: Iterable<ValueRecord> | AsyncIterable<ValueRecord>, k: number, maxValue: number, onProgress?: (p: JoinProgress) => void): Promise<ValueSet> {
  const ids: string[] = [];
  let values = new Float64Array(1024 * k);
  const seen = new Set<string>();
  for await (const r of records) {
    const n = ids.length + 1;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !Array.isArray(r.values)) throw new KoppelError('INVALID_ARGUMENT', 'Value records must be { id: string, values: number[] }.', { details: { record: n } });
    if (r.values.length !== k) throw new KoppelError('INVALID_ARGUMENT', `Every value record needs ${k} values, one per value column.`, { details: { record: n } });
    if (seen.has(r.id)) throw new KoppelError('INVALID_ARGUMENT', 'An identifier occurs twice among the value records; combine its values first.', { details: { record: n } });
    seen.add(r.id);
    if (ids.length * k + k > values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      values = grown;
    }
    for (let j = 0; j < k; j++) {
      const v = r.values[j];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > maxValue) {
        throw new KoppelError('VALUE_OUT_OF_RANGE', `A value is not an integer from 0 to the declared maximum ${maxValue}; fix it or raise --max-value.`, { details: { record: n, column: j } });
      }
      values[ids.length * k + j] = v;
    }
    ids.push(r.id);
    if (n % 65536 === 0) onProgress?.({ phase: 'read', done: n });
  }
  return { ids, values: values.subarray(0, ids.length * k) };
}

/**
 * Party B (`join values`): holds (id, values); learns only A's list sizes. Connects and
 * speaks first.
 */
export async function joinValues(channel: Channel, records: Iterable<ValueRecord> | AsyncIterable<ValueRecord>, options: JoinValuesOptions): Promise<JoinValuesResult> {
  const o = resolve(options);
  const columns = options.columns;
  const k = columns?.length ?? 0;
  if (k < 1 || k > MAX_VALUE_COLUMNS) throw new KoppelError('INVALID_ARGUMENT', `Name 1 to ${MAX_VALUE_COLUMNS} value columns.`);
  const maxValue = optionalCount(options.maxValue, 'maxValue', 0, MAX_VALUE_BOUND) ?? 1_000_000;
  const padTo = optionalCount(options.padTo, 'padTo', 0, 2 ** 32 - 2);
  const session = randomBytes(16);
  const link = new JoinLink(channel, session);
  const helperLink = options.helper ? new JoinLink(options.helper, session) : undefined;
  const pool = new TaskPool(joinOps, WORKER_URL, o.threads);
  const scalar: ScalarPair = getSuite(o.suite).randomScalar();
  const secrets: Uint8Array[] = [];
  const ff = new FailFast();
  const progress = options.onProgress;
  try {
    await link.sendJson(Step.HELLO, { protocol: 'koppel-join', version: JOIN_VERSION, role: 'values', variant: o.variant, suite: o.suite, columns: [...columns], maxValue });
    const hello = decodeOrThrow(Hello, jsonBody(await link.receive([Step.HELLO], 'HELLO'), 'HELLO'), 'HELLO');
    checkHello(hello, o, 'groups');
    link.suite = o.suite;

    let r: Ristretto255 | undefined;
    const publicKeys = new Uint8Array(k * 32);
    const ownKeys: Uint8Array[] = [];
    if (o.variant === 'two-party') {
      r = await loadRistretto255();
      const f = await link.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', 32 + PROOF_BYTES);
      if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
      const body = new Uint8Array(k * 32);
      for (let j = 0; j < k; j++) {
        const A = f.body.slice(j * 96, j * 96 + 32);
        if (!verifyKnowledge(r, A, f.body.subarray(j * 96 + 32, j * 96 + 96), context(session, 'key-a', j))) {
          throw new KoppelError('PROOF_INVALID', 'The peer\'s proof of knowledge of its key share does not verify.', { details: { column: j } });
        }
        const b = r.randomScalar();
        secrets.push(b);
        const B = r.mulBase(b);
        ownKeys.push(B);
        body.set(B, j * 32);
        publicKeys.set(r.add(A, B), j * 32);
      }
      await link.send(Step.KEYS, k, body);
    }

    const lists = decodeOrThrow(Lists, jsonBody(await link.receive([Step.LISTS], 'LISTS'), 'LISTS'), 'LISTS');
    const sizes = lists.sizes;
    const L = sizes.length;
    if (L > MAX_GROUPS) throw new KoppelError('LIMIT_EXCEEDED', `The peer sent more than ${MAX_GROUPS} lists.`);
    const total = sizes.reduce((s, x) => s + x, 0);
    if (total > MAX_LIST_ELEMENTS) throw new KoppelError('LIMIT_EXCEEDED', `The peer's lists hold more than ${MAX_LIST_ELEMENTS} elements in all.`, { details: { declared: total } });

    // Our own records, encrypted (or blinded) at low priority while we evaluate A's lists.
    const entry = recordBytes(o.variant, k);
    const ownRecords = (async () => {
      const mine = await collectValues(records, k, maxValue, progress);
      if (padTo !== undefined && mine.ids.length > padTo) throw new KoppelError('INVALID_ARGUMENT', `The value records outnumber padTo (${padTo}); raise the bound.`);
      const count = padTo ?? mine.ids.length;
      const parts: Uint8Array[] = [];
      const pipe = new OrderedPipeline<Uint8Array>(Math.max(2, 2 * pool.size), ff, (p) => {
        parts.push(p);
        progress?.({ phase: 'own-records', done: parts.length * o.chunk });
      });
      for (let at = 0; at < count; at += o.chunk) {
        const m = Math.min(o.chunk, count - at);
        const real = Math.max(0, Math.min(m, mine.ids.length - at));
        const items = [...mine.ids.slice(at, at + real), ...dummyIds(m - real)];
        if (o.variant === 'two-party') {
          const values = new Float64Array(m * k); // dummies encrypt zeros
          values.set(mine.values.subarray(at * k, (at + real) * k));
          await pipe.push(pool.run('encryptRecords', { suite: o.suite, items, scalar: scalar.scalar, protocol: 'join', values, columns: k, publicKeys }, { priority: 'low' }));
        } else {
          await pipe.push(pool.run('hashMultiply', { suite: o.suite, items, scalar: scalar.scalar, protocol: 'join' }, { priority: 'low' }));
        }
      }
      await pipe.flush();
      return { packed: concatBytes(...parts), values: mine.values, real: mine.ids.length, count };
    })();
    ownRecords.catch((e: unknown) => ff.fail(e));

    // Evaluate A's lists, then shuffle each list and send it back.
    const evaluated = new Uint8Array(total * 32);
    let received = 0;
    let done = 0;
    const pipe = new OrderedPipeline<{ at: number; packed: Uint8Array }>(Math.max(2, 2 * pool.size), ff, ({ at, packed }) => {
      evaluated.set(packed, at);
      done += packed.length / 32;
      progress?.({ phase: 'evaluate', done });
    });
    for await (const f of link.stream(Step.GROUP_ELEMENTS, Step.GROUP_DONE, 'group elements', 32, total, (p) => ff.race(p))) {
      const at = received * 32;
      received += f.count;
      await pipe.push(pool.run('multiply', { suite: o.suite, scalar: scalar.scalar, packed: new Uint8Array(f.body) }).then((packed) => ({ at, packed })));
    }
    await pipe.flush();
    const shuffled = new Uint8Array(total * 32);
    let base = 0;
    for (const size of sizes) {
      const perm = randomPermutation(size);
      for (let i = 0; i < size; i++) shuffled.set(evaluated.subarray((base + (perm[i] as number)) * 32, (base + (perm[i] as number) + 1) * 32), (base + i) * 32);
      base += size;
    }
    wipe(evaluated);
    for (let at = 0; at < total; at += o.chunk) {
      const m = Math.min(o.chunk, total - at);
      await link.send(Step.EVALUATED, m, shuffled.subarray(at * 32, (at + m) * 32));
    }
    await link.sendJson(Step.EVALUATED_DONE, { count: total });

    // Our records, in random order.
    const mine = await ff.race(ownRecords);
    const n = mine.count;
    const perm = randomPermutation(n);
    let next: ((words: number) => BigUint64Array) | undefined;
    if (helperLink) {
      const seed = randomBytes(32);
      next = prgStream(seed, context(session, 'helper-prg'));
      await helperLink.sendJson(Step.HELLO, { protocol: 'koppel-join-helper', version: JOIN_VERSION, role: 'values', columns: k, positions: n, groups: L });
      await helperLink.send(Step.SEED, 1, seed);
      wipe(seed);
    }
    await link.sendJson(Step.RECORDS_START, { count: n });
    const own = o.variant === 'two-party' ? entry : 32;
    for (let at = 0; at < n; at += o.chunk) {
      const m = Math.min(o.chunk, n - at);
      const body = new Uint8Array(m * entry);
      const t = next ? next(m * k) : undefined;
      const dv = new DataView(body.buffer);
      for (let i = 0; i < m; i++) {
        const src = perm[at + i] as number;
        body.set(mine.packed.subarray(src * own, (src + 1) * own), i * entry);
        if (t) {
          for (let c = 0; c < k; c++) {
            // s = v - t mod 2^64; dummies carry v = 0 (they never match).
            const v = src < mine.real ? BigInt(mine.values[src * k + c] as number) : 0n;
            dv.setBigUint64(i * entry + 32 + c * 8, (v - (t[i * k + c] as bigint)) & 0xffffffffffffffffn, true);
          }
        }
      }
      await link.send(Step.RECORDS, m, body);
      progress?.({ phase: 'records', done: at + m });
    }
    await link.sendJson(Step.RECORDS_DONE, { count: n });

    if (o.variant === 'two-party') {
      const rr = r as Ristretto255;
      // One decryption request, of exactly one element per list: no more.
      const f = await link.receiveChunk([Step.DECRYPT], Step.DECRYPT, 'decryption request', 32);
      if (f.count !== L) throw new KoppelError('LIMIT_EXCEEDED', `The peer asked for ${f.count} decryptions; one per list (${L}) is all it may ask.`, { details: { asked: f.count, lists: L } });
      const c1 = new Uint8Array(f.body);
      for (let j = 0; j < k; j++) {
        const Ds = new Uint8Array(L * 32 + PROOF_BYTES);
        const b = secrets[j] as Uint8Array;
        for (let l = 0; l < L; l++) Ds.set(rr.mul(b, c1.subarray(l * 32, l * 32 + 32)), l * 32);
        Ds.set(proveDleq(rr, b, ownKeys[j] as Uint8Array, c1, Ds.subarray(0, L * 32), context(session, 'partials', j)), L * 32);
        await link.send(Step.PARTIALS, L + 2, Ds);
        progress?.({ phase: 'decrypt', done: (j + 1) * L });
      }
    }
    await link.receive([Step.FINISHED], 'FINISHED');
    return { variant: o.variant, listSizes: sizes, records: mine.real };
  } catch (e) {
    throw await abortLinks(ff.error ?? e, link, helperLink);
  } finally {
    wipeScalar(scalar);
    wipe(...secrets);
    await pool.close();
    if (helperLink) await helperLink.close();
  }
}

/**
 * The helper (`join helper`, variant 6b): pairs the two parties' connections of one
 * session, expands B's seed into the other halves of B's shares, adds them per
 * (relabelled) list as A directs, and returns the sums to A. It learns the anonymous
 * histogram of matches per list, and nothing else unless it colludes.
 *
 * @param accept - yields the next incoming connection (e.g. `listener.accept`)
 */
export async function joinHelper(accept: () => Promise<Channel>, options: JoinHelperOptions = {}): Promise<JoinHelperResult> {
  // Pair connections by session; strays (no valid HELLO) are closed and skipped.
  const waiting = new Map<string, { groups?: { link: JoinLink; hello: HelperHello }; values?: { link: JoinLink; hello: HelperHello } }>();
  let pair: { groups: { link: JoinLink; hello: HelperHello }; values: { link: JoinLink; hello: HelperHello } } | undefined;
  const pending: Array<Promise<void>> = [];
  let resolvePair: () => void = () => undefined;
  const paired = new Promise<void>((res) => (resolvePair = res));
  let greeting = 0;
  const greet = async (channel: Channel) => {
    greeting++;
    const link = new JoinLink(channel, new Uint8Array(16));
    try {
      const f = await link.receive([Step.HELLO], 'HELLO');
      const hello = decodeOrThrow(HelperHello, jsonBody(f, 'HELLO'), 'HELLO');
      if (hello.version !== JOIN_VERSION) throw new KoppelError('VERSION_MISMATCH', `The party speaks join version ${hello.version}; this helper speaks ${JOIN_VERSION}.`);
      link.session = Uint8Array.from(f.session);
      const key = Buffer.from(link.session).toString('hex');
      const slot = waiting.get(key) ?? {};
      if (slot[hello.role]) throw new KoppelError('PROTOCOL_VIOLATION', 'A second party with the same role joined the session.');
      slot[hello.role] = { link, hello };
      waiting.set(key, slot);
      if (slot.groups && slot.values && !pair) {
        pair = { groups: slot.groups, values: slot.values };
        resolvePair();
      }
    } catch (e) {
      await link.abort(e);
    } finally {
      greeting--;
    }
  };
  const closeWaiting = async (keep: ReadonlyArray<unknown> = []) => {
    for (const slot of waiting.values()) {
      for (const other of [slot.groups, slot.values]) if (other && !keep.includes(other)) await other.link.close();
    }
  };
  try {
    while (!pair) {
      const next = accept();
      let got: { c: Channel } | undefined;
      try {
        got = await Promise.race([next.then((c) => ({ c })), paired.then(() => undefined)]);
      } catch (e) {
        // The accept timeout is for parties to connect. Parties that did connect may take
        // long to say HELLO (they hash their own records first): wait for them.
        if (e instanceof KoppelError && e.code === 'TIMEOUT' && greeting > 0) {
          await Promise.race([paired, Promise.allSettled(pending)]);
          continue;
        }
        throw e;
      }
      if (!got) {
        next.then((c) => c.close(), () => undefined);
        break;
      }
      pending.push(greet(got.c));
    }
  } catch (e) {
    await closeWaiting();
    throw e;
  }
  const { groups: A, values: B } = pair as NonNullable<typeof pair>;
  await closeWaiting([A, B]);
  try {
    const { columns: k, positions: n, groups: L } = A.hello;
    if (B.hello.columns !== k || B.hello.positions !== n || B.hello.groups !== L) {
      throw new KoppelError('MESSAGE_MALFORMED', 'The two parties declared different sizes to the helper (columns, positions or groups).', { details: { columns: `${k}/${B.hello.columns}`, positions: `${n}/${B.hello.positions}`, groups: `${L}/${B.hello.groups}` } });
    }
    const s = await B.link.receiveChunk([Step.SEED], Step.SEED, 'seed', 32);
    if (s.count !== 1) throw new KoppelError('MESSAGE_MALFORMED', 'The seed message must carry one seed.');
    const seed = new Uint8Array(s.body);
    const next = prgStream(seed, context(A.link.session, 'helper-prg'));
    wipe(seed);
    const sums = new BigUint64Array(L * k);
    const hist = new Float64Array(L);
    let got = 0;
    for await (const f of A.link.stream(Step.INDICES, Step.INDICES_DONE, 'indices', 4, n)) {
      const idx = u32s(f.body);
      const t = next(f.count * k);
      for (let i = 0; i < idx.length; i++) {
        const g = idx[i] as number;
        if (g === NO_MATCH) continue;
        if (g >= L) throw new KoppelError('MESSAGE_MALFORMED', 'An index from the group holder names no list.');
        hist[g] = (hist[g] as number) + 1;
        for (let c = 0; c < k; c++) sums[g * k + c] = (sums[g * k + c] as bigint) + (t[i * k + c] as bigint);
      }
      got += f.count;
      options.onProgress?.({ phase: 'helper', done: got });
    }
    for (let c = 0; c < k; c++) {
      const col = new BigUint64Array(L);
      for (let g = 0; g < L; g++) col[g] = sums[g * k + c] as bigint;
      await A.link.send(Step.SUMS, L, u64Bytes(col));
    }
    return { groups: L, positions: n, histogram: [...hist].sort((x, y) => y - x) };
  } catch (e) {
    await A.link.abort(e);
    await B.link.abort(e);
    throw e;
  } finally {
    await Promise.allSettled(pending);
    await A.link.close();
    await B.link.close();
  }
}
