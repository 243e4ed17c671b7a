/**
 * Who is at the other end of a channel: the identity a transport authenticated (the
 * peer's certificate under mutual TLS), or the plain facts of an unauthenticated one.
 * Sessions expose it, logs and receipts name it, and peer pinning (accepting only
 * given names or fingerprints) is checked against it.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import type * as tls from 'node:tls';
import { KoppelError } from '../errors/index.js';

/** The peer of a channel. */
export interface PeerIdentity {
  /** How the channel is carried: mutual TLS, plain TCP, or in memory (one process). */
  readonly transport: 'tls' | 'tcp' | 'memory';
  /** True when the transport verified the peer's certificate against the CA. */
  readonly authenticated: boolean;
  /** The certificate's subject common name, when it has one. */
  readonly commonName?: string;
  /**
   * Every name the certificate carries: the subject CN, then its DNS and IP subject
   * alternative names, in certificate order. Empty without a certificate.
   */
  readonly names: readonly string[];
  /** SHA-256 of the peer certificate's DER encoding, lower-case hex. */
  readonly fingerprint?: string;
  /** The peer's network address and port, when the transport has one. */
  readonly address?: string;
}

/** The peer of an in-memory channel: the same process, nothing authenticated. */
export const MEMORY_PEER: PeerIdentity = Object.freeze({ transport: 'memory', authenticated: false, names: Object.freeze([]) });

/** Splits a Node `subjectaltname` string (`DNS:a, IP Address:1.2.3.4`) into its DNS and IP names. */
export function subjectAltNames(san: string | undefined): string[] {
  if (!san) return [];
  const out: string[] = [];
  for (const part of san.split(/,\s*/)) {
    const m = /^(DNS|IP Address):(.+)$/.exec(part.trim());
    if (m?.[2]) out.push(m[2]);
  }
  return out;
}

/** The identity of the peer on a connected socket (TLS: its verified certificate). */
export function socketPeer(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }, secure: tls.TLSSocket | undefined): PeerIdentity {
  const address =
    socket.remoteAddress === undefined
      ? undefined
      : socket.remoteAddress.includes(':')
        ? `[${socket.remoteAddress}]:${socket.remotePort ?? 0}`
        : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
  if (!secure) return Object.freeze({ transport: 'tcp', authenticated: false, names: Object.freeze([]), ...(address ? { address } : {}) });
  const cert = secure.getPeerCertificate();
  const has = cert && Object.keys(cert).length > 0;
  const cnRaw = has ? (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.['CN'] : undefined;
  return certificatePeer(
    Array.isArray(cnRaw) ? cnRaw[0] : cnRaw,
    has ? cert.subjectaltname : undefined,
    has ? cert.raw : undefined,
    secure.authorized,
    address,
  );
}

/**
 * The identity of a certificate: its subject CN, then its DNS/IP subjectAltNames, and
 * the SHA-256 of its DER encoding. For a TLS peer (`socketPeer`) and for the signer of
 * an agreement or a receipt.
 */
export function certificatePeer(
  commonName: string | undefined,
  subjectAltName: string | undefined,
  der: Uint8Array | undefined,
  authenticated: boolean,
  address?: string,
): PeerIdentity {
  const fingerprint = der ? createHash('sha256').update(der).digest('hex') : undefined;
  return Object.freeze({
    transport: 'tls',
    authenticated,
    names: Object.freeze([...(commonName ? [commonName] : []), ...subjectAltNames(subjectAltName)]),
    ...(commonName ? { commonName } : {}),
    ...(fingerprint ? { fingerprint } : {}),
    ...(address ? { address } : {}),
  });
}

/**
 * The peers a party accepts: certificate names, certificate fingerprints, or both (a
 * peer is allowed when it matches any entry of either list).
 *
 * - `names`: a subject CN or a DNS or IP subject alternative name, compared exactly;
 *   a name made of letters, digits, `-` and `.` only (a DNS name, or a CN in that form)
 *   is compared case-insensitively. Wildcards are not expanded.
 * - `fingerprints`: the SHA-256 of the peer's DER certificate, as hex in any case, with
 *   or without `:` between the bytes (as `openssl x509 -fingerprint -sha256` prints it).
 */
export interface PeerPin {
  /** Certificate names (CN, DNS or IP subjectAltName) to accept. */
  readonly names?: readonly string[];
  /** SHA-256 fingerprints of DER certificates to accept. */
  readonly fingerprints?: readonly string[];
}

/**
 * Who may be the peer of a TLS channel: a {@link PeerPin} list, or `'any'` for every
 * certificate the CA signed (what an omitted option means too). Between agencies whose
 * certificates come from a shared CA (PKIoverheid), `'any'` lets every other holder of a
 * certificate from that CA connect: pin the peer.
 */
export type PeerPolicy = PeerPin | 'any';

/** A {@link PeerPin} checked and normalised: names as given, fingerprints lower-case hex without colons. */
export interface NormalisedPeerPin {
  /** Names as given (DNS-shaped ones lower-cased). */
  readonly names: readonly string[];
  /** 64 lower-case hex digits each. */
  readonly fingerprints: readonly string[];
}

const DNS_SHAPED = /^[A-Za-z0-9.-]+$/;
const foldName = (n: string): string => (DNS_SHAPED.test(n) ? n.toLowerCase() : n);

/**
 * Checks a peer policy and normalises its fingerprints; `undefined` for `'any'` or an
 * omitted policy (no pinning).
 *
 * @throws KoppelError `INVALID_ARGUMENT` for a pin with no entry, an empty name, or a
 *   fingerprint that is not 32 bytes of hex
 */
export function normalisePeerPolicy(policy: PeerPolicy | undefined): NormalisedPeerPin | undefined {
  if (policy === undefined || policy === 'any') return undefined;
  const names = (policy.names ?? []).map((n) => {
    if (typeof n !== 'string' || n.trim() === '') throw new KoppelError('INVALID_ARGUMENT', 'A pinned peer name is empty.');
    return foldName(n.trim());
  });
  const fingerprints = (policy.fingerprints ?? []).map((f, i) => {
    const hex = typeof f === 'string' ? f.trim().replace(/:/g, '').toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new KoppelError('INVALID_ARGUMENT', 'A pinned peer fingerprint must be the SHA-256 of the certificate: 64 hex digits, with or without colons.', {
        details: { index: i },
      });
    }
    return hex;
  });
  if (names.length === 0 && fingerprints.length === 0) {
    throw new KoppelError('INVALID_ARGUMENT', "A peer pin lists no name and no fingerprint, so it would refuse every peer; give at least one, or 'any'.");
  }
  return Object.freeze({ names: Object.freeze(names), fingerprints: Object.freeze(fingerprints) });
}

/** True when the peer's certificate carries one of the pinned names or has one of the pinned fingerprints. */
export function peerMatches(peer: PeerIdentity, pin: NormalisedPeerPin): boolean {
  if (!peer.authenticated) return false;
  if (peer.fingerprint !== undefined && pin.fingerprints.includes(peer.fingerprint)) return true;
  return peer.names.some((n) => pin.names.includes(foldName(n)));
}

/**
 * The error for a peer outside the pin: its fingerprint in `details` (the certificate's
 * names are chosen by whoever holds it, so they are not repeated).
 */
export function peerNotAllowed(peer: PeerIdentity, side: 'client' | 'server'): KoppelError {
  return new KoppelError(
    'PEER_NOT_ALLOWED',
    side === 'server'
      ? "The server's certificate is valid but not one of the pinned peers (--peer / --peer-fingerprint); the connection was closed."
      : "A peer's certificate is valid but not one of the pinned peers (--peer / --peer-fingerprint); it was refused.",
    { details: { fingerprint: peer.fingerprint } },
  );
}
