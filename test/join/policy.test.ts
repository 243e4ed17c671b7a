/**
 * The value holder's policy, enforced (issue 15, finding 4): B states `minCount`; A
 * must not learn the sums of a group with fewer matches, however A shapes its groups.
 */
import { describe, expect, it } from 'vitest';
import { joinGroups, joinHelper, joinValues, type GroupRecord, type JoinGroupsOptions, type JoinValuesOptions, type ValueRecord } from '../../src/join/join.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { KoppelError } from '../../src/errors/index.js';
import { expectCode } from '../helpers.js';
import { Step } from '../../src/join/messages.js';
import { readU32s, readU64s } from '../../src/util/bytes.js';
import { decodeFrame } from '../../src/wire/frame.js';
import { runJoin } from './fixtures.js';

const MASK64 = 0xffffffffffffffffn;

/**
 * A's groups shaped to single people out: every one of six matched persons is a group
 * of its own; one group ('crowd') holds four matched persons; 'nobody' has no match.
 * B's values per person are distinct, so a leaked sum names its person.
 */
function singlingOut(): { a: GroupRecord[]; b: ValueRecord[]; personal: number[]; crowd: number } {
  const a: GroupRecord[] = [];
  const b: ValueRecord[] = [];
  const personal: number[] = [];
  for (let i = 0; i < 6; i++) {
    a.push({ id: `person-${i}`, group: [`person-${i}`] });
    const income = 410 + 37 * i;
    b.push({ id: `person-${i}`, values: [income] });
    personal.push(income);
  }
  let crowd = 0;
  for (let i = 0; i < 4; i++) {
    a.push({ id: `crowd-${i}`, group: ['crowd'] });
    b.push({ id: `crowd-${i}`, values: [100 + i] });
    crowd += 100 + i;
  }
  a.push({ id: 'nobody-0', group: ['nobody'] });
  for (let i = 0; i < 5; i++) b.push({ id: `stranger-${i}`, values: [900 + i] });
  return { a, b, personal, crowd };
}

describe.each(['two-party', 'helper'] as const)("the value holder's policy, %s variant", (variant) => {
  it("A's groups shaped to single people out (one record per group, --min-count 1 on A) get no sums from B's policy (--min-count 3 on B)", async () => {
    const { a, b, personal, crowd } = singlingOut();
    const r = await runJoin(a, b, { variant, aOptions: { groupColumns: 1, threshold: 1, secondary: false }, bOptions: { minCount: 3 } });
    // No pre-disclosure group with 1 or 2 matches carries sums.
    const singles = r.a.groups.filter((g) => g.labels[0]?.startsWith('person-'));
    expect(singles).toHaveLength(6);
    for (const g of singles) expect(g).toMatchObject({ count: 1, sums: null });
    // Nor does any row of the released table: not the group, not a total over it.
    for (const row of r.a.table) {
      if (row.labels[0]?.startsWith('person-') || row.total) expect(row.sums).toEqual([null]);
    }
    // No personal value appears anywhere in A's results.
    const everything = [...r.a.groups.flatMap((g) => g.sums ?? []), ...r.a.table.flatMap((t) => t.sums)];
    for (const v of personal) expect(everything).not.toContain(v);
    // The policy withholds only what it must: the crowd of four and the empty group keep theirs.
    expect(r.a.groups.find((g) => g.labels[0] === 'crowd')).toMatchObject({ count: 4, sums: [crowd] });
    expect(r.a.groups.find((g) => g.labels[0] === 'nobody')).toMatchObject({ count: 0, sums: [0] });
    expect(r.a.table.find((t) => t.labels[0] === 'crowd')).toMatchObject({ count: 4, sums: [crowd], rule: 'published' });
    // B's policy became A's threshold, and both results say so.
    expect(r.a.minCount).toBe(3);
    expect(r.a.threshold).toBe(3);
    expect(r.b.minCount).toBe(3);
    expect(r.a.table.find((t) => t.labels[0] === 'person-0')).toMatchObject({ count: null, rule: 'threshold' });
  });
});

describe("the value holder's policy against a modified group holder (helper variant)", () => {
  it("a modified A that ignores the threshold and adds the helper's sums to its own shares gets no correct sum for a list below B's minimum", async () => {
    const { a, b, personal, crowd } = singlingOut();
    const r = await runJoin(a, b, { variant: 'helper', aOptions: { groupColumns: 1, threshold: 1, secondary: false }, bOptions: { minCount: 3 } });
    // Everything A holds: B's shares (RECORDS), the indices it sent the helper, the helper's sums.
    const k = 1;
    const shares: bigint[] = [];
    for (const e of r.aView) {
      if (e.direction !== 'received') continue;
      const f = decodeFrame(e.bytes);
      if (f.step !== Step.RECORDS) continue;
      const dv = new DataView(f.body.buffer, f.body.byteOffset, f.body.byteLength);
      for (let i = 0; i < f.count; i++) shares.push(dv.getBigUint64(i * (32 + 8 * k) + 32, true));
    }
    const indices: number[] = [];
    let helperSums: BigUint64Array | undefined;
    for (const e of r.hView) {
      const f = decodeFrame(e.bytes);
      if (e.direction === 'received' && f.step === Step.INDICES) indices.push(...readU32s(f.body));
      if (e.direction === 'sent' && f.step === Step.SUMS) helperSums = readU64s(f.body);
    }
    expect(indices).toHaveLength(shares.length);
    if (!helperSums) throw new Error('the helper sent no sums');
    // The modified A's decoding of every (relabelled) list, ignoring every threshold.
    const decoded = new Map<number, { count: number; sum: bigint }>();
    indices.forEach((g, i) => {
      if (g === 0xffffffff) return;
      const d = decoded.get(g) ?? { count: 0, sum: 0n };
      decoded.set(g, { count: d.count + 1, sum: (d.sum + (shares[i] as bigint)) & MASK64 });
    });
    const small = [...decoded].filter(([, d]) => d.count < 3);
    expect(small).toHaveLength(6);
    for (const [g, d] of small) {
      const value = (d.sum + (helperSums[g] as bigint)) & MASK64;
      // Not any person's value, nor within any honest sum's range: noise.
      expect(personal.map(BigInt)).not.toContain(value);
      expect(value > 1000n).toBe(true);
    }
    // The decoding is right where the policy allows it: the crowd's list gives its sum.
    const big = [...decoded].filter(([, d]) => d.count >= 3);
    expect(big).toHaveLength(1);
    const [g, d] = big[0] as [number, { count: number; sum: bigint }];
    expect((d.sum + (helperSums[g] as bigint)) & MASK64).toBe(BigInt(crowd));
    // The helper withheld every list but the crowd's (the empty list too: 0 is below 3).
    expect(r.h).toMatchObject({ minCount: 3, groups: 8, withheld: 7 });
  });
});

describe("the value holder's policy on the shape of A's table (--max-lists, --min-list-size)", () => {
  /** Runs A and B (and the helper) over memory channels and settles each, so a refusal can be checked on every side. */
  async function settle(
    a: GroupRecord[],
    b: ValueRecord[],
    bOptions: Partial<JoinValuesOptions>,
    aOptions: JoinGroupsOptions = {},
    variant: 'two-party' | 'helper' = 'two-party',
  ) {
    const [ca, cb] = createMemoryChannelPair();
    const progress: string[] = [];
    const [ah, ha] = createMemoryChannelPair();
    const [bh, hb] = createMemoryChannelPair();
    const queue: Channel[] = [ha, hb];
    // The helper treats a party that leaves before its HELLO as a stray and waits for
    // another; the CLI's accept gives up after --timeout, as this one does at once.
    const accept = () => {
      const next = queue.shift();
      return next ? Promise.resolve(next) : Promise.reject(new KoppelError('TIMEOUT', 'No peer connected.'));
    };
    const helper = variant === 'helper' ? joinHelper(accept) : Promise.resolve(undefined);
    const [ra, rb, rh] = await Promise.allSettled([
      joinGroups(ca, a, {
        threads: 0,
        variant,
        groupColumns: 1,
        threshold: 1,
        secondary: false,
        onProgress: (p) => progress.push(p.phase),
        ...(variant === 'helper' ? { helper: ah } : {}),
        ...aOptions,
      }),
      joinValues(cb, b, { threads: 0, variant, columns: ['v0'], maxValue: 1000, minCount: 1, ...(variant === 'helper' ? { helper: bh } : {}), ...bOptions }),
      helper,
    ]);
    return { ra, rb, rh, progress };
  }

  /** The error a settled run rejected with. */
  function reason(r: PromiseSettledResult<unknown>): unknown {
    if (r.status !== 'rejected') throw new Error('expected the run to be refused');
    return r.reason;
  }

  it.each(['two-party', 'helper'] as const)(
    'a table shaped to single people out (unpadded lists of one) is refused by B before any record is matched: POLICY_REFUSED on both sides (%s)',
    async (variant) => {
      const { a, b } = singlingOut();
      const { ra, rb, progress } = await settle(a, b, { minListSize: 3 }, {}, variant);
      await expectCode(Promise.reject(reason(rb)), 'POLICY_REFUSED');
      await expectCode(Promise.reject(reason(ra)), 'POLICY_REFUSED');
      // A never got as far as B's records: no count, no sum.
      expect(progress).not.toContain('match');
      // The refusal says how many lists were small (six persons and the empty group), never what is in them.
      const message = String(reason(rb));
      expect(message).toContain('7 of the group holder');
      expect(message).not.toMatch(/person-|41\d/);
    },
  );

  it("A with groups of at least the minimum passes B's --min-list-size, and B with --max-lists refuses more lists than it allows", async () => {
    const { a, b } = singlingOut();
    const crowdOnly = a.filter((r) => r.group[0] === 'crowd');
    const ok = await settle(crowdOnly, b, { minListSize: 4, maxLists: 1 });
    expect(ok.ra.status).toBe('fulfilled');
    expect(ok.rb.status).toBe('fulfilled');
    const tooMany = await settle(a, b, { maxLists: 7 });
    await expectCode(Promise.reject(reason(tooMany.rb)), 'POLICY_REFUSED');
    await expectCode(Promise.reject(reason(tooMany.ra)), 'POLICY_REFUSED');
  });

  it("A's padding hides its group sizes from B, and so passes B's --min-list-size: the check holds only where the agreement rules padding out", async () => {
    const { a, b } = singlingOut();
    const padded = await settle(a, b, { minListSize: 3 }, { padListsTo: 10 });
    // Documented trade-off (docs/protocols/join.md): B sees lists of 10 and cannot tell.
    if (padded.rb.status !== 'fulfilled') throw new Error('B refused the padded lists');
    expect(padded.rb.value.listSizes.every((x) => x === 10)).toBe(true);
  });
});
