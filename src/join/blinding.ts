/**
 * The private join's blinding layer, shared by both variants (docs/protocols/join.md,
 * steps 1, 2 and 4): A's lists H(y)^a go to B, come back raised to b and shuffled within
 * each list; B's records carry H(x)^b, which A raises to a and looks up among its lists.
 * What the records carry beside H(x)^b (the hidden values) is the value layer's business
 * (`two-party.ts`, `helper-shares.ts`).
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { ScalarPair, SuiteName } from '../group/types.js';
import { deriveTags, TAG_BYTES } from '../psi/ops.js';
import { TagIndex } from '../psi/store.js';
import type { Session, SessionScope } from '../session/session.js';
import { dummyIds } from '../session/streaming.js';
import { OrderedPipeline, pipelineDepth } from '../util/pipeline.js';
import type { TaskRunner } from '../util/pool.js';
import { randomPermutation } from '../util/shuffle.js';
import { MAX_LIST_ELEMENTS, NO_MATCH, Step } from './messages.js';
import type { joinOps } from './ops.js';
import type { Groups } from './records.js';
import type { JoinProgress } from './types.js';

/** What the blinding steps of one party's run work with. */
export interface BlindingContext {
  /** The session with the other party. */
  readonly session: Session;
  /** The run's scope (fail-fast). */
  readonly scope: SessionScope;
  /** The run's worker pool. */
  readonly pool: TaskRunner<typeof joinOps>;
  /** This party's blinding scalar (a for A, b for B). */
  readonly scalar: ScalarPair;
  /** The blinding suite. */
  readonly suite: SuiteName;
  /** Items per chunk frame. */
  readonly chunk: number;
  /** Progress callback. */
  readonly progress: ((p: JoinProgress) => void) | undefined;
}

/** One of A's lists: a group's identifiers, or a dummy list (`group` -1). */
export interface List {
  readonly group: number;
  readonly ids: string[];
}

/** A's lists as they go out: in random order, with their (padded) sizes. */
export interface ListPlan {
  readonly lists: readonly List[];
  readonly sizes: readonly number[];
  readonly total: number;
  readonly padListsTo: number | undefined;
}

/**
 * A's lists: one per group, plus dummy lists up to `padGroupsTo` (random identifiers,
 * the size of a real list or `padListsTo`), in random order.
 *
 * @throws KoppelError `INVALID_ARGUMENT` when a group or the number of groups exceeds
 *   its padding bound, or the lists hold more than `MAX_LIST_ELEMENTS` elements
 */
export function planLists(own: Groups, padListsTo: number | undefined, padGroupsTo: number | undefined): ListPlan {
  const lists: List[] = own.ids.map((ids, group) => {
    if (padListsTo !== undefined && ids.length > padListsTo)
      throw new KoppelError('INVALID_ARGUMENT', `A group has more records than padListsTo (${padListsTo}); raise the bound.`);
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
  const shuffled = Array.from(order, (i) => lists[i] as List);
  const sizes = shuffled.map((l) => padListsTo ?? l.ids.length);
  const total = sizes.reduce((s, x) => s + x, 0);
  if (total > MAX_LIST_ELEMENTS) throw new KoppelError('INVALID_ARGUMENT', `More than ${MAX_LIST_ELEMENTS} list elements (records and padding) in one join.`);
  return { lists: shuffled, sizes, total, padListsTo };
}

/**
 * The tag of every element A blinded, in the order received, and the list each belongs
 * to: a few bytes per element in typed arrays, not a string and a Map entry.
 */
export interface ListIndex {
  /** The tags, by position. */
  readonly tags: TagIndex;
  /** The list of the tag at each position. */
  readonly listAt: Uint32Array;
}

/**
 * A, steps 1 and 2: sends LISTS and every list's elements H(y)^a (each list shuffled,
 * padded), while receiving B's answer, every list raised to b and shuffled within the
 * list. Returns the tag of every answered element with its list.
 */
export async function exchangeLists(c: BlindingContext, plan: ListPlan): Promise<ListIndex> {
  const { session: s, scope, pool } = c;
  await s.sendJson(Step.LISTS, { sizes: plan.sizes });

  const sender = async (): Promise<void> => {
    const pipe = new OrderedPipeline<Uint8Array>(pipelineDepth(pool), scope.failFast, async (packed) => {
      await s.send(Step.GROUP_ELEMENTS, packed.length / 32, packed);
    });
    let batch: string[] = [];
    let sent = 0;
    const flush = async () => {
      const items = batch;
      batch = [];
      sent += items.length;
      await pipe.push(pool.run('hashMultiply', { suite: c.suite, items, scalar: c.scalar.scalar, protocol: 'join' }));
      c.progress?.({ phase: 'lists', done: sent });
    };
    for (const l of plan.lists) {
      const perm = randomPermutation(l.ids.length);
      for (const i of perm) {
        batch.push(l.ids[i] as string);
        if (batch.length === c.chunk) await flush();
      }
      const pad = (plan.padListsTo ?? l.ids.length) - l.ids.length;
      for (const d of dummyIds(pad)) {
        batch.push(d);
        if (batch.length === c.chunk) await flush();
      }
    }
    if (batch.length > 0) await flush();
    await pipe.flush();
    await s.sendJson(Step.GROUP_DONE, { count: plan.total });
  };

  const listOf: ListIndex = { tags: new TagIndex(TAG_BYTES), listAt: new Uint32Array(plan.total) };
  const receiver = async (): Promise<void> => {
    const session = s.id;
    let received = 0;
    let list = 0;
    let left = plan.sizes[0] ?? 0;
    for await (const f of s.stream({
      chunk: Step.EVALUATED,
      done: Step.EVALUATED_DONE,
      what: 'evaluated elements',
      itemBytes: 32,
      expected: plan.total,
    })) {
      const { tags } = deriveTags(f.body, session, false);
      for (let i = 0; i < f.count; i++) {
        while (left === 0) left = plan.sizes[++list] as number;
        listOf.listAt[listOf.tags.size] = list;
        listOf.tags.add(tags, i * TAG_BYTES);
        left--;
      }
      received += f.count;
      c.progress?.({ phase: 'evaluate', done: received });
    }
  };
  await Promise.all([scope.guard(sender()), scope.guard(receiver())]);
  return listOf;
}

/**
 * B, step 2: evaluates A's lists as they arrive (raises them to b), shuffles each list
 * and sends them back.
 */
export async function evaluateLists(c: BlindingContext, sizes: readonly number[], total: number): Promise<void> {
  const { session: s, scope, pool } = c;
  const evaluated = new Uint8Array(total * 32);
  let received = 0;
  let done = 0;
  const pipe = new OrderedPipeline<{ at: number; packed: Uint8Array }>(pipelineDepth(pool), scope.failFast, ({ at, packed }) => {
    evaluated.set(packed, at);
    done += packed.length / 32;
    c.progress?.({ phase: 'evaluate', done });
  });
  for await (const f of s.stream({
    chunk: Step.GROUP_ELEMENTS,
    done: Step.GROUP_DONE,
    what: 'group elements',
    itemBytes: 32,
    expected: total,
  })) {
    const at = received * 32;
    received += f.count;
    await pipe.push(pool.run('multiply', { suite: c.suite, scalar: c.scalar.scalar, packed: new Uint8Array(f.body) }).then((packed) => ({ at, packed })));
  }
  await pipe.flush();
  const shuffled = new Uint8Array(total * 32);
  let base = 0;
  for (const size of sizes) {
    const perm = randomPermutation(size);
    for (let i = 0; i < size; i++) shuffled.set(evaluated.subarray((base + (perm[i] as number)) * 32, (base + (perm[i] as number) + 1) * 32), (base + i) * 32);
    base += size;
  }
  evaluated.fill(0);
  await s.sendChunks(Step.EVALUATED, shuffled, 32, c.chunk);
  await s.sendJson(Step.EVALUATED_DONE, { count: total });
}

/**
 * A, step 4: receives B's `n` records of `entry` bytes each, raises every H(x)^b to a,
 * and finds its list (or `NO_MATCH`). `accept` gets each chunk's records with their
 * lists, in order; the per-list match counts are returned.
 */
export async function matchRecords(
  c: BlindingContext,
  listOf: ListIndex,
  lists: number,
  n: number,
  entry: number,
  accept: (body: Uint8Array, matched: Uint32Array) => Promise<void> | void,
): Promise<Float64Array> {
  const { session: s, scope, pool } = c;
  const session = s.id;
  const counts = new Float64Array(lists);
  let got = 0;
  const pipe = new OrderedPipeline<{ tags: Uint8Array; body: Uint8Array }>(pipelineDepth(pool), scope.failFast, async ({ tags, body }) => {
    const m = body.length / entry;
    const matched = new Uint32Array(m);
    for (let i = 0; i < m; i++) {
      const at = listOf.tags.lookup(tags, i * TAG_BYTES);
      if (at < 0) {
        matched[i] = NO_MATCH;
        continue;
      }
      const list = listOf.listAt[at] as number;
      matched[i] = list;
      counts[list] = (counts[list] as number) + 1;
    }
    await accept(body, matched);
    c.progress?.({ phase: 'match', done: got });
  });
  for await (const f of s.stream({
    chunk: Step.RECORDS,
    done: Step.RECORDS_DONE,
    what: 'records',
    itemBytes: entry,
    expected: n,
  })) {
    got += f.count;
    const body = new Uint8Array(f.body);
    const elements = new Uint8Array(f.count * 32);
    for (let i = 0; i < f.count; i++) elements.set(body.subarray(i * entry, i * entry + 32), i * 32);
    await pipe.push(
      pool.run('multiplyTags', { suite: c.suite, scalar: c.scalar.scalar, packed: elements, session, keys: false }).then(({ tags }) => ({ tags, body })),
    );
  }
  await pipe.flush();
  return counts;
}
