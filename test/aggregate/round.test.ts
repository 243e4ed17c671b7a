/**
 * Round semantics over in-memory channels: the released total always equals the sum of
 * exactly the accepted inputs, or the round fails with a clear error and releases
 * nothing. Dropouts, late and duplicate inputs, mismatched codebooks, malformed shares
 * and a lost aggregator.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { Aggregator, collect, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import type { TableEntry } from '../../src/disclosure/index.js';
import { partyInput, regions, smallCodebook } from './fixtures.js';
import { encodeFrame, toJsonBody } from '../../src/wire/frame.js';
import { randomBytes } from '../../src/util/bytes.js';

const codebook = smallCodebook();
const config = (over: Partial<RoundConfig> = {}): RoundConfig => ({
  round: 'r-2026',
  codebook,
  aggregators: 2,
  minInputs: 2,
  deadline: Date.now() + 60_000,
  ...over,
});

/** Party p's vector (fixtures.ts). */
const inputOf = (p: number) => partyInput(codebook, p);

/** Submits `parties` to the aggregators; `skip[p]` lists aggregators that party p does not reach. */
async function submitAll(aggs: Aggregator[], cfg: RoundConfig, parties: number[], skip: Record<number, number[]> = {}) {
  return Promise.all(
    parties.map(async (p) => {
      const pairs = aggs.map(() => createMemoryChannelPair());
      const handled = aggs.map((a, j) =>
        skip[p]?.includes(j) ? (pairs[j] as [Channel, Channel])[1].close() : a.handleInput((pairs[j] as [Channel, Channel])[1]),
      );
      const outcome = await submitInput(
        pairs.map(([c]) => c),
        cfg,
        `party-${p}`,
        inputOf(p),
      );
      await Promise.all(handled);
      return outcome;
    }),
  );
}

async function finish(aggs: Aggregator[], cfg: RoundConfig) {
  const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
  const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
  for (const r of reports) r.catch(() => undefined);
  const result = collect(
    pairs.map(([, c]) => c),
    cfg,
    { threshold: 10 },
  );
  return { result, reports };
}

const cell = (t: TableEntry[], r: string, h: string) => t.find((e) => e.labels[0] === r && e.labels[1] === h) as TableEntry;

describe('an aggregation round', () => {
  it('releases exactly the sum of the accepted inputs (3 parties, 2 aggregators)', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    const outcomes = await submitAll(aggs, cfg, [0, 1, 2]);
    expect(outcomes.flat().every((o) => o.accepted)).toBe(true);
    const { result } = await finish(aggs, cfg);
    const r = await result;
    expect(r.inputs).toBe(3);
    // counts 10+11+12 = 33 per cell; logins 10*1 + 11*2 + 12*3 = 68
    expect(cell(r.table, 'Utrecht', 'family')).toMatchObject({ count: 33n, sums: [68n], rule: 'published' });
    expect(cell(r.table, '*', '*')).toMatchObject({ count: 33n * 9n, sums: [68n * 9n] });
  });

  it('works with three aggregators', async () => {
    const cfg = config({ aggregators: 3 });
    const aggs = [0, 1, 2].map((j) => new Aggregator(cfg, j));
    await submitAll(aggs, cfg, [0, 1]);
    const { result } = await finish(aggs, cfg);
    expect(cell((await result).table, 'Zeeland', 'single')).toMatchObject({ count: 21n, sums: [10n + 22n] });
  });

  it('drops a party that reached only some aggregators, whole, never half counted', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1, 2], { 1: [1] });
    expect(aggs[0]?.accepted).toContain('party-1');
    expect(aggs[1]?.accepted).not.toContain('party-1');
    const { result } = await finish(aggs, cfg);
    const r = await result;
    expect(r).toMatchObject({ inputs: 2, dropped: 1 });
    expect(cell(r.table, 'Utrecht', 'family')).toMatchObject({ count: 22n, sums: [10n + 36n] });
  });

  it('refuses a duplicate (or replayed) submission and counts the party once', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1]);
    const again = await submitAll(aggs, cfg, [1]);
    expect(again.flat().map((o) => o.code)).toEqual(['DUPLICATE_INPUT', 'DUPLICATE_INPUT']);
    const r = await (await finish(aggs, cfg)).result;
    expect(cell(r.table, 'Groningen', 'single').count).toBe(21n);
  });

  it('refuses inputs after the deadline', async () => {
    const cfg = config({ deadline: Date.now() - 1 });
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    const out = await submitAll(aggs, cfg, [0]);
    expect(out.flat().map((o) => o.code)).toEqual(['LATE_INPUT', 'LATE_INPUT']);
  });

  it('refuses a party with another codebook (ROUND_MISMATCH), and nothing of it is counted', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1]);
    const other = smallCodebook({ id: 'other-book' });
    const pairs = [createMemoryChannelPair(), createMemoryChannelPair()];
    const handled = aggs.map((a, j) => a.handleInput((pairs[j] as [Channel, Channel])[1]));
    const out = await submitInput(
      pairs.map(([c]) => c),
      { ...cfg, codebook: other },
      'stranger',
      new BigUint64Array(other.length),
    );
    await Promise.all(handled);
    expect(out.map((o) => o.code)).toEqual(['ROUND_MISMATCH', 'ROUND_MISMATCH']);
    expect(aggs[0]?.accepted).toEqual(['party-0', 'party-1']);
  });

  it('refuses a malformed share (wrong length, or a vector where a seed belongs)', async () => {
    const cfg = config();
    const agg = new Aggregator(cfg, 1);
    for (const [kind, count, bytes] of [
      ['vector', 3, 24],
      ['seed', 1, 32],
    ] as const) {
      const [a, b] = createMemoryChannelPair();
      const handled = agg.handleInput(b);
      const session = randomBytes(16);
      await a.send(
        encodeFrame(
          'aggregate',
          'none',
          1,
          session,
          0,
          toJsonBody({
            protocol: 'koppel-aggregate',
            version: 1,
            role: 'input',
            round: cfg.round,
            config: (await import('../../src/aggregate/round.js')).configHash(cfg),
            party: 'bad',
            aggregator: 1,
            kind,
          }),
        ),
      );
      await a.send(encodeFrame('aggregate', 'none', 2, session, count, new Uint8Array(bytes)));
      expect(await handled).toMatchObject({ accepted: false, code: 'MESSAGE_MALFORMED' });
    }
    expect(agg.accepted).toEqual([]);
  });

  it('fails with ROUND_FAILED and releases nothing when too few inputs reach every aggregator', async () => {
    const cfg = config({ minInputs: 3 });
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1, 2], { 2: [0] });
    const { result, reports } = await finish(aggs, cfg);
    await expect(result).rejects.toMatchObject({ code: 'ROUND_FAILED' });
    for (const r of reports) await expect(r).rejects.toMatchObject({ code: 'ROUND_FAILED' });
  });

  it('fails with DISCLOSURE_RISK and releases nothing when the table cannot be protected', async () => {
    // One dimension, threshold 3, one record in Groningen and one in Utrecht: the total
    // (2) and both cells are small and pin each other (1 + 1 = 2), whatever is suppressed.
    const oneWay = smallCodebook({ dimensions: [{ name: 'region', labels: regions }] });
    const cfg = config({ codebook: oneWay });
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await Promise.all(
      ['Groningen', 'Utrecht'].map(async (region, p) => {
        const pairs = aggs.map(() => createMemoryChannelPair());
        const handled = aggs.map((a, j) => a.handleInput((pairs[j] as [Channel, Channel])[1]));
        await submitInput(
          pairs.map(([c]) => c),
          cfg,
          `party-${p}`,
          tabulate(oneWay, [{ cell: [region], values: ['1'] }]),
        );
        await Promise.all(handled);
      }),
    );
    const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
    const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
    await expect(
      collect(
        pairs.map(([, c]) => c),
        cfg,
        { threshold: 3 },
      ),
    ).rejects.toMatchObject({ code: 'DISCLOSURE_RISK' });
    for (const r of reports) await expect(r).resolves.toMatchObject({ agreed: 2 });
  });

  it('from a listener, skips connections that close or send garbage before the aggregators', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1]);
    const stray = createMemoryChannelPair({ idleTimeoutMs: 3000 });
    const garbage = createMemoryChannelPair({ idleTimeoutMs: 3000 });
    const pairs = [createMemoryChannelPair({ idleTimeoutMs: 3000 }), createMemoryChannelPair({ idleTimeoutMs: 3000 })];
    await stray[0].close(); // a health check that connects and leaves
    await garbage[0].send(new Uint8Array([1, 2, 3])); // not a frame
    const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
    const source = (async function* () {
      yield stray[1];
      yield garbage[1];
      for (const [, c] of pairs) yield c;
    })();
    const r = await collect(source, cfg);
    await Promise.all(reports);
    expect(r.inputs).toBe(2);
    expect(cell(r.table, 'Utrecht', 'family').count).toBe(21n);
  });

  it('from a listener that runs dry, fails with ROUND_FAILED', async () => {
    const cfg = config();
    const source = (async function* (): AsyncGenerator<Channel> {})();
    await expect(collect(source, cfg)).rejects.toMatchObject({ code: 'ROUND_FAILED' });
  });

  it('fails with ROUND_FAILED when an aggregator disappears', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1]);
    const pairs = [createMemoryChannelPair({ idleTimeoutMs: 3000 }), createMemoryChannelPair({ idleTimeoutMs: 3000 })];
    const report0 = aggs[0]?.report((pairs[0] as [Channel, Channel])[0]);
    report0?.catch(() => undefined);
    await (pairs[1] as [Channel, Channel])[0].close(); // aggregator 1 is gone
    await expect(
      collect(
        pairs.map(([, c]) => c),
        cfg,
      ),
    ).rejects.toMatchObject({ code: 'ROUND_FAILED' });
  });

  it('with noise, each aggregator adds its own sample: the release differs from the exact sum by little', async () => {
    const cfg = config({ noise: { distribution: 'gaussian', sigma2: 4 } });
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    await submitAll(aggs, cfg, [0, 1, 2]);
    const r = await (await finish(aggs, cfg)).result;
    expect(r.noise).toEqual({ distribution: 'gaussian', sigma2: 4 });
    const diffs = r.table.filter((e) => !e.total && e.count !== null).map((e) => Number((e.count as bigint) - 33n));
    expect(diffs.some((d) => d !== 0)).toBe(true);
    for (const d of diffs) expect(Math.abs(d)).toBeLessThan(20); // sum of two samples with sigma 2
  });
});
