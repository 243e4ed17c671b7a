/**
 * The CPU-bound steps of ECDH-PSI, as batch operations that run inline or on worker
 * threads (see {@link TaskPool}). Inputs and outputs are packed byte arrays.
 *
 * @packageDocumentation
 */
import { hash } from 'node:crypto';
import { wipe } from '../util/bytes.js';
import { loadSuite } from '../group/load.js';
import type { SuiteName } from '../group/types.js';

/** Bytes of a matching tag: 128 bits, so collisions among 2^32 elements have probability below 2^-64. */
export const TAG_BYTES = 16;

/** Bytes of a payload key. */
export const KEY_BYTES = 32;

const TAG_PREFIX = Buffer.from('koppel-psi-v1-tag\0');
const KEY_PREFIX = Buffer.from('koppel-psi-v1-payload-key\0');

/**
 * The hash-to-group domain separation tag of a suite (fixed per protocol version). The
 * private join's blinding layer uses its own tag, so elements of a PSI session and of a
 * join never coincide even under the same scalar.
 */
export function psiDst(suite: SuiteName, protocol: 'psi' | 'join' = 'psi'): Uint8Array {
  const name = suite === 'x25519' ? 'curve25519_XMD:SHA-512_ELL2_NU_' : 'ristretto255_XMD:SHA-512_R255MAP_RO_';
  return new TextEncoder().encode(`koppel-${protocol}-v1-${name}`);
}

/**
 * Tags (and, with `keys`, payload keys) of packed elements H(y)^b:
 * tag = SHA-256("koppel-psi-v1-tag\0" || session || element)[0..16],
 * key = SHA-256("koppel-psi-v1-payload-key\0" || session || element).
 * The session id makes tags of different sessions unrelated even for equal elements.
 */
export function deriveTags(packed: Uint8Array, session: Uint8Array, keys: boolean): { tags: Uint8Array; keys?: Uint8Array } {
  const n = packed.length / 32;
  const tags = new Uint8Array(n * TAG_BYTES);
  const out = keys ? new Uint8Array(n * KEY_BYTES) : undefined;
  // One-shot hashes of prefix || session || element, the element written into a reused
  // input each time (cheaper than a hash object per element).
  const tagIn = hashInput(TAG_PREFIX, session);
  const keyIn = out ? hashInput(KEY_PREFIX, session) : undefined;
  const at = TAG_PREFIX.length + session.length;
  const keyAt = KEY_PREFIX.length + session.length;
  for (let i = 0; i < n; i++) {
    const el = packed.subarray(i * 32, i * 32 + 32);
    tagIn.set(el, at);
    tags.set(hash('sha256', tagIn, 'buffer').subarray(0, TAG_BYTES), i * TAG_BYTES);
    if (out && keyIn) {
      keyIn.set(el, keyAt);
      out.set(hash('sha256', keyIn, 'buffer'), i * KEY_BYTES);
    }
  }
  if (keyIn) wipe(keyIn);
  wipe(tagIn);
  return out ? { tags, keys: out } : { tags };
}

/** prefix || session || room for one element. */
function hashInput(prefix: Uint8Array, session: Uint8Array): Buffer {
  const b = Buffer.alloc(prefix.length + session.length + 32);
  b.set(prefix, 0);
  b.set(session, prefix.length);
  return b;
}

/** Arguments of {@link psiOps}.hashMultiply. */
export interface HashMultiplyArg {
  readonly suite: SuiteName;
  readonly items: string[];
  readonly scalar: Uint8Array;
  /** Whose domain separation tag to hash with (default `psi`). */
  readonly protocol?: 'psi' | 'join';
}

/** Arguments of {@link psiOps}.multiply. */
export interface MultiplyArg {
  readonly suite: SuiteName;
  readonly scalar: Uint8Array;
  readonly packed: Uint8Array;
}

/** Arguments of {@link psiOps}.multiplyTags. */
export interface MultiplyTagsArg extends MultiplyArg {
  readonly session: Uint8Array;
  readonly keys: boolean;
}

/** Arguments of {@link psiOps}.hashMultiplyTags. */
export interface HashMultiplyTagsArg extends HashMultiplyArg {
  readonly session: Uint8Array;
  readonly keys: boolean;
}

/** The operations, by name, for {@link TaskPool}. */
export const psiOps = {
  /** H(x)^k for a batch of identifiers: the client's blinding step. */
  async hashMultiply(arg: HashMultiplyArg): Promise<Uint8Array> {
    const suite = await loadSuite(arg.suite);
    return suite.multiplyAsync(arg.scalar, suite.hashToGroup(arg.items, psiDst(arg.suite, arg.protocol)));
  },
  /** E^k for a batch of peer elements (validated): the server's evaluation step. */
  async multiply(arg: MultiplyArg): Promise<Uint8Array> {
    return (await loadSuite(arg.suite)).multiplyAsync(arg.scalar, arg.packed);
  },
  /** Tags of E^k: the client's unblinding step (k = 1/a). */
  async multiplyTags(arg: MultiplyTagsArg): Promise<{ tags: Uint8Array; keys?: Uint8Array }> {
    return deriveTags(await (await loadSuite(arg.suite)).multiplyAsync(arg.scalar, arg.packed), arg.session, arg.keys);
  },
  /** Tags of H(y)^k: the server's own set. */
  async hashMultiplyTags(arg: HashMultiplyTagsArg): Promise<{ tags: Uint8Array; keys?: Uint8Array }> {
    return deriveTags(await psiOps.hashMultiply(arg), arg.session, arg.keys);
  },
};
