/**
 * Library parity (issue 19): the aggregation functions take an `AbortSignal`. Cancelling
 * the collector while it waits stops it with `ABORTED`, and the aggregators are told;
 * cancelling an input before it sends anything sends nothing.
 */
import { describe, it } from 'vitest';
import { Aggregator, collect, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { expectCode } from '../helpers.js';
import { smallCodebook } from './fixtures.js';

const codebook = smallCodebook();
const config: RoundConfig = { round: 'r-abort', codebook, aggregators: 2, minInputs: 1, deadline: Date.now() + 60_000 };

describe('aggregation with an AbortSignal', () => {
  it('the collector cancelled while the aggregators report: ABORTED, and each aggregator hears ABORTED', async () => {
    const aggs = [new Aggregator(config, 0), new Aggregator(config, 1)];
    const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 5000 }));
    const ac = new AbortController();
    const result = collect(
      pairs.map(([, c]) => c),
      config,
      { threshold: 1 },
      { signal: ac.signal },
    );
    // Only the first aggregator reports at once; the collector waits for the second, and is cancelled.
    const first = aggs[0]?.report((pairs[0] as [Channel, Channel])[0]) as Promise<unknown>;
    setTimeout(() => ac.abort(), 50);
    await expectCode(result, 'ABORTED');
    await expectCode(first, 'ABORTED');
  });

  it('an input cancelled before it starts sends nothing and rejects with ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    const pairs = [createMemoryChannelPair(), createMemoryChannelPair()];
    await expectCode(
      submitInput(
        pairs.map(([c]) => c),
        config,
        'party-0',
        new BigUint64Array(codebook.length),
        { signal: ac.signal },
      ),
      'ABORTED',
    );
  });
});
