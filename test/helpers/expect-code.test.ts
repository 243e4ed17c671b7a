import { describe, expect, it } from 'vitest';
import { KoppelError } from '../../src/errors/index.js';
import { expectCode } from './expect-code.js';

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
