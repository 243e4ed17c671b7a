/**
 * The private join's messages (docs/protocols/join.md): steps, control-message codecs
 * and the checked link. Every message from another party is decoded with io-ts and its
 * sizes checked before use.
 *
 * @packageDocumentation
 */
import { t } from '../util/cjs.js';
import type { Channel } from '../transport/channel.js';
import { decodeOrThrow, intRange, pattern } from '../wire/codec.js';
import { jsonBody, type Frame } from '../wire/frame.js';
import { KoppelError } from '../errors/index.js';
import { Link } from '../wire/link.js';
import { checkChunk, MAX_CHUNK_ITEMS } from '../psi/messages.js';

/** Private join protocol version (inside wire format 1). */
export const JOIN_VERSION = 1;

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

const STEP_NAMES = new Map<number, string>(Object.entries(Step).map(([k, v]) => [v, k]));

const Variant = t.keyof({ 'two-party': null, helper: null }, 'JoinVariant');
const Suite = t.keyof({ x25519: null, ristretto255: null }, 'Suite');
const ColumnName = pattern(/^[^\u0000-\u001f\u007f]{1,64}$/u, 'column name (1 to 64 characters, no control characters)', 64);

/** HELLO between A and B. B states its value columns and their declared maximum. */
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
    }),
  ]),
  'Hello',
);
/** A decoded HELLO. */
export type Hello = t.TypeOf<typeof Hello>;

/** HELLO to the helper: who is speaking, and the sizes both parties must agree on. */
export const HelperHello = t.exact(
  t.type({
    protocol: t.literal('koppel-join-helper'),
    version: intRange(0, 255),
    role: t.keyof({ groups: null, values: null }),
    columns: intRange(1, MAX_VALUE_COLUMNS),
    positions: intRange(0, 2 ** 32 - 2),
    groups: intRange(0, MAX_GROUPS),
  }),
  'HelperHello',
);
/** A decoded helper HELLO. */
export type HelperHello = t.TypeOf<typeof HelperHello>;

/** LISTS: the (padded) size of every one of A's lists, in the order they follow. */
export const Lists = t.exact(t.type({ sizes: t.array(intRange(0, 2 ** 32 - 1)) }), 'Lists');

/** *_DONE: how many items were sent. */
export const Done = t.exact(t.type({ count: intRange(0, 2 ** 32 - 1) }), 'Done');

/** RECORDS_START: how many of B's records follow. */
export const RecordsStart = t.exact(t.type({ count: intRange(0, 2 ** 32 - 2) }), 'RecordsStart');

/** A join link between two parties (or a party and the helper). */
export class JoinLink extends Link {
  constructor(channel: Channel, session: Uint8Array) {
    super(channel, 'join', session, STEP_NAMES);
  }

  /**
   * The chunks of one stream: frames of `chunkStep` (each checked to hold
   * `count * itemBytes` bytes) until `doneStep`, whose count must equal the items
   * received and `expected`. More items than `expected` is a protocol violation.
   * `race` lets the caller stop waiting when its run fails elsewhere.
   */
  async *stream(chunkStep: number, doneStep: number, what: string, itemBytes: number, expected: number, race: <T>(p: Promise<T>) => Promise<T> = (p) => p): AsyncGenerator<Frame, void, undefined> {
    let received = 0;
    for (;;) {
      const f = await race(this.receiveChunk([chunkStep, doneStep], chunkStep, what, itemBytes));
      if (f.step === doneStep) {
        const { count } = decodeOrThrow(Done, jsonBody(f, `end of ${what}`), `end of ${what}`);
        if (count !== received || received !== expected) {
          throw new KoppelError('MESSAGE_MALFORMED', `The peer sent another number of ${what} than announced.`, { details: { expected, declared: count, received } });
        }
        return;
      }
      if (received + f.count > expected) throw new KoppelError('PROTOCOL_VIOLATION', `The peer sent more ${what} than announced.`, { details: { expected } });
      received += f.count;
      yield f;
    }
  }

  /** Receives a chunk frame of one of `steps`; chunk steps are checked to hold `count * itemBytes` bytes. */
  async receiveChunk(steps: readonly number[], chunkStep: number, what: string, itemBytes: number): Promise<Frame> {
    const f = await this.receive(steps, what);
    if (f.step === chunkStep) checkChunk(f, itemBytes, what);
    return f;
  }
}
