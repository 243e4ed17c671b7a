/**
 * Seeded synthetic data for the demo and examples: a Dutch-looking population (CBS
 * side) and a skewed subset of MijnOverheid users with usage counts (Logius side).
 *
 * The generator is deterministic for a seed so that runs can be compared. Its
 * pseudo-random numbers are NOT for cryptography: they shape fake records only. All
 * keys and protocol randomness in koppel come from the platform CSPRNG.
 *
 * Province populations are CBS figures for 1 January 2024 (rounded to thousands);
 * household-type and age shares are rounded CBS StatLine shares; usage rates per age
 * band are invented but plausible (younger adults use MijnOverheid more).
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

/** A small seeded generator (sfc32), seeded through SHA-256 of the seed string. */
export class SyntheticRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update('koppel/synthetic/v1/').update(seed).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12);
    for (let i = 0; i < 16; i++) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Picks an index with probability proportional to `weights`. */
  weighted(weights: readonly number[], total?: number): number {
    let x = this.next() * (total ?? weights.reduce((s, w) => s + w, 0));
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** A geometric-like count with the given mean (heavy enough tail for usage counts). */
  count(mean: number): number {
    // Exponential with the given mean, floored: a discretised, right-skewed count.
    return Math.floor(-Math.log(1 - this.next()) * mean);
  }
}

/** The twelve provinces with population in thousands (CBS, 1 January 2024). */
export const PROVINCES: ReadonlyArray<readonly [string, number]> = [
  ['Groningen', 596],
  ['Fryslan', 659],
  ['Drenthe', 498],
  ['Overijssel', 1166],
  ['Flevoland', 444],
  ['Gelderland', 2133],
  ['Utrecht', 1387],
  ['Noord-Holland', 2952],
  ['Zuid-Holland', 3804],
  ['Zeeland', 392],
  ['Noord-Brabant', 2626],
  ['Limburg', 1128],
];

/** CBS household types (persons living in such households), rounded shares. */
export const HOUSEHOLD_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['eenpersoonshuishouden', 0.22],
  ['paar zonder kinderen', 0.3],
  ['paar met kinderen', 0.36],
  ['eenouderhuishouden', 0.09],
  ['overig huishouden', 0.03],
];

/** Adult age bands with population shares and invented MijnOverheid usage rates. */
export const AGE_BANDS: ReadonlyArray<readonly [string, number, number]> = [
  ['18-29', 0.19, 0.78],
  ['30-44', 0.23, 0.86],
  ['45-64', 0.33, 0.8],
  ['65-79', 0.18, 0.62],
  ['80+', 0.07, 0.31],
];

/** Draws a valid, random BSN (9 digits passing the elfproef, not all zeros). */
export function syntheticBsn(rng: SyntheticRandom): string {
  for (;;) {
    let s = '';
    let sum = 0;
    for (let w = 9; w >= 2; w--) {
      const d = rng.int(10);
      s += d;
      sum += w * d;
    }
    const check = sum % 11;
    if (check === 10 || (sum === 0 && check === 0)) continue;
    return s + check;
  }
}

/** One person of the synthetic population. */
export interface Person {
  readonly bsn: string;
  readonly province: string;
  readonly householdType: string;
  readonly ageBand: string;
}

/** One MijnOverheid user with usage counts. */
export interface User {
  readonly bsn: string;
  readonly logins: number;
  readonly messagesRead: number;
}

/** The synthetic data of the two parties. */
export interface SyntheticData {
  /** Party A (CBS-like): every person with region, household type and age band. */
  readonly population: Person[];
  /** Party B (Logius-like): users, a skewed subset of A plus some persons A lacks. */
  readonly users: User[];
}

/**
 * Generates `size` persons and their users. About 2% of users are not in the
 * population (emigrated, or registered elsewhere), as in real registers.
 */
export function generateSynthetic(size: number, seed: string): SyntheticData {
  const rng = new SyntheticRandom(seed);
  const seen = new Set<string>();
  const fresh = (): string => {
    for (;;) {
      const b = syntheticBsn(rng);
      if (!seen.has(b)) {
        seen.add(b);
        return b;
      }
    }
  };
  const provinceWeights = PROVINCES.map((p) => p[1]);
  const householdWeights = HOUSEHOLD_TYPES.map((h) => h[1]);
  const ageWeights = AGE_BANDS.map((a) => a[1]);
  const population: Person[] = [];
  const users: User[] = [];
  for (let i = 0; i < size; i++) {
    const band = AGE_BANDS[rng.weighted(ageWeights)] as (typeof AGE_BANDS)[number];
    const person: Person = {
      bsn: fresh(),
      province: (PROVINCES[rng.weighted(provinceWeights)] as (typeof PROVINCES)[number])[0],
      householdType: (HOUSEHOLD_TYPES[rng.weighted(householdWeights)] as (typeof HOUSEHOLD_TYPES)[number])[0],
      ageBand: band[0],
    };
    population.push(person);
    if (rng.next() < band[2]) users.push(syntheticUsage(rng, person.bsn));
  }
  const outsiders = Math.round(users.length * 0.02);
  for (let i = 0; i < outsiders; i++) users.push(syntheticUsage(rng, fresh()));
  // Shuffle users so that their order says nothing about the population's order.
  for (let i = users.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [users[i], users[j]] = [users[j] as User, users[i] as User];
  }
  return { population, users };
}

function syntheticUsage(rng: SyntheticRandom, bsn: string): User {
  const logins = 1 + rng.count(6);
  return { bsn, logins, messagesRead: Math.min(logins * 3, rng.count(logins * 1.5)) };
}
