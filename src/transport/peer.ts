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
  const commonName = Array.isArray(cnRaw) ? cnRaw[0] : cnRaw;
  const names = [...(commonName ? [commonName] : []), ...(has ? subjectAltNames(cert.subjectaltname) : [])];
  const fingerprint = has && cert.raw ? createHash('sha256').update(cert.raw).digest('hex') : undefined;
  return Object.freeze({
    transport: 'tls',
    authenticated: secure.authorized,
    names: Object.freeze(names),
    ...(commonName ? { commonName } : {}),
    ...(fingerprint ? { fingerprint } : {}),
    ...(address ? { address } : {}),
  });
}
