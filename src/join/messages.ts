/**
 * The private join's messages (docs/protocols/join.md): the protocols' specs for the
 * session layer (A with B, and each party with the helper), steps and control-message
 * codecs. Every message from another party is decoded with io-ts and its sizes checked
 * before use.
 *
 * @packageDocumentation
 */
import { IdentifierHello } from '../session/hello.js';
import { t } from '../util/cjs.js';
import { MAX_CHUNK_ITEMS, type ProtocolSpec } from '../session/link.js';
import { concatBytes, utf8 } from '../util/bytes.js';
import { intRange, pattern } from '../wire/codec.js';

/** Private join protocol version (inside wire format 1). */
export const JOIN_VERSION = 4;

/** The variants: `two-party` (6a, ElGamal) and `helper` (6b, a non-colluding helper). */
export type JoinVariant = 'two-party' | 'helper';
/** Every variant. */
export const JOIN_VARIANTS: readonly JoinVariant[] = Object.freeze(['two-party', 'helper']);

/** Most value columns per record. */
export const MAX_VALUE_COLUMNS = 16;
/** Most groups (lists) A may send: one list-sized message must fit one chunk frame. */
export const MAX_GROUPS = 65_534;
/** Most elements in all of A's lists together (B holds them all before shuffling): 2^27, 4 GiB. */
export const MAX_LIST_ELEMENTS = 2 ** 27;
/** Largest declared maximum of a value: 2^40. */
export const MAX_VALUE_BOUND = 2 ** 40;
/** The "no match" index A sends the helper. */
export const NO_MATCH = 0xffffffff;

export { MAX_CHUNK_ITEMS };

/** Message types. */
export const Step = {
  HELLO: 1,
  KEYS: 2,
  LISTS: 3,
  GROUP_ELEMENTS: 4,
  GROUP_DONE: 5,
  EVALUATED: 6,
  EVALUATED_DONE: 7,
  RECORDS_START: 8,
  RECORDS: 9,
  RECORDS_DONE: 10,
  DECRYPT: 11,
  PARTIALS: 12,
  FINISHED: 13,
  SEED: 20,
  INDICES: 21,
  INDICES_DONE: 22,
  SUMS: 23,
  ABORT: 63,
} as const;

/** The join between A and B, for the session layer. */
export const JOIN_PROTOCOL: ProtocolSpec = Object.freeze({ wire: 'join', name: 'koppel-join', version: JOIN_VERSION, steps: Step });
/** Each party's session with the helper (variant 6b), for the session layer. */
export const HELPER_PROTOCOL: ProtocolSpec = Object.freeze({ wire: 'join', name: 'koppel-join-helper', version: JOIN_VERSION, steps: Step });

const Variant = t.keyof({ 'two-party': null, helper: null }, 'JoinVariant');
const Suite = t.keyof({ x25519: null, ristretto255: null }, 'Suite');
// eslint-disable-next-line no-control-regex -- refuses control characters
const ColumnName = pattern(/^[^\u0000-\u001f\u007f]{1,64}$/u, 'column name (1 to 64 characters, no control characters)', 64);

/** Largest minimum count B may state: 2^31. */
export const MAX_MIN_COUNT = 2 ** 31;

/**
 * HELLO between A and B. B states its value columns, their declared maximum and its
 * policy `minCount`: A must not learn the sums of a group with fewer matches (absent: 1,
 * no policy, as from a value holder before the field existed).
 */
export const Hello = t.exact(
  t.intersection([
    t.type({
      protocol: t.literal('koppel-join'),
      version: intRange(0, 255),
      role: t.keyof({ groups: null, values: null }),
      variant: Variant,
      suite: Suite,
    }),
    t.partial({
      columns: t.array(ColumnName),
      maxValue: intRange(0, MAX_VALUE_BOUND),
      minCount: intRange(1, MAX_MIN_COUNT),
    }),
    IdentifierHello,
  ]),
  'Hello',
);
/** A decoded HELLO. */
export type Hello = t.TypeOf<typeof Hello>;

/**
 * HELLO to the helper: who is speaking, the sizes both parties must agree on, and B's
 * `minCount` (B states it; A repeats the one B sent it; absent: 1). The helper returns no
 * usable sum for a list with fewer matches.
 */
export const HelperHello = t.exact(
  t.intersection([
    t.type({
      protocol: t.literal('koppel-join-helper'),
      version: intRange(0, 255),
      role: t.keyof({ groups: null, values: null }),
      columns: intRange(1, MAX_VALUE_COLUMNS),
      positions: intRange(0, 2 ** 32 - 2),
      groups: intRange(0, MAX_GROUPS),
    }),
    t.partial({ minCount: intRange(1, MAX_MIN_COUNT) }),
  ]),
  'HelperHello',
);
/** A decoded helper HELLO. */
export type HelperHello = t.TypeOf<typeof HelperHello>;

/** LISTS: the (padded) size of every one of A's lists, in the order they follow. */
export const Lists = t.exact(t.type({ sizes: t.array(intRange(0, 2 ** 32 - 1)) }), 'Lists');

export { Done } from '../session/link.js';

/** RECORDS_START: how many of B's records follow. */
export const RecordsStart = t.exact(t.type({ count: intRange(0, 2 ** 32 - 2) }), 'RecordsStart');

/** Context strings that bind proofs and PRG expansions to the session: `koppel/join/v1/<what>\0 || session || u16 index`. */
export function context(session: Uint8Array, what: string, index = 0): Uint8Array {
  return concatBytes(utf8(`koppel/join/v1/${what}\u0000`), session, new Uint8Array([index >>> 8, index & 0xff]));
}
