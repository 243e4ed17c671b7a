/**
 * OPRF service keys: a 32-byte seed from the CSPRNG, from which RFC 9497 DeriveKeyPair
 * gives one key pair per mode (the mode is part of RFC 9497's context string, so OPRF
 * and VOPRF keys of one seed differ). Each (seed, mode) has its own key id: the first 12
 * hex characters of SHA-256("koppel/oprf-key-id/v1" || 0x00 || public key), the same
 * format as keyed pseudonyms' ids.
 * A pseudonym carries its key id, so outputs of different keys or modes never mix.
 *
 * Key file (JSON, mode 0600): `{ "type": "koppel-oprf-key", "version": 1,
 * "suite": "ristretto255-SHA512", "seed": base64url, "created": ISO 8601, "label"? }`.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { t } from '../util/cjs.js';
import { KoppelError } from '../errors/index.js';
import { fromBase64Url, randomBytes, toBase64Url, utf8, wipe } from '../util/bytes.js';
import { decodeOrThrow, pattern } from '../wire/codec.js';
import { deriveKeyPair, serializeScalar, type OprfMode } from './oprf.js';

/** The `type` of an OPRF key file. */
export const OPRF_KEY_TYPE = 'koppel-oprf-key';
/** The suite every koppel OPRF key is for. */
export const OPRF_SUITE = 'ristretto255-SHA512';
const KEY_INFO = utf8('koppel-oprf-key-v1');

const KeyFile = t.exact(
  t.intersection([
    t.type({
      type: t.literal(OPRF_KEY_TYPE),
      version: t.literal(1),
      suite: t.literal(OPRF_SUITE),
      seed: pattern(/^[A-Za-z0-9_-]{43}$/, 'base64url seed'),
      created: t.string,
    }),
    t.partial({ label: pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'label') }),
  ]),
  'OprfKeyFile',
);

/** One usable key: a mode's key pair and its id. The secret stays inside koppel. */
export interface OprfKey {
  readonly kid: string;
  readonly mode: OprfMode;
  readonly publicKey: Uint8Array;
  /** @internal the 32-byte secret scalar */
  readonly secretKey: Uint8Array;
}

/**
 * An {@link OprfKey} whose secret never shows: `secretKey` is not enumerable (so
 * `Object.keys`, spreading and `JSON.stringify` leave it out), `toJSON` and
 * `util.inspect` (and so every logger built on them) print the id, the mode and the
 * public key with the secret as `[redacted]`.
 */
function redactedKey(kid: string, mode: OprfMode, publicKey: Uint8Array, secretKey: Uint8Array): OprfKey {
  const view = () => ({ kid, mode, publicKey: Buffer.from(publicKey).toString('hex'), secretKey: '[redacted]' });
  const key = { kid, mode, publicKey } as OprfKey & { toJSON(): unknown };
  Object.defineProperty(key, 'secretKey', { value: secretKey, enumerable: false });
  Object.defineProperty(key, 'toJSON', { value: view, enumerable: false });
  Object.defineProperty(key, inspect.custom, { value: () => `OprfKey ${inspect(view())}`, enumerable: false });
  return Object.freeze(key);
}

/**
 * The key id of a public key: the first 12 hex characters (48 bits) of
 * SHA-256("koppel/oprf-key-id/v1" || 0x00 || `publicKey`).
 */
export function oprfKeyId(publicKey: Uint8Array): string {
  return createHash('sha256').update('koppel/oprf-key-id/v1\u0000').update(publicKey).digest('hex').slice(0, 12);
}

/** A new key file's JSON text (keep it secret: whoever holds it can evaluate for anyone). */
export function generateOprfKeyFile(label?: string): string {
  const seed = randomBytes(32);
  const json =
    JSON.stringify(
      { type: OPRF_KEY_TYPE, version: 1, suite: OPRF_SUITE, seed: toBase64Url(seed), created: new Date().toISOString(), ...(label ? { label } : {}) },
      null,
      2,
    ) + '\n';
  wipe(seed);
  return json;
}

/**
 * The OPRF and VOPRF keys of a key file.
 *
 * @throws KoppelError `INVALID_KEY` for anything but a koppel OPRF key file
 */
export function importOprfKeyFile(text: string): { oprf: OprfKey; voprf: OprfKey; label: string | undefined } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new KoppelError('INVALID_KEY', 'The OPRF key file is not JSON; use a file written by `koppel oprf keygen`.');
  }
  const f = decodeOrThrow(KeyFile, raw, 'OPRF key file', 'INVALID_KEY');
  const seed = fromBase64Url(f.seed);
  if (!seed || seed.length !== 32) throw new KoppelError('INVALID_KEY', "The OPRF key file's seed is not 32 bytes of base64url.");
  const make = (mode: OprfMode): OprfKey => {
    const kp = deriveKeyPair(seed, KEY_INFO, mode);
    return redactedKey(oprfKeyId(kp.publicKey), mode, kp.publicKey, serializeScalar(kp.secretKey));
  };
  const out = { oprf: make('oprf'), voprf: make('voprf'), label: f.label };
  wipe(seed);
  return out;
}
