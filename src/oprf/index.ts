/**
 * `koppel/oprf`: blind pseudonymisation with an RFC 9497 OPRF(ristretto255, SHA-512)
 * service. The key holder runs `startOprfService`; clients pseudonymise with
 * `OprfPseudonymiser` or `oprfPseudonymiseCsv` without seeing the key, and the service
 * never sees an identifier.
 *
 * @packageDocumentation
 */
export { startOprfService, type OprfServiceOptions, type OprfService, type TokenEntry } from './service.js';
export { OprfPseudonymiser, type OprfClientOptions, type OprfResult } from './client.js';
export { oprfPseudonymiseCsv, type OprfCsvOptions, type OprfCsvSummary } from './csv.js';
export { generateOprfKeyFile, importOprfKeyFile, oprfKeyId, OPRF_SUITE, type OprfKey } from './key.js';
export type { OprfMode } from './oprf.js';
