/**
 * The CPU-bound steps of the private join as batch operations for {@link TaskPool}:
 * the blinding layer (shared with PSI, under the join's own hash-to-group tag), B's
 * ElGamal encryption of its values, and A's per-group ciphertext sums.
 *
 * @packageDocumentation
 */
import { loadRistretto255, scalarFromInt, type Ristretto255 } from '../group/sodium.js';
import { psiOps, type HashMultiplyArg } from '../psi/ops.js';

/** Arguments of {@link joinOps}.encryptRecords. */
export interface EncryptRecordsArg extends HashMultiplyArg {
  /** Values, `columns` per item, item-major; non-negative safe integers. */
  readonly values: Float64Array;
  readonly columns: number;
  /** The joint public keys PK_1..PK_k, packed. */
  readonly publicKeys: Uint8Array;
}

/** Arguments of {@link joinOps}.sumCiphertexts. */
export interface SumCiphertextsArg {
  /** Ciphertexts (C1, C2_1..C2_k), packed, ordered by group. */
  readonly packed: Uint8Array;
  readonly columns: number;
  /** Group g owns ciphertexts starts[g] .. starts[g+1]-1. */
  readonly starts: Uint32Array;
}

/**
 * Bytes of one of B's records in the two-party variant: the blinded element H(x)^b,
 * then C1 and one C2 per value column.
 */
export function recordBytes2p(columns: number): number {
  return 32 * (2 + columns);
}

/** v G, memoised per thread: usage counts repeat a lot, and a lookup beats a multiplication. */
function valuePoint(r: Ristretto255, cache: Map<number, Uint8Array>, v: number): Uint8Array {
  let p = cache.get(v);
  if (p === undefined) {
    p = r.mulBase(scalarFromInt(v));
    if (cache.size < 65536) cache.set(v, p);
  }
  return p;
}

const valueCache = new Map<number, Uint8Array>();

/** The operations, by name. */
export const joinOps = {
  ...psiOps,
  /**
   * B's records for the two-party variant: H(x)^b and the ElGamal encryption of the
   * item's values with one fresh r per record (C1 = r G, C2_j = v_j G + r PK_j).
   */
  async encryptRecords(arg: EncryptRecordsArg): Promise<Uint8Array> {
    const [r, elements] = await Promise.all([loadRistretto255(), psiOps.hashMultiply(arg)]);
    const n = arg.items.length;
    const k = arg.columns;
    const size = recordBytes2p(k);
    const out = new Uint8Array(n * size);
    const pks = Array.from({ length: k }, (_, j) => arg.publicKeys.subarray(j * 32, j * 32 + 32));
    for (let i = 0; i < n; i++) {
      const at = i * size;
      out.set(elements.subarray(i * 32, i * 32 + 32), at);
      const rs = r.randomScalar();
      out.set(r.mulBase(rs), at + 32);
      for (let j = 0; j < k; j++) {
        const v = arg.values[i * k + j] as number;
        const mask = r.mul(rs, pks[j] as Uint8Array);
        out.set(v === 0 ? mask : r.add(valuePoint(r, valueCache, v), mask), at + 64 + j * 32);
      }
      rs.fill(0);
    }
    return out;
  },
  /** Per-group sums of ciphertexts, component by component: (1 + k) * 32 bytes per group. */
  async sumCiphertexts(arg: SumCiphertextsArg): Promise<Uint8Array> {
    const r = await loadRistretto255();
    const width = 1 + arg.columns;
    const groups = arg.starts.length - 1;
    const out = new Uint8Array(groups * width * 32);
    for (let g = 0; g < groups; g++) {
      const from = arg.starts[g] as number;
      const to = arg.starts[g + 1] as number;
      const idx = new Uint32Array(to - from);
      for (let c = 0; c < width; c++) {
        for (let i = 0; i < idx.length; i++) idx[i] = (from + i) * width + c;
        out.set(r.sumAt(arg.packed, idx), (g * width + c) * 32);
      }
    }
    return out;
  },
};
