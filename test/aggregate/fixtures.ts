/** Codebooks and records shared by the aggregation tests. */
import { makeCodebook } from '../../src/aggregate/codebook.js';

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
