/**
 * The aggregation round's messages (docs/protocols/aggregate.md): the protocol's spec for
 * the session layer, its steps, the HELLO codecs of input parties and aggregators, and the
 * control messages. Every message from another party is decoded with these exact io-ts
 * codecs before use.
 *
 * @packageDocumentation
 */
import { t } from '../util/cjs.js';
import type { SharedParam } from '../session/hello.js';
import { ABORT, HELLO, type ProtocolSpec } from '../session/link.js';
import { intRange, pattern } from '../wire/codec.js';

/** Aggregation protocol version. */
export const AGGREGATE_VERSION = 1;

/** Message types. */
export const AggStep = { HELLO, SUBMIT_DATA: 2, SUBMIT_RESULT: 3, AGREED: 4, AGGREGATE: 5, ABORT } as const;

/** The aggregation protocol, for the session layer. */
export const AGGREGATE_PROTOCOL: ProtocolSpec = Object.freeze({ wire: 'aggregate', name: 'koppel-aggregate', version: AGGREGATE_VERSION, steps: AggStep });

const Party = pattern(/^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$/, 'party id', 128);
const Hex64 = pattern(/^[0-9a-f]{64}$/, 'sha-256 hex', 64);

/** HELLO of an input party to an aggregator. */
export const InputHello = t.exact(
  t.type({
    protocol: t.literal('koppel-aggregate'),
    version: intRange(0, 255),
    role: t.literal('input'),
    round: t.string,
    config: Hex64,
    party: Party,
    aggregator: intRange(0, 63),
    kind: t.keyof({ seed: null, vector: null }),
  }),
  'InputHello',
);
/** HELLO of an aggregator to the collector: the parties it accepted. */
export const AggregatorHello = t.exact(
  t.type({
    protocol: t.literal('koppel-aggregate'),
    version: intRange(0, 255),
    role: t.literal('aggregator'),
    round: t.string,
    config: Hex64,
    aggregator: intRange(0, 63),
    parties: t.array(Party),
  }),
  'AggregatorHello',
);
/** SUBMIT_RESULT: the aggregator's answer to one submission. */
export const SubmitResult = t.exact(t.type({ accepted: t.boolean, code: t.union([t.string, t.null]) }), 'SubmitResult');
/** AGREED: the parties the collector found at every aggregator. */
export const Agreed = t.exact(t.type({ parties: t.array(Party) }), 'Agreed');

/** What every party of a round must share: the round id and the hash of its settings. */
export const SHARED: readonly SharedParam[] = [
  { field: 'round', code: 'ROUND_MISMATCH', flag: 'round file' },
  { field: 'config', code: 'ROUND_MISMATCH', flag: 'round file (codebook and settings)' },
];
