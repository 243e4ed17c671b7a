/**
 * Looking up a group suite by name.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { SUITE_NAMES, type GroupSuite, type SuiteName } from './types.js';
import { x25519Suite } from './x25519.js';
import { ristretto255Suite } from './ristretto255.js';

export { SUITE_NAMES, wipeScalar, checkPacked } from './types.js';
export type { GroupSuite, SuiteName, ScalarPair } from './types.js';

/** Returns the suite with this name. */
export function getSuite(name: SuiteName): GroupSuite {
  switch (name) {
    case 'x25519':
      return x25519Suite;
    case 'ristretto255':
      return ristretto255Suite;
    default: {
      const never: never = name;
      throw new KoppelError('SUITE_MISMATCH', `Unknown group suite; use one of ${SUITE_NAMES.join(', ')}.`, { details: { suite: String(never) } });
    }
  }
}
