/**
 * The CPU-bound steps of the private join as batch operations for {@link TaskPool}:
 * the blinding layer (shared with PSI, under the join's own hash-to-group tag), B's
 * ElGamal encryption of its values, and A's per-list ciphertext sums.
 *
 * @packageDocumentation
 */
import { loadP256 } from '../group/p256.js';
import type { PrimeGroup } from '../group/prime.js';
import { KoppelError } from '../errors/index.js';
import { psiOps, type HashMultiplyArg } from '../psi/ops.js';

/** Arguments of {@link joinOps}.encryptRecordsOwn. */
export interface EncryptRecordsOwnArg extends HashMultiplyArg {
  /** Values, `columns` per item, item-major; non-negative safe integers. */
  readonly values: Float64Array;
  readonly columns: number;
  /** The value holder's secret keys b_1..b_k (one per column, 32 bytes each, packed): the encryption keys are b_j G. */
  readonly secretKeys: Uint8Array;
}

/** Arguments of {@link joinOps}.rerandomisers. */
export interface RerandomisersArg {
  /** The encryption keys K_1..K_k, packed. */
  readonly publicKeys: Uint8Array;
  readonly columns: number;
  /** How many lists. */
  readonly count: number;
}

/** Arguments of {@link joinOps}.partialDecrypt. */
export interface PartialDecryptArg {
  /** The column's secret key b_j. */
  readonly secret: Uint8Array;
  /** One element per list, packed. */
  readonly c1: Uint8Array;
}

/** Arguments of {@link joinOps}.combine. */
export interface CombineArg {
  /** The weights d_i, packed (32-byte scalars). */
  readonly weights: Uint8Array;
  /** As many elements, packed. */
  readonly points: Uint8Array;
}

/** Arguments of {@link joinOps}.addToBank. */
export interface AddToBankArg {
  /** One chunk of B's records as they came from the wire (H(x)^b, C1, C2_1..C2_k each). */
  readonly body: Uint8Array;
  readonly columns: number;
  /** Each record's accumulator: its list, or the dummy accumulator for an unmatched record. */
  readonly lists: Uint32Array;
  /** The accumulators, (1 + k) slots each (C1, then each C2_j; {@link valueGroup}'s accumulatorBytes per slot); moved to the worker and back. */
  readonly bank: Uint8Array;
}

/** Arguments of {@link joinOps}.addBanks. */
export interface AddBanksArg {
  /** Equally long runs of accumulator slots, added slot-wise. */
  readonly banks: readonly Uint8Array[];
}

/**
 * The group of the two-party value layer: P-256 since join protocol version 4
 * (docs/protocols/join.md, 6a; ristretto255 before).
 */
export function valueGroup(): Promise<PrimeGroup> {
  return loadP256();
}

/** Bytes of an element of {@link valueGroup} (P-256: x || y). */
export const VALUE_ELEMENT_BYTES = 64;

/**
 * Bytes of one of B's records in the two-party variant: the blinded element H(x)^b
 * (32 bytes, the blinding suite's), then C1 and one C2 per value column (elements of
 * {@link valueGroup}).
 */
export function recordBytes2p(columns: number): number {
  return 32 + VALUE_ELEMENT_BYTES * (1 + columns);
}

/** The operations, by name. */
export const joinOps = {
  ...psiOps,
  /**
   * B's records for the two-party variant, encrypted under B's own column keys K_j = b_j G
   * (docs/protocols/join.md, 6a): H(x)^b, then with one fresh r per record C1 = r G and
   * C2_j = (v_j + r b_j) G = v_j G + r K_j: the ElGamal ciphertexts under K_j, by k + 1
   * fixed-base multiplications instead of one fixed-base and k variable-base ones (P-256
   * on OpenSSL: about 20 us each here).
   */
  async encryptRecordsOwn(arg: EncryptRecordsOwnArg): Promise<Uint8Array> {
    const [r, elements] = await Promise.all([valueGroup(), psiOps.hashMultiply(arg)]);
    const n = arg.items.length;
    const k = arg.columns;
    const size = recordBytes2p(k);
    const out = new Uint8Array(n * size);
    for (let i = 0; i < n; i++) out.set(elements.subarray(i * 32, i * 32 + 32), i * size);
    r.encryptOwn(arg.values, k, arg.secretKeys, out, size, 32);
    return out;
  },
  /**
   * A's re-randomisers, one per list, drawn before they are needed (they depend on no
   * record): with a fresh t, t G and t K_j for every column, then u G for a fresh u, the
   * point sent in place of a list that is not decrypted. (2 + k) elements per list.
   * The scalars never leave this function.
   */
  async rerandomisers(arg: RerandomisersArg): Promise<Uint8Array> {
    const r = await valueGroup();
    const E = r.elementBytes;
    const k = arg.columns;
    const width = (2 + k) * E;
    const out = new Uint8Array(arg.count * width);
    // t K_j for every list and column in one batch (one inversion for all of them).
    const ts: Uint8Array[] = [];
    const keys = new Uint8Array(arg.count * k * E);
    for (let l = 0; l < arg.count; l++) {
      const t = r.randomScalar();
      out.set(r.mulBase(t), l * width);
      for (let j = 0; j < k; j++) {
        ts.push(t);
        keys.set(arg.publicKeys.subarray(j * E, j * E + E), (l * k + j) * E);
      }
      const u = r.randomScalar();
      out.set(r.mulBase(u), l * width + E + k * E);
      u.fill(0);
    }
    const tk = r.mulEach(ts, keys);
    for (const t of ts) t.fill(0);
    for (let l = 0; l < arg.count; l++) out.set(tk.subarray(l * k * E, (l + 1) * k * E), l * width + E);
    return out;
  },
  /** B's partial decryptions of one column, D_l = b_j C1'_l for every list (the proof follows once every column's are in: {@link dleqWeights}). */
  async partialDecrypt(arg: PartialDecryptArg): Promise<Uint8Array> {
    const r = await valueGroup();
    const E = r.elementBytes;
    const L = arg.c1.length / E;
    return r.mulEach(new Array<Uint8Array>(L).fill(arg.secret), arg.c1);
  },
  /**
   * One part of a DLEQ composite, sum d_i P_i ({@link PrimeGroup.combine}); a composite
   * is split over the pool and its parts added. `null` if one of the elements is not a
   * valid encoding (a peer's partial decryption: its proof then fails).
   */
  async combine(arg: CombineArg): Promise<Uint8Array | null> {
    const r = await valueGroup();
    const n = arg.weights.length / 32;
    const d = Array.from({ length: n }, (_, i) => arg.weights.subarray(i * 32, i * 32 + 32));
    try {
      return r.combine(d, arg.points);
    } catch (e) {
      if (e instanceof KoppelError && e.code === 'INVALID_POINT') return null;
      throw e;
    }
  },
  /**
   * Adds one chunk of B's records into a bank of accumulators, matched or not
   * (docs/protocols/join.md, "Timing"): every record costs 1 + k point additions, into its
   * list's accumulator or the dummy one, whatever matched. The bank comes back (moved,
   * not copied); A keeps a few banks, one per task in flight, and adds them up once at
   * the end.
   */
  async addToBank(arg: AddToBankArg): Promise<Uint8Array> {
    const r = await valueGroup();
    const n = arg.lists.length;
    if (arg.body.length !== n * recordBytes2p(arg.columns)) throw new KoppelError('INTERNAL', 'addToBank got another number of records than lists.');
    r.accumulate(arg.bank, 1 + arg.columns, arg.body, recordBytes2p(arg.columns), 32, arg.lists);
    return arg.bank;
  },
  /**
   * The slot-wise sum of equally long runs of accumulator slots (A's banks, or a range of
   * them), as encoded elements.
   */
  async addBanks(arg: AddBanksArg): Promise<Uint8Array> {
    const r = await valueGroup();
    const [first, ...rest] = arg.banks;
    if (!first) throw new KoppelError('INTERNAL', 'addBanks got no banks.');
    const out = first.slice();
    for (const b of rest) r.mergeAccumulators(out, b);
    return r.finishAccumulators(out);
  },
};
