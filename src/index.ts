/**
 * koppel: privacy-preserving data linking.
 *
 * The root module is the public API for the common tasks: every name in the project's
 * interface contract (keys and pseudonymisation, BSN normalisation, `KoppelError`,
 * channels, PSI) and the main entry points of each capability. Each capability also has
 * its own subpath with its whole public surface:
 *
 * | subpath | what |
 * |---|---|
 * | `koppel/pseudonymise` | keys, `Pseudonymiser`, normalisation, `pseudonymiseCsv` |
 * | `koppel/oprf` | the blind (RFC 9497) pseudonymisation service and its clients |
 * | `koppel/psi` | private set intersection and its CSV forms |
 * | `koppel/join` | the private join and aggregate, its table and CSV forms |
 * | `koppel/aggregate` | secret-shared aggregation: codebook, input, aggregator, collector |
 * | `koppel/disclosure` | statistical disclosure control of released tables |
 * | `koppel/transport` | channels in memory, over TCP and mutual TLS; peer identities |
 *
 * Anything not exported from the root or a subpath is internal.
 *
 * @packageDocumentation
 */
export { KoppelError, ERROR_CODES, isKoppelError } from './errors/index.js';
export type { KoppelErrorCode, KoppelErrorDetails, KoppelErrorOptions } from './errors/index.js';

export * from './pseudonymise/index.js';
export * from './transport/index.js';
export type { Session } from './session/session.js';
export { SUITE_NAMES, type SuiteName } from './group/types.js';

export { psiClient, psiServer, PSI_MODES } from './psi/index.js';
export type {
  PsiClientOptions,
  PsiServerOptions,
  PsiCommonOptions,
  PsiClientResult,
  PsiServerResult,
  PayloadItem,
  PsiProgress,
  PsiPhase,
  PsiMode,
} from './psi/index.js';

export { joinGroups, joinValues, joinHelper, JOIN_VARIANTS } from './join/index.js';
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
  JoinVariant,
  JoinGroup,
  JoinTableRow,
  JoinDisclosureOptions,
} from './join/index.js';

export { makeCodebook, tabulate, Tabulator, Aggregator, collect, submitInput, configHash } from './aggregate/index.js';
export type { Codebook, CodebookSpec, InputRecord, RowLayout, RoundConfig, RoundResult, SubmitOutcome, NoiseSpec } from './aggregate/index.js';
export { protectTable, TOTAL } from './disclosure/index.js';
export type { DisclosureOptions, TableEntry, Rule, PTable } from './disclosure/index.js';

export { startOprfService, OprfPseudonymiser, oprfPseudonymiseCsv, generateOprfKeyFile, importOprfKeyFile, oprfKeyId } from './oprf/index.js';
export type {
  OprfServiceOptions,
  OprfService,
  TokenEntry,
  OprfClientOptions,
  OprfResult,
  OprfCsvOptions,
  OprfCsvSummary,
  OprfKey,
  OprfMode,
} from './oprf/index.js';
