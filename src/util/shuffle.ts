/**
 * Uniform random permutations from the platform CSPRNG.
 *
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';

/** A uniform integer in [0, n) for n <= 2^32, by rejection sampling on CSPRNG words. */
export class RandomInts {
  readonly #buf = new Uint32Array(1024);
  #pos = 1024;

  /** A uniform integer in [0, n). */
  below(n: number): number {
    const limit = Math.floor(0x100000000 / n) * n;
    for (;;) {
      if (this.#pos === this.#buf.length) {
        randomFillSync(this.#buf);
        this.#pos = 0;
      }
      const x = this.#buf[this.#pos++] as number;
      if (x < limit) return x % n;
    }
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
export function randomPermutation(n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = new RandomInts();
  for (let i = n - 1; i > 0; i--) {
    const j = r.below(i + 1);
    const t = p[i] as number;
    p[i] = p[j] as number;
    p[j] = t;
  }
  return p;
}

/** Reorders fixed-size records: record i of the result is record perm[i] of `packed`. */
export function permuteRecords(packed: Uint8Array, recordBytes: number, perm: Uint32Array): Uint8Array {
  const out = new Uint8Array(packed.length);
  for (let i = 0; i < perm.length; i++) {
    const j = perm[i] as number;
    out.set(packed.subarray(j * recordBytes, (j + 1) * recordBytes), i * recordBytes);
  }
  return out;
}
