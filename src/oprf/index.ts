/**
 * `koppel/oprf`: blind pseudonymisation with an RFC 9497 OPRF(ristretto255, SHA-512)
 * service. The key holder runs `startOprfService`; clients pseudonymise with
 * `OprfPseudonymiser` or `oprfPseudonymiseCsv` without seeing the key, and the service
 * never sees an identifier.
 *
 * @packageDocumentation
 */
export {
  appendReceiptLine,
  startOprfService,
  type OprfAgreementTerms,
  type OprfReceiptOptions,
  type OprfServiceOptions,
  type OprfService,
  type TokenEntry,
} from './service.js';
export { OprfPseudonymiser, type OprfClientOptions, type OprfResult, type OprfRun } from './client.js';
export { OprfTranscript } from './transcript.js';
export { oprfPseudonymiseCsv, type OprfCsvOptions, type OprfCsvSummary } from './csv.js';
export { generateOprfKeyFile, importOprfKeyFile, oprfKeyId, OPRF_SUITE, type OprfKey } from './key.js';
export type { OprfMode } from './oprf.js';
