/**
 * Keyed pseudonymisation (docs/pseudonymisation.md):
 *
 *     pseudonym = kid || "." || base64url( HMAC-SHA256( K_domain, UTF-8(normalise(id)) ) )
 *
 * Deterministic for a (key, domain, identifier); different domains and different keys
 * give unrelated pseudonyms. The output is 12 hex characters of key id, a dot, and 43
 * base64url characters (56 characters in all): only `[0-9A-Za-z._-]`, so it needs no
 * quoting in CSV and no escaping in URLs, and the key id prefix makes pseudonyms of
 * different keys impossible to mix silently.
 *
 * @packageDocumentation
 */
import { inspect } from 'node:util';
import { KoppelError } from '../errors/index.js';
import { fromBase64Url, wipe } from '../util/bytes.js';
import { FixedKeyHmac } from '../util/fixed-hmac.js';
import { deriveDomainKey, type PseudonymKey } from './key.js';
import { checkerFor, ID_TYPES, invalidIdentifierError, type IdType, type InvalidReason } from './normalise.js';

/**
 * @internal Lets koppel's worker threads build a pseudonymiser from an already derived
 * domain key, so the master key never leaves the main thread. Not exported.
 */
export const FROM_DOMAIN_KEY: unique symbol = Symbol('koppel.fromDomainKey');

/**
 * @internal Writes the base64url HMAC of an already normalised identifier (no key id
 * prefix, 43 bytes) into a buffer, for koppel's CSV fast path, which writes the prefix
 * itself. Not exported.
 */
export const DIGEST_INTO: unique symbol = Symbol('koppel.digestInto');

/** @internal The domain-key form of the constructor argument. */
export interface DomainKeyInit {
  readonly [FROM_DOMAIN_KEY]: { readonly kid: string; readonly domain: string; readonly domainKey: Uint8Array; readonly idType: IdType };
}

/** Options for a {@link Pseudonymiser}. */
export interface PseudonymiserOptions {
  /** The master key. */
  readonly key: PseudonymKey;
  /** The purpose, e.g. `cbs/2026/logius-link`; different domains give unrelated pseudonyms. */
  readonly domain: string;
  /** How identifiers are normalised before hashing; default `raw`. */
  readonly idType?: IdType;
}

/** The outcome of pseudonymising one identifier in a batch: a pseudonym or why not. */
export type PseudonymResult =
  { readonly ok: true; readonly pseudonym: string } | { readonly ok: false; readonly code: InvalidReason['code']; readonly reason: string };

const PSEUDONYM_PATTERN = /^([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/** A pseudonym split into its key id and 32-byte HMAC value. */
export interface ParsedPseudonym {
  /** The id of the key the pseudonym was made with. */
  readonly kid: string;
  /** The 32-byte HMAC output. */
  readonly digest: Uint8Array;
}

/**
 * Splits a pseudonym into key id and digest.
 *
 * @throws KoppelError `INVALID_PSEUDONYM` when the string is not in koppel format.
 */
export function parsePseudonym(pseudonym: string): ParsedPseudonym {
  const m = PSEUDONYM_PATTERN.exec(pseudonym);
  const digest = m?.[2] === undefined ? undefined : fromBase64Url(m[2]);
  if (!m || !digest || m[1] === undefined) {
    throw new KoppelError('INVALID_PSEUDONYM', 'Not a koppel pseudonym: expected 12 hex characters, a dot and 43 base64url characters.');
  }
  return { kid: m[1], digest };
}

/**
 * Turns identifiers into keyed pseudonyms for one domain.
 *
 * @example
 * ```ts
 * const p = new Pseudonymiser({ key: importKey(json), domain: 'cbs/2026/logius-link', idType: 'bsn' });
 * p.pseudonymise('111222333'); // '1a2b3c4d5e6f.Q2...' (56 characters)
 * ```
 */
export class Pseudonymiser {
  /** The key id every pseudonym of this instance starts with. */
  readonly kid: string;
  /** The domain. */
  readonly domain: string;
  /** The identifier type. */
  readonly idType: IdType;
  readonly #prefix: string;
  readonly #hmac: FixedKeyHmac;
  readonly #check: (input: string) => string | InvalidReason;

  /**
   * @throws KoppelError `INVALID_KEY` for a destroyed or foreign key, `INVALID_DOMAIN`
   *   for a bad domain name, `INVALID_ARGUMENT` for an unknown identifier type.
   */
  constructor(options: PseudonymiserOptions | DomainKeyInit) {
    const internal = FROM_DOMAIN_KEY in options ? options[FROM_DOMAIN_KEY] : undefined;
    const opts = options as PseudonymiserOptions;
    const idType = internal ? internal.idType : (opts.idType ?? 'raw');
    if (!ID_TYPES.includes(idType)) {
      throw new KoppelError('INVALID_ARGUMENT', `idType must be one of ${ID_TYPES.join(', ')}.`);
    }
    const domainKey = internal ? internal.domainKey : deriveDomainKey(opts.key, opts.domain);
    try {
      // The derived key lives on only as HMAC-SHA256's two midstates (wiped by destroy());
      // the key bytes themselves are wiped here.
      this.#hmac = new FixedKeyHmac(domainKey);
    } finally {
      wipe(domainKey);
    }
    this.kid = internal ? internal.kid : opts.key.kid;
    this.domain = internal ? internal.domain : opts.domain;
    this.idType = idType;
    this.#prefix = this.kid + '.';
    this.#check = checkerFor(idType);
  }

  /**
   * The pseudonym of one identifier.
   *
   * @throws KoppelError `INVALID_BSN`, `INVALID_EMAIL` or `INVALID_IDENTIFIER` when the
   *   identifier does not normalise; the message never contains the identifier.
   */
  pseudonymise(id: string): string {
    const normal = this.#check(id);
    if (typeof normal !== 'string') throw invalidIdentifierError(normal);
    return this.#prefix + this.#hmac.base64url(normal);
  }

  /**
   * The pseudonym of one identifier, or the reason it is invalid, without throwing.
   * For batch paths that apply a policy to invalid identifiers.
   */
  tryPseudonymise(id: string): PseudonymResult {
    const normal = this.#check(id);
    if (typeof normal !== 'string') return { ok: false, code: normal.code, reason: normal.reason };
    return { ok: true, pseudonym: this.#prefix + this.#hmac.base64url(normal) };
  }

  /** @internal See {@link DIGEST_INTO}; returns the offset after the 43 bytes. */
  [DIGEST_INTO](normal: string, dst: Uint8Array, offset: number): number {
    return this.#hmac.base64urlInto(normal, dst, offset);
  }

  /**
   * Zeroes the key material this instance holds (HMAC-SHA256's inner and outer states
   * of the domain key). Every later call throws `INVALID_KEY`. The master key is the
   * caller's to destroy ({@link PseudonymKey.destroy}).
   */
  destroy(): void {
    this.#hmac.wipe();
  }

  /**
   * Pseudonymises a batch (any iterable), lazily. Invalid identifiers are yielded as
   * failed results, so one bad value never aborts a batch.
   */
  *pseudonymiseMany(ids: Iterable<string>): Generator<PseudonymResult, void, undefined> {
    for (const id of ids) yield this.tryPseudonymise(id);
  }

  /**
   * Pseudonymises a stream (async iterable) of identifiers with constant memory.
   * Invalid identifiers are yielded as failed results.
   */
  async *pseudonymiseStream(ids: AsyncIterable<string> | Iterable<string>): AsyncGenerator<PseudonymResult, void, undefined> {
    for await (const id of ids) yield this.tryPseudonymise(id);
  }

  /**
   * True when `pseudonym` was made with this instance's key (by its key id prefix).
   * It does not, and cannot, tell the domain.
   */
  isOwnKey(pseudonym: string): boolean {
    return pseudonym.startsWith(this.#prefix) && PSEUDONYM_PATTERN.test(pseudonym);
  }

  /**
   * Throws unless `pseudonym` is in koppel format and carries this instance's key id:
   * use before joining pseudonyms from elsewhere with your own.
   *
   * @throws KoppelError `INVALID_PSEUDONYM` or `KEY_MISMATCH`.
   */
  assertOwnKey(pseudonym: string): void {
    const { kid } = parsePseudonym(pseudonym);
    if (kid !== this.kid) {
      throw new KoppelError('KEY_MISMATCH', 'Pseudonym was made with a different key; both sides must pseudonymise with the same key and domain.', {
        details: { expectedKid: this.kid, foundKid: kid },
      });
    }
  }

  /** Redacted view for `util.inspect` (and so for logging). */
  [inspect.custom](): string {
    return `Pseudonymiser { kid: '${this.kid}', idType: '${this.idType}' }`;
  }
}
