/**
 * What every streaming protocol (PSI, the private join) shares beyond the session: the
 * batching settings (suite, chunk size, worker threads) with their defaults, and the
 * dummy elements that pad a party's sets up to a public bound.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { KoppelError } from '../errors/index.js';
import { SUITE_NAMES } from '../group/suite.js';
import type { SuiteName } from '../group/types.js';
import { randomBytes, toHex } from '../util/bytes.js';
import { MAX_CHUNK_ITEMS } from './link.js';

/** The batching settings of a streaming protocol. */
export interface Batching {
  /** The group suite. */
  readonly suite: SuiteName;
  /** Items per chunk frame. */
  readonly chunk: number;
  /** Worker threads (0: inline). */
  readonly threads: number;
}

/**
 * The suite, chunk size and thread count every streaming protocol takes, with their
 * defaults (`x25519`, 4096 items, the machine's cores), checked.
 *
 * @throws KoppelError `INVALID_ARGUMENT`
 */
export function resolveBatching(o: { readonly suite?: SuiteName; readonly chunkSize?: number; readonly threads?: number }): Batching {
  const suite = o.suite ?? 'x25519';
  if (!SUITE_NAMES.includes(suite)) throw new KoppelError('INVALID_ARGUMENT', `suite must be one of ${SUITE_NAMES.join(', ')}.`);
  const chunk = o.chunkSize ?? 4096;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_CHUNK_ITEMS)
    throw new KoppelError('INVALID_ARGUMENT', `chunkSize must be an integer from 1 to ${MAX_CHUNK_ITEMS}.`);
  const threads = o.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw new KoppelError('INVALID_ARGUMENT', 'threads must be an integer from 0 to 256.');
  return { suite, chunk, threads };
}

/**
 * `n` random identifiers for padding: hashed like real ones, so the elements they
 * become look like real elements, and (random) they match nothing.
 */
export function dummyIds(n: number): string[] {
  return Array.from({ length: n }, () => 'koppel-pad-' + toHex(randomBytes(16)));
}

/** Items in the first chunk of a stream; each later chunk doubles up to the chunk size. */
export const FIRST_CHUNK_ITEMS = 256;

/**
 * The size of a stream's chunk number `index` (from 0): 256, 512, 1024, ... up to
 * `chunk`. Small first chunks let the peer, and every worker thread, start work sooner
 * (a small set's run is otherwise a chain of a few large tasks on one core each); later
 * ones are full size for throughput. The sizes depend on the chunk setting only, never
 * on the data.
 */
export function rampedChunk(chunk: number, index: number): number {
  return index >= 24 ? chunk : Math.min(chunk, FIRST_CHUNK_ITEMS * 2 ** index);
}
