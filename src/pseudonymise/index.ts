/**
 * `koppel/pseudonymise`: keyed pseudonymisation. Keys (`generateKey`, `exportKey`,
 * `importKey`), the per-domain `Pseudonymiser`, identifier normalisation (`normaliseBsn`,
 * `isValidBsn`, `normaliseIdentifier`) and the streaming CSV form (`pseudonymiseCsv`).
 *
 * @packageDocumentation
 */
export { generateKey, exportKey, importKey, checkDomain, PseudonymKey, KEY_BYTES, type GenerateKeyOptions, type ExportedKey } from './key.js';
export { Pseudonymiser, parsePseudonym, type PseudonymiserOptions, type PseudonymResult, type ParsedPseudonym } from './pseudonymiser.js';
export { normaliseBsn, isValidBsn, normaliseIdentifier, ID_TYPES, type IdType, type InvalidReason } from './normalise.js';
export { pseudonymiseCsv, type PseudonymiseCsvOptions, type PseudonymiseCsvSummary, type CsvProgress } from './csv.js';
export { INVALID_POLICIES, type InvalidPolicy, type InvalidRecord } from '../csv/policy.js';
export type { CsvDelimiter } from '../csv/records.js';
