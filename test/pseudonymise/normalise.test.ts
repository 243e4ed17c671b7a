/**
 * Identifier normalisation: the elfproef, 8-digit padding, and the canonical forms of
 * e-mail and raw identifiers. Rejections carry a reason, never the value.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkBsn, checkEmail, checkRaw, isValidBsn, normaliseBsn, normaliseIdentifier } from '../../src/pseudonymise/normalise.js';
import { expectCodeSync } from '../helpers.js';

/** An independent, readable elfproef for the property tests. */
function elfproef(nine: string): boolean {
  const d = [...nine].map(Number);
  const sum = d.slice(0, 8).reduce((s, x, i) => s + (9 - i) * x, 0) - (d[8] as number);
  return /^\d{9}$/.test(nine) && sum % 11 === 0 && nine !== '000000000';
}

const nineDigits = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }).map((d) => d.join(''));
const validBsn = nineDigits.filter(elfproef);

describe('BSN elfproef', () => {
  it('accepts known valid numbers', () => {
    for (const b of ['111222333', '123456782', '999999990', '100000009']) expect(normaliseBsn(b)).toBe(b);
  });
  it('rejects a failed checksum with reason "checksum"', () => {
    const e = expectCodeSync(() => normaliseBsn('123456789'), 'INVALID_BSN');
    expect(e.details['reason']).toBe('checksum');
    expect(e.message).not.toContain('123456789');
  });
  it('pads 8-digit input with a leading zero', () => {
    expect(normaliseBsn('12345672')).toBe('012345672');
    expect(isValidBsn('012345672')).toBe(true);
    expect(isValidBsn('12345673')).toBe(false);
  });
  it('rejects all zeros, as 9 or as 8 digits', () => {
    expect(expectCodeSync(() => normaliseBsn('000000000'), 'INVALID_BSN').details['reason']).toBe('zero');
    expect(expectCodeSync(() => normaliseBsn('00000000'), 'INVALID_BSN').details['reason']).toBe('zero');
  });
  it('rejects non-digits, inner separators and wrong lengths', () => {
    const cases: Array<[string, string]> = [
      ['12345678a', 'non-digit'],
      ['1234.56.782', 'non-digit'],
      ['123 456 782', 'non-digit'],
      ['１２３４５６７８２', 'non-digit'], // full-width digits
      ['1234567', 'length'],
      ['1234567820', 'length'],
      ['', 'empty'],
      ['   ', 'empty'],
    ];
    for (const [input, reason] of cases) {
      const r = checkBsn(input);
      expect(typeof r === 'string' ? 'accepted' : r.reason, JSON.stringify(input)).toBe(reason);
    }
  });
  it('ignores surrounding spaces, tabs and line ends', () => {
    expect(normaliseBsn(' 123456782\t')).toBe('123456782');
    expect(normaliseBsn('123456782\r\n')).toBe('123456782');
  });
  it('agrees with an independent elfproef on random 9-digit strings', () => {
    fc.assert(
      fc.property(nineDigits, (s) => {
        expect(isValidBsn(s)).toBe(elfproef(s));
      }),
      { numRuns: 5000 },
    );
  });
  it('detects every single-digit error in a valid BSN', () => {
    fc.assert(
      fc.property(validBsn, fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 9 }), (b, pos, delta) => {
        const d = [...b].map(Number);
        d[pos] = ((d[pos] as number) + delta) % 10;
        expect(isValidBsn(d.join(''))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
  it('detects every swap of two different adjacent digits among the first eight', () => {
    fc.assert(
      fc.property(validBsn, fc.integer({ min: 0, max: 6 }), (b, pos) => {
        fc.pre(b[pos] !== b[pos + 1]);
        const swapped = b.slice(0, pos) + b[pos + 1] + b[pos] + b.slice(pos + 2);
        expect(isValidBsn(swapped)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('e-mail normalisation', () => {
  it('trims and lower-cases the domain only', () => {
    expect(normaliseIdentifier('  Jan.Jansen@Example.NL ', 'email')).toBe('Jan.Jansen@example.nl');
  });
  it('rejects addresses without local part or domain, or with inner spaces', () => {
    for (const bad of ['jan', '@example.nl', 'jan@', 'jan jansen@example.nl', '']) {
      const r = checkEmail(bad);
      expect(typeof r, JSON.stringify(bad)).toBe('object');
    }
  });
});

describe('raw normalisation', () => {
  it('maps canonically equivalent strings to one NFC form', () => {
    expect(checkRaw('Zoe\u0308')).toBe('Zo\u00eb');
    expect(checkRaw('Zo\u00eb')).toBe('Zo\u00eb');
  });
  it('rejects empty strings, lone surrogates and oversize input', () => {
    expect(checkRaw('')).toMatchObject({ code: 'INVALID_IDENTIFIER', reason: 'empty' });
    expect(checkRaw('a\ud800b')).toMatchObject({ code: 'INVALID_IDENTIFIER', reason: 'encoding' });
    expect(checkRaw('x'.repeat(4097))).toMatchObject({ code: 'INVALID_IDENTIFIER', reason: 'length' });
  });
});
