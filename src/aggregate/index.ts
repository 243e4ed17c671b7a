/**
 * `koppel/aggregate`: additive secret-sharing aggregation (docs/protocols/aggregate.md).
 * A public codebook (`makeCodebook`), input parties that tabulate and submit
 * (`Tabulator`, `tabulate`, `submitInput`), aggregators (`Aggregator`) and the collector
 * (`collect`), which releases a disclosure-controlled table.
 *
 * @packageDocumentation
 */
export { makeCodebook, type Codebook, type CodebookSpec } from './codebook.js';
export { tabulate, recordKey, RecordKeyer, Tabulator, type InputRecord, type RowLayout } from './tabulate.js';
export {
  Aggregator,
  collect,
  submitInput,
  configHash,
  checkConfig,
  type AggregatorOptions,
  type CollectOptions,
  type RoundConfig,
  type RoundResult,
  type RoundRunOptions,
  type SubmitOptions,
  type SubmitOutcome,
} from './round.js';
export type { NoiseSpec } from './sampler.js';
