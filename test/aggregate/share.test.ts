/**
 * Additive sharing over Z_(2^64): exact sums (wrap-around included), uniform shares,
 * shares independent of the input, and the encodings of signed and decimal values.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addInto, decodeSigned, encodeSigned, formatFixed, parseFixed, MOD } from '../../src/aggregate/ring.js';
import { addShareInto, expandSeed, shareVector, split } from '../../src/aggregate/share.js';
import { makeCodebook } from '../../src/aggregate/codebook.js';
import { prgStream } from '../../src/util/prg.js';
import { expectCodeSync } from '../helpers.js';

const ctx = { round: 'r1', codebookHash: 'h', party: 'p1' };
const word = fc.bigInt({ min: 0n, max: MOD - 1n });

function combine(x: BigUint64Array, m: number, c = ctx): BigUint64Array {
  const shares = split(x, m, c);
  const total = new BigUint64Array(x.length);
  shares.forEach((s, j) => addInto(total, shareVector(s, x.length, { ...c, aggregator: j })));
  return total;
}

describe('split and combine', () => {
  it('the shares always add up to the input, for any m and any words (wrap-around included)', () => {
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 30 }), fc.integer({ min: 2, max: 6 }), (ws, m) => {
        const x = BigUint64Array.from(ws);
        expect(combine(x, m)).toEqual(x);
      }),
      { numRuns: 100 },
    );
  });
  it('sums of signed inputs are exact across the 2^64 boundary', () => {
    const inputs = [-5n, 3n, 1n << 62n, -(1n << 62n), 2n];
    const total = new BigUint64Array(1);
    inputs.forEach((v, i) => addInto(total, combine(BigUint64Array.from([encodeSigned(v)]), 3, { ...ctx, party: `p${i}` })));
    expect(decodeSigned(total[0] as bigint)).toBe(0n);
  });
  it('binds a seed to its context: another party, round or aggregator expands differently', () => {
    const seed = new Uint8Array(32).fill(1);
    const a = expandSeed(seed, 4, { ...ctx, aggregator: 0 });
    expect(expandSeed(seed, 4, { ...ctx, aggregator: 1 })).not.toEqual(a);
    expect(expandSeed(seed, 4, { ...ctx, party: 'p2', aggregator: 0 })).not.toEqual(a);
    expect(expandSeed(seed, 4, { ...ctx, round: 'r2', aggregator: 0 })).not.toEqual(a);
    expect(expandSeed(seed, 4, { ...ctx, aggregator: 0 })).toEqual(a);
  });
});

describe('the PRG info of a share', () => {
  /** lp(s) = u16(byte length of UTF-8(s)) || UTF-8(s), as the module's description writes it. */
  const lp = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const documentedInfo = (c: { round: string; codebookHash: string; party: string; aggregator: number }): Uint8Array =>
    Buffer.concat([
      Buffer.from('koppel/aggregate/v1/prg'),
      lp(c.round),
      lp(c.codebookHash),
      lp(c.party),
      Buffer.from([c.aggregator >> 8, c.aggregator & 0xff]),
    ]);

  it('is exactly the documented bytes, for any field text (non-ASCII, lone surrogates, long fields)', () => {
    const seed = new Uint8Array(32).fill(7);
    // Any UTF-16 code unit, lone surrogates included (encoded as U+FFFD, 3 bytes).
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: codeUnit, maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: codeUnit, minLength: 300, maxLength: 700 }),
    );
    fc.assert(
      fc.property(text, text, text, fc.integer({ min: 0, max: 63 }), (round, codebookHash, party, aggregator) => {
        const c = { round, codebookHash, party, aggregator };
        expect(expandSeed(seed, 3, c)).toEqual(prgStream(seed, documentedInfo(c))(3));
      }),
      { numRuns: 200 },
    );
  });
  it('takes fields of up to 65,535 UTF-8 bytes and refuses longer ones', () => {
    const seed = new Uint8Array(32);
    const expand = (party: string) => expandSeed(seed, 1, { ...ctx, party, aggregator: 0 });
    for (const party of ['x'.repeat(65535), '\ud800'.repeat(21845), '\u00e9'.repeat(32767) + 'x']) {
      expect(expand(party)).toEqual(prgStream(seed, documentedInfo({ ...ctx, party, aggregator: 0 }))(1));
    }
    for (const party of ['x'.repeat(65536), '\ud800'.repeat(21846), '\u00e9'.repeat(32768)]) expectCodeSync(() => expand(party), 'INVALID_ARGUMENT');
  });
});

describe('addShareInto', () => {
  it('adds and subtracts exactly the vector a seed or full share stands for', () => {
    const x = BigUint64Array.from({ length: 9000 }, (_, i) => BigInt(i) * 0x100000001n);
    const shares = split(x, 3, ctx);
    const viaVectors = new BigUint64Array(x.length);
    const streamed = new BigUint64Array(x.length);
    shares.forEach((s, j) => {
      addInto(viaVectors, shareVector(s, x.length, { ...ctx, aggregator: j }));
      addShareInto(streamed, s, { ...ctx, aggregator: j }, 1);
    });
    expect(streamed).toEqual(viaVectors);
    expect(streamed).toEqual(x);
    shares.forEach((s, j) => addShareInto(streamed, s, { ...ctx, aggregator: j }, -1));
    expect(streamed).toEqual(new BigUint64Array(x.length));
  });
  it('refuses a full share of another length, and a seed that is not 32 bytes, with MESSAGE_MALFORMED', () => {
    expectCodeSync(
      () => addShareInto(new BigUint64Array(3), { kind: 'vector', vector: new BigUint64Array(2) }, { ...ctx, aggregator: 1 }, 1),
      'MESSAGE_MALFORMED',
    );
    expectCodeSync(() => addShareInto(new BigUint64Array(3), { kind: 'seed', seed: new Uint8Array(16) }, { ...ctx, aggregator: 0 }, 1), 'MESSAGE_MALFORMED');
  });
});

/** Chi-square statistic of the top 4 bits of words over 16 buckets. */
function chiSquareTopNibble(words: bigint[]): number {
  const buckets = new Array<number>(16).fill(0);
  for (const w of words) buckets[Number(w >> 60n)] = (buckets[Number(w >> 60n)] as number) + 1;
  const e = words.length / 16;
  return buckets.reduce((s, o) => s + ((o - e) * (o - e)) / e, 0);
}

describe('share distribution', () => {
  // 15 degrees of freedom: P(chi2 > 37.7) = 0.001.
  const CRIT = 37.7;
  it.each([
    ['all zeros', 0n],
    ['all ones', MOD - 1n],
    ['a small count', 7n],
  ])('each single share of an input of %s is uniform (so m - 1 = 1 share says nothing about it)', (_, v) => {
    const x = new BigUint64Array(8).fill(v);
    const first: bigint[] = [];
    const last: bigint[] = [];
    for (let i = 0; i < 500; i++) {
      const [s0, s1] = split(x, 2, { ...ctx, party: `p${i}` });
      first.push(...shareVector(s0 as never, 8, { ...ctx, party: `p${i}`, aggregator: 0 }));
      last.push(...shareVector(s1 as never, 8, { ...ctx, party: `p${i}`, aggregator: 1 }));
    }
    expect(chiSquareTopNibble(first)).toBeLessThan(CRIT);
    expect(chiSquareTopNibble(last)).toBeLessThan(CRIT);
    // Bit balance of the low bit, too.
    const ones = last.filter((w) => (w & 1n) === 1n).length;
    expect(Math.abs(ones - last.length / 2)).toBeLessThan(4 * Math.sqrt(last.length / 4));
  });
});

describe('encodings', () => {
  it('parses and formats fixed-point decimals exactly', () => {
    expect(parseFixed('12.5', 2)).toBe(1250n);
    expect(parseFixed('-0.07', 2)).toBe(-7n);
    expect(parseFixed('3', 1)).toBe(30n);
    expect(formatFixed(1250n, 2)).toBe('12.50');
    expect(formatFixed(-7n, 2)).toBe('-0.07');
    expectCodeSync(() => parseFixed('1.234', 2), 'INVALID_ARGUMENT');
    expectCodeSync(() => parseFixed('1e3', 0), 'INVALID_ARGUMENT');
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }), (v, s) => {
        expect(parseFixed(formatFixed(v, s), s)).toBe(v);
      }),
    );
  });
  it("two's complement round-trips every signed 64-bit value and refuses larger ones", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (v) => {
        expect(decodeSigned(encodeSigned(v))).toBe(v);
      }),
    );
    expectCodeSync(() => encodeSigned(1n << 63n), 'INVALID_ARGUMENT');
  });
  it('a codebook whose bounds could overflow 64 bits is refused', () => {
    const base = { id: 'x', dimensions: [{ name: 'd', labels: ['a'] }], maxRecordsPerInput: 1_000_000_000 };
    expectCodeSync(() => makeCodebook({ ...base, values: [{ name: 'v', scale: 0, min: '0', max: '100000000000' }], maxInputs: 1_000_000 }), 'INVALID_ARGUMENT');
    expect(makeCodebook({ ...base, values: [{ name: 'v', scale: 0, min: '-5', max: '5' }], maxInputs: 1000 }).cells).toBe(1);
  });
});
