/**
 * Every channel names its peer: under mutual TLS the names and the SHA-256 fingerprint
 * of the certificate the peer presented (and the CA verified); over plain TCP only an
 * address, marked unauthenticated; in memory, that it is the same process. A session
 * exposes its channel's peer unchanged.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { psiClient, psiServer } from '../../src/psi/psi.js';
import type { Session } from '../../src/session/session.js';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { connect, listen, type Security } from '../../src/transport/net.js';
import { subjectAltNames } from '../../src/transport/peer.js';
import { pem, testPki } from '../tls.js';

const fingerprint = (file: string) =>
  createHash('sha256')
    .update(new X509Certificate(pem(file)).raw)
    .digest('hex');

describe('the peer of a channel', () => {
  it("under mutual TLS: each side sees the other certificate's CN, SANs and DER fingerprint, authenticated", async () => {
    const pki = testPki();
    const server: Security = { tls: { cert: pem(pki.serverCert), key: pem(pki.serverKey), ca: pem(pki.ca) } };
    const client: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.ca) } };
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    try {
      const [c, s] = await Promise.all([connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 5000 }), l.accept(5000)]);
      expect(s.peer).toMatchObject({
        transport: 'tls',
        authenticated: true,
        commonName: 'client',
        names: ['client'],
        fingerprint: fingerprint(pki.clientCert),
      });
      expect(c.peer).toMatchObject({
        transport: 'tls',
        authenticated: true,
        commonName: 'server',
        names: ['server', '127.0.0.1', 'localhost'],
        fingerprint: fingerprint(pki.serverCert),
      });
      expect(s.peer?.address).toMatch(/^127\.0\.0\.1:\d+$/);

      // A PSI session over these channels exposes the same identity.
      let clientSession: Session | undefined;
      let serverSession: Session | undefined;
      await Promise.all([
        psiClient(c, ['a'], { threads: 0, onSession: (x) => (clientSession = x) }),
        psiServer(s, ['a'], { threads: 0, onSession: (x) => (serverSession = x) }),
      ]);
      expect(serverSession?.peer).toBe(s.peer);
      expect(clientSession?.peer?.fingerprint).toBe(fingerprint(pki.serverCert));
      await Promise.all([c.close(), s.close()]);
    } finally {
      await l.close();
    }
  });

  it('over plain TCP: an address only, not authenticated', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true } });
    try {
      const [c, s] = await Promise.all([connect({ host: '127.0.0.1', port: l.port, security: { insecure: true }, connectTimeoutMs: 5000 }), l.accept(5000)]);
      expect(s.peer).toMatchObject({ transport: 'tcp', authenticated: false, names: [] });
      expect(s.peer?.fingerprint).toBeUndefined();
      expect(c.peer?.address).toBe(`127.0.0.1:${l.port}`);
      await Promise.all([c.close(), s.close()]);
    } finally {
      await l.close();
    }
  });

  it('in memory: the same process, not authenticated', () => {
    const [a] = createMemoryChannelPair();
    expect(a.peer).toMatchObject({ transport: 'memory', authenticated: false, names: [] });
  });

  it('reads DNS and IP subject alternative names and nothing else', () => {
    expect(subjectAltNames('DNS:cbs.example, IP Address:10.0.0.1, email:x@y.example, URI:https://a.example')).toEqual(['cbs.example', '10.0.0.1']);
    expect(subjectAltNames(undefined)).toEqual([]);
  });
});
