/**
 * The exact noise samplers produce the stated distributions (frequency tests against
 * the probability mass functions), using integers only.
 */
import { describe, expect, it } from 'vitest';
import { bernoulliExp, discreteGaussian, discreteLaplace, rational, uniformBelow } from '../../src/aggregate/sampler.js';

function frequencies(samples: bigint[], from: number, to: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let x = from; x <= to; x++) m.set(x, 0);
  for (const s of samples) {
    const x = Number(s);
    if (x >= from && x <= to) m.set(x, (m.get(x) as number) + 1);
  }
  return m;
}

/** Asserts observed counts are within 5 standard errors of n * p for each value. */
function expectClose(obs: Map<number, number>, n: number, pmf: (x: number) => number): void {
  for (const [x, o] of obs) {
    const p = pmf(x);
    const sd = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(o - n * p), `value ${x}`).toBeLessThan(5 * sd + 1);
  }
}

describe('samplers', () => {
  it('uniformBelow is uniform on a small range', () => {
    const n = 6000;
    const obs = frequencies(
      Array.from({ length: n }, () => uniformBelow(6n)),
      0,
      5,
    );
    expectClose(obs, n, () => 1 / 6);
  });
  it('Bernoulli(exp(-g)) has mean exp(-g), for g below and above 1', () => {
    for (const [num, den] of [
      [1n, 2n],
      [3n, 2n],
      [0n, 1n],
    ] as const) {
      const n = 4000;
      let ones = 0;
      for (let i = 0; i < n; i++) if (bernoulliExp(num, den)) ones++;
      const p = Math.exp(-Number(num) / Number(den));
      expect(Math.abs(ones - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)) + 1);
    }
  });
  it('discrete Laplace with scale 2 matches its pmf', () => {
    const n = 8000;
    const t = 2;
    const samples = Array.from({ length: n }, () => discreteLaplace(BigInt(t)));
    const c = (1 - Math.exp(-1 / t)) / (1 + Math.exp(-1 / t));
    expectClose(frequencies(samples, -4, 4), n, (x) => c * Math.exp(-Math.abs(x) / t));
    const mean = samples.reduce((s, x) => s + Number(x), 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.15);
  });
  it('discrete Gaussian with sigma^2 = 4 matches its pmf', () => {
    const n = 8000;
    const s2 = 4;
    const samples = Array.from({ length: n }, () => discreteGaussian(4n));
    let z = 0;
    for (let x = -60; x <= 60; x++) z += Math.exp((-x * x) / (2 * s2));
    expectClose(frequencies(samples, -5, 5), n, (x) => Math.exp((-x * x) / (2 * s2)) / z);
    const variance = samples.reduce((s, x) => s + Number(x) ** 2, 0) / n;
    expect(Math.abs(variance - s2)).toBeLessThan(0.4);
  });
  it('rational() reads decimals exactly', () => {
    expect(rational(2.5)).toEqual([25n, 10n]);
    expect(rational(3)).toEqual([3n, 1n]);
    expect(() => rational(-1)).toThrow();
  });
});
