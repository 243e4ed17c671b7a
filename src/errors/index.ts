/**
 * Typed errors for koppel.
 *
 * Every failure a user can hit is a {@link KoppelError} with a stable string `code`.
 * Messages say what went wrong and what to do about it; they never contain an
 * identifier, a key, a pseudonym or any other value taken from user data. Where a
 * location helps (a CSV record number, a column name, a protocol step), it goes in
 * `details`, which holds only non-sensitive metadata.
 *
 * @packageDocumentation
 */

/**
 * Every error code koppel can raise. Codes are part of the public API: they never
 * change meaning and are never reused.
 */
export const ERROR_CODES = {
  /** An argument to a library function or CLI flag is missing or out of range. */
  INVALID_ARGUMENT: 'A function argument or command-line flag is missing or invalid.',
  /** A BSN failed normalisation: wrong length, non-digits, all zeros or a failed elfproef. */
  INVALID_BSN: 'A BSN is not 8 or 9 digits, is all zeros, or fails the elfproef (11-test).',
  /** An e-mail address has no local part or domain. */
  INVALID_EMAIL: 'An e-mail address is not of the form local@domain.',
  /** An identifier is empty or otherwise unusable for its declared type. */
  INVALID_IDENTIFIER: 'An identifier is empty or not valid for its type.',
  /** A pseudonymisation domain name is empty, too long or contains control characters. */
  INVALID_DOMAIN: 'A pseudonymisation domain name is invalid.',
  /** A key file or key object is malformed, of the wrong type, or corrupted. */
  INVALID_KEY: 'A key is malformed, of the wrong type or corrupted.',
  /** A key's secret is too short or visibly non-random (repeated bytes, a passphrase). */
  WEAK_KEY: 'A key secret is too short or does not look random.',
  /** A pseudonym was made under a different key than the one in use. */
  KEY_MISMATCH: 'A pseudonym or message was made under a different key.',
  /** A pseudonym string is not of the form `<key id>.<43 base64url characters>`. */
  INVALID_PSEUDONYM: 'A pseudonym is not in koppel format.',
  /** A CSV input cannot be parsed: unbalanced quotes, a wrong field count, bad encoding. */
  CSV_MALFORMED: 'A CSV input is malformed.',
  /** A column named on the command line or in options is not in the CSV header. */
  CSV_COLUMN_NOT_FOUND: 'A named column is not in the CSV header.',
  /** Reading or writing a file or stream failed. */
  IO_ERROR: 'Reading or writing a file or stream failed.',
  /** A group element is not a valid, canonical encoding, is of low order or is the identity. */
  INVALID_POINT: 'A group element from the peer is invalid.',
  /** The two parties use different group suites. */
  SUITE_MISMATCH: 'The parties use different group suites.',
  /** The two parties use different protocol modes (e.g. intersection and cardinality). */
  MODE_MISMATCH: 'The parties use different protocol modes.',
  /** The peer speaks another protocol or version. */
  VERSION_MISMATCH: 'The peer speaks another protocol or protocol version.',
  /** A message from the peer is malformed: bad header, wrong size, counts that disagree with the bytes. */
  MESSAGE_MALFORMED: 'A message from the peer is malformed.',
  /** A message from the peer is larger than the configured maximum. */
  MESSAGE_TOO_LARGE: 'A message from the peer is too large.',
  /** A message from the peer arrived out of order or in the wrong session. */
  PROTOCOL_VIOLATION: 'The peer did not follow the protocol.',
  /** The connection closed before the protocol finished. */
  CONNECTION_CLOSED: 'The connection closed before the protocol finished.',
  /** Connecting, or waiting for the peer, took longer than the timeout. */
  TIMEOUT: 'The peer did not answer in time.',
  /** A network failure (refused or reset connection, address in use). */
  NETWORK_ERROR: 'A network or TLS connection failed.',
  /**
   * The TLS handshake or a certificate check failed, on either side: a certificate not
   * signed by the CA the other side trusts, expired, for another name, no client
   * certificate, or a peer that speaks plain TCP. The message says which.
   */
  TLS_ERROR: 'The TLS handshake or a certificate check failed.',
  /** The peer's certificate is valid (signed by the CA) but is not one of the pinned peers (names or fingerprints). */
  PEER_NOT_ALLOWED: "The peer's certificate is not one of the pinned peers.",
  /** A zero-knowledge proof from the peer (VOPRF DLEQ proof) does not verify. */
  PROOF_INVALID: 'A proof from the peer does not verify.',
  /** Parties of an aggregation round disagree on its round id, codebook or settings. */
  ROUND_MISMATCH: 'The parties disagree on the aggregation round or its codebook.',
  /** An input party submitted twice (or a submission was replayed) in one round. */
  DUPLICATE_INPUT: 'An input was submitted twice in one round.',
  /** An input arrived after the round's deadline. */
  LATE_INPUT: 'An input arrived after the round deadline.',
  /** The round cannot release a result: too few inputs, or an aggregator was lost. */
  ROUND_FAILED: 'The aggregation round failed and released nothing.',
  /** Disclosure control cannot release a table without giving a small cell away (e.g. a small total made of cells of 1, which the threshold rule's own bounds pin). */
  DISCLOSURE_RISK: 'The table cannot be released without giving a small cell away; merge categories or change the threshold.',
  /** The parties normalise identifiers differently (id type or normalisation version): their matches would silently miss. */
  ID_TYPE_MISMATCH: 'The parties normalise identifiers differently.',
  /** The parties run under different linking agreements, or one under none (docs/agreement.md). */
  AGREEMENT_MISMATCH: 'The parties do not hold the same linking agreement.',
  /** A linking agreement is malformed, unsigned, expired or not valid for this run. */
  AGREEMENT_INVALID: 'The linking agreement is not valid for this run.',
  /** The parties disagree on the value columns of a private join. */
  COLUMN_MISMATCH: 'The parties disagree on the value columns.',
  /** A value is outside the range a protocol can carry (e.g. above the declared maximum of a private join). */
  VALUE_OUT_OF_RANGE: 'A value is outside the declared range.',
  /** A decrypted sum lies beyond the bound the protocol can recover; nothing wrong is ever returned instead. */
  SUM_OUT_OF_RANGE: 'A decrypted sum is beyond the recoverable bound.',
  /** The peer asked for more work than the protocol allows (e.g. more decryptions than groups). */
  LIMIT_EXCEEDED: 'The peer asked for more than the protocol allows.',
  /** The peer's request breaks this party's stated disclosure policy (e.g. a private join's lists smaller than the value holder's minimum list size). */
  POLICY_REFUSED: "The peer's request breaks this party's disclosure policy; nothing was released.",
  /** A request to the OPRF service was not authenticated (no or unknown client certificate or token). */
  UNAUTHORIZED: 'The request was not authenticated.',
  /** A client sent requests faster than the service's per-client rate limit. */
  RATE_LIMITED: 'Too many requests; slow down.',
  /** A client used up its evaluation budget for the current period. */
  BUDGET_EXHAUSTED: 'The evaluation budget for this period is used up.',
  /** The service is unavailable (shutting down, or not reachable after retries). */
  SERVICE_UNAVAILABLE: 'The service is unavailable.',
  /** A worker thread failed or exited unexpectedly. */
  WORKER_FAILED: 'A worker thread failed.',
  /** A dry run (`koppel check`) found what would stop the real run: invalid records, duplicates, malformed CSV. */
  CHECK_FAILED: 'The input would stop the real run; the check lists where.',
  /** The saved state of an interrupted run (`pseudonymise --resume`) is for another input, other flags, or does not fit its partial output. */
  RESUME_MISMATCH: 'The interrupted run cannot be continued with this input and these flags.',
  /** The operation was cancelled by the caller (AbortSignal). */
  ABORTED: 'The operation was cancelled.',
  /** An internal invariant was violated: a bug in koppel, please report it. */
  INTERNAL: 'An internal error occurred.',
} as const;

/** A stable error code; see {@link ERROR_CODES} for what each means. */
export type KoppelErrorCode = keyof typeof ERROR_CODES;

/**
 * Non-sensitive metadata attached to an error: positions, counts, names of columns or
 * steps. Never identifiers, keys or pseudonyms.
 */
export type KoppelErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

/** Options for {@link KoppelError}. */
export interface KoppelErrorOptions {
  /** Non-sensitive metadata (record numbers, column names, reasons). */
  readonly details?: KoppelErrorDetails;
  /** The underlying error, if any. It must not carry user data in its message. */
  readonly cause?: unknown;
}

/**
 * The one error class koppel throws for failures a user can hit.
 *
 * @example
 * ```ts
 * try { normaliseBsn(input) } catch (e) {
 *   if (e instanceof KoppelError && e.code === 'INVALID_BSN') { ... }
 * }
 * ```
 */
export class KoppelError extends Error {
  /** The stable machine-readable code. */
  readonly code: KoppelErrorCode;
  /** Non-sensitive metadata about where and why. */
  readonly details: KoppelErrorDetails;

  /**
   * @param code - the stable error code
   * @param message - what went wrong and what to do; must not contain user data
   * @param options - details and cause
   */
  constructor(code: KoppelErrorCode, message: string, options: KoppelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KoppelError';
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** True when `e` is a {@link KoppelError}, optionally with the given code. */
export function isKoppelError(e: unknown, code?: KoppelErrorCode): e is KoppelError {
  return e instanceof KoppelError && (code === undefined || e.code === code);
}
