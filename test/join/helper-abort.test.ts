/**
 * A cancelled helper (the CLI's stop signal to `join helper`) tells the parties it serves:
 * the group holder, waiting for the sums, ends with `ABORTED` from its peer at once, not
 * with a closed connection or a timeout.
 */
import { describe, expect, it } from 'vitest';
import { joinGroups, joinHelper, joinValues } from '../../src/join/join.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { randomData } from './fixtures.js';

describe('joinHelper with a signal', () => {
  it('cancelled while it sums: the group holder gets ABORTED from the helper, and the helper rejects with ABORTED', async () => {
    const { a, b } = randomData(3000, 3000, 0.5, 3, 1, 10);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 30_000 });
    const [ah, ha] = createMemoryChannelPair({ idleTimeoutMs: 30_000 });
    const [bh, hb] = createMemoryChannelPair({ idleTimeoutMs: 30_000 });
    const queue: Channel[] = [ha, hb];
    const stop = new AbortController();
    const next = () => {
      const c = queue.shift();
      return c ? Promise.resolve(c) : new Promise<Channel>(() => undefined);
    };
    const helper = joinHelper(next, {
      signal: stop.signal,
      onProgress: (p) => {
        if (p.phase === 'helper') stop.abort();
      },
    });
    const started = performance.now();
    const [rh, ra] = await Promise.allSettled([
      helper,
      joinGroups(ca, a, { threads: 0, variant: 'helper', helper: ah, chunkSize: 256 }),
      joinValues(cb, b, { threads: 0, variant: 'helper', helper: bh, columns: ['v'], minCount: 1 }),
    ]);
    expect(rh).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(ra).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED', details: { peer: true } } });
    expect(performance.now() - started).toBeLessThan(25_000);
  }, 60_000);
});
