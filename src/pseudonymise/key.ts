/**
 * Pseudonymisation master keys: generation, export and import, and per-domain key
 * derivation (docs/pseudonymisation.md).
 *
 * A key is 32 bytes from the platform CSPRNG. Its key id (`kid`) is a 48-bit
 * fingerprint derived from the secret with HKDF, so a key file whose secret was
 * edited or corrupted no longer matches its id and is refused on import, and two key
 * files with the same id hold the same key. The id reveals nothing about the secret.
 *
 * The secret is held in a private field: `JSON.stringify`, logging and
 * `util.inspect` of a {@link PseudonymKey} show the id, never the secret. Only
 * {@link exportKey} writes the secret out.
 *
 * @packageDocumentation
 */
import { inspect } from 'node:util';
import { KoppelError } from '../errors/index.js';
import { fromBase64Url, randomBytes, toBase64Url, toHex, utf8, wipe } from '../util/bytes.js';
import { hkdfSha256 } from '../util/hash.js';

/** Length of a master secret in bytes. */
export const KEY_BYTES = 32;
/** The `type` field of an exported key. */
export const KEY_TYPE = 'koppel-pseudonym-key';
/** The format version of an exported key. */
export const KEY_FORMAT = 1;
/** The algorithm a key is used with. */
export const KEY_ALGORITHM = 'HKDF-SHA256/HMAC-SHA256';

const KID_INFO = utf8('koppel/key-id/v1');
const DOMAIN_INFO_PREFIX = 'koppel/pseudonym/v1/';
const EMPTY = new Uint8Array(0);
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Longest domain name, in UTF-8 bytes. */
export const MAX_DOMAIN_BYTES = 200;

/** Access to a key's secret for koppel's own modules; not exported from the package. */
const secrets = new WeakMap<PseudonymKey, Uint8Array>();

/**
 * A pseudonymisation master key. Create one with {@link generateKey} or
 * {@link importKey}; the secret never appears in logs or JSON.
 */
export class PseudonymKey {
  /** The key id: 12 lower-case hex characters derived from the secret. */
  readonly kid: string;
  /** When the key was generated (ISO 8601, UTC). */
  readonly created: string;
  /** An optional human label, e.g. `cbs-2026`. Not secret. */
  readonly label: string | undefined;

  /** @internal Use {@link generateKey} or {@link importKey}. */
  constructor(secret: Uint8Array, created: string, label: string | undefined) {
    checkSecretStrength(secret);
    this.kid = keyIdOf(secret);
    this.created = created;
    this.label = label;
    secrets.set(this, Uint8Array.from(secret));
    Object.freeze(this);
  }

  /** True once {@link PseudonymKey.destroy} has wiped the secret. */
  get destroyed(): boolean {
    return !secrets.has(this);
  }

  /**
   * Overwrites the secret with zeros and forgets it. Pseudonymisers already derived
   * from this key keep working (they hold their own domain key); new derivations fail.
   */
  destroy(): void {
    const s = secrets.get(this);
    if (s) wipe(s);
    secrets.delete(this);
  }

  /** A redacted view for JSON: the id, creation time and label, never the secret. */
  toJSON(): { kid: string; created: string; label?: string; secret: '[redacted]' } {
    return { kid: this.kid, created: this.created, ...(this.label ? { label: this.label } : {}), secret: '[redacted]' };
  }

  /** Redacted view for `util.inspect` (and so for logging). */
  [inspect.custom](): string {
    return `PseudonymKey { kid: '${this.kid}', secret: [redacted] }`;
  }
}

/** @internal The secret of a key, for derivations inside koppel. */
export function keySecret(key: PseudonymKey): Uint8Array {
  if (!(key instanceof PseudonymKey)) {
    throw new KoppelError('INVALID_KEY', 'Expected a PseudonymKey from generateKey() or importKey().');
  }
  const s = secrets.get(key);
  if (!s) throw new KoppelError('INVALID_KEY', 'This key was destroyed; import it again from its key file.');
  return s;
}

function keyIdOf(secret: Uint8Array): string {
  return toHex(hkdfSha256(secret, EMPTY, KID_INFO, 6));
}

/**
 * Refuses secrets that are too short or visibly not random. A CSPRNG output of 32
 * bytes has fewer than 16 distinct byte values, or consists only of printable ASCII,
 * with probability below 2^-40; such a secret was typed or patterned by a person.
 */
function checkSecretStrength(secret: Uint8Array): void {
  if (secret.length !== KEY_BYTES) {
    throw new KoppelError('WEAK_KEY', `Key secret must be exactly ${KEY_BYTES} random bytes; generate one with 'koppel keygen'.`, {
      details: { length: secret.length },
    });
  }
  const seen = new Set(secret);
  const printable = secret.every((b) => b >= 0x20 && b < 0x7f);
  if (seen.size < 16 || printable) {
    throw new KoppelError('WEAK_KEY', "Key secret does not look random (repeated bytes or typed text); generate one with 'koppel keygen'.");
  }
}

/** Options for {@link generateKey}. */
export interface GenerateKeyOptions {
  /** A human label stored with the key (letters, digits, `.`, `_`, `-`; at most 64). */
  readonly label?: string;
}

function checkLabel(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  if (!LABEL_PATTERN.test(label)) {
    throw new KoppelError('INVALID_ARGUMENT', 'Key label must be 1-64 characters: letters, digits, ".", "_" or "-", starting with a letter or digit.');
  }
  return label;
}

/** Generates a fresh master key from the platform CSPRNG. */
export function generateKey(options: GenerateKeyOptions = {}): PseudonymKey {
  const label = checkLabel(options.label);
  for (;;) {
    const secret = randomBytes(KEY_BYTES);
    try {
      return new PseudonymKey(secret, new Date().toISOString(), label);
    } catch (e) {
      // Probability below 2^-40; draw again rather than fail.
      if (!(e instanceof KoppelError && e.code === 'WEAK_KEY')) throw e;
    } finally {
      wipe(secret);
    }
  }
}

/** The JSON form of an exported key. */
export interface ExportedKey {
  readonly type: typeof KEY_TYPE;
  readonly format: typeof KEY_FORMAT;
  readonly alg: typeof KEY_ALGORITHM;
  readonly kid: string;
  readonly created: string;
  readonly label?: string;
  /** The 32-byte secret, unpadded base64url. */
  readonly secret: string;
}

/**
 * Serialises a key, secret included, as JSON. Store the result as you would a
 * password: readable by the pseudonymisation job only (the CLI writes mode 0600).
 */
export function exportKey(key: PseudonymKey): string {
  const secret = keySecret(key);
  const out: ExportedKey = {
    type: KEY_TYPE,
    format: KEY_FORMAT,
    alg: KEY_ALGORITHM,
    kid: key.kid,
    created: key.created,
    ...(key.label ? { label: key.label } : {}),
    secret: toBase64Url(secret),
  };
  return JSON.stringify(out, null, 2) + '\n';
}

function invalidKey(message: string, field?: string): KoppelError {
  return new KoppelError('INVALID_KEY', message, field ? { details: { field } } : {});
}

/**
 * Reads a key from its exported JSON.
 *
 * @throws KoppelError `INVALID_KEY` for malformed JSON, a wrong type, format or
 *   algorithm, a bad secret encoding, or a key id that does not match the secret
 *   (a corrupted or edited file); `WEAK_KEY` for a secret that is not 32 random bytes.
 */
export function importKey(json: string): PseudonymKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw invalidKey('Key is not valid JSON; pass the file written by `koppel keygen`.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidKey('Key must be a JSON object as written by `koppel keygen`.');
  }
  const o = parsed as Record<string, unknown>;
  if (o['type'] !== KEY_TYPE) throw invalidKey(`Key type must be "${KEY_TYPE}"; this is not a koppel pseudonymisation key.`, 'type');
  if (o['format'] !== KEY_FORMAT) throw invalidKey(`Key format ${String(o['format'])} is not supported; this version reads format ${KEY_FORMAT}.`, 'format');
  if (o['alg'] !== KEY_ALGORITHM) throw invalidKey(`Key algorithm must be "${KEY_ALGORITHM}".`, 'alg');
  const known = new Set(['type', 'format', 'alg', 'kid', 'created', 'label', 'secret']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw invalidKey('Key has an unknown field; was it edited by hand?', 'unknown');
  const { kid, created, label, secret } = o;
  if (typeof kid !== 'string' || !/^[0-9a-f]{12}$/.test(kid)) throw invalidKey('Key id must be 12 lower-case hex characters.', 'kid');
  if (typeof created !== 'string' || Number.isNaN(Date.parse(created))) throw invalidKey('Key creation time must be an ISO 8601 date.', 'created');
  if (label !== undefined && typeof label !== 'string') throw invalidKey('Key label must be a string.', 'label');
  if (typeof secret !== 'string') throw invalidKey('Key secret is missing.', 'secret');
  const bytes = fromBase64Url(secret);
  if (!bytes) throw invalidKey('Key secret is not canonical unpadded base64url.', 'secret');
  try {
    const key = new PseudonymKey(bytes, created, checkLabel(label));
    if (key.kid !== kid) {
      key.destroy();
      throw invalidKey('Key id does not match the secret: the key file is corrupted or was edited.', 'kid');
    }
    return key;
  } finally {
    wipe(bytes);
  }
}

/**
 * Checks a pseudonymisation domain name: 1 to 200 UTF-8 bytes, no control characters,
 * in Unicode NFC (so that visually equal names cannot derive different keys).
 */
export function checkDomain(domain: string): string {
  if (typeof domain !== 'string' || domain.length === 0) {
    throw new KoppelError('INVALID_DOMAIN', 'Domain must be a non-empty name such as "cbs/2026/logius-link".');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(domain) || !domain.isWellFormed()) {
    throw new KoppelError('INVALID_DOMAIN', 'Domain must not contain control characters or broken text encoding.');
  }
  if (domain.normalize('NFC') !== domain) {
    throw new KoppelError('INVALID_DOMAIN', 'Domain must be in Unicode NFC form; normalise it before use.');
  }
  if (utf8(domain).length > MAX_DOMAIN_BYTES) {
    throw new KoppelError('INVALID_DOMAIN', `Domain must be at most ${MAX_DOMAIN_BYTES} bytes in UTF-8.`);
  }
  return domain;
}

/**
 * K_domain = HKDF-SHA256(ikm = master secret, salt = empty, info = "koppel/pseudonym/v1/"
 * || domain, L = 32). The prefix has fixed length and content, so the info string
 * determines the domain uniquely (no separator ambiguity).
 *
 * @internal The caller owns and must wipe the returned bytes.
 */
export function deriveDomainKey(key: PseudonymKey, domain: string): Uint8Array {
  return hkdfSha256(keySecret(key), EMPTY, utf8(DOMAIN_INFO_PREFIX + checkDomain(domain)), 32);
}
