/**
 * Signatures with the parties' own TLS keys (docs/agreement.md, "Why the TLS key").
 *
 * A party signs with the private key of the certificate it connects with, and puts the
 * certificate beside the signature. A verifier checks the signature with the
 * certificate's public key, the certificate against the CA (the same CA the mutual TLS
 * trusts, e.g. PKIoverheid), its validity at the time of signing, and that the
 * certificate is the one the agreement names for that party (a name or a fingerprint).
 * So the signer is provably the identity that connects, and no second key
 * infrastructure is needed. Signed bytes carry a context string, so a signature made for
 * an agreement is never valid for a receipt, or for another party or agreement.
 *
 * @packageDocumentation
 */
import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { KoppelError } from '../errors/index.js';
import { certificatePeer, normalisePeerPolicy, peerMatches, type PeerIdentity, type PeerPin } from '../transport/peer.js';
import { canonicalJson } from './agreement.js';

/** A party's signing identity: its TLS certificate and private key (PEM). */
export interface Signer {
  readonly cert: string;
  readonly key: string;
}

/** The certificates of one or more CAs (a PEM bundle). */
function caCertificates(caPem: string): X509Certificate[] {
  const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new KoppelError('INVALID_KEY', 'The CA file holds no PEM certificate.');
  return blocks.map((b) => new X509Certificate(b));
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new KoppelError('INVALID_KEY', 'A certificate is not a valid PEM X.509 certificate.');
  }
}

/** A certificate as the peer pinning code sees a peer: its CN, subjectAltNames and DER SHA-256. */
export function certificateIdentity(pem: string): PeerIdentity {
  const cert = parseCertificate(pem);
  return certificatePeer(/(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1], cert.subjectAltName, cert.raw, true);
}

/** True when `pem` is a certificate the pin names (by name or fingerprint). */
export function certificateMatches(pem: string, pin: PeerPin): boolean {
  const normal = normalisePeerPolicy(pin);
  return normal !== undefined && peerMatches(certificateIdentity(pem), normal);
}

/** The bytes a signature covers: a context, then the fields, as canonical JSON. */
export function signedBytes(context: string, fields: Readonly<Record<string, unknown>>): Buffer {
  return Buffer.from(canonicalJson({ context, ...fields }), 'utf8');
}

function algorithmFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  return type === 'ed25519' || type === 'ed448' ? null : 'sha256';
}

/**
 * Signs `bytes` with the signer's private key, after checking that the key belongs to
 * the certificate.
 *
 * @throws KoppelError `INVALID_KEY`
 */
export function signBytes(signer: Signer, bytes: Buffer): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(signer.key);
  } catch {
    throw new KoppelError('INVALID_KEY', 'The TLS key is not a valid PEM private key (an encrypted key is not supported here).');
  }
  const cert = parseCertificate(signer.cert);
  if (!cert.checkPrivateKey(key)) throw new KoppelError('INVALID_KEY', 'The TLS key does not belong to the TLS certificate.');
  return sign(algorithmFor(key), bytes, key).toString('base64');
}

/**
 * Checks a signature made by {@link signBytes}: with the certificate's key, the
 * certificate issued by one of the CAs and valid at `at`.
 *
 * @returns why it fails, or `undefined` when it verifies
 */
export function checkSignature(certPem: string, caPem: string, bytes: Buffer, signature: string, at: Date): string | undefined {
  let cert: X509Certificate;
  try {
    cert = parseCertificate(certPem);
  } catch {
    return 'the certificate is not a valid X.509 certificate';
  }
  const issuer = caCertificates(caPem).find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) return 'the certificate is not signed by the given CA';
  if (at.getTime() < Date.parse(cert.validFrom) || at.getTime() > Date.parse(cert.validTo)) return 'the certificate was not valid at the time of signing';
  const key = cert.publicKey;
  try {
    return verify(algorithmFor(key), bytes, key, Buffer.from(signature, 'base64')) ? undefined : 'the signature does not verify';
  } catch {
    return 'the signature does not verify';
  }
}
