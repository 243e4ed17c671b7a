/**
 * The block of CSPRNG output that {@link randomBytes} cuts small requests from.
 *
 * node:crypto's `randomFillSync` (OpenSSL's RAND_bytes) costs 2 to 4 us per call here
 * whatever the size, and an aggregation input made three calls of 16 to 32 bytes (two
 * session ids, one seed). A {@link RandomPool} fetches 4 KiB with one call and hands
 * each byte out once, zeroing it in the block as it does. The bookkeeping is a class
 * over a fill function so that tests can check it against a known stream
 * (test/util/random.test.ts); koppel's only instance is filled by `randomFillSync`.
 *
 * Where the block lives: in this module's memory, one per thread (each worker thread
 * loads its own copy of the module). Node.js never forks a process with its memory. A
 * V8 startup snapshot (`node --build-snapshot`) would copy the block into every process
 * started from it, so when a snapshot is serialised the pool empties its block and fills
 * every request directly (a serialize callback that runs after koppel's and draws random
 * bytes must not refill the block that goes into the snapshot) until a process started
 * from the snapshot runs koppel's deserialize callback.
 *
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';
import { startupSnapshot } from 'node:v8';

/** Hands out the bytes of a block that `fill` refills, each byte once. */
export class RandomPool {
  readonly #block: Uint8Array;
  readonly #fill: (block: Uint8Array) => void;
  /** The first byte not yet handed out (every byte before it is zero). */
  #at: number;
  /** While set, requests are filled directly and the block stays empty. */
  #suspended = false;

  /**
   * @param fill - writes fresh random bytes over the whole block
   * @param size - the block's size in bytes
   */
  constructor(fill: (block: Uint8Array) => void, size: number) {
    this.#fill = fill;
    this.#block = new Uint8Array(size);
    this.#at = size;
  }

  /**
   * Copies the next `out.length` bytes of the block into `out` (at most the block's
   * size), refilling the block first when fewer are left; the tail a refill replaces
   * was never handed out.
   */
  take(out: Uint8Array): void {
    const n = out.length;
    const block = this.#block;
    if (n > block.length) throw new RangeError('A request larger than the random pool must be filled directly.');
    if (this.#suspended) {
      this.#fill(out);
      return;
    }
    if (this.#at + n > block.length) {
      this.#fill(block);
      this.#at = 0;
    }
    const end = this.#at + n;
    out.set(block.subarray(this.#at, end));
    block.fill(0, this.#at, end);
    this.#at = end;
  }

  /** Zeroes the block and marks it used up: the next request refills it. */
  empty(): void {
    this.#block.fill(0);
    this.#at = this.#block.length;
  }

  /** Empties the block and fills every later request directly, until {@link resume}. */
  suspend(): void {
    this.empty();
    this.#suspended = true;
  }

  /** Pools requests again, from a fresh block. */
  resume(): void {
    this.empty();
    this.#suspended = false;
  }
}

/** Requests of at most this many bytes are cut from {@link pool}. */
const POOLED_AT_MOST = 256;

/** koppel's pool of CSPRNG output (4 KiB, refilled by `randomFillSync`). */
const pool = new RandomPool((block) => randomFillSync(block), 4096);

// A startup snapshot must not carry bytes that every process started from it would hand
// out: from koppel's serialize callback on, whatever runs after it, nothing is pooled in
// the process writing the snapshot; a process started from it pools again once koppel's
// deserialize callback has run (a callback before it draws directly).
if (startupSnapshot?.isBuildingSnapshot()) {
  startupSnapshot.addSerializeCallback(() => pool.suspend());
  startupSnapshot.addDeserializeCallback(() => pool.resume());
}

/**
 * `n` bytes from the platform CSPRNG (OpenSSL's RAND_bytes via node:crypto, seeded by
 * the operating system): at most 256 from the pool, larger requests filled directly.
 *
 * @throws RangeError when `n` is not a whole number of bytes (0 or more)
 */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('randomBytes needs a whole number of bytes, 0 or more.');
  const out = new Uint8Array(n);
  if (n > POOLED_AT_MOST) randomFillSync(out);
  else pool.take(out);
  return out;
}
