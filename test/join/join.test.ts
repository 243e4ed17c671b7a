/**
 * Correctness of the private join: the private table equals the plain join's table,
 * for both variants, on random data and on the edge cases.
 */
import { describe, expect, it } from 'vitest';
import type { GroupRecord, ValueRecord } from '../../src/join/join.js';
import { plainJoin, randomData, runJoin } from './fixtures.js';

function expectEqualToPlain(
  a: readonly GroupRecord[],
  b: readonly ValueRecord[],
  k: number,
  groups: ReadonlyArray<{ labels: readonly string[]; count: number; sums: readonly number[] | null }>,
): void {
  const plain = plainJoin(a, b, k);
  expect(groups.length).toBe(plain.size);
  for (const g of groups) expect({ count: g.count, sums: g.sums && [...g.sums] }).toEqual(plain.get(g.labels.join('|')));
}

describe.each(['two-party', 'helper'] as const)('private join, %s variant', (variant) => {
  it('equals the plain join on random data with three value columns', async () => {
    const { a, b } = randomData(300, 260, 0.5, 7, 3);
    const r = await runJoin(a, b, { variant });
    expectEqualToPlain(a, b, 3, r.a.groups);
    expect(r.a.columns).toEqual(['v0', 'v1', 'v2']);
    expect(r.b.records).toBe(b.length);
  });

  it('equals the plain join with the ristretto255 blinding suite', async () => {
    const { a, b } = randomData(60, 50, 0.5, 4, 2);
    const r = await runJoin(a, b, { variant, aOptions: { suite: 'ristretto255' }, bOptions: { suite: 'ristretto255' } });
    expectEqualToPlain(a, b, 2, r.a.groups);
  });

  it('gives zero counts and sums when nothing overlaps', async () => {
    const { a, b } = randomData(120, 80, 0, 3, 2);
    const r = await runJoin(a, b, { variant });
    expect(r.a.groups.every((g) => g.count === 0 && g.sums?.every((s) => s === 0))).toBe(true);
    expectEqualToPlain(a, b, 2, r.a.groups);
  });

  it('counts every record when the sets overlap fully', async () => {
    const { a, b } = randomData(150, 150, 1, 4, 2);
    const r = await runJoin(a, b, { variant });
    expect(r.a.groups.reduce((s, g) => s + g.count, 0)).toBe(150);
    expectEqualToPlain(a, b, 2, r.a.groups);
  });

  it('handles an empty value set and groups with no matches', async () => {
    const { a } = randomData(40, 0, 0, 3, 1);
    const r = await runJoin(a, [], { variant, columns: ['logins'] });
    expect(r.a.groups.every((g) => g.count === 0 && g.sums?.[0] === 0)).toBe(true);
  });

  it('recovers sums at the declared maximum exactly', async () => {
    const a: GroupRecord[] = Array.from({ length: 30 }, (_, i) => ({ id: `p${i}`, group: ['only'] }));
    const b: ValueRecord[] = a.map((r) => ({ id: r.id, values: [1000, 0] }));
    const r = await runJoin(a, b, { variant, aOptions: { groupColumns: 1 } });
    expect(r.a.groups[0]).toMatchObject({ count: 30, sums: [30_000, 0] });
  });

  it('gives the same table with padded lists, dummy groups and a padded value list', async () => {
    const { a, b } = randomData(200, 150, 0.6, 5, 2);
    const r = await runJoin(a, b, { variant, aOptions: { padListsTo: 120, padGroupsTo: 16 }, bOptions: { padTo: 400 } });
    expectEqualToPlain(a, b, 2, r.a.groups);
    expect(r.b.listSizes).toEqual(new Array(16).fill(120));
    expect(r.a.valuesListSize).toBe(400);
  });
});

describe('the released table', () => {
  it('suppresses groups under the threshold and protects them against subtraction from the totals', async () => {
    // Three groups in one dimension: 'big' (40 matches), 'mid' (12), 'tiny' (3).
    const a: GroupRecord[] = [];
    const b: ValueRecord[] = [];
    const add = (label: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const id = `${label}-${i}`;
        a.push({ id, group: [label] });
        b.push({ id, values: [2] });
      }
    };
    add('big', 40);
    add('mid', 12);
    add('tiny', 3);
    const r = await runJoin(a, b, { aOptions: { groupColumns: 1, threshold: 10 } });
    const row = (l: string) => r.a.table.find((x) => x.labels[0] === l);
    expect(row('tiny')).toMatchObject({ count: null, sums: [null], rule: 'threshold' });
    // With the total published, 'tiny' = total - big - mid: so the smallest other cell goes too.
    expect(row('mid')).toMatchObject({ count: null, rule: 'secondary' });
    expect(row('big')).toMatchObject({ count: 40, sums: [80], rule: 'published' });
    expect(row('*')).toMatchObject({ count: 55, sums: [110], rule: 'published', total: true });
  });

  it('refuses a value protection that is not a percentage before anything is sent', async () => {
    const { createMemoryChannelPair } = await import('../../src/transport/channel.js');
    const { joinGroups } = await import('../../src/join/join.js');
    for (const valueProtection of [-1, 101, Number.NaN]) {
      const [ca, cb] = createMemoryChannelPair();
      await expect(joinGroups(ca, [{ id: 'x', group: ['g'] }], { threads: 0, valueProtection })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await ca.close();
      await expect(cb.receive()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    }
  });
});

describe('the helper', () => {
  it('waits for connected parties that are slow to say HELLO, even past its accept timeout', async () => {
    const { createMemoryChannelPair } = await import('../../src/transport/channel.js');
    const { joinGroups, joinHelper, joinValues } = await import('../../src/join/join.js');
    const { KoppelError } = await import('../../src/errors/index.js');
    const { a, b } = randomData(60, 60, 0.5, 3, 1);
    const [ca, cb] = createMemoryChannelPair();
    const [ah, ha] = createMemoryChannelPair();
    const [bh, hb] = createMemoryChannelPair();
    // Each party's first message reaches the helper 300 ms late (a party hashing a big file).
    const slow = (c: typeof ha) => {
      let first = true;
      return {
        ...c,
        send: c.send.bind(c),
        close: c.close.bind(c),
        receive: async () => {
          const m = await c.receive();
          if (first) {
            first = false;
            await new Promise((r) => setTimeout(r, 300));
          }
          return m;
        },
      };
    };
    const queue = [slow(ha), slow(hb)];
    // After the two parties, accept times out at once, as a listener's accept timeout would.
    const accept = () => {
      const next = queue.shift();
      return next
        ? Promise.resolve(next)
        : new Promise<never>((_, reject) => setTimeout(() => reject(new KoppelError('TIMEOUT', 'no party connected in time')), 20));
    };
    const [ra, , rh] = await Promise.all([
      joinGroups(ca, a, { threads: 0, variant: 'helper', helper: ah }),
      joinValues(cb, b, { threads: 0, variant: 'helper', helper: bh, columns: ['v'] }),
      joinHelper(accept),
    ]);
    expect(rh.positions).toBe(60);
    expect(ra.groups.reduce((s, g) => s + g.count, 0)).toBe(rh.histogram.reduce((s, x) => s + x, 0));
  });
});
