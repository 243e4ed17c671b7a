/**
 * FailFast and OrderedPipeline: results come out in submission order with at most
 * `depth` in flight; a failure anywhere stops every wait at once; and a settled race
 * keeps nothing alive (a long stream's results are not retained until the run ends).
 */
import { describe, expect, it } from 'vitest';
import { FailFast, OrderedPipeline } from '../../src/util/pipeline.js';
import { runNode } from '../helpers.js';

const later = <T>(v: T, ms: number) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('FailFast', () => {
  it('race gives the result, or the failure if the run fails first, or at once once failed', async () => {
    const ff = new FailFast();
    expect(await ff.race(later(1, 1))).toBe(1);
    const waiting = ff.race(new Promise<number>(() => undefined));
    ff.fail(new Error('boom'));
    await expect(waiting).rejects.toThrow('boom');
    await expect(ff.race(new Promise<number>(() => undefined))).rejects.toThrow('boom');
    ff.fail(new Error('second'));
    expect((ff.error as Error).message).toBe('boom');
  });

  it('a settled race does not keep its result reachable (compiled, with --expose-gc)', async () => {
    const dist = new URL('../../dist/util/pipeline.js', import.meta.url).href;
    const script = `
      const { FailFast } = await import(${JSON.stringify(dist)});
      const ff = new FailFast();
      let ref;
      await (async () => { const big = { bytes: new Uint8Array(1 << 20) }; ref = new WeakRef(big); await ff.race(Promise.resolve(big)); })();
      for (let i = 0; i < 5; i++) { await new Promise((r) => setTimeout(r, 5)); globalThis.gc(); }
      process.stdout.write(ref.deref() === undefined ? 'collected' : 'retained');`;
    const r = await runNode(['--expose-gc', '--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('collected');
  });
});

describe('OrderedPipeline', () => {
  it('sinks in submission order with at most depth in flight', async () => {
    const ff = new FailFast();
    const seen: number[] = [];
    let inFlight = 0;
    let most = 0;
    const pipe = new OrderedPipeline<number>(3, ff, (v) => void seen.push(v));
    for (let i = 0; i < 10; i++) {
      inFlight++;
      most = Math.max(most, inFlight);
      await pipe.push(later(i, (10 - i) % 4).finally(() => inFlight--));
    }
    await pipe.flush();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBeLessThanOrEqual(3);
  });

  it('a failed result fails the run at once, before its turn', async () => {
    const ff = new FailFast();
    const pipe = new OrderedPipeline<number>(4, ff, () => undefined);
    await pipe.push(new Promise<number>(() => undefined));
    await pipe.push(Promise.reject(new Error('late chunk failed')));
    await expect(pipe.flush()).rejects.toThrow('late chunk failed');
    expect((ff.error as Error).message).toBe('late chunk failed');
  });
});
