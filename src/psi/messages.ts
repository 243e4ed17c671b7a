/**
 * The PSI messages (docs/protocols/psi.md): steps, control-message codecs, and the
 * checked link every PSI frame passes through.
 *
 * @packageDocumentation
 */
import { t } from '../util/cjs.js';
import { KoppelError } from '../errors/index.js';
import type { Channel } from '../transport/channel.js';
import { intRange } from '../wire/codec.js';
import type { Frame } from '../wire/frame.js';
import { Link } from '../wire/link.js';

/** The PSI modes. */
export type PsiMode = 'intersection' | 'cardinality' | 'payload';
/** Every PSI mode. */
export const PSI_MODES: readonly PsiMode[] = Object.freeze(['intersection', 'cardinality', 'payload']);

/** PSI protocol version (inside wire format 1). */
export const PSI_VERSION = 1;
/** Largest number of items in one chunk frame. */
export const MAX_CHUNK_ITEMS = 65536;
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

export const STEP_NAMES = new Map<number, string>(Object.entries(Step).map(([k, v]) => [v, k]));

const Mode = t.keyof({ intersection: null, cardinality: null, payload: null }, 'PsiMode');
const Suite = t.keyof({ x25519: null, ristretto255: null }, 'Suite');

/** HELLO, both directions. */
export const Hello = t.exact(
  t.type({
    protocol: t.literal('koppel-psi'),
    version: intRange(0, 255),
    role: t.keyof({ client: null, server: null }),
    mode: Mode,
    suite: Suite,
  }),
  'Hello',
);
/** A decoded HELLO. */
export type Hello = t.TypeOf<typeof Hello>;

/** CLIENT_DONE and SERVER_EVALUATED_DONE: the total number of items sent. */
export const Done = t.exact(t.type({ count: intRange(0, 2 ** 32 - 1) }), 'Done');

/** TAGS_START: how many tag entries follow, and the padded payload size. */
export const TagsStart = t.exact(t.type({ count: intRange(0, 2 ** 32 - 1), payloadBytes: intRange(0, MAX_PAYLOAD_BYTES) }), 'TagsStart');

export { Abort } from '../wire/link.js';

/** A channel carrying checked PSI frames of one session. */
export class PsiLink extends Link {
  constructor(channel: Channel, session: Uint8Array) {
    super(channel, 'psi', session, STEP_NAMES);
  }

  /** Receives a chunk frame of one of `steps` and checks its size: `count * itemBytes`. */
  async receiveChunk(steps: readonly number[], what: string, itemBytes: number): Promise<Frame> {
    const f = await this.receive(steps, what);
    if (steps.includes(f.step) && isChunkStep(f.step)) checkChunk(f, itemBytes, what);
    return f;
  }
}

function isChunkStep(step: number): boolean {
  return step === Step.CLIENT_ELEMENTS || step === Step.SERVER_EVALUATED || step === Step.SERVER_TAGS;
}

/** Checks a chunk frame: 1..MAX_CHUNK_ITEMS items of exactly `itemBytes` each. */
export function checkChunk(f: Frame, itemBytes: number, what: string): void {
  if (f.count < 1 || f.count > MAX_CHUNK_ITEMS) {
    throw new KoppelError('MESSAGE_MALFORMED', `The peer's ${what} has ${f.count} items; a chunk holds 1 to ${MAX_CHUNK_ITEMS}.`, { details: { count: f.count } });
  }
  if (f.body.length !== f.count * itemBytes) {
    throw new KoppelError('MESSAGE_MALFORMED', `The peer's ${what} declares ${f.count} items but carries ${f.body.length} bytes (expected ${f.count * itemBytes}).`, {
      details: { count: f.count, bytes: f.body.length },
    });
  }
}

export { FailFast, OrderedPipeline } from '../util/pipeline.js';
