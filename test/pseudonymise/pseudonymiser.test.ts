/**
 * Keyed pseudonyms: fixed vectors (computed independently in Python), determinism,
 * domain separation, key separation, the output format, and that errors never carry
 * the identifier.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { exportKey, generateKey, importKey, type PseudonymKey } from '../../src/pseudonymise/key.js';
import { Pseudonymiser, parsePseudonym } from '../../src/pseudonymise/pseudonymiser.js';
import type { IdType } from '../../src/pseudonymise/normalise.js';
import { expectCodeSync, vectors } from '../helpers.js';

interface Vector {
  secret: string;
  kid: string;
  domain: string;
  idType: IdType;
  input: string;
  normalised: string;
  hmac: string;
  pseudonym: string;
}
const fixed = vectors<{ vectors: Vector[] }>('koppel-pseudonym-v1.json').vectors;

function keyFromSecret(secret: string, kid: string): PseudonymKey {
  return importKey(
    JSON.stringify({ type: 'koppel-pseudonym-key', format: 1, alg: 'HKDF-SHA256/HMAC-SHA256', kid, created: '2026-01-01T00:00:00.000Z', secret }),
  );
}

describe('fixed pseudonym vectors (format v1 can never drift unnoticed)', () => {
  it.each(fixed)('$idType "$normalised" in $domain under key $kid', (v) => {
    const p = new Pseudonymiser({ key: keyFromSecret(v.secret, v.kid), domain: v.domain, idType: v.idType });
    expect(p.pseudonymise(v.input)).toBe(v.pseudonym);
    expect(Buffer.from(parsePseudonym(v.pseudonym).digest).toString('hex')).toBe(v.hmac);
  });
  it('covers two keys, three domains and all identifier types', () => {
    expect(new Set(fixed.map((v) => v.kid)).size).toBe(2);
    expect(new Set(fixed.map((v) => v.domain)).size).toBe(3);
    expect(new Set(fixed.map((v) => v.idType))).toEqual(new Set(['bsn', 'email', 'raw']));
  });
});

const key = generateKey();
const id = fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.isWellFormed());

describe('properties', () => {
  it('determinism: the same key, domain and identifier always give the same pseudonym', () => {
    const a = new Pseudonymiser({ key, domain: 'd' });
    const b = new Pseudonymiser({ key: importKey(exportKey(key)), domain: 'd' });
    fc.assert(
      fc.property(id, (x) => {
        expect(a.pseudonymise(x)).toBe(b.pseudonymise(x));
      }),
    );
  });
  it('domain separation: two domains give unrelated pseudonyms for the same identifier', () => {
    fc.assert(
      fc.property(id, fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), (x, d1, d2) => {
        fc.pre(d1 !== d2 && /^[\x20-\x7e]+$/.test(d1 + d2));
        const p1 = new Pseudonymiser({ key, domain: d1 }).pseudonymise(x);
        const p2 = new Pseudonymiser({ key, domain: d2 }).pseudonymise(x);
        expect(p1).not.toBe(p2);
      }),
      { numRuns: 200 },
    );
  });
  it('domain separation holds for prefix-related domain names', () => {
    const a = new Pseudonymiser({ key, domain: 'cbs/2026' }).pseudonymise('x');
    const b = new Pseudonymiser({ key, domain: 'cbs/2026/' }).pseudonymise('x');
    expect(a).not.toBe(b);
  });
  it('key separation: two keys give unrelated pseudonyms and different key id prefixes', () => {
    const other = generateKey();
    const a = new Pseudonymiser({ key, domain: 'd' });
    const b = new Pseudonymiser({ key: other, domain: 'd' });
    fc.assert(
      fc.property(id, (x) => {
        const [pa, pb] = [a.pseudonymise(x), b.pseudonymise(x)];
        expect(pa.slice(13)).not.toBe(pb.slice(13));
        expect(pa.slice(0, 12)).not.toBe(pb.slice(0, 12));
      }),
    );
  });
  it('injectivity in practice: distinct normalised identifiers give distinct pseudonyms', () => {
    const p = new Pseudonymiser({ key, domain: 'd' });
    fc.assert(
      fc.property(fc.uniqueArray(id, { minLength: 2, maxLength: 50 }), (xs) => {
        const normal = new Set(xs.map((x) => x.normalize('NFC')));
        expect(new Set(xs.map((x) => p.pseudonymise(x))).size).toBe(normal.size);
      }),
    );
  });
  it('format: 12 hex key id, a dot, 43 base64url characters; safe in CSV and URLs', () => {
    const p = new Pseudonymiser({ key, domain: 'd', idType: 'raw' });
    fc.assert(
      fc.property(id, (x) => {
        const s = p.pseudonymise(x);
        expect(s).toMatch(/^[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
        expect(encodeURIComponent(s)).toBe(s);
        expect(s.startsWith(key.kid + '.')).toBe(true);
      }),
    );
  });
  it('equivalent spellings of one BSN get one pseudonym', () => {
    const p = new Pseudonymiser({ key, domain: 'd', idType: 'bsn' });
    expect(p.pseudonymise('12345672')).toBe(p.pseudonymise('012345672'));
    expect(p.pseudonymise(' 012345672 ')).toBe(p.pseudonymise('012345672'));
  });
});

describe('errors and key checks', () => {
  it('rejects invalid identifiers without echoing them', () => {
    const p = new Pseudonymiser({ key, domain: 'd', idType: 'bsn' });
    const e = expectCodeSync(() => p.pseudonymise('123456789'), 'INVALID_BSN');
    expect(e.message).not.toContain('123456789');
    expect(JSON.stringify(e.details)).not.toContain('123456789');
    expect(p.tryPseudonymise('123456789')).toEqual({ ok: false, code: 'INVALID_BSN', reason: 'checksum' });
  });
  it('batch and stream forms keep going past invalid identifiers', async () => {
    const p = new Pseudonymiser({ key, domain: 'd', idType: 'bsn' });
    const many = [...p.pseudonymiseMany(['111222333', 'bad', '123456782'])];
    expect(many.map((r) => r.ok)).toEqual([true, false, true]);
    const streamed: boolean[] = [];
    for await (const r of p.pseudonymiseStream(
      (async function* () {
        yield '111222333';
        yield '';
      })(),
    ))
      streamed.push(r.ok);
    expect(streamed).toEqual([true, false]);
  });
  it("tells its own pseudonyms from another key's", () => {
    const p = new Pseudonymiser({ key, domain: 'd' });
    const q = new Pseudonymiser({ key: generateKey(), domain: 'd' });
    const mine = p.pseudonymise('x');
    expect(p.isOwnKey(mine)).toBe(true);
    expect(q.isOwnKey(mine)).toBe(false);
    expectCodeSync(() => q.assertOwnKey(mine), 'KEY_MISMATCH');
    expectCodeSync(() => parsePseudonym('not-a-pseudonym'), 'INVALID_PSEUDONYM');
  });
  it('rejects unknown identifier types and destroyed keys', () => {
    expectCodeSync(() => new Pseudonymiser({ key, domain: 'd', idType: 'phone' as IdType }), 'INVALID_ARGUMENT');
    const k = generateKey();
    k.destroy();
    expectCodeSync(() => new Pseudonymiser({ key: k, domain: 'd' }), 'INVALID_KEY');
  });
  it('keeps working after its master key is destroyed (it holds only the domain key)', () => {
    const k = generateKey();
    const p = new Pseudonymiser({ key: k, domain: 'd' });
    const before = p.pseudonymise('x');
    k.destroy();
    expect(p.pseudonymise('x')).toBe(before);
  });
  it('refuses every call with INVALID_KEY once destroy() has zeroed its domain key state', () => {
    const p = new Pseudonymiser({ key, domain: 'd', idType: 'bsn' });
    expect(p.tryPseudonymise('111222333').ok).toBe(true);
    p.destroy();
    expectCodeSync(() => p.pseudonymise('111222333'), 'INVALID_KEY');
    expectCodeSync(() => p.tryPseudonymise('111222333'), 'INVALID_KEY');
    // The key id is public and stays.
    expect(p.kid).toBe(key.kid);
  });
});
