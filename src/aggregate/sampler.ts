/**
 * Exact samplers for the discrete Laplace and discrete Gaussian distributions, after
 * Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy"
 * (NeurIPS 2020), algorithms 1 to 3. Only integer arithmetic on rationals and uniform
 * integers from the platform CSPRNG: no floating point, so no floating-point attacks
 * (Mironov 2012) and exactly the stated distribution.
 *
 * @packageDocumentation
 */
import { randomFillSync } from 'node:crypto';
import { KoppelError } from '../errors/index.js';

/** A uniform integer in [0, n) for a positive bigint n, by rejection sampling. */
export function uniformBelow(n: bigint): bigint {
  if (n <= 0n) throw new KoppelError('INTERNAL', 'uniformBelow needs a positive bound.');
  const bits = n.toString(2).length;
  const bytes = Math.ceil(bits / 8);
  const mask = (1n << BigInt(bits)) - 1n;
  const buf = new Uint8Array(bytes);
  for (;;) {
    randomFillSync(buf);
    let x = 0n;
    for (const b of buf) x = (x << 8n) | BigInt(b);
    x &= mask;
    if (x < n) return x;
  }
}

/** Bernoulli(num/den) for 0 <= num <= den. */
export function bernoulli(num: bigint, den: bigint): boolean {
  return uniformBelow(den) < num;
}

/** Bernoulli(exp(-num/den)) for num/den >= 0 (CKS20 algorithm 1). */
export function bernoulliExp(num: bigint, den: bigint): boolean {
  if (num < 0n || den <= 0n) throw new KoppelError('INTERNAL', 'bernoulliExp needs a non-negative rational.');
  let n = num;
  while (n > den) {
    // exp(-g) = exp(-1)^floor(g) * exp(-(g - floor(g)))
    if (!bernoulliExp(1n, 1n)) return false;
    n -= den;
  }
  let k = 1n;
  for (;;) {
    if (!bernoulli(n, den * k)) break;
    k++;
  }
  return k % 2n === 1n;
}

/** A sample of the discrete Laplace distribution, P(x) proportional to exp(-|x| s / t) (CKS20 algorithm 2). */
export function discreteLaplace(t: bigint, s = 1n): bigint {
  if (t < 1n || s < 1n) throw new KoppelError('INVALID_ARGUMENT', 'Discrete Laplace parameters must be positive integers.');
  for (;;) {
    const u = uniformBelow(t);
    if (!bernoulliExp(u, t)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n)) v++;
    const x = u + t * v;
    const y = x / s;
    const negative = bernoulli(1n, 2n);
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

/**
 * A sample of the discrete Gaussian with variance parameter sigma^2 = a/b, P(x)
 * proportional to exp(-x^2 / (2 sigma^2)) (CKS20 algorithm 3).
 */
export function discreteGaussian(a: bigint, b = 1n): bigint {
  if (a < 1n || b < 1n) throw new KoppelError('INVALID_ARGUMENT', 'The discrete Gaussian variance must be a positive rational.');
  const t = isqrt(a / b) + 1n;
  for (;;) {
    const y = discreteLaplace(t);
    const ay = y < 0n ? -y : y;
    // gamma = (|y| - sigma^2/t)^2 / (2 sigma^2) = (|y| b t - a)^2 / (2 a b t^2)
    const d = ay * b * t - a;
    if (bernoulliExp(d * d, 2n * a * b * t * t)) return y;
  }
}

/** Noise settings of a round, recorded with its output. */
export type NoiseSpec =
  | { readonly distribution: 'none' }
  | { readonly distribution: 'laplace'; readonly scale: number }
  | { readonly distribution: 'gaussian'; readonly sigma2: number };

/** One sample from the noise distribution (0 for none). Parameters are integers or simple decimals. */
export function sampleNoise(spec: NoiseSpec): bigint {
  switch (spec.distribution) {
    case 'none':
      return 0n;
    case 'laplace': {
      const [num, den] = rational(spec.scale);
      return discreteLaplace(num, den); // scale num/den
    }
    case 'gaussian': {
      const [num, den] = rational(spec.sigma2);
      return discreteGaussian(num, den);
    }
    default: {
      const never: never = spec;
      throw new KoppelError('INVALID_ARGUMENT', `Unknown noise distribution ${String(never)}.`);
    }
  }
}

/** A positive decimal number as an exact fraction (at most 9 decimals). */
export function rational(x: number): [bigint, bigint] {
  const text = String(x);
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m || x <= 0) throw new KoppelError('INVALID_ARGUMENT', 'Noise parameters must be positive numbers with at most 9 decimals.');
  const frac = m[2] ?? '';
  return [BigInt((m[1] as string) + frac), 10n ** BigInt(frac.length)];
}
