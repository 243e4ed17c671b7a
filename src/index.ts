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
