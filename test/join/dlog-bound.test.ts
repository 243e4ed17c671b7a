/**
 * The bounded discrete logarithm (docs/protocols/join.md, "Bounded discrete logarithm"),
 * written as the attack: a value holder whose declared maximum, or whose values, would
 * make the group holder search for hours. A refuses a declaration above its own
 * `maxValue` before any work, and the search for all the sums of a run stops at its
 * budget of giant steps with `SUM_OUT_OF_RANGE`, within seconds.
 */
import { describe, expect, it } from 'vitest';
import { loadRistretto255, scalarFromInt } from '../../src/group/sodium.js';
import { DEFAULT_SEARCH_STEPS, DiscreteLog } from '../../src/join/elgamal.js';
import { joinGroups, joinValues, type GroupRecord, type JoinProgress, type ValueRecord } from '../../src/join/join.js';
import { createMemoryChannelPair } from '../../src/transport/channel.js';

const r = await loadRistretto255();

describe('DiscreteLog: one budget of giant steps for every solve', () => {
  it('shares the budget between solves and stops with SUM_OUT_OF_RANGE naming it once spent', () => {
    const dlog = new DiscreteLog(r, 1024, 100);
    // 50 * 1024 + 7 takes 51 giant steps (i = 0..50).
    expect(dlog.solve(r.mulBase(scalarFromInt(50 * 1024 + 7)), 2 ** 30)).toBe(50 * 1024 + 7);
    expect(dlog.stepsLeft).toBe(49);
    // The next one would need 61 steps: more than what is left, although far below its bound.
    let thrown: unknown;
    try {
      dlog.solve(r.mulBase(scalarFromInt(60 * 1024)), 2 ** 30);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: 'SUM_OUT_OF_RANGE', details: { budget: 100 } });
    expect(dlog.stepsLeft).toBe(0);
    // Spent: even the cheapest search now fails.
    expect(() => dlog.solve(r.mulBase(scalarFromInt(0)), 10)).toThrow(expect.objectContaining({ code: 'SUM_OUT_OF_RANGE' }));
  });

  it('a garbage point near the 2^48 bound costs the budget, not 2^48 / table giant steps', () => {
    const dlog = new DiscreteLog(r, 1024, 2000);
    const started = performance.now();
    expect(() => dlog.solve(r.mulBase(r.randomScalar()), 2 ** 48)).toThrow(expect.objectContaining({ code: 'SUM_OUT_OF_RANGE' }));
    expect(dlog.stepsLeft).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('refuses a budget it cannot hold', () => {
    expect(() => new DiscreteLog(r, 1024, 0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new DiscreteLog(r, 1024, 2 ** 33)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

/** A's records in one group; B's share every id, each with `value` in its one column. */
function data(n: number, value: number): { a: GroupRecord[]; b: ValueRecord[] } {
  const a = Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, group: ['g'] }));
  const b = Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, values: [value] }));
  return { a, b };
}

describe('join groups: the value holder cannot set how long A searches', () => {
  it('a declared maximum above the one A accepts is refused before any work, LIMIT_EXCEEDED naming maxValue on both sides', async () => {
    const { a, b } = data(20, 5);
    const phases: string[] = [];
    const seen = (p: JoinProgress) => phases.push(p.phase);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const [ra, rb] = await Promise.allSettled([
      joinGroups(ca, a, { threads: 0, onProgress: seen }), // accepts the default, 1,000,000
      joinValues(cb, b, { threads: 0, columns: ['v'], maxValue: 2 ** 36, minCount: 1, onProgress: seen }),
    ]);
    expect(ra).toMatchObject({
      status: 'rejected',
      reason: { code: 'LIMIT_EXCEEDED', details: { field: 'maxValue', ours: '1000000', theirs: String(2 ** 36) } },
    });
    expect(rb).toMatchObject({ status: 'rejected', reason: { code: 'LIMIT_EXCEEDED', details: { peer: true, field: 'maxValue' } } });
    expect((rb as PromiseRejectedResult).reason).toHaveProperty('message', expect.stringContaining('maxValue'));
    // Nothing was blinded, sent or evaluated: the refusal came with the HELLO.
    expect(phases.filter((p) => p !== 'read')).toEqual([]);
  });

  it('a declaration up to A’s maxValue runs as before', async () => {
    const { a, b } = data(20, 7);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const [ra] = await Promise.all([
      joinGroups(ca, a, { threads: 0, maxValue: 100, threshold: 1 }),
      joinValues(cb, b, { threads: 0, columns: ['v'], maxValue: 100, minCount: 1 }),
    ]);
    expect(ra.groups).toEqual([{ labels: ['g'], count: 20, sums: [140] }]);
  });

  it('sums near the 2^48 bound (an accepted 2^40 maximum) end with SUM_OUT_OF_RANGE within seconds under the default budget, not hours', async () => {
    // 200 values of 2^40 - 1: one sum of about 2^47.6, below its bound (200 x 2^40), whose
    // search takes about 2^31.6 giant steps (hours); the budget stops it at 2^18.
    const { a, b } = data(200, 2 ** 40 - 1);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 20_000 });
    const started = performance.now();
    const cpu = process.cpuUsage();
    const [ra, rb] = await Promise.allSettled([
      joinGroups(ca, a, { threads: 0, maxValue: 2 ** 40, threshold: 1 }),
      joinValues(cb, b, { threads: 0, columns: ['v'], maxValue: 2 ** 40, minCount: 1 }),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    expect(ra).toMatchObject({ status: 'rejected', reason: { code: 'SUM_OUT_OF_RANGE', details: { budget: DEFAULT_SEARCH_STEPS } } });
    // B's part ended before the search (FINISHED comes first, "Timing").
    expect(rb.status).toBe('fulfilled');
    // Seconds of this process's CPU (12-17 s alone here), not wall time, which a loaded
    // machine stretches; the unbounded search would take hours of either.
    expect((used.user + used.system) / 1e6).toBeLessThan(40);
    expect(seconds).toBeLessThan(150);
  }, 180_000);

  it('maxSearchSteps sets the budget of the run', async () => {
    const { a, b } = data(20, 2 ** 30);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const [ra] = await Promise.allSettled([
      joinGroups(ca, a, { threads: 0, maxValue: 2 ** 30, maxSearchSteps: 64, threshold: 1 }),
      joinValues(cb, b, { threads: 0, columns: ['v'], maxValue: 2 ** 30, minCount: 1 }),
    ]);
    expect(ra).toMatchObject({ status: 'rejected', reason: { code: 'SUM_OUT_OF_RANGE', details: { budget: 64 } } });
  });
});
