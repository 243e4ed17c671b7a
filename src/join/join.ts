/**
 * Private join and aggregate (the full spec with its leakage table is
 * docs/protocols/join.md): the drivers of the two parties.
 *
 * A holds (id, group), B holds (id, values). A learns, per group, how many of its
 * records matched and the sums of B's values over the matches; not which records
 * matched. B learns A's list sizes and the number of groups. Two variants share one
 * blinding layer (`blinding.ts`):
 *
 *  1. A -> B: per group, the list H(y)^a, lists in random order, each shuffled.
 *  2. B -> A: every list raised to b and shuffled within the list, so A can tell per
 *     list how many matched, never which.
 *  3. B -> A: for each of B's records, in random order, H(x)^b with its values hidden
 *     by the value layer (`values.ts`): ElGamal ciphertexts under a joint key
 *     (two-party, `two-party.ts`) or one additive share mod 2^64 whose other half only
 *     the helper can expand (helper, `helper-shares.ts`; the helper role: `helper.ts`).
 *  4. A raises H(x)^b to a and finds, for each of B's positions, its list or no match;
 *     the value layer adds up the hidden values per list and reveals the sums to A only.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { getSuite, wipeScalar } from '../group/suite.js';
import { NORMALISATION_VERSION, itemNormaliser, type IdType } from '../pseudonymise/normalise.js';
import { checkAgreementHash, IDENTIFIER_SHARED, type SharedParam } from '../session/hello.js';
import { runSession, type Session, type SessionScope } from '../session/session.js';
import { dummyIds, resolveBatching, type Batching } from '../session/streaming.js';
import type { Channel } from '../transport/channel.js';
import { OrderedPipeline, pipelineDepth } from '../util/pipeline.js';
import { randomPermutation } from '../util/shuffle.js';
import { evaluateLists, exchangeLists, matchRecords, planLists, type BlindingContext } from './blinding.js';
import { DEFAULT_SEARCH_STEPS, MAX_DLOG_BOUND, MAX_SEARCH_STEPS } from './elgamal.js';
import { HelperGroups, HelperValues } from './helper-shares.js';
import {
  Hello,
  JOIN_PROTOCOL,
  JOIN_VARIANTS,
  Lists,
  MAX_GROUPS,
  MAX_LIST_ELEMENTS,
  MAX_MIN_COUNT,
  MAX_VALUE_BOUND,
  MAX_VALUE_COLUMNS,
  RecordsStart,
  Step,
  type JoinVariant,
} from './messages.js';
import { joinOps } from './ops.js';
import { collectGroups, collectValues } from './records.js';
import { protectJoinTable, withholdTotals, type JoinGroup } from './table.js';
import { TwoPartyGroups, TwoPartyValues, type ValueLayerContext } from './two-party.js';
import type { GroupRecord, JoinCommonOptions, JoinGroupsOptions, JoinGroupsResult, JoinValuesOptions, JoinValuesResult, ValueRecord } from './types.js';
import type { GroupsValueLayer, ValuesValueLayer } from './values.js';

export { joinHelper } from './helper.js';
export type {
  GroupRecord,
  JoinCommonOptions,
  JoinGroupsOptions,
  JoinGroupsResult,
  JoinHelperOptions,
  JoinHelperResult,
  JoinPhase,
  JoinProgress,
  JoinValuesOptions,
  JoinValuesResult,
  ValueRecord,
} from './types.js';

/**
 * Default of B's `minCount` and of A's `threshold`: 10, the threshold rule statistical
 * offices commonly apply to tables of persons, so that with defaults on both sides the
 * policy B states is the rule A already applied.
 */
export const DEFAULT_MIN_COUNT = 10;

/**
 * Default of B's declared `maxValue` and of the largest declaration A accepts: 1,000,000.
 */
export const DEFAULT_MAX_VALUE = 1_000_000;

const WORKER_URL = new URL('./worker.js', import.meta.url);

interface Resolved extends Batching {
  readonly variant: JoinVariant;
  readonly idType: IdType;
  readonly normalise: (id: string, index: number) => string;
  readonly agreement: string | undefined;
}

function resolve(o: JoinCommonOptions): Resolved {
  const variant = o.variant ?? 'two-party';
  if (!JOIN_VARIANTS.includes(variant)) throw new KoppelError('INVALID_ARGUMENT', `variant must be one of ${JOIN_VARIANTS.join(', ')}.`);
  const batching = resolveBatching(o);
  if (variant === 'helper' && !o.helper) throw new KoppelError('INVALID_ARGUMENT', 'The helper variant needs a channel to the helper (options.helper).');
  if (variant === 'two-party' && o.helper) throw new KoppelError('INVALID_ARGUMENT', 'A helper channel was given, but the variant is two-party.');
  const idType = o.idType ?? 'raw';
  return { variant, ...batching, idType, normalise: itemNormaliser(idType, o.prenormalised), agreement: checkAgreementHash(o.agreement) };
}

function optionalCount(v: number | undefined, name: string, min: number, max: number): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max))
    throw new KoppelError('INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}.`);
  return v;
}

/** The HELLO parameters both parties must share, in the order they are checked. */
const SHARED: readonly SharedParam[] = [
  { field: 'variant', code: 'MODE_MISMATCH', flag: '--variant' },
  { field: 'suite', code: 'SUITE_MISMATCH', flag: '--suite' },
  ...IDENTIFIER_SHARED,
];

const ROLE_MESSAGE = (role: 'groups' | 'values') =>
  `Both parties are ${role === 'groups' ? 'group' : 'value'} holders; one side must run \`join groups\` and the other \`join values\`.`;

/** The run's pool, blinding scalar and blinding context over an open session. */
function blindingContext(scope: SessionScope, session: Session, o: Resolved, progress: JoinCommonOptions['onProgress']): BlindingContext {
  const pool = scope.pool(joinOps, WORKER_URL, o.threads);
  const scalar = scope.secret(getSuite(o.suite).randomScalar(), wipeScalar);
  return { session, scope, pool, scalar, suite: o.suite, chunk: o.chunk, progress };
}

/** The value layer of A's variant. */
function groupsLayer(o: Resolved, c: ValueLayerContext, helper: Channel | undefined, searchSteps: number): GroupsValueLayer {
  switch (o.variant) {
    case 'two-party':
      return new TwoPartyGroups(c, searchSteps);
    case 'helper':
      if (!helper) throw new KoppelError('INVALID_ARGUMENT', 'The helper variant needs a channel to the helper (options.helper).');
      return new HelperGroups(c, helper);
    default: {
      const never: never = o.variant;
      throw new KoppelError('INTERNAL', `Unknown variant ${String(never)}.`);
    }
  }
}

/** The value layer of B's variant. */
function valuesLayer(o: Resolved, c: ValueLayerContext, b: BlindingContext, helper: Channel | undefined): ValuesValueLayer {
  switch (o.variant) {
    case 'two-party':
      return new TwoPartyValues(c, b.suite, b.scalar);
    case 'helper':
      if (!helper) throw new KoppelError('INVALID_ARGUMENT', 'The helper variant needs a channel to the helper (options.helper).');
      return new HelperValues(c, helper, b.suite, b.scalar);
    default: {
      const never: never = o.variant;
      throw new KoppelError('INTERNAL', `Unknown variant ${String(never)}.`);
    }
  }
}

/**
 * Party A (`join groups`): holds (id, group); learns per group the matched count and
 * the sums of B's values, and returns them with the disclosure-controlled table.
 *
 * The channel must be connected to a party running {@link joinValues}, which speaks
 * first. Identifiers are compared exactly as given: normalise them first.
 */
export async function joinGroups(
  channel: Channel,
  records: Iterable<GroupRecord> | AsyncIterable<GroupRecord>,
  options: JoinGroupsOptions = {},
): Promise<JoinGroupsResult> {
  const o = resolve(options);
  const padListsTo = optionalCount(options.padListsTo, 'padListsTo', 1, 2 ** 32 - 1);
  const padGroupsTo = optionalCount(options.padGroupsTo, 'padGroupsTo', 1, MAX_GROUPS);
  optionalCount(options.threshold, 'threshold', 1, 2 ** 31);
  const acceptMax = optionalCount(options.maxValue, 'maxValue', 0, MAX_VALUE_BOUND) ?? DEFAULT_MAX_VALUE;
  const searchSteps = optionalCount(options.maxSearchSteps, 'maxSearchSteps', 1, MAX_SEARCH_STEPS) ?? DEFAULT_SEARCH_STEPS;
  optionalCount(options.protection, 'protection', 1, 2 ** 31);
  if (options.valueProtection !== undefined && !(options.valueProtection >= 0 && options.valueProtection <= 100))
    throw new KoppelError('INVALID_ARGUMENT', 'valueProtection must be a percentage from 0 to 100.');
  const progress = options.onProgress;
  return runSession(
    async (scope) => {
      // The helper waits for both parties: its channel closes however the run ends.
      if (options.helper) scope.own(options.helper);
      const own = await collectGroups(records, options.groupColumns, progress, o.normalise);
      const s = await scope.open({
        channel,
        protocol: JOIN_PROTOCOL,
        side: 'responder',
        hello: { role: 'groups', variant: o.variant, suite: o.suite, idType: o.idType, normalisation: NORMALISATION_VERSION },
        ...(o.agreement === undefined ? {} : { agreement: o.agreement }),
        codec: Hello,
        suite: o.suite,
        peerRole: 'values',
        roleMessage: ROLE_MESSAGE('groups'),
        shared: SHARED,
        check: (h) => {
          if (h.columns === undefined || h.maxValue === undefined || h.columns.length < 1 || h.columns.length > MAX_VALUE_COLUMNS) {
            throw new KoppelError('MESSAGE_MALFORMED', `The peer's HELLO must name 1 to ${MAX_VALUE_COLUMNS} value columns and their maximum.`);
          }
          // B's declaration sets how far the sums are searched for: refused before any work
          // when it is above what this side accepts (docs/protocols/join.md, "Bounded discrete logarithm").
          if (h.maxValue > acceptMax) {
            throw new KoppelError(
              'LIMIT_EXCEEDED',
              `The value holder declares a maximum value of ${h.maxValue}, above the ${acceptMax} this group holder accepts; ` +
                'lower --max-value on the value holder, or raise --max-value on the group holder.',
              { details: { field: 'maxValue', ours: String(acceptMax), theirs: String(h.maxValue) } },
            );
          }
          const expect = options.expectColumns;
          if (expect && (expect.length !== h.columns.length || expect.some((c, j) => c !== h.columns?.[j]))) {
            throw new KoppelError(
              'COLUMN_MISMATCH',
              `The peer's value columns (${h.columns.length}) are not the ones expected (${expect.length}); check --value-columns on both sides.`,
              {
                details: { expected: expect.join(','), got: h.columns.join(',') },
              },
            );
          }
        },
      });
      options.onSession?.(s);
      const columns = s.peerHello.columns ?? [];
      const maxValue = s.peerHello.maxValue ?? 0;
      // B's policy (absent: a value holder that states none). A's threshold is the larger.
      const minCount = s.peerHello.minCount ?? 1;
      const threshold = Math.max(options.threshold ?? DEFAULT_MIN_COUNT, minCount);
      const k = columns.length;
      const blind = blindingContext(scope, s, o, progress);
      const layer = groupsLayer(
        o,
        { session: s, scope, pool: blind.pool, columns: k, progress, agreement: o.agreement, onHelperSession: options.onHelperSession },
        options.helper,
        searchSteps,
      );
      await layer.setup();

      // Steps 1-2: the lists out, B's evaluation of them back.
      const plan = planLists(own, padListsTo, padGroupsTo);
      const listOf = await exchangeLists(blind, plan);

      // Step 4: B's records, each matched to a list, their hidden values summed per list.
      const n = (await s.receiveJson(Step.RECORDS_START, RecordsStart)).count;
      const L = plan.lists.length;
      await layer.start(n, L, minCount);
      const counts = await matchRecords(blind, listOf, L, n, layer.entryBytes, (body, matched) => layer.accept(body, matched));
      const bound = (list: number) => (counts[list] as number) * maxValue;
      for (let l = 0; l < L; l++) {
        if (bound(l) > MAX_DLOG_BOUND)
          throw new KoppelError(
            'SUM_OUT_OF_RANGE',
            `A group's sums could exceed 2^48 (matches x declared maximum); ask the value holder for a lower --max-value.`,
            { details: { matches: counts[l] as number, maxValue } },
          );
      }
      // Only real lists with matches, at or above B's minimum, are decrypted (two-party) or
      // read (helper); a list without matches sums to 0, which its count already says.
      const release = (l: number) => (plan.lists[l]?.group ?? -1) >= 0 && (counts[l] as number) >= Math.max(1, minCount);
      const sums = await layer.sums(counts, bound, release, () => s.sendJson(Step.FINISHED, {}));

      const withheld = (count: number) => count > 0 && count < minCount;
      const groups: JoinGroup[] = new Array<JoinGroup>(own.labels.length);
      plan.lists.forEach((l, i) => {
        if (l.group >= 0)
          groups[l.group] = {
            labels: own.labels[l.group] as string[],
            count: counts[i] as number,
            sums: withheld(counts[i] as number) ? null : (sums[i] as number[]),
          };
      });
      const width = own.labels[0]?.length ?? options.groupColumns ?? 1;
      const table = withholdTotals(
        protectJoinTable(width, k, groups, {
          threshold,
          secondary: options.secondary,
          protection: options.protection,
          valueProtection: options.valueProtection,
        }),
        groups,
      );
      return { variant: o.variant, columns, maxValue, minCount, threshold, groups, table, valuesListSize: n, records: own.records };
    },
    { signal: options.signal, ...(options.beforeClose ? { beforeClose: options.beforeClose } : {}) },
  );
}

/**
 * B's policy on the shape of A's table, checked on the list sizes before any work: no
 * more than `maxLists` lists, none with fewer than `minListSize` elements.
 *
 * @throws KoppelError `POLICY_REFUSED` (the peer is told the code, and nothing is released)
 */
function checkListPolicy(sizes: readonly number[], maxLists: number, minListSize: number): void {
  if (sizes.length > maxLists)
    throw new KoppelError(
      'POLICY_REFUSED',
      `The group holder sent ${sizes.length} lists; this value holder's policy allows at most ${maxLists} (--max-lists).`,
      {
        details: { lists: sizes.length, maxLists },
      },
    );
  const small = sizes.filter((x) => x < minListSize).length;
  if (small > 0)
    throw new KoppelError(
      'POLICY_REFUSED',
      `${small} of the group holder's ${sizes.length} lists hold fewer than ${minListSize} records, below this value holder's policy (--min-list-size); ask it for coarser groups.`,
      { details: { smallLists: small, lists: sizes.length, minListSize } },
    );
}

/**
 * Party B (`join values`): holds (id, values); learns only A's list sizes. Connects and
 * speaks first.
 */
export async function joinValues(
  channel: Channel,
  records: Iterable<ValueRecord> | AsyncIterable<ValueRecord>,
  options: JoinValuesOptions,
): Promise<JoinValuesResult> {
  const o = resolve(options);
  const columns = options.columns;
  const k = columns?.length ?? 0;
  if (k < 1 || k > MAX_VALUE_COLUMNS) throw new KoppelError('INVALID_ARGUMENT', `Name 1 to ${MAX_VALUE_COLUMNS} value columns.`);
  const maxValue = optionalCount(options.maxValue, 'maxValue', 0, MAX_VALUE_BOUND) ?? DEFAULT_MAX_VALUE;
  const padTo = optionalCount(options.padTo, 'padTo', 0, 2 ** 32 - 2);
  const minCount = optionalCount(options.minCount, 'minCount', 1, MAX_MIN_COUNT) ?? DEFAULT_MIN_COUNT;
  const maxLists = optionalCount(options.maxLists, 'maxLists', 1, MAX_GROUPS) ?? MAX_GROUPS;
  const minListSize = optionalCount(options.minListSize, 'minListSize', 1, MAX_LIST_ELEMENTS) ?? 1;
  const progress = options.onProgress;
  return runSession(
    async (scope) => {
      // The helper waits for both parties: its channel closes however the run ends.
      if (options.helper) scope.own(options.helper);
      const s = await scope.open({
        channel,
        protocol: JOIN_PROTOCOL,
        side: 'initiator',
        hello: {
          role: 'values',
          variant: o.variant,
          suite: o.suite,
          columns: [...columns],
          maxValue,
          minCount,
          idType: o.idType,
          normalisation: NORMALISATION_VERSION,
        },
        ...(o.agreement === undefined ? {} : { agreement: o.agreement }),
        codec: Hello,
        suite: o.suite,
        peerRole: 'groups',
        roleMessage: ROLE_MESSAGE('values'),
        shared: SHARED,
      });
      options.onSession?.(s);
      const blind = blindingContext(scope, s, o, progress);
      const layer = valuesLayer(
        o,
        { session: s, scope, pool: blind.pool, columns: k, progress, agreement: o.agreement, onHelperSession: options.onHelperSession },
        blind,
        options.helper,
      );
      await layer.setup();

      const { sizes } = await s.receiveJson(Step.LISTS, Lists);
      const L = sizes.length;
      if (L > MAX_GROUPS) throw new KoppelError('LIMIT_EXCEEDED', `The peer sent more than ${MAX_GROUPS} lists.`);
      const total = sizes.reduce((sum, x) => sum + x, 0);
      if (total > MAX_LIST_ELEMENTS)
        throw new KoppelError('LIMIT_EXCEEDED', `The peer's lists hold more than ${MAX_LIST_ELEMENTS} elements in all.`, { details: { declared: total } });
      checkListPolicy(sizes, maxLists, minListSize);

      // Our own records, prepared at low priority while we evaluate A's lists.
      const ownRecords = (async () => {
        const mine = await collectValues(records, k, maxValue, progress, o.normalise);
        if (padTo !== undefined && mine.ids.length > padTo)
          throw new KoppelError('INVALID_ARGUMENT', `The value records outnumber padTo (${padTo}); raise the bound.`);
        const count = padTo ?? mine.ids.length;
        const parts: Uint8Array[] = [];
        const pipe = new OrderedPipeline<Uint8Array>(pipelineDepth(blind.pool), scope.failFast, (p) => {
          parts.push(p);
          progress?.({ phase: 'own-records', done: parts.length * o.chunk });
        });
        for (let at = 0; at < count; at += o.chunk) {
          const m = Math.min(o.chunk, count - at);
          const real = Math.max(0, Math.min(m, mine.ids.length - at));
          await pipe.push(layer.prepare([...mine.ids.slice(at, at + real), ...dummyIds(m - real)], mine.values.subarray(at * k, (at + real) * k)));
        }
        await pipe.flush();
        // Kept as the chunks they were prepared in (o.chunk records each, the last maybe fewer):
        // one copy into a single buffer would double B's peak memory for a moment.
        return { parts, values: mine.values, real: mine.ids.length, count };
      })();
      ownRecords.catch((e: unknown) => scope.failFast.fail(e));

      // Step 2: evaluate A's lists, shuffle each and send them back.
      await evaluateLists(blind, sizes, total);

      // Step 3: our records, in random order.
      const mine = await scope.race(ownRecords);
      const n = mine.count;
      const perm = randomPermutation(n);
      await layer.start(n, L, minCount);
      await s.sendJson(Step.RECORDS_START, { count: n });
      const entry = layer.entryBytes;
      const own = layer.preparedBytes;
      for (let at = 0; at < n; at += o.chunk) {
        const m = Math.min(o.chunk, n - at);
        const body = new Uint8Array(m * entry);
        const sources = perm.subarray(at, at + m);
        for (let i = 0; i < m; i++) {
          const src = sources[i] as number;
          const part = mine.parts[Math.floor(src / o.chunk)] as Uint8Array;
          const off = (src % o.chunk) * own;
          body.set(part.subarray(off, off + own), i * entry);
        }
        layer.complete(body, sources, mine.real, mine.values);
        await s.send(Step.RECORDS, m, body);
        progress?.({ phase: 'records', done: at + m });
      }
      await s.sendJson(Step.RECORDS_DONE, { count: n });

      await layer.finish(L);
      await s.receive([Step.FINISHED], 'FINISHED');
      return { variant: o.variant, listSizes: sizes, records: mine.real, minCount };
    },
    { signal: options.signal, ...(options.beforeClose ? { beforeClose: options.beforeClose } : {}) },
  );
}
