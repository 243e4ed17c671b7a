/**
 * The pool of CSPRNG output that randomBytes cuts small requests from: its bookkeeping
 * against a known stream (every byte handed out once, in order, none zeroed or reused,
 * the block zeroed behind the cursor), koppel's pool on the real CSPRNG (sizes, argument
 * checks, uniform bytes), and a V8 startup snapshot that does not carry the block into
 * the processes started from it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RandomPool, randomBytes } from '../../src/util/random.js';

/** A pool over a counter stream: `stream` is every byte filled (byte k is k mod 251, plus 1), `block()` the array filled last. */
function counterPool(size: number): { pool: RandomPool; stream: number[]; block: () => Uint8Array | undefined } {
  let next = 0;
  const stream: number[] = [];
  let seen: Uint8Array | undefined;
  const pool = new RandomPool((block) => {
    seen = block;
    for (let i = 0; i < block.length; i++) {
      block[i] = (next % 251) + 1; // never 0, so a zeroed byte handed out shows
      stream.push(block[i] as number);
      next++;
    }
  }, size);
  return { pool, stream, block: () => seen };
}

describe('RandomPool', () => {
  it('hands out the stream in order, each byte once, skipping only the tail a refill replaces', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 64 }), { maxLength: 60 }), (sizes) => {
        const { pool, stream, block } = counterPool(64);
        let at = 64; // where the pool's cursor is in its current block
        let blockStart = -64; // the current block's first index in the stream
        for (const n of sizes) {
          const out = new Uint8Array(n);
          pool.take(out);
          if (at + n > 64) {
            blockStart += 64;
            at = 0;
          }
          expect([...out]).toEqual(stream.slice(blockStart + at, blockStart + at + n));
          at += n;
          // Everything handed out from the current block is zero in the block.
          const b = block();
          if (b) expect(b.subarray(0, at).every((x) => x === 0)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('refills exactly when a request does not fit (a request that ends the block does not)', () => {
    const { pool, stream } = counterPool(16);
    pool.take(new Uint8Array(8));
    pool.take(new Uint8Array(8)); // ends the block exactly
    expect(stream.length).toBe(16);
    pool.take(new Uint8Array(0));
    expect(stream.length).toBe(16);
    pool.take(new Uint8Array(1));
    expect(stream.length).toBe(32);
  });
  it('refuses a request larger than its block, and starts over after empty()', () => {
    const { pool, stream, block } = counterPool(16);
    expect(() => pool.take(new Uint8Array(17))).toThrow(RangeError);
    pool.take(new Uint8Array(4));
    pool.empty();
    expect(block()?.every((x) => x === 0)).toBe(true);
    const out = new Uint8Array(4);
    pool.take(out);
    expect([...out]).toEqual(stream.slice(16, 20)); // a fresh block, not the emptied one's rest
  });
  it('while suspended fills each request directly and keeps its block empty; resumed, pools from a fresh block', () => {
    const { pool, stream, block } = counterPool(16);
    pool.take(new Uint8Array(4)); // fills the block
    const own = block();
    pool.suspend();
    expect(own?.every((x) => x === 0)).toBe(true);
    const a = new Uint8Array(5);
    pool.take(a);
    pool.take(new Uint8Array(3));
    expect(stream.length).toBe(16 + 5 + 3); // straight into each request, never into the block
    expect([...a]).toEqual(stream.slice(16, 21)); // the stream's next bytes, after the block's 16
    expect(own?.every((x) => x === 0)).toBe(true);
    pool.resume();
    pool.take(new Uint8Array(2));
    expect(stream.length).toBe(24 + 16); // one fill of the whole block
  });
});

describe('randomBytes', () => {
  it('gives exactly n bytes for every size, pooled (at most 256) or filled directly, each in a buffer of its own', () => {
    for (const n of [0, 1, 31, 255, 256, 257, 5000]) {
      const r = randomBytes(n);
      expect(r.length).toBe(n);
      // Callers transfer .buffer to workers and wipe it as the only copy: never a view into the block.
      expect(r.byteOffset).toBe(0);
      expect(r.buffer.byteLength).toBe(n);
    }
  });
  it('refuses a size that is not a whole number of bytes, and the pool stays good', () => {
    for (const n of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY]) expect(() => randomBytes(n)).toThrow(RangeError);
    const draws = Array.from({ length: 300 }, () => randomBytes(32)); // spans two refills
    expect(new Set(draws.map((d) => Buffer.from(d).toString('hex'))).size).toBe(300);
    expect(draws.every((d) => d.some((x) => x !== 0))).toBe(true);
  });
  it('is uniform over byte values (chi-square, 255 degrees of freedom) for pooled and direct draws', () => {
    for (const size of [32, 4000]) {
      const counts = new Array<number>(256).fill(0);
      let total = 0;
      while (total < 256 * 1000) {
        for (const b of randomBytes(size)) counts[b] = (counts[b] ?? 0) + 1;
        total += size;
      }
      const expected = total / 256;
      const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
      // P(chi2 > 400) for 255 degrees of freedom is about 1.7e-8.
      expect(chi2).toBeLessThan(400);
    }
  });
  it('a V8 startup snapshot built after the pool was filled, with a later serialize callback that draws, does not give its bytes to the processes started from it', async () => {
    const { rolldown } = await import('rolldown');
    const dir = mkdtempSync(join(tmpdir(), 'koppel-snapshot-'));
    try {
      const source = fileURLToPath(new URL('../../src/util/random.ts', import.meta.url));
      writeFileSync(
        join(dir, 'entry.ts'),
        [
          `import { startupSnapshot } from 'node:v8';`,
          `import { randomBytes } from ${JSON.stringify(source)};`,
          `randomBytes(16); // fills the pool while the snapshot is built`,
          `// A serialize callback after koppel's that draws: must not refill the block the snapshot keeps.`,
          `startupSnapshot.addSerializeCallback(() => { randomBytes(16); });`,
          `startupSnapshot.setDeserializeMainFunction(() => process.stdout.write(Buffer.from(randomBytes(32)).toString('hex')));`,
        ].join('\n'),
      );
      const bundle = await rolldown({ input: join(dir, 'entry.ts'), platform: 'node', external: [/^node:/] });
      await bundle.write({ file: join(dir, 'entry.cjs'), format: 'cjs' });
      await bundle.close();
      const blob = join(dir, 'snap.blob');
      execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', join(dir, 'entry.cjs')], { cwd: dir, stdio: 'pipe' });
      const a = execFileSync(process.execPath, ['--snapshot-blob', blob], { cwd: dir, encoding: 'utf8' });
      const b = execFileSync(process.execPath, ['--snapshot-blob', blob], { cwd: dir, encoding: 'utf8' });
      expect(a).toMatch(/^[0-9a-f]{64}$/);
      expect(a).not.toBe('0'.repeat(64));
      expect(a).not.toBe(b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
