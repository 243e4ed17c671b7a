/**
 * `koppel/join`: the private join and aggregate (docs/protocols/join.md). `joinGroups`
 * (party A: identifiers and groups), `joinValues` (party B: identifiers and values) and,
 * for the helper variant, `joinHelper`; the released table and the CSV forms.
 *
 * @packageDocumentation
 */
export { joinGroups, joinValues, joinHelper, DEFAULT_MIN_COUNT, DEFAULT_MAX_VALUE } from './join.js';
export { DEFAULT_SEARCH_STEPS, MAX_SEARCH_STEPS } from './elgamal.js';
export type {
  GroupRecord,
  ValueRecord,
  JoinCommonOptions,
  JoinGroupsOptions,
  JoinValuesOptions,
  JoinHelperOptions,
  JoinGroupsResult,
  JoinValuesResult,
  JoinHelperResult,
  JoinProgress,
  JoinPhase,
} from './types.js';
export { JOIN_VARIANTS, MAX_GROUPS, MAX_MIN_COUNT, MAX_VALUE_BOUND, MAX_VALUE_COLUMNS, type JoinVariant } from './messages.js';
export { protectJoinTable, withholdTotals, type JoinGroup, type JoinTableRow, type JoinDisclosureOptions } from './table.js';
export {
  openJoinGroupsCsv,
  openJoinValuesCsv,
  writeJoinTable,
  orderTableRows,
  compareLabels,
  type JoinCsvOptions,
  type JoinCsv,
  type JoinTableCounts,
  type JoinTableOptions,
} from './csv.js';
