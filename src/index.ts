/**
 * koppel: privacy-preserving data linking.
 *
 * This module is the public API. Everything exported here is documented and kept
 * stable; modules under `koppel/...` subpaths that are not re-exported here are
 * internal.
 *
 * @packageDocumentation
 */
export { KoppelError, ERROR_CODES, isKoppelError } from './errors/index.js';
export type { KoppelErrorCode, KoppelErrorDetails, KoppelErrorOptions } from './errors/index.js';

export { generateKey, exportKey, importKey, checkDomain, PseudonymKey, KEY_BYTES } from './pseudonymise/key.js';
export type { GenerateKeyOptions, ExportedKey } from './pseudonymise/key.js';
export { Pseudonymiser, parsePseudonym } from './pseudonymise/pseudonymiser.js';
export type { PseudonymiserOptions, PseudonymResult, ParsedPseudonym } from './pseudonymise/pseudonymiser.js';
export { normaliseBsn, isValidBsn, normaliseIdentifier, ID_TYPES } from './pseudonymise/normalise.js';
export type { IdType, InvalidReason } from './pseudonymise/normalise.js';
export { pseudonymiseCsv } from './pseudonymise/csv.js';
export type { PseudonymiseCsvOptions, PseudonymiseCsvSummary, InvalidRecord, CsvProgress } from './pseudonymise/csv.js';
export { INVALID_POLICIES } from './pseudonymise/csv-chunk.js';
export type { InvalidPolicy } from './pseudonymise/csv-chunk.js';
export type { CsvDelimiter } from './csv/records.js';

export { createMemoryChannelPair, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_IDLE_TIMEOUT_MS } from './transport/channel.js';
export type { Channel, ChannelOptions } from './transport/channel.js';
export { listen, connect, prepareTls } from './transport/net.js';
export type { ListenOptions, ConnectOptions, Listener, Security, TlsOptions } from './transport/net.js';
export { recordingChannel } from './transport/transcript.js';
export type { TranscriptEntry } from './transport/transcript.js';
export { getSuite, SUITE_NAMES } from './group/suite.js';
export type { SuiteName, GroupSuite, ScalarPair } from './group/suite.js';
export { psiClient, psiServer } from './psi/psi.js';
export type { PsiClientOptions, PsiServerOptions, PsiClientResult, PsiServerResult, PayloadItem, PsiProgress } from './psi/psi.js';
export { PSI_MODES } from './psi/messages.js';
export type { PsiMode } from './psi/messages.js';
export { openCsv } from './csv/reader.js';
export type { CsvReader, RecordBatch } from './csv/reader.js';

export { makeCodebook } from './aggregate/codebook.js';
export type { Codebook, CodebookSpec } from './aggregate/codebook.js';
export { tabulate, recordKey, Tabulator } from './aggregate/tabulate.js';
export type { InputRecord, RowLayout } from './aggregate/tabulate.js';
export { split, expandSeed, shareVector } from './aggregate/share.js';
export type { Share, ShareContext } from './aggregate/share.js';
export { protectTable, disclosedEntries, DEFAULT_PTABLE, TOTAL, perturbation } from './disclosure/index.js';
export type { PTable, DisclosureOptions, TableEntry, Rule } from './disclosure/index.js';
export { discreteLaplace, discreteGaussian } from './aggregate/sampler.js';
export type { NoiseSpec } from './aggregate/sampler.js';
export { Aggregator, collect, submitInput, configHash } from './aggregate/round.js';
export type { RoundConfig, RoundResult, SubmitOutcome } from './aggregate/round.js';

/** RFC 9497 OPRF(ristretto255, SHA-512) primitives (OPRF and VOPRF modes). */
export * as oprf from './oprf/oprf.js';
export type { OprfMode, OprfKeyPair } from './oprf/oprf.js';

export { joinGroups, joinValues, joinHelper } from './join/join.js';
export type { GroupRecord, ValueRecord, JoinCommonOptions, JoinGroupsOptions, JoinValuesOptions, JoinHelperOptions, JoinGroupsResult, JoinValuesResult, JoinHelperResult, JoinProgress } from './join/join.js';
export { JOIN_VARIANTS, MAX_GROUPS, MAX_VALUE_BOUND, MAX_VALUE_COLUMNS } from './join/messages.js';
export type { JoinVariant } from './join/messages.js';
export { protectJoinTable } from './join/table.js';
export type { JoinGroup, JoinTableRow, JoinDisclosureOptions } from './join/table.js';
export { loadRistretto255 } from './group/sodium.js';
export type { Ristretto255 } from './group/sodium.js';

export { startOprfService } from './oprf/service.js';
export type { OprfServiceOptions, OprfService, TokenEntry } from './oprf/service.js';
export { OprfPseudonymiser } from './oprf/client.js';
export type { OprfClientOptions, OprfResult } from './oprf/client.js';
export { oprfPseudonymiseCsv } from './oprf/csv.js';
export type { OprfCsvOptions, OprfCsvSummary } from './oprf/csv.js';
export { generateOprfKeyFile, importOprfKeyFile, oprfKeyId, OPRF_SUITE } from './oprf/key.js';
export type { OprfKey } from './oprf/key.js';
export { FastOprf } from './oprf/fast.js';
