/**
 * Identifier normalisation: every identifier type has exactly one canonical form, so
 * that the same person always gets the same pseudonym however the input was written.
 *
 * | type  | accepted input | canonical form |
 * |-------|----------------|----------------|
 * | bsn   | 9 digits, or 8 digits (a leading zero lost by a spreadsheet), surrounding spaces/tabs ignored; must pass the elfproef and not be all zeros | 9 ASCII digits |
 * | email | `local@domain`, surrounding whitespace ignored, no whitespace inside | local part as given, domain lower-cased, NFC |
 * | raw   | any non-empty, well-formed Unicode string of at most 4096 characters | the string in NFC |
 *
 * Failures never include the offending value: only a code and a reason word.
 *
 * @packageDocumentation
 */
import { KoppelError, type KoppelErrorCode } from '../errors/index.js';

/** The identifier types koppel can normalise. */
export type IdType = 'bsn' | 'email' | 'raw';
/**
 * The version of the normalisation rules ({@link normaliseIdentifier}). PSI and join
 * parties compare it in their HELLO with the id type: identifiers normalised by other
 * rules would not match, silently.
 */
export const NORMALISATION_VERSION = 1;

/** Every supported {@link IdType}, for validation of user input. */
export const ID_TYPES: readonly IdType[] = Object.freeze(['bsn', 'email', 'raw']);

/** Why an identifier was rejected: a stable code and a one-word reason. No value. */
export interface InvalidReason {
  /** The error code this rejection maps to. */
  readonly code: KoppelErrorCode;
  /** A short machine-readable reason, e.g. `checksum` or `length`. */
  readonly reason: string;
  /** A human-readable explanation with advice; never contains the identifier. */
  readonly message: string;
}

function reason(code: KoppelErrorCode, why: string, message: string): InvalidReason {
  return Object.freeze({ code, reason: why, message });
}

const BSN_EMPTY = reason('INVALID_BSN', 'empty', 'BSN is empty.');
const BSN_LENGTH = reason('INVALID_BSN', 'length', 'BSN must have 9 digits (or 8, when a leading zero was lost).');
const BSN_NON_DIGIT = reason('INVALID_BSN', 'non-digit', 'BSN may contain only the digits 0-9 (no dots, dashes or spaces inside).');
const BSN_ZERO = reason('INVALID_BSN', 'zero', 'BSN of all zeros is not a valid number.');
const BSN_CHECKSUM = reason('INVALID_BSN', 'checksum', 'BSN fails the elfproef (11-test): check for a typing error.');
const EMAIL_FORM = reason('INVALID_EMAIL', 'form', 'E-mail address must be local@domain with no spaces inside.');
const EMAIL_LENGTH = reason('INVALID_EMAIL', 'length', 'E-mail address is longer than 254 characters.');
const RAW_EMPTY = reason('INVALID_IDENTIFIER', 'empty', 'Identifier is empty.');
const RAW_LENGTH = reason('INVALID_IDENTIFIER', 'length', 'Identifier is longer than 4096 characters.');
const RAW_ENCODING = reason('INVALID_IDENTIFIER', 'encoding', 'Identifier contains a lone UTF-16 surrogate (broken text encoding).');

/** Maximum length of a raw identifier, in UTF-16 code units. */
export const MAX_RAW_LENGTH = 4096;

/** True for the whitespace a BSN or e-mail may be padded with (space, tab, CR, LF). */
function isPad(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * Normalises a BSN or returns why it is invalid. Allocation-free on the fast path
 * (an already canonical 9-digit string is returned as is); used by the batch paths.
 *
 * The elfproef (docs/pseudonymisation.md): 9*d1 + 8*d2 + 7*d3 + 6*d4 + 5*d5 + 4*d6 +
 * 3*d7 + 2*d8 - 1*d9 must be divisible by 11.
 */
export function checkBsn(input: string): string | InvalidReason {
  let start = 0;
  let end = input.length;
  while (start < end && isPad(input.charCodeAt(start))) start++;
  while (end > start && isPad(input.charCodeAt(end - 1))) end--;
  const n = end - start;
  if (n === 0) return BSN_EMPTY;
  if (n !== 9 && n !== 8) {
    for (let i = start; i < end; i++) {
      const c = input.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return BSN_NON_DIGIT;
    }
    return BSN_LENGTH;
  }
  // An 8-digit input is read as if it had a leading zero, which has weight 9.
  let weight = n === 9 ? 9 : 8;
  let sum = 0;
  let any = 0;
  for (let i = start; i < end; i++) {
    const d = input.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return BSN_NON_DIGIT;
    sum += weight === 1 ? -d : weight * d;
    any |= d;
    weight--;
  }
  if (any === 0) return BSN_ZERO;
  if (sum % 11 !== 0) return BSN_CHECKSUM;
  if (n === 9) return start === 0 && end === input.length ? input : input.slice(start, end);
  return '0' + input.slice(start, end);
}

/** Normalises an e-mail address or returns why it is invalid. */
export function checkEmail(input: string): string | InvalidReason {
  const trimmed = input.trim();
  if (trimmed.length > 254) return EMAIL_LENGTH;
  if (!trimmed.isWellFormed()) return RAW_ENCODING;
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1 || /\s/u.test(trimmed)) return EMAIL_FORM;
  const local = trimmed.slice(0, at);
  const domain = trimmed.slice(at + 1);
  return (local + '@' + domain.toLowerCase()).normalize('NFC');
}

/** Normalises a raw identifier (NFC) or returns why it is invalid. */
export function checkRaw(input: string): string | InvalidReason {
  if (input.length === 0) return RAW_EMPTY;
  if (input.length > MAX_RAW_LENGTH) return RAW_LENGTH;
  if (!input.isWellFormed()) return RAW_ENCODING;
  return input.normalize('NFC');
}

/** The checker for an identifier type. */
export function checkerFor(idType: IdType): (input: string) => string | InvalidReason {
  switch (idType) {
    case 'bsn':
      return checkBsn;
    case 'email':
      return checkEmail;
    case 'raw':
      return checkRaw;
    default: {
      const never: never = idType;
      throw new KoppelError('INVALID_ARGUMENT', `Unknown identifier type; use one of ${ID_TYPES.join(', ')}.`, {
        details: { idType: String(never) },
      });
    }
  }
}

/** Throws the typed error for a rejected identifier. */
export function invalidIdentifierError(r: InvalidReason): KoppelError {
  return new KoppelError(r.code, r.message, { details: { reason: r.reason } });
}

/**
 * Returns the canonical 9-digit form of a BSN.
 *
 * @throws KoppelError `INVALID_BSN` (with `details.reason` one of `empty`, `length`,
 *   `non-digit`, `zero`, `checksum`) when the input is not a valid BSN.
 */
export function normaliseBsn(input: string): string {
  const r = checkBsn(input);
  if (typeof r !== 'string') throw invalidIdentifierError(r);
  return r;
}

/** True when `input` normalises to a valid BSN (see {@link normaliseBsn}). */
export function isValidBsn(input: string): boolean {
  return typeof checkBsn(input) === 'string';
}

/**
 * Returns the canonical form of an identifier of the given type.
 *
 * @throws KoppelError `INVALID_BSN`, `INVALID_EMAIL` or `INVALID_IDENTIFIER`.
 */
export function normaliseIdentifier(input: string, idType: IdType): string {
  const r = checkerFor(idType)(input);
  if (typeof r !== 'string') throw invalidIdentifierError(r);
  return r;
}

/**
 * The normalisation a protocol applies to each of its items (PSI, join): identity for
 * `raw` or items already normalised, else {@link normaliseIdentifier}. An invalid item
 * is a typed error that names its position (1-based), never its value.
 *
 * @throws KoppelError `INVALID_BSN`, `INVALID_EMAIL` or `INVALID_IDENTIFIER`, with `details.item`
 */
export function itemNormaliser(idType: IdType, prenormalised = false): (item: string, index: number) => string {
  if (!ID_TYPES.includes(idType)) throw new KoppelError('INVALID_ARGUMENT', `idType must be one of ${ID_TYPES.join(', ')}.`);
  if (idType === 'raw' || prenormalised) return (item) => item;
  const check = checkerFor(idType);
  return (item, index) => {
    const r = check(item);
    if (typeof r === 'string') return r;
    const e = invalidIdentifierError(r);
    throw new KoppelError(e.code, `Item ${index + 1}: ${e.message}`, { details: { ...e.details, item: index + 1 } });
  };
}
