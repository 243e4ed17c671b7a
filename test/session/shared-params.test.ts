/**
 * Every shared parameter compared (issue 17): a mismatch of any field both sides must
 * share stops both sides before any data, with a typed error that names the field and
 * both values. The finding: a PSI server with the default id type `raw` and a client
 * with `bsn` matched 1 of 2 records, with no warning.
 */
import { describe, expect, it } from 'vitest';
import type { KoppelErrorCode } from '../../src/errors/index.js';
import { joinGroups, joinValues } from '../../src/join/join.js';
import { psiClient, psiServer, type PsiCommonOptions } from '../../src/psi/psi.js';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { expectCode } from '../helpers.js';

const A_HASH = 'a'.repeat(64);
const B_HASH = 'b'.repeat(64);

async function psiBoth(server: PsiCommonOptions, client: PsiCommonOptions) {
  const [cs, cc] = createMemoryChannelPair();
  const [rs, rc] = await Promise.allSettled([
    psiServer(cs, ['111222333', '123456782'], { threads: 0, ...server }),
    psiClient(cc, [' 111222333 ', '123456782'], { threads: 0, ...client }),
  ]);
  return { rs, rc };
}

async function refusedBoth(rs: PromiseSettledResult<unknown>, rc: PromiseSettledResult<unknown>, code: KoppelErrorCode, field: string) {
  for (const r of [rs, rc]) {
    if (r.status !== 'rejected') throw new Error(`expected ${code} on both sides`);
    const e = await expectCode(Promise.reject(r.reason as Error), code);
    expect(e.details['field']).toBe(field);
  }
}

describe('shared parameters: a mismatch of any field stops both sides, naming it', () => {
  it('PSI: a server with id type raw and a client with bsn are refused with ID_TYPE_MISMATCH (field idType), not 1 match of 2', async () => {
    const { rs, rc } = await psiBoth({ idType: 'raw' }, { idType: 'bsn' });
    await refusedBoth(rs, rc, 'ID_TYPE_MISMATCH', 'idType');
    // Both messages name the field and both values; the side that found it also the flag.
    const messages = [rs, rc].map((r) => (r.status === 'rejected' ? String(r.reason) : ''));
    for (const m of messages) expect(m).toMatch(/idType.*"?(raw|bsn)"?.*"?(raw|bsn)"?/);
    expect(messages.some((m) => m.includes('--id-type'))).toBe(true);
  });

  it('PSI: with the same id type both sides normalise, and " 111222333 " matches "111222333"', async () => {
    const { rc } = await psiBoth({ idType: 'bsn' }, { idType: 'bsn' });
    if (rc.status !== 'fulfilled' || rc.value.mode !== 'intersection') throw new Error('the run failed');
    expect(rc.value.intersection.sort()).toEqual(['111222333', '123456782']);
  });

  it('PSI: mode and suite mismatches name their fields', async () => {
    const m = await psiBoth({ mode: 'cardinality' }, { mode: 'intersection' });
    await refusedBoth(m.rs, m.rc, 'MODE_MISMATCH', 'mode');
    const s = await psiBoth({ suite: 'ristretto255' }, { suite: 'x25519' });
    await refusedBoth(s.rs, s.rc, 'SUITE_MISMATCH', 'suite');
  });

  it('PSI: different agreements, or an agreement on one side only, are refused with AGREEMENT_MISMATCH', async () => {
    const d = await psiBoth({ agreement: A_HASH }, { agreement: B_HASH });
    await refusedBoth(d.rs, d.rc, 'AGREEMENT_MISMATCH', 'agreement');
    const one = await psiBoth({ agreement: A_HASH }, {});
    await refusedBoth(one.rs, one.rc, 'AGREEMENT_MISMATCH', 'agreement');
    const same = await psiBoth({ agreement: A_HASH }, { agreement: A_HASH });
    expect(same.rc.status).toBe('fulfilled');
  });

  it('join: id type, variant, suite and agreement mismatches stop both sides, naming the field', async () => {
    const a = [{ id: '111222333', group: ['x'] }];
    const b = [{ id: '111222333', values: [1] }];
    const run = async (ao: Parameters<typeof joinGroups>[2], bo: Partial<Parameters<typeof joinValues>[2]>) => {
      const [ca, cb] = createMemoryChannelPair();
      const [ra, rb] = await Promise.allSettled([
        joinGroups(ca, a, { threads: 0, threshold: 1, ...ao }),
        joinValues(cb, b, { threads: 0, columns: ['v'], maxValue: 10, minCount: 1, ...bo }),
      ]);
      return { ra, rb };
    };
    const id = await run({ idType: 'bsn' }, {});
    await refusedBoth(id.ra, id.rb, 'ID_TYPE_MISMATCH', 'idType');
    const suite = await run({ suite: 'ristretto255' }, {});
    await refusedBoth(suite.ra, suite.rb, 'SUITE_MISMATCH', 'suite');
    const agreement = await run({ agreement: A_HASH }, { agreement: B_HASH });
    await refusedBoth(agreement.ra, agreement.rb, 'AGREEMENT_MISMATCH', 'agreement');
  });

  it('an invalid identifier under an id type is a typed error naming its position, never its value', async () => {
    const [cs, cc] = createMemoryChannelPair();
    const [, rc] = await Promise.allSettled([
      psiServer(cs, ['111222333'], { threads: 0, idType: 'bsn' }),
      psiClient(cc, ['111222333', '111222334'], { threads: 0, idType: 'bsn' }),
    ]);
    if (rc.status !== 'rejected') throw new Error('expected INVALID_BSN');
    const e = await expectCode(Promise.reject(rc.reason as Error), 'INVALID_BSN');
    expect(e.details['item']).toBe(2);
    expect(e.message).not.toContain('111222334');
  });
});
