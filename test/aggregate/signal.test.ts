/**
 * Cancelling an aggregation round (the CLI's stop signals): a collector or an aggregator
 * whose `signal` aborts tells its peers (ABORT with `ABORTED`) instead of leaving them to
 * a timeout, and releases nothing.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, collect, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { households, regions, smallCodebook } from './fixtures.js';

const codebook = smallCodebook();
const config: RoundConfig = { round: 'r-abort', codebook, aggregators: 2, minInputs: 2, deadline: Date.now() + 60_000 };

async function withInputs(): Promise<Aggregator[]> {
  const aggs = [new Aggregator(config, 0), new Aggregator(config, 1)];
  for (const p of [0, 1]) {
    const pairs = aggs.map(() => createMemoryChannelPair());
    const handled = aggs.map((a, j) => a.handleInput((pairs[j] as [Channel, Channel])[1]));
    const records = regions.flatMap((r) => households.map((h) => ({ cell: [r, h], values: ['1'] })));
    await submitInput(
      pairs.map(([c]) => c),
      config,
      `party-${p}`,
      tabulate(codebook, records),
    );
    await Promise.all(handled);
  }
  return aggs;
}

describe('a cancelled round tells its peers ABORTED', () => {
  it('the collector, cancelled while it waits for the second aggregator: the first gets ABORTED, not a timeout', async () => {
    const [a0] = await withInputs();
    const [toCollector, atCollector] = createMemoryChannelPair({ idleTimeoutMs: 30_000 });
    const [, silent] = createMemoryChannelPair({ idleTimeoutMs: 30_000 }); // the second aggregator never reports
    const stop = new AbortController();
    const report = (a0 as Aggregator).report(toCollector);
    const result = collect([atCollector, silent], config, { threshold: 1 }, { signal: stop.signal });
    setTimeout(() => stop.abort(), 300);
    const started = performance.now();
    const [r, c] = await Promise.allSettled([report, result]);
    expect(c).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(r).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED', details: { peer: true } } });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('an aggregator, cancelled while the collector waits for its sum: the collector gets ABORTED', async () => {
    const [a0, a1] = await withInputs();
    const pairs = [createMemoryChannelPair({ idleTimeoutMs: 30_000 }), createMemoryChannelPair({ idleTimeoutMs: 30_000 })];
    const stop = new AbortController();
    stop.abort();
    const reports = [(a0 as Aggregator).report(pairs[0]![0], { signal: stop.signal }), (a1 as Aggregator).report(pairs[1]![0])];
    const result = collect([pairs[0]![1], pairs[1]![1]], config, { threshold: 1 });
    const [r0, , c] = await Promise.allSettled([...reports, result]);
    expect(r0).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(c).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED', details: { peer: true } } });
  });
});
