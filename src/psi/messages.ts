/**
 * The PSI messages (docs/protocols/psi.md): the protocol's spec for the session layer,
 * its steps and its control-message codecs.
 *
 * @packageDocumentation
 */
import { IdentifierHello } from '../session/hello.js';
import { t } from '../util/cjs.js';
import type { ProtocolSpec } from '../session/link.js';
import { intRange } from '../wire/codec.js';

/** The PSI modes. */
export type PsiMode = 'intersection' | 'cardinality' | 'payload';
/** Every PSI mode. */
export const PSI_MODES: readonly PsiMode[] = Object.freeze(['intersection', 'cardinality', 'payload']);

/** PSI protocol version (inside wire format 1). */
export const PSI_VERSION = 1;
/** Largest padded payload. */
export const MAX_PAYLOAD_BYTES = 65535;

/** Message types, in protocol order. */
export const Step = {
  HELLO: 1,
  CLIENT_ELEMENTS: 2,
  CLIENT_DONE: 3,
  SERVER_EVALUATED: 4,
  SERVER_EVALUATED_DONE: 5,
  TAGS_START: 6,
  SERVER_TAGS: 7,
  SERVER_DONE: 8,
  ABORT: 63,
} as const;

/** The PSI protocol, for the session layer. */
export const PSI_PROTOCOL: ProtocolSpec = Object.freeze({ wire: 'psi', name: 'koppel-psi', version: PSI_VERSION, steps: Step });

const Mode = t.keyof({ intersection: null, cardinality: null, payload: null }, 'PsiMode');
const Suite = t.keyof({ x25519: null, ristretto255: null }, 'Suite');

/** HELLO, both directions. */
export const Hello = t.exact(
  t.intersection([
    t.type({
      protocol: t.literal('koppel-psi'),
      version: intRange(0, 255),
      role: t.keyof({ client: null, server: null }),
      mode: Mode,
      suite: Suite,
    }),
    IdentifierHello,
  ]),
  'Hello',
);
/** A decoded HELLO. */
export type Hello = t.TypeOf<typeof Hello>;

/** TAGS_START: how many tag entries follow, and the padded payload size. */
export const TagsStart = t.exact(t.type({ count: intRange(0, 2 ** 32 - 1), payloadBytes: intRange(0, MAX_PAYLOAD_BYTES) }), 'TagsStart');

export { Abort, Done, MAX_CHUNK_ITEMS } from '../session/link.js';
