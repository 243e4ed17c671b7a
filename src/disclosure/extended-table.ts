/**
 * The extended table: the interior cells of an aggregate vector together with all their
 * margins (every entry where one or more dimensions are summed over, label `*`), as
 * signed values `[count, key sum, value sums...]` per entry, and which rule decided
 * each entry.
 *
 * Entries are numbered row-major over the extended dimensions: along dimension i the
 * coordinates 0 .. n_i - 1 are the labels and n_i is the total.
 *
 * @packageDocumentation
 */
import type { Codebook } from '../aggregate/codebook.js';
import { decodeSigned } from '../aggregate/ring.js';

/** The label of a summed-over dimension. */
export const TOTAL = '*';

/** Which rule decided an entry. */
export type Rule = 'published' | 'threshold' | 'secondary';

/** An aggregate vector laid out by a codebook, extended by its margins. */
export class ExtendedTable {
  /** Labels per dimension. */
  readonly dims: readonly number[];
  /** Extent per dimension: its labels and the total (coordinate `dims[i]`). */
  readonly ext: readonly number[];
  /** Row-major stride per dimension. */
  readonly stride: readonly number[];
  /** Number of entries (cells and totals). */
  readonly size: number;
  /** Per entry, its signed values: count, key sum, then one sum per value column. */
  readonly values: bigint[][];

  /** Accumulates every interior cell of `aggregate` (laid out by `codebook`) into all 2^d entries it belongs to. */
  constructor(
    readonly codebook: Codebook,
    aggregate: BigUint64Array,
  ) {
    const dims = codebook.spec.dimensions.map((d) => d.labels.length);
    const ext = dims.map((n) => n + 1); // index n is the total
    const nEntries = ext.reduce((a, b) => a * b, 1);
    const width = codebook.width;
    const values: bigint[][] = Array.from({ length: nEntries }, () => new Array<bigint>(width).fill(0n));
    const extStride: number[] = [];
    let st = 1;
    for (let i = ext.length - 1; i >= 0; i--) {
      extStride[i] = st;
      st *= ext[i] as number;
    }
    for (let c = 0; c < codebook.cells; c++) {
      const labelsIdx = codebook.cellLabels(c).map((l, i) => (codebook.spec.dimensions[i] as { labels: string[] }).labels.indexOf(l));
      const row = Array.from({ length: width }, (_, w) => decodeSigned(aggregate[c * width + w] as bigint));
      for (let mask = 0; mask < 1 << dims.length; mask++) {
        let e = 0;
        for (let i = 0; i < dims.length; i++) e += ((mask >> i) & 1 ? (dims[i] as number) : (labelsIdx[i] as number)) * (extStride[i] as number);
        const target = values[e] as bigint[];
        for (let w = 0; w < width; w++) target[w] = (target[w] as bigint) + (row[w] as bigint);
      }
    }
    this.dims = dims;
    this.ext = ext;
    this.stride = extStride;
    this.size = nEntries;
    this.values = values;
  }

  /** An entry's coordinate per dimension. */
  coords(e: number): number[] {
    return this.ext.map((n, i) => Math.floor(e / (this.stride[i] as number)) % n);
  }

  /** Whether an entry is a total (summed over some dimension). */
  isTotal(e: number): boolean {
    return this.coords(e).some((x, i) => x === this.dims[i]);
  }

  /** An entry's signed count. */
  count(e: number): bigint {
    return (this.values[e] as bigint[])[0] as bigint;
  }

  /** An entry's labels, `*` where summed over. */
  labels(e: number): string[] {
    return this.coords(e).map((x, i) => (x === this.dims[i] ? TOTAL : ((this.codebook.spec.dimensions[i] as { labels: string[] }).labels[x] as string)));
  }
}
