import { describe, expect, it } from 'vitest';
import { KoppelError } from '../../src/errors/index.js';
import { expectCode, expectCodeSync } from './expect-code.js';

const fail = (code: 'INVALID_KEY' | 'INVALID_BSN') => new KoppelError(code, 'test');

describe('expectCode', () => {
  it('passes for the code given, from a throwing function, a rejecting one, or a rejecting promise, and returns the error', async () => {
    const e = fail('INVALID_KEY');
    expect(
      await expectCode(() => {
        throw e;
      }, 'INVALID_KEY'),
    ).toBe(e);
    expect(
      await expectCode(async () => {
        throw e;
      }, 'INVALID_KEY'),
    ).toBe(e);
    expect(await expectCode(Promise.reject(e), 'INVALID_KEY')).toBe(e);
  });

  it('fails when the code differs', async () => {
    await expect(
      expectCode(() => {
        throw fail('INVALID_BSN');
      }, 'INVALID_KEY'),
    ).rejects.toThrow(/expected a KoppelError INVALID_KEY/);
    await expect(expectCode(Promise.reject(fail('INVALID_BSN')), 'INVALID_KEY')).rejects.toThrow(/expected a KoppelError INVALID_KEY/);
  });

  it('fails when nothing fails', async () => {
    await expect(expectCode(() => 1, 'INVALID_KEY')).rejects.toThrow(/the function returned/);
    await expect(expectCode(async () => 1, 'INVALID_KEY')).rejects.toThrow(/the function returned/);
    await expect(expectCode(Promise.resolve(1), 'INVALID_KEY')).rejects.toThrow(/the promise resolved/);
  });

  it('fails when the error is not a KoppelError, even with a matching code property', async () => {
    const impostor = Object.assign(new Error('x'), { code: 'INVALID_KEY' });
    await expect(
      expectCode(() => {
        throw impostor;
      }, 'INVALID_KEY'),
    ).rejects.toThrow(/expected a KoppelError INVALID_KEY/);
    await expect(expectCode(Promise.reject(new TypeError('fetch failed')), 'INVALID_KEY')).rejects.toThrow(/expected a KoppelError INVALID_KEY/);
  });
});

describe('expectCodeSync', () => {
  it('passes for a synchronous throw of the code given, and returns the error', () => {
    const e = fail('INVALID_KEY');
    expect(
      expectCodeSync(() => {
        throw e;
      }, 'INVALID_KEY'),
    ).toBe(e);
  });

  it('fails when the code differs, when nothing is thrown, when a promise is returned instead, and for a non-KoppelError', () => {
    expect(() =>
      expectCodeSync(() => {
        throw fail('INVALID_BSN');
      }, 'INVALID_KEY'),
    ).toThrow(/expected a KoppelError INVALID_KEY/);
    expect(() => expectCodeSync(() => 1, 'INVALID_KEY')).toThrow(/the function returned/);
    const rejected = Promise.reject(fail('INVALID_KEY'));
    rejected.catch(() => undefined);
    expect(() => expectCodeSync(() => rejected, 'INVALID_KEY')).toThrow(/returned a promise/);
    expect(() =>
      expectCodeSync(() => {
        throw Object.assign(new Error('x'), { code: 'INVALID_KEY' });
      }, 'INVALID_KEY'),
    ).toThrow(/expected a KoppelError INVALID_KEY/);
  });
});
