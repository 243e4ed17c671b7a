/**
 * The helper value layer (variant 6b, docs/protocols/join.md): B sends each value as one
 * additive share s = v - t mod 2^64, where t comes from a PRG whose seed only the
 * helper gets. A adds the shares per list and tells the helper, per position of B's
 * records, the (relabelled) list it matched; the helper expands the seed, adds the t's
 * per list and returns the sums to A, who adds the two halves.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { ScalarPair, SuiteName } from '../group/types.js';
import type { Channel } from '../transport/channel.js';
import type { Session } from '../session/session.js';
import { randomBytes, readU64s, u32Bytes, wipe } from '../util/bytes.js';
import { prgStream } from '../util/prg.js';
import { randomPermutation } from '../util/shuffle.js';
import { context, HELPER_PROTOCOL, HelperHello, NO_MATCH, Step } from './messages.js';
import type { ValueLayerContext } from './two-party.js';
import type { GroupsValueLayer, ValuesValueLayer } from './values.js';

const MASK64 = 0xffffffffffffffffn;

/** Opens a party's session with the helper: same session id as the join, HELLO not answered. */
async function helperSession(c: ValueLayerContext, channel: Channel, role: 'groups' | 'values', n: number, lists: number, minCount: number): Promise<Session> {
  const s = await c.scope.open({
    channel,
    protocol: HELPER_PROTOCOL,
    side: 'initiator',
    id: c.session.id,
    hello: { role, columns: c.columns, positions: n, groups: lists, minCount },
    codec: HelperHello,
    suite: 'none',
    answer: false,
    peerRole: 'helper',
    ...(c.agreement === undefined ? {} : { agreement: c.agreement }),
  });
  c.onHelperSession?.(s);
  return s;
}

/** A's half of the helper value layer. */
export class HelperGroups implements GroupsValueLayer {
  readonly entryBytes: number;
  readonly #c: ValueLayerContext;
  readonly #channel: Channel;
  #helper: Session | undefined;
  /** Sums of B's shares per list and column (A's half of each sum). */
  #shareSums = new BigUint64Array(0);
  /** The relabelling of lists the helper sees. */
  #relabel: Uint32Array = new Uint32Array(0);
  /** B's positions (records), which A's indices must cover. */
  #positions = 0;

  constructor(c: ValueLayerContext, helper: Channel) {
    this.#c = c;
    this.#channel = helper;
    this.entryBytes = 32 + 8 * c.columns;
  }

  setup(): Promise<void> {
    return Promise.resolve();
  }

  /** Opens the session with the helper, repeating B's `minCount` (the helper checks it against B's). */
  async start(n: number, lists: number, minCount: number): Promise<void> {
    this.#positions = n;
    this.#shareSums = new BigUint64Array(lists * this.#c.columns);
    this.#relabel = randomPermutation(lists);
    this.#helper = await helperSession(this.#c, this.#channel, 'groups', n, lists, minCount);
  }

  async accept(body: Uint8Array, matched: Uint32Array): Promise<void> {
    const k = this.#c.columns;
    const entry = this.entryBytes;
    const indices = new Uint32Array(matched.length);
    for (let i = 0; i < matched.length; i++) {
      const list = matched[i] as number;
      if (list === NO_MATCH) {
        indices[i] = NO_MATCH;
        continue;
      }
      indices[i] = this.#relabel[list] as number;
      const dv = new DataView(body.buffer, body.byteOffset + i * entry + 32, 8 * k);
      // A BigUint64Array stores sums mod 2^64.
      for (let c = 0; c < k; c++) this.#shareSums[list * k + c] = (this.#shareSums[list * k + c] as bigint) + dv.getBigUint64(c * 8, true);
    }
    await this.#session().send(Step.INDICES, matched.length, u32Bytes(indices));
  }

  /** Adds the helper's halves to A's; lists not released carry random values from the helper and are not read. */
  async sums(counts: Float64Array, bound: (list: number) => number, release: (list: number) => boolean, verified: () => Promise<void>): Promise<number[][]> {
    const h = this.#session();
    const k = this.#c.columns;
    const L = counts.length;
    const sums: number[][] = Array.from({ length: L }, () => new Array<number>(k).fill(0));
    await h.sendJson(Step.INDICES_DONE, { count: this.#positions });
    for (let c = 0; c < k; c++) {
      const f = await h.receiveChunk([Step.SUMS], Step.SUMS, 'helper sums', 8);
      if (f.count !== L) throw new KoppelError('MESSAGE_MALFORMED', 'The helper sent sums for another number of groups.');
      const t = readU64s(f.body);
      for (let l = 0; l < L; l++) {
        if (!release(l)) continue; // a dummy, or below B's policy: the helper sent noise
        const v = ((this.#shareSums[l * k + c] as bigint) + (t[this.#relabel[l] as number] as bigint)) & MASK64;
        if (v > BigInt(bound(l)))
          throw new KoppelError(
            'SUM_OUT_OF_RANGE',
            'A sum from the helper is beyond matches x the declared maximum: the helper or the value holder did not follow the protocol.',
          );
        (sums[l] as number[])[c] = Number(v);
      }
    }
    this.#c.progress?.({ phase: 'helper', done: L });
    await verified();
    return sums;
  }

  #session(): Session {
    if (!this.#helper) throw new KoppelError('INTERNAL', 'The helper value layer was used before its session opened.');
    return this.#helper;
  }
}

/** B's half of the helper value layer. */
export class HelperValues implements ValuesValueLayer {
  readonly entryBytes: number;
  readonly preparedBytes = 32;
  readonly #c: ValueLayerContext;
  readonly #channel: Channel;
  readonly #suite: SuiteName;
  readonly #scalar: ScalarPair;
  #next: ((words: number) => BigUint64Array) | undefined;

  constructor(c: ValueLayerContext, helper: Channel, suite: SuiteName, scalar: ScalarPair) {
    this.#c = c;
    this.#channel = helper;
    this.#suite = suite;
    this.#scalar = scalar;
    this.entryBytes = 32 + 8 * c.columns;
  }

  setup(): Promise<void> {
    return Promise.resolve();
  }

  /** Only H(x)^b: the shares are made as the records go out. */
  prepare(items: string[]): Promise<Uint8Array> {
    return this.#c.pool.run('hashMultiply', { suite: this.#suite, items, scalar: this.#scalar.scalar, protocol: 'join' }, { priority: 'low' });
  }

  /** Sends the helper its HELLO (with B's policy `minCount`) and the PRG seed whose stream masks B's values. */
  async start(n: number, lists: number, minCount: number): Promise<void> {
    const seed = randomBytes(32);
    try {
      this.#next = prgStream(seed, context(this.#c.session.id, 'helper-prg'));
      const h = await helperSession(this.#c, this.#channel, 'values', n, lists, minCount);
      await h.send(Step.SEED, 1, seed);
    } finally {
      wipe(seed);
    }
  }

  /** s = v - t mod 2^64 for every value of the chunk; dummies carry v = 0 (they never match). */
  complete(body: Uint8Array, sources: ArrayLike<number>, real: number, values: Float64Array): void {
    const next = this.#next;
    if (!next) throw new KoppelError('INTERNAL', 'The helper value layer was used before its session opened.');
    const k = this.#c.columns;
    const m = sources.length;
    const entry = this.entryBytes;
    const t = next(m * k);
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    for (let i = 0; i < m; i++) {
      const src = sources[i] as number;
      for (let c = 0; c < k; c++) {
        const v = src < real ? BigInt(values[src * k + c] as number) : 0n;
        dv.setBigUint64(i * entry + 32 + c * 8, (v - (t[i * k + c] as bigint)) & MASK64, true);
      }
    }
  }

  finish(): Promise<void> {
    return Promise.resolve();
  }
}
