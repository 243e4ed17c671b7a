/**
 * What an agreement fixes for `join groups`: the largest maximum value the group holder
 * accepts is its own `input.maxValue`, else the value holder's declared one, so a run
 * under an agreement never refuses the declaration the agreement itself fixes.
 */
import { describe, expect, it } from 'vitest';
import type { Agreement, AgreementParty } from '../../src/agreement/agreement.js';
import { agreementValues } from '../../src/cli/agreement.js';

function joinAgreement(groupsInput: Record<string, unknown>): { a: Agreement; groups: AgreementParty } {
  const groups = {
    name: 'cbs',
    role: 'groups',
    certificate: { names: ['cbs.example'] },
    input: { idColumn: 'bsn', groupColumns: ['province'], ...groupsInput },
  };
  const values = {
    name: 'logius',
    role: 'values',
    certificate: { names: ['logius.example'] },
    input: { idColumn: 'bsn', valueColumns: ['logins'], maxValue: 100_000 },
  };
  const a = { protocol: 'join', parameters: { variant: 'two-party', suite: 'x25519' }, parties: [groups, values] } as unknown as Agreement;
  return { a, groups: groups };
}

describe('agreementValues for join groups', () => {
  it("fixes --max-value to the value holder's declared maximum when the group holder states none", () => {
    const { a, groups } = joinAgreement({});
    expect(agreementValues(a, 'groups', groups)).toMatchObject({ maxValue: 100_000 });
  });
  it("fixes --max-value to the group holder's own input.maxValue when it states one", () => {
    const { a, groups } = joinAgreement({ maxValue: 5000 });
    expect(agreementValues(a, 'groups', groups)).toMatchObject({ maxValue: 5000 });
  });
});

describe('agreementValues for an aggregator', () => {
  it("fixes --index to the position of this aggregator among the agreement's aggregators, so a contradicting --index is refused", () => {
    const party = (name: string, role: string) => ({ name, role, certificate: { names: [`${name}.example`] } });
    const aggs = [party('agg-a', 'aggregator'), party('agg-b', 'aggregator')];
    const a = { protocol: 'aggregate', parameters: {}, parties: [party('cbs', 'collector'), aggs[0], party('g1', 'input'), aggs[1]] } as unknown as Agreement;
    expect(agreementValues(a, 'aggregator', aggs[0] as AgreementParty)).toMatchObject({ index: 0, collectorPeer: 'cbs.example', peer: 'g1.example' });
    expect(agreementValues(a, 'aggregator', aggs[1] as AgreementParty)).toMatchObject({ index: 1 });
  });
});

describe('agreementValues for the OPRF service and its clients', () => {
  const client = (name: string, budget: number) => ({
    name,
    role: 'client',
    certificate: { names: [`${name}.example`] },
    input: { idColumn: 'bsn', idType: 'bsn' },
    policy: { budget, budgetPeriod: 86400 },
  });
  const oprf = (budgets: number[]) =>
    ({
      protocol: 'oprf',
      parameters: { suite: 'ristretto255-SHA512', mode: 'voprf', kid: 'k1' },
      parties: [{ name: 'keyholder', role: 'service', certificate: { names: ['oprf.example'] } }, ...budgets.map((b, i) => client(`c${i}`, b))],
    }) as unknown as Agreement;

  it('the service pins every client and takes --budget from the agreement only when every client has the same', () => {
    const same = oprf([100, 100]);
    expect(agreementValues(same, 'service', same.parties[0])).toEqual({ peer: 'c0.example,c1.example', budget: 100, budgetPeriod: 86400 });
    const differ = oprf([100, 5]);
    expect(agreementValues(differ, 'service', differ.parties[0])).toEqual({ peer: 'c0.example,c1.example', budgetPeriod: 86400 });
  });

  it("a client takes the mode, the key id, its column and id type, and pins the service; a PSI client's values are not mixed in", () => {
    const a = oprf([100]);
    expect(agreementValues(a, 'client', a.parties[1])).toEqual({ mode: 'voprf', kid: 'k1', column: 'bsn', idType: 'bsn', peer: 'oprf.example' });
  });
});
