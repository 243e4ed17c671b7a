/** Codebooks, records and the input step shared by the aggregation tests. */
import { makeCodebook, type Codebook } from '../../src/aggregate/codebook.js';
import { submitInput, type Aggregator, type RoundConfig, type SubmitOptions } from '../../src/aggregate/round.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';

export const regions = ['Groningen', 'Utrecht', 'Zeeland'];
export const households = ['single', 'couple', 'family'];

/** A 3 x 3 table with one value column (logins, 0..1000, integer). */
export function smallCodebook(overrides: Record<string, unknown> = {}) {
  return makeCodebook({
    id: 'test-usage',
    dimensions: [
      { name: 'region', labels: regions },
      { name: 'household', labels: households },
    ],
    values: [{ name: 'logins', scale: 0, min: '0', max: '1000' }],
    maxInputs: 100,
    maxRecordsPerInput: 100000,
    ...overrides,
  });
}

/** Party p's vector: 10 + p records in every cell of `codebook` (region x household), each logging in p + 1 times. */
export function partyInput(codebook: Codebook, p: number): BigUint64Array {
  return tabulate(
    codebook,
    regions.flatMap((r) => households.flatMap((h) => Array.from({ length: 10 + p }, () => ({ cell: [r, h], values: [String(p + 1)] })))),
  );
}

/**
 * One input party submitting `vector` to every aggregator over fresh memory channels:
 * the party's outcomes and each aggregator's.
 */
export async function submitToAggregators(
  aggs: readonly Aggregator[],
  cfg: RoundConfig,
  party: string,
  vector: BigUint64Array,
  options: SubmitOptions = {},
  idleTimeoutMs?: number,
) {
  const pairs = aggs.map(() => createMemoryChannelPair(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }));
  const handled = aggs.map((a, j) => a.handleInput((pairs[j] as [Channel, Channel])[1]));
  const sent = await submitInput(
    pairs.map(([c]) => c),
    cfg,
    party,
    vector,
    options,
  );
  return { sent, handled: await Promise.all(handled) };
}
