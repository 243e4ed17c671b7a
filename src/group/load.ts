/**
 * Looking up a group suite by name without loading the others: for worker threads, which
 * start on every run. `x25519` is at hand; `ristretto255` (and the @noble/curves modules
 * it brings, about 25 ms of a worker's start on a 2-core AMD EPYC) is loaded by the first
 * task that needs it.
 *
 * @internal
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { SUITE_NAMES, type GroupSuite, type SuiteName } from './types.js';
import { x25519Suite } from './x25519.js';

let ristretto: Promise<GroupSuite> | undefined;

/**
 * The suite with this name, as {@link getSuite} gives it (the same objects), loading its
 * module on first use.
 *
 * @throws KoppelError `SUITE_MISMATCH` for a name that is no suite (through the promise)
 */
export function loadSuite(name: SuiteName): Promise<GroupSuite> {
  switch (name) {
    case 'x25519':
      return Promise.resolve(x25519Suite);
    case 'ristretto255':
      return (ristretto ??= import('./ristretto255.js').then((m) => m.ristretto255Suite));
    default: {
      const never: never = name;
      return Promise.reject(
        new KoppelError('SUITE_MISMATCH', `Unknown group suite; use one of ${SUITE_NAMES.join(', ')}.`, { details: { suite: String(never) } }),
      );
    }
  }
}
