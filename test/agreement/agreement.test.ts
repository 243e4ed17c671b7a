/**
 * The agreement module (issue 17): canonical JSON and its hash, signatures with the
 * parties' TLS keys checked through the CA and the agreement's certificate names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agreementHash, canonicalJson, parseAgreementFile, type AgreementFile } from '../../src/agreement/agreement.js';
import { agreementStatus, requireRunnable, signAgreement } from '../../src/agreement/verify.js';
import { isLeft } from '../../src/util/cjs.js';
import { expectCodeSync } from '../helpers.js';
import { testPki } from '../tls.js';

const now = new Date();
function agreement(): AgreementFile {
  const text = JSON.stringify({
    agreement: {
      koppelAgreement: 1,
      id: 'unit',
      version: 1,
      purpose: 'p',
      legalBasis: 'l',
      validity: { notBefore: new Date(now.getTime() - 86_400_000).toISOString(), notAfter: new Date(now.getTime() + 86_400_000).toISOString() },
      protocol: 'psi',
      parameters: { mode: 'intersection' },
      parties: [
        { name: 'a', role: 'server', certificate: { names: ['server'] } },
        { name: 'b', role: 'client', certificate: { names: ['client'] } },
      ],
    },
    signatures: [],
  });
  const r = parseAgreementFile(text);
  if (isLeft(r)) throw r.left;
  return r.right;
}
const pem = (p: string) => readFileSync(p, 'utf8');

describe('agreements', () => {
  it('canonical JSON does not depend on key order, so the hash is the same for the same agreement', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}');
    const a = agreement().agreement;
    const shuffled = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
    expect(agreementHash(shuffled)).toBe(agreementHash(a));
  });

  it('a party signs with its TLS key; the signature verifies through the CA, and only for the certificate the agreement names', () => {
    const p = testPki();
    let f = signAgreement(agreement(), 'a', { cert: pem(p.serverCert), key: pem(p.serverKey) });
    f = signAgreement(f, 'b', { cert: pem(p.clientCert), key: pem(p.clientKey) });
    expect(requireRunnable(f, pem(p.ca))).toBe(agreementHash(f.agreement));
    // Another agency's valid certificate cannot sign for a.
    expectCodeSync(() => signAgreement(agreement(), 'a', { cert: pem(p.otherAgencyCert), key: pem(p.otherAgencyKey) }), 'AGREEMENT_INVALID');
    // A key that is not the certificate's.
    expectCodeSync(() => signAgreement(agreement(), 'a', { cert: pem(p.serverCert), key: pem(p.clientKey) }), 'INVALID_KEY');
    // Against another CA, nothing verifies.
    const other = agreementStatus(f, pem(p.otherCa));
    expect(other.problems.map((x) => x.reason)).toEqual(['the certificate is not signed by the given CA', 'the certificate is not signed by the given CA']);
  });

  it('a signature moved to another party, or kept after the agreement changed, does not verify', () => {
    const p = testPki();
    const f = signAgreement(agreement(), 'a', { cert: pem(p.serverCert), key: pem(p.serverKey) });
    const moved: AgreementFile = { ...f, signatures: [{ ...(f.signatures[0] as AgreementFile['signatures'][number]), party: 'b' }] };
    expect(agreementStatus(moved, pem(p.ca)).signed).toEqual([]);
    const changed: AgreementFile = { agreement: { ...f.agreement, purpose: 'something else' }, signatures: f.signatures };
    expect(agreementStatus(changed, pem(p.ca)).problems).toEqual([{ party: 'a', reason: 'the signature does not verify' }]);
  });

  it('a malformed agreement is a typed error naming the path, not the value', () => {
    const r = parseAgreementFile(JSON.stringify({ agreement: { koppelAgreement: 1 }, signatures: [] }));
    if (!isLeft(r)) throw new Error('expected Left');
    expect(r.left.code).toBe('AGREEMENT_INVALID');
    const roles = parseAgreementFile(JSON.stringify({ ...agreement(), agreement: { ...agreement().agreement, parties: [] } }));
    if (!isLeft(roles)) throw new Error('expected Left');
    expect(roles.left.message).toMatch(/no party with role server/);
  });
});
