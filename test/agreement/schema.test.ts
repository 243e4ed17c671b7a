/**
 * The published JSON Schema (docs/agreement.schema.json) describes the files koppel
 * writes and reads: an agreement with every field koppel knows, signed, validates; and
 * every field the schema allows is one the code accepts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAgreementFile } from '../../src/agreement/agreement.js';
import { signAgreement } from '../../src/agreement/verify.js';
import { isLeft } from '../../src/util/cjs.js';
import { testPki } from '../tls.js';

type Schema = Record<string, unknown>;
const root = JSON.parse(readFileSync(new URL('../../docs/agreement.schema.json', import.meta.url), 'utf8')) as Schema;

/** A small validator for the keywords the schema uses; returns the paths that fail. */
function validate(s: Schema, v: unknown, path = '$'): string[] {
  if (typeof s['$ref'] === 'string') return validate((root['$defs'] as Record<string, Schema | undefined>)[s['$ref'].replace('#/$defs/', '')] ?? {}, v, path);
  const errs: string[] = [];
  if ('const' in s && v !== s['const']) errs.push(`${path}: const`);
  if (Array.isArray(s['enum']) && !(s['enum'] as unknown[]).includes(v)) errs.push(`${path}: enum`);
  const type = s['type'];
  if (type === 'object') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${path}: object`];
    const props = (s['properties'] ?? {}) as Record<string, Schema>;
    for (const r of (s['required'] ?? []) as string[]) if (!(r in v)) errs.push(`${path}.${r}: required`);
    for (const [k, x] of Object.entries(v)) {
      if (props[k]) errs.push(...validate(props[k], x, `${path}.${k}`));
      else if (s['additionalProperties'] === false) errs.push(`${path}.${k}: not allowed`);
    }
  } else if (type === 'array') {
    if (!Array.isArray(v)) return [`${path}: array`];
    v.forEach((x, i) => errs.push(...validate(s['items'] as Schema, x, `${path}[${i}]`)));
  } else if (type === 'string') {
    if (typeof v !== 'string') return [`${path}: string`];
    if (typeof s['pattern'] === 'string' && !new RegExp(s['pattern']).test(v)) errs.push(`${path}: pattern`);
  } else if (type === 'integer' && !Number.isInteger(v)) errs.push(`${path}: integer`);
  else if (type === 'number' && typeof v !== 'number') errs.push(`${path}: number`);
  else if (type === 'boolean' && typeof v !== 'boolean') errs.push(`${path}: boolean`);
  return errs;
}

const everything = {
  agreement: {
    koppelAgreement: 1,
    id: 'schema-test',
    version: 2,
    purpose: 'p',
    legalBasis: 'l',
    validity: { notBefore: '2026-01-01T00:00:00Z', notAfter: '2036-01-01T00:00:00Z' },
    protocol: 'join',
    parameters: { variant: 'two-party', suite: 'x25519' },
    parties: [
      {
        name: 'a',
        role: 'groups',
        organisation: 'CBS',
        contact: 'privacy@example',
        certificate: { names: ['server'] },
        input: { idColumn: 'bsn', idType: 'bsn', groupColumns: ['province'], domain: 'stat' },
        policy: { minCount: 10, protection: 2, valueProtection: 12.5, secondary: true, totals: true, padListsTo: 50, padGroupsTo: 100 },
      },
      {
        name: 'b',
        role: 'values',
        certificate: { fingerprints: ['ab'.repeat(32)] },
        input: { idColumn: 'bsn', idType: 'bsn', valueColumns: ['logins'], maxValue: 1000 },
        policy: { minCount: 10, padTo: 100, maxLists: 500, minListSize: 10 },
      },
    ],
  },
  signatures: [],
};

/** An oprf agreement with every field koppel knows for it. */
const oprf = {
  agreement: {
    koppelAgreement: 1,
    id: 'schema-oprf',
    version: 1,
    purpose: 'p',
    legalBasis: 'l',
    validity: { notBefore: '2026-01-01T00:00:00Z', notAfter: '2036-01-01T00:00:00Z' },
    protocol: 'oprf',
    parameters: { suite: 'ristretto255-SHA512', mode: 'voprf', kid: '8b5e7cc2e124' },
    parties: [
      { name: 'keyholder', role: 'service', certificate: { names: ['server'] } },
      {
        name: 'logius',
        role: 'client',
        certificate: { names: ['client'] },
        input: { idColumn: 'bsn', idType: 'bsn' },
        policy: { budget: 20000000, budgetPeriod: 86400 },
      },
      { name: 'cbs', role: 'client', certificate: { fingerprints: ['cd'.repeat(32)] }, input: { idColumn: 'bsn', idType: 'bsn' }, policy: { budget: 100 } },
    ],
  },
  signatures: [],
};

describe('the published agreement schema', () => {
  it('an oprf agreement with every oprf field (mode, suite, kid, each client\u2019s budget and period) validates, and the code accepts it', () => {
    expect(validate(root, oprf)).toEqual([]);
    const parsed = parseAgreementFile(JSON.stringify(oprf));
    if (isLeft(parsed)) throw parsed.left;
    const p = testPki();
    const signed = signAgreement(parsed.right, 'keyholder', { cert: readFileSync(p.serverCert, 'utf8'), key: readFileSync(p.serverKey, 'utf8') });
    expect(validate(root, JSON.parse(JSON.stringify(signed)))).toEqual([]);
  });

  it("the code refuses what an oprf agreement cannot hold: another protocol's mode or suite, two services; the schema an unknown policy field", () => {
    const variant = (f: (a: typeof oprf.agreement & Record<string, unknown>) => void) => {
      const copy = JSON.parse(JSON.stringify(oprf)) as typeof oprf;
      f(copy.agreement);
      return copy;
    };
    for (const bad of [
      variant((a) => (a.parameters.mode = 'intersection')),
      variant((a) => (a.parameters.suite = 'x25519')),
      variant((a) => a.parties.push({ name: 'second', role: 'service', certificate: { names: ['other'] } })),
    ]) {
      const r = parseAgreementFile(JSON.stringify(bad));
      expect(isLeft(r) && r.left.code).toBe('AGREEMENT_INVALID');
    }
    const unknown = variant((a) => ((a.parties[1] as { policy: Record<string, unknown> }).policy['evaluations'] = 5));
    expect(validate(root, unknown)).toContain('$.agreement.parties[1].policy.evaluations: not allowed');
    // The OPRF parameters belong to an oprf agreement only.
    const psi = JSON.parse(JSON.stringify(everything)) as { agreement: { parameters: Record<string, unknown> } };
    psi.agreement.parameters['kid'] = 'k1';
    expect(isLeft(parseAgreementFile(JSON.stringify(psi)))).toBe(true);
  });

  it('an agreement with every field koppel knows validates against the schema, and the code accepts it', () => {
    expect(validate(root, everything)).toEqual([]);
    const parsed = parseAgreementFile(JSON.stringify(everything));
    if (isLeft(parsed)) throw parsed.left;
    const p = testPki();
    const signed = signAgreement(parsed.right, 'a', { cert: readFileSync(p.serverCert, 'utf8'), key: readFileSync(p.serverKey, 'utf8') });
    expect(validate(root, JSON.parse(JSON.stringify(signed)))).toEqual([]);
  });

  it('the schema refuses what the code refuses: an unknown field, a wrong role, a missing validity', () => {
    const bad = JSON.parse(JSON.stringify(everything)) as { agreement: Record<string, unknown> & { parties: Array<Record<string, unknown>> } };
    bad.agreement['colour'] = 'blue';
    (bad.agreement.parties[0] as Record<string, unknown>)['role'] = 'boss';
    delete bad.agreement['validity'];
    expect(validate(root, bad)).toEqual(
      expect.arrayContaining(['$.agreement.colour: not allowed', '$.agreement.parties[0].role: enum', '$.agreement.validity: required']),
    );
    expect(isLeft(parseAgreementFile(JSON.stringify(bad)))).toBe(true);
  });
});
