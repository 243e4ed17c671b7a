/**
 * The seam between the join's blinding layer and its value layers. The blinding layer
 * (`blinding.ts`) decides which of B's records fall in which of A's lists; a value layer
 * decides how B's values travel hidden beside H(x)^b and how their per-list sums are
 * revealed to A only:
 *
 * - two-party (6a, `two-party.ts`): ElGamal ciphertexts under a key A and B hold jointly,
 *   decrypted together with proofs;
 * - helper (6b, `helper-shares.ts`): one additive share mod 2^64 per value, whose other
 *   half only a non-colluding helper can expand and sum.
 *
 * @packageDocumentation
 */

/** A's half of a value layer. */
export interface GroupsValueLayer {
  /** Bytes of one of B's records on the wire: H(x)^b, then the hidden values. */
  readonly entryBytes: number;
  /** Before the lists go out (two-party: the joint key). */
  setup(): Promise<void>;
  /** Before B's `n` records are matched against A's `lists` lists; `minCount` is B's policy as B's HELLO stated it. */
  start(n: number, lists: number, minCount: number): Promise<void>;
  /** One chunk of B's records, in order, each with its list or `NO_MATCH`. */
  accept(body: Uint8Array, matched: Uint32Array): Promise<void> | void;
  /**
   * The per-list sums of every value column, revealed to A only, for the lists
   * `release(l)` names: real lists with at least B's `minCount` matches. The entries of
   * every other list (dummies, and lists below B's policy) stay 0, and A asks no usable
   * answer for them (two-party: a fresh random C1 in their place; helper: the helper
   * sends random values for them itself).
   *
   * @param bound - the largest sum list `l` can honestly have (matches x declared maximum)
   * @param verified - tells B the run is finished; called once B's part is checked and
   *   before any work whose time depends on the counts or the sums (two-party: the
   *   discrete logarithms), so B's clock sees none of it
   */
  sums(counts: Float64Array, bound: (list: number) => number, release: (list: number) => boolean, verified: () => Promise<void>): Promise<number[][]>;
}

/** B's half of a value layer. */
export interface ValuesValueLayer {
  /** Bytes of one of B's records on the wire. */
  readonly entryBytes: number;
  /** Bytes of one record as {@link ValuesValueLayer.prepare} returns it (H(x)^b first). */
  readonly preparedBytes: number;
  /** Before the lists arrive (two-party: the joint key). */
  setup(): Promise<void>;
  /**
   * Prepares one chunk of B's records (a worker task, at low priority): `items` are the
   * identifiers, real records first, then dummies; `values` holds the real records'
   * values, `columns` per record.
   */
  prepare(items: string[], values: Float64Array): Promise<Uint8Array>;
  /** Before B's `n` records go out to A, who has `lists` lists; `minCount` is B's policy. */
  start(n: number, lists: number, minCount: number): Promise<void>;
  /**
   * Completes one chunk on the wire: the prepared records are in place; `sources[i]` is
   * the record at position i (at or beyond `real`: a dummy, whose values are 0).
   */
  complete(body: Uint8Array, sources: ArrayLike<number>, real: number, values: Float64Array): void;
  /** After B's records went out (two-party: answer A's one decryption request). */
  finish(lists: number): Promise<void>;
}
