/**
 * `koppel/join`: the private join and aggregate (docs/protocols/join.md). `joinGroups`
 * (party A: identifiers and groups), `joinValues` (party B: identifiers and values) and,
 * for the helper variant, `joinHelper`; the released table and the CSV forms.
 *
 * @packageDocumentation
 */
export { joinGroups, joinValues, joinHelper } from './join.js';
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
export { JOIN_VARIANTS, MAX_GROUPS, MAX_VALUE_BOUND, MAX_VALUE_COLUMNS, type JoinVariant } from './messages.js';
export { protectJoinTable, type JoinGroup, type JoinTableRow, type JoinDisclosureOptions } from './table.js';
export { openJoinGroupsCsv, openJoinValuesCsv, writeJoinTable, type JoinCsvOptions, type JoinCsv, type JoinTableCounts } from './csv.js';
