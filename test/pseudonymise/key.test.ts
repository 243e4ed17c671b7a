/**
 * Master keys: generation, export/import round trips, refusal of weak, malformed and
 * tampered keys, and that the secret never shows in JSON or logs.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { exportKey, generateKey, importKey, PseudonymKey, checkDomain } from '../../src/pseudonymise/key.js';
import { toBase64Url } from '../../src/util/bytes.js';
import { expectCodeSync } from '../helpers.js';

function exported(overrides: Record<string, unknown>): string {
  const base = JSON.parse(exportKey(generateKey())) as Record<string, unknown>;
  return JSON.stringify({ ...base, ...overrides });
}

describe('generateKey / exportKey / importKey', () => {
  it('round-trips a key with its id, creation time and label', () => {
    const k = generateKey({ label: 'cbs-2026' });
    const back = importKey(exportKey(k));
    expect(back.kid).toBe(k.kid);
    expect(back.created).toBe(k.created);
    expect(back.label).toBe('cbs-2026');
    expect(k.kid).toMatch(/^[0-9a-f]{12}$/);
  });
  it('gives a fresh key, with a fresh id, every time', () => {
    const ids = new Set(Array.from({ length: 50 }, () => generateKey().kid));
    expect(ids.size).toBe(50);
  });
  it('exports the documented JSON fields and nothing else', () => {
    const o = JSON.parse(exportKey(generateKey())) as Record<string, unknown>;
    expect(Object.keys(o).sort()).toEqual(['alg', 'created', 'format', 'kid', 'secret', 'type']);
    expect(o['type']).toBe('koppel-pseudonym-key');
    expect(o['alg']).toBe('HKDF-SHA256/HMAC-SHA256');
    expect(o['secret']).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('the secret never leaks by accident', () => {
  it('is absent from JSON.stringify and util.inspect', () => {
    const k = generateKey();
    const secret = (JSON.parse(exportKey(k)) as { secret: string }).secret;
    expect(JSON.stringify(k)).not.toContain(secret);
    expect(JSON.stringify(k)).toContain('[redacted]');
    expect(inspect(k, { showHidden: true, depth: 5 })).not.toContain(secret);
    expect(Object.values(k).join(' ')).not.toContain(secret);
  });
  it('is wiped by destroy(), after which the key cannot be used', () => {
    const k = generateKey();
    k.destroy();
    expect(k.destroyed).toBe(true);
    expectCodeSync(() => exportKey(k), 'INVALID_KEY');
  });
});

describe('importKey refuses bad keys with a clear error', () => {
  it('rejects non-JSON and non-objects', () => {
    expectCodeSync(() => importKey('not json'), 'INVALID_KEY');
    expectCodeSync(() => importKey('[]'), 'INVALID_KEY');
    expectCodeSync(() => importKey('null'), 'INVALID_KEY');
  });
  it('rejects a wrong type, format or algorithm', () => {
    expectCodeSync(() => importKey(exported({ type: 'other' })), 'INVALID_KEY');
    expectCodeSync(() => importKey(exported({ format: 2 })), 'INVALID_KEY');
    expectCodeSync(() => importKey(exported({ alg: 'HMAC-SHA1' })), 'INVALID_KEY');
  });
  it('rejects unknown fields (a hand-edited file)', () => {
    expectCodeSync(() => importKey(exported({ extra: 1 })), 'INVALID_KEY');
  });
  it('rejects a key id that does not match the secret (corruption or tampering)', () => {
    const e = expectCodeSync(() => importKey(exported({ kid: '000000000000' })), 'INVALID_KEY');
    expect(e.details['field']).toBe('kid');
  });
  it('rejects a secret that is not canonical base64url', () => {
    expectCodeSync(() => importKey(exported({ secret: 'A'.repeat(42) + '=' })), 'INVALID_KEY');
    expectCodeSync(() => importKey(exported({ secret: 12 })), 'INVALID_KEY');
  });
  it('rejects short and visibly non-random secrets as WEAK_KEY', () => {
    const short = toBase64Url(new Uint8Array(16).map((_, i) => i * 13));
    expectCodeSync(() => importKey(exported({ secret: short })), 'WEAK_KEY');
    const zeros = toBase64Url(new Uint8Array(32));
    expectCodeSync(() => importKey(exported({ secret: zeros })), 'WEAK_KEY');
    const passphrase = toBase64Url(new TextEncoder().encode('correct horse battery staple!!!!'));
    expectCodeSync(() => importKey(exported({ secret: passphrase })), 'WEAK_KEY');
    expectCodeSync(() => new PseudonymKey(new Uint8Array(32).fill(7), new Date().toISOString(), undefined), 'WEAK_KEY');
  });
  it('never puts the secret into an error message', () => {
    const bad = exported({ kid: '000000000000' });
    const secret = (JSON.parse(bad) as { secret: string }).secret;
    const e = expectCodeSync(() => importKey(bad), 'INVALID_KEY');
    expect(e.message + JSON.stringify(e.details)).not.toContain(secret);
  });
  it('rejects a bad label', () => {
    expectCodeSync(() => generateKey({ label: 'has space' }), 'INVALID_ARGUMENT');
  });
});

describe('domains', () => {
  it('accepts ordinary names and rejects empty, control characters, non-NFC and oversize', () => {
    expect(checkDomain('cbs/2026/logius-link')).toBe('cbs/2026/logius-link');
    expectCodeSync(() => checkDomain(''), 'INVALID_DOMAIN');
    expectCodeSync(() => checkDomain('a\nb'), 'INVALID_DOMAIN');
    expectCodeSync(() => checkDomain('e\u0301'), 'INVALID_DOMAIN');
    expectCodeSync(() => checkDomain('x'.repeat(201)), 'INVALID_DOMAIN');
  });
});
