/**
 * PSI correctness: the private result equals a plain set intersection, for both
 * suites and all modes, on sets of many sizes and overlaps, with duplicates, padding
 * and tiny chunks.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { psiClient, psiServer, type PsiCommonOptions, type PsiServerOptions } from '../../src/psi/psi.js';
import type { PsiMode } from '../../src/psi/messages.js';
import type { SuiteName } from '../../src/group/types.js';

async function run(X: string[], Y: Array<string | { id: string; payload: Uint8Array }>, client: PsiCommonOptions, server: PsiServerOptions = client) {
  const [a, b] = createMemoryChannelPair();
  const [c, s] = await Promise.all([psiClient(a, X, { threads: 0, ...client }), psiServer(b, Y, { threads: 0, ...server })]);
  return { c, s };
}

/** The plain (non-private) answer: distinct client items in the server set, in first-occurrence order. */
function plain(X: string[], Y: string[]): string[] {
  const ys = new Set(Y);
  return [...new Set(X)].filter((x) => ys.has(x));
}

const id = fc.string({ minLength: 0, maxLength: 12 });

describe.each<SuiteName>(['x25519', 'ristretto255'])('suite %s', (suite) => {
  const runs = suite === 'x25519' ? 25 : 4;
  const maxSize = suite === 'x25519' ? 60 : 8;

  it('intersection mode returns exactly the plain intersection (random sets, duplicates included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(id, { maxLength: maxSize }),
        fc.array(id, { maxLength: maxSize }),
        fc.array(id, { maxLength: maxSize }),
        async (onlyX, both, onlyY) => {
          const X = [...onlyX, ...both, ...both.slice(0, 2)];
          const Y = [...both, ...onlyY];
          const { c, s } = await run(X, Y, { suite, chunkSize: 5 });
          expect(c).toEqual({ mode: 'intersection', intersection: plain(X, Y), serverSetSize: new Set(Y).size });
          expect(s.clientSetSize).toBe(new Set(X).size);
        },
      ),
      { numRuns: runs },
    );
  });

  it('cardinality mode returns exactly the size of the plain intersection', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(id, { maxLength: maxSize }), fc.array(id, { maxLength: maxSize }), async (X, Y) => {
        const { c } = await run(X, [...Y, ...X.slice(0, 3)], { suite, mode: 'cardinality', chunkSize: 4 });
        expect(c).toMatchObject({ mode: 'cardinality', size: plain(X, [...Y, ...X.slice(0, 3)]).length });
      }),
      { numRuns: runs },
    );
  });

  it('payload mode returns the server payload of every match, byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(id, { maxLength: maxSize }),
        fc.uniqueArray(id, { maxLength: maxSize }),
        fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: maxSize * 2, maxLength: maxSize * 2 }),
        async (X, Yonly, blobs) => {
          const Y = [...new Set([...X.filter((_, i) => i % 2 === 0), ...Yonly])];
          const payloadOf = new Map(Y.map((y, i) => [y, blobs[i] as Uint8Array]));
          const { c } = await run(
            X,
            Y.map((y) => ({ id: y, payload: payloadOf.get(y) as Uint8Array })),
            { suite, mode: 'payload', chunkSize: 3 },
          );
          if (c.mode !== 'payload') throw new Error('mode');
          expect(c.matches.map((m) => m.id)).toEqual(plain(X, Y));
          for (const m of c.matches) expect(Buffer.from(m.payload).equals(Buffer.from(payloadOf.get(m.id) as Uint8Array))).toBe(true);
        },
      ),
      { numRuns: runs },
    );
  });
});

describe('edge cases', () => {
  it.each<PsiMode>(['intersection', 'cardinality', 'payload'])('%s: empty client set, empty server set, both empty', async (mode) => {
    const asServer = (ys: string[]) => (mode === 'payload' ? ys.map((y) => ({ id: y, payload: new Uint8Array([1]) })) : ys);
    const size = (c: Awaited<ReturnType<typeof psiClient>>) =>
      c.mode === 'intersection' ? c.intersection.length : c.mode === 'cardinality' ? c.size : c.matches.length;
    expect(size((await run([], asServer(['a', 'b']), { mode })).c)).toBe(0);
    expect(size((await run(['a', 'b'], asServer([]), { mode })).c)).toBe(0);
    expect(size((await run([], asServer([]), { mode })).c)).toBe(0);
  });

  it('all items in common, at a size spanning many chunks', async () => {
    const X = Array.from({ length: 3000 }, (_, i) => `id-${i}`);
    const { c } = await run(X, [...X].reverse(), { chunkSize: 256 });
    expect(c.mode === 'intersection' && c.intersection).toEqual(X);
  });

  it('no items in common', async () => {
    const X = Array.from({ length: 500 }, (_, i) => `x-${i}`);
    const Y = Array.from({ length: 500 }, (_, i) => `y-${i}`);
    const { c } = await run(X, Y, { mode: 'cardinality' });
    expect(c).toMatchObject({ size: 0, serverSetSize: 500 });
  });

  it('padding hides the true sizes behind the bounds and changes no result', async () => {
    const X = ['a', 'b', 'c', 'd'];
    const Y = ['b', 'd', 'e'];
    const [a, b] = createMemoryChannelPair();
    const [c, s] = await Promise.all([psiClient(a, X, { threads: 0, padTo: 100, chunkSize: 7 }), psiServer(b, Y, { threads: 0, padTo: 50 })]);
    expect(c).toEqual({ mode: 'intersection', intersection: ['b', 'd'], serverSetSize: 50 });
    expect(s.clientSetSize).toBe(100);
    const card = await run(X, Y, { mode: 'cardinality', padTo: 64 }, { mode: 'cardinality', padTo: 64 });
    expect(card.c).toMatchObject({ size: 2, serverSetSize: 64 });
  });

  it('a set larger than its padding bound is refused before anything is revealed', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const client = psiClient(a, ['a', 'b', 'c'], { threads: 0, padTo: 2 });
    const server = psiServer(b, ['a'], { threads: 0 });
    await expect(client).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(server).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('payload mode: a duplicate server id is an error; payloads are padded to payloadBytes', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const dup = [
      { id: 'a', payload: new Uint8Array([1]) },
      { id: 'a', payload: new Uint8Array([2]) },
    ];
    const client = psiClient(a, ['a'], { threads: 0, mode: 'payload' });
    await expect(psiServer(b, dup, { threads: 0, mode: 'payload' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(client).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const { c } = await run(['a'], [{ id: 'a', payload: new Uint8Array([7, 8]) }], { mode: 'payload' }, { mode: 'payload', payloadBytes: 300 });
    expect(c.mode === 'payload' && [...(c.matches[0]?.payload ?? [])]).toEqual([7, 8]);
  });
});
