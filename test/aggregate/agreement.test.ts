/**
 * The linking agreement's hash in the aggregation HELLOs and in the join helper's
 * (issue 17): a party under another agreement, or under none, stops both ends of that
 * session with AGREEMENT_MISMATCH; a round under one agreement completes.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, collect, type RoundConfig, type SubmitOutcome } from '../../src/aggregate/round.js';
import { joinGroups, joinHelper, joinValues } from '../../src/join/join.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { expectCode } from '../helpers/expect-code.js';
import { partyInput, smallCodebook, submitToAggregators } from './fixtures.js';

const X = 'a'.repeat(64);
const Y = 'b'.repeat(64);
const codebook = smallCodebook();
const config = (): RoundConfig => ({ round: 'agreement-r', codebook, aggregators: 2, minInputs: 2, deadline: Date.now() + 60_000 });
const opt = (a: string | undefined) => (a === undefined ? {} : { agreement: a });

/** One input party submitting to both aggregators; both ends' outcomes. */
function submit(aggs: Aggregator[], cfg: RoundConfig, p: number, agreement: string | undefined) {
  return submitToAggregators(aggs, cfg, `party-${p}`, partyInput(codebook, p), opt(agreement), 3000);
}

const codes = (o: readonly SubmitOutcome[]) => o.map((x) => (x.accepted ? 'accepted' : x.code));

describe('the agreement in the aggregation HELLOs', () => {
  for (const [input, aggregator] of [
    [X, Y],
    [X, undefined],
    [undefined, X],
  ] as const) {
    it(`an input under ${input ? 'an agreement' : 'none'} and aggregators under ${aggregator ? (input ? 'another' : 'one') : 'none'}: AGREEMENT_MISMATCH at both ends of each session, and nothing is summed`, async () => {
      const cfg = config();
      const aggs = [new Aggregator(cfg, 0, opt(aggregator)), new Aggregator(cfg, 1, opt(aggregator))];
      const { sent, handled } = await submit(aggs, cfg, 0, input);
      expect(codes(sent)).toEqual(['AGREEMENT_MISMATCH', 'AGREEMENT_MISMATCH']);
      expect(codes(handled)).toEqual(['AGREEMENT_MISMATCH', 'AGREEMENT_MISMATCH']);
      expect(aggs.map((a) => a.accepted)).toEqual([[], []]);
    });
  }

  for (const listener of [false, true]) {
    it(`aggregators and a collector under different agreements (${listener ? 'collector on a listener' : 'collector given channels'}): AGREEMENT_MISMATCH at both ends`, async () => {
      const cfg = config();
      const aggs = [new Aggregator(cfg, 0, opt(X)), new Aggregator(cfg, 1, opt(X))];
      for (const p of [0, 1]) expect(codes((await submit(aggs, cfg, p, X)).sent)).toEqual(['accepted', 'accepted']);
      const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
      const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
      const theirs = pairs.map(([, c]) => c);
      const channels = listener
        ? (async function* () {
            yield* theirs;
          })()
        : theirs;
      await expectCode(collect(channels, cfg, { threshold: 10 }, opt(Y)), 'AGREEMENT_MISMATCH');
      for (const r of reports) await expectCode(r, 'AGREEMENT_MISMATCH');
    });
  }

  it('a whole round under one agreement completes and releases the sum', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0, opt(X)), new Aggregator(cfg, 1, opt(X))];
    for (const p of [0, 1]) expect(codes((await submit(aggs, cfg, p, X)).sent)).toEqual(['accepted', 'accepted']);
    const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
    const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
    const r = await collect(
      pairs.map(([, c]) => c),
      cfg,
      { threshold: 10 },
      opt(X),
    );
    await Promise.all(reports);
    expect(r.inputs).toBe(2);
    expect(r.table.find((e) => e.labels.every((l) => l === '*'))?.count).toBe(BigInt(9 * (10 + 11)));
  });
});

describe('the agreement in the join helper HELLOs', () => {
  const ids = Array.from({ length: 30 }, (_, i) => `id-${i}`);
  const a = ids.map((id, i) => ({ id, group: [i % 2 ? 'x' : 'y'] }));
  const b = ids.slice(0, 20).map((id, i) => ({ id, values: [i] }));

  async function run(agreement: { a?: string; b?: string; h?: string }) {
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const [ah, ha] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const [bh, hb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const queue: Channel[] = [ha, hb];
    const helper = joinHelper(() => {
      const next = queue.shift();
      return next ? Promise.resolve(next) : new Promise<Channel>(() => undefined);
    }, opt(agreement.h));
    const groups = joinGroups(ca, a, { threads: 0, variant: 'helper', helper: ah, ...opt(agreement.a) });
    const values = joinValues(cb, b, { threads: 0, variant: 'helper', columns: ['v'], maxValue: 1000, minCount: 1, helper: bh, ...opt(agreement.b) });
    return { helper, groups, values };
  }

  for (const h of [Y, undefined]) {
    it(`both parties under an agreement and the helper under ${h ? 'another' : 'none'}: the helper and both parties stop with AGREEMENT_MISMATCH`, async () => {
      const r = await run(h === undefined ? { a: X, b: X } : { a: X, b: X, h });
      for (const p of [r.groups, r.values]) p.catch(() => undefined);
      await expectCode(r.helper, 'AGREEMENT_MISMATCH');
      await expectCode(r.groups, 'AGREEMENT_MISMATCH');
      // The value holder's helper session ends after its seed: the group holder passes the helper's reason on.
      await expectCode(r.values, 'AGREEMENT_MISMATCH');
    });
  }

  it('all three under one agreement complete', async () => {
    const r = await run({ a: X, b: X, h: X });
    const [g, , h] = await Promise.all([r.groups, r.values, r.helper]);
    expect(g.groups.reduce((s, x) => s + x.count, 0)).toBe(20);
    expect(h.positions).toBe(20);
  });
});
