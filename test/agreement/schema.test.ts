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

describe('the published agreement schema', () => {
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
