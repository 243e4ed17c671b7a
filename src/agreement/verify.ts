/**
 * Signing an agreement and checking that a run may go ahead under it: every party
 * named has signed with the certificate the agreement names for it, under the CA, and
 * the date is inside the validity period.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { agreementHash, agreementParty, type AgreementFile } from './agreement.js';
import { certificateMatches, checkSignature, signBytes, signedBytes, type Signer } from './signature.js';

/** The context string of an agreement signature (signed bytes start with it). */
export const AGREEMENT_SIGNATURE_CONTEXT = 'koppel-agreement-signature-v1';

/** The bytes party `party` signs for agreement `hash` at `signedAt`. */
function agreementBytes(hash: string, party: string, signedAt: string): Buffer {
  return signedBytes(AGREEMENT_SIGNATURE_CONTEXT, { agreement: hash, party, signedAt });
}

/**
 * Adds (or replaces) `party`'s signature, made with its TLS key. The certificate must be
 * one the agreement names for that party.
 *
 * @throws KoppelError `AGREEMENT_INVALID` (unknown party, or a certificate the
 *   agreement does not name for it), `INVALID_KEY`
 */
export function signAgreement(file: AgreementFile, party: string, signer: Signer, now: Date = new Date()): AgreementFile {
  const p = agreementParty(file.agreement, party);
  if (!certificateMatches(signer.cert, p.certificate))
    throw new KoppelError(
      'AGREEMENT_INVALID',
      `This certificate is not the one the agreement names for ${party} (certificate.names / certificate.fingerprints).`,
    );
  const signedAt = now.toISOString();
  const signature = signBytes(signer, agreementBytes(agreementHash(file.agreement), party, signedAt));
  return {
    agreement: file.agreement,
    signatures: [...file.signatures.filter((s) => s.party !== party), { party, certificate: signer.cert.trim() + '\n', signedAt, signature }],
  };
}

/** What {@link agreementStatus} found. */
export interface AgreementStatus {
  /** The agreement's SHA-256 (hex). */
  readonly hash: string;
  /** Parties whose signature verifies. */
  readonly signed: readonly string[];
  /** Parties without a (verifying) signature. */
  readonly missing: readonly string[];
  /** Signatures that do not verify, and why (never a key or a value). */
  readonly problems: ReadonlyArray<{ readonly party: string; readonly reason: string }>;
  /** `before`, `inside` or `after` the validity period, at the time checked. */
  readonly validity: 'before' | 'inside' | 'after';
}

/** Checks every signature of an agreement file against the CA, at `now`. */
export function agreementStatus(file: AgreementFile, caPem: string, now: Date = new Date()): AgreementStatus {
  const a = file.agreement;
  const hash = agreementHash(a);
  const signed: string[] = [];
  const problems: Array<{ party: string; reason: string }> = [];
  for (const s of file.signatures) {
    const p = a.parties.find((x) => x.name === s.party);
    if (!p) {
      problems.push({ party: s.party, reason: 'the agreement names no such party' });
      continue;
    }
    if (!certificateMatches(s.certificate, p.certificate)) {
      problems.push({ party: s.party, reason: 'the signing certificate is not the one the agreement names for this party' });
      continue;
    }
    const reason = checkSignature(s.certificate, caPem, agreementBytes(hash, s.party, s.signedAt), s.signature, new Date(s.signedAt));
    if (reason) problems.push({ party: s.party, reason });
    else if (!signed.includes(s.party)) signed.push(s.party);
  }
  const missing = a.parties.map((p) => p.name).filter((n) => !signed.includes(n));
  const t = now.getTime();
  const validity = t < Date.parse(a.validity.notBefore) ? 'before' : t > Date.parse(a.validity.notAfter) ? 'after' : 'inside';
  return { hash, signed, missing, problems, validity };
}

/**
 * Refuses a run under an agreement that is not signed by every party it names, has a
 * signature that does not verify, or is outside its validity period.
 *
 * @returns the agreement's hash, for the HELLO
 * @throws KoppelError `AGREEMENT_INVALID` saying what is wrong
 */
export function requireRunnable(file: AgreementFile, caPem: string, now: Date = new Date()): string {
  const st = agreementStatus(file, caPem, now);
  if (st.problems.length > 0)
    throw new KoppelError(
      'AGREEMENT_INVALID',
      `The agreement's signature of ${st.problems.map((p) => `${p.party} (${p.reason})`).join(', ')} does not hold; the agreement may have been changed after signing.`,
    );
  if (st.missing.length > 0)
    throw new KoppelError('AGREEMENT_INVALID', `The agreement is not signed by every party: ${st.missing.join(', ')} must still sign it.`);
  if (st.validity !== 'inside')
    throw new KoppelError(
      'AGREEMENT_INVALID',
      st.validity === 'before'
        ? `The agreement is not valid yet (from ${file.agreement.validity.notBefore}).`
        : `The agreement expired on ${file.agreement.validity.notAfter}.`,
    );
  return st.hash;
}
