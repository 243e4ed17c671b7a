/**
 * Peer pinning on `listen()` and `connect()`: a certificate the shared CA signed for
 * someone else (a third agency) is refused with PEER_NOT_ALLOWED, during or right after
 * the handshake, on both sides; the listener keeps serving the pinned peer.
 */
import { describe, expect, it } from 'vitest';
import { KoppelError } from '../../src/errors/index.js';
import type { Channel } from '../../src/transport/channel.js';
import { connect, listen, type Security } from '../../src/transport/net.js';
import { normalisePeerPolicy, type PeerIdentity } from '../../src/transport/peer.js';
import { expectCode } from '../helpers.js';
import { certFingerprint, pem, testPki } from '../tls.js';

const pki = testPki();
const tlsOf = (cert: string, key: string): Security => ({ tls: { cert: pem(cert), key: pem(key), ca: pem(pki.ca) } });
const server = tlsOf(pki.serverCert, pki.serverKey);
const client = tlsOf(pki.clientCert, pki.clientKey);
const otherAgency = tlsOf(pki.otherAgencyCert, pki.otherAgencyKey);

/** Sends one message each way: the channel really works. */
async function ping(a: Channel, b: Channel): Promise<void> {
  await a.send(new Uint8Array([1, 2]));
  expect(await b.receive()).toEqual(new Uint8Array([1, 2]));
  await b.send(new Uint8Array([3]));
  expect(await a.receive()).toEqual(new Uint8Array([3]));
}

/** What the refused side sees of a connection the other side refused: PEER_NOT_ALLOWED, never a hang. */
async function refusedByPeer(c: Channel): Promise<KoppelError> {
  await c.send(new Uint8Array([9])).catch(() => undefined);
  const e = await c.receive().then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(KoppelError);
  return e as KoppelError;
}

describe('peer pinning on listen()', () => {
  it("a third agency's valid certificate from the same CA is refused with PEER_NOT_ALLOWED, and the listener still serves the pinned client", async () => {
    const refused: Array<{ peer: PeerIdentity; error: KoppelError }> = [];
    const l = await listen({
      host: '127.0.0.1',
      port: 0,
      security: server,
      peer: { names: ['client'] },
      onRefused: (peer, error) => refused.push({ peer, error }),
    });
    try {
      const accepted = l.accept(10_000);
      const intruder = await connect({ host: '127.0.0.1', port: l.port, security: otherAgency, connectTimeoutMs: 5000 });
      const e = await refusedByPeer(intruder);
      expect(e.code).toBe('PEER_NOT_ALLOWED');
      await intruder.close();
      expect(refused).toHaveLength(1);
      expect(refused[0]?.error.code).toBe('PEER_NOT_ALLOWED');
      expect(refused[0]?.error.details['fingerprint']).toBe(certFingerprint(pki.otherAgencyCert));
      // The refused certificate's names are its holder's choice: not in the message.
      expect(refused[0]?.error.message).not.toContain('other-agency');
      // The pending accept was not ended by the refusal: the pinned client gets through.
      const c = await connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 5000 });
      const s = await accepted;
      expect(s.peer?.names).toEqual(['client']);
      await ping(c, s);
      await Promise.all([c.close(), s.close()]);
    } finally {
      await l.close();
    }
  });

  it("pinning by fingerprint: the client's certificate (hex with colons, upper case) is accepted, another certificate of the same CA is refused", async () => {
    const hex = certFingerprint(pki.clientCert);
    const colons = hex.toUpperCase().match(/../g)?.join(':') ?? '';
    const l = await listen({ host: '127.0.0.1', port: 0, security: server, peer: { fingerprints: [colons] } });
    try {
      const accepted = l.accept(10_000);
      const intruder = await connect({ host: '127.0.0.1', port: l.port, security: otherAgency, connectTimeoutMs: 5000 });
      expect((await refusedByPeer(intruder)).code).toBe('PEER_NOT_ALLOWED');
      await intruder.close();
      const c = await connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 5000 });
      const s = await accepted;
      expect(s.peer?.fingerprint).toBe(hex);
      await ping(c, s);
      await Promise.all([c.close(), s.close()]);
    } finally {
      await l.close();
    }
  });

  it("'any' (and an omitted pin) accepts every certificate the CA signed", async () => {
    for (const peer of ['any' as const, undefined]) {
      const l = await listen({ host: '127.0.0.1', port: 0, security: server, ...(peer ? { peer } : {}) });
      try {
        const [c, s] = await Promise.all([connect({ host: '127.0.0.1', port: l.port, security: otherAgency, connectTimeoutMs: 5000 }), l.accept(5000)]);
        expect(s.peer?.commonName).toBe('other-agency');
        await ping(c, s);
        await Promise.all([c.close(), s.close()]);
      } finally {
        await l.close();
      }
    }
  });
});

describe('peer pinning on connect()', () => {
  it('a server holding another valid certificate of the same CA is refused by connect() with PEER_NOT_ALLOWED (not retried), and the server sees the refusal', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: otherAgency });
    try {
      const accepted = l.accept(5000);
      const t0 = Date.now();
      const e = await connect({ host: '127.0.0.1', port: l.port, security: client, peer: { names: ['server'] }, connectTimeoutMs: 20_000 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(KoppelError);
      expect((e as KoppelError).code).toBe('PEER_NOT_ALLOWED');
      expect((e as KoppelError).details['fingerprint']).toBe(certFingerprint(pki.otherAgencyCert));
      expect((e as KoppelError).message).not.toContain('other-agency');
      expect(Date.now() - t0).toBeLessThan(5000);
      // The impostor server accepted the TLS connection, then learns it was refused.
      const s = await accepted;
      await expectCode(s.receive(), 'PEER_NOT_ALLOWED');
      await s.close();
    } finally {
      await l.close();
    }
  });

  it('the pinned server is accepted by name (a DNS or IP subjectAltName, DNS names in any case) or by fingerprint', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    try {
      for (const peer of [
        { names: ['LocalHost'] },
        { names: ['127.0.0.1'] },
        { names: ['nobody', 'server'] },
        { fingerprints: [certFingerprint(pki.serverCert)] },
      ]) {
        const [c, s] = await Promise.all([connect({ host: '127.0.0.1', port: l.port, security: client, peer, connectTimeoutMs: 5000 }), l.accept(5000)]);
        await ping(c, s);
        await Promise.all([c.close(), s.close()]);
      }
    } finally {
      await l.close();
    }
  });
});

describe('pin checks', () => {
  it('a pin with plain TCP is INVALID_ARGUMENT (nothing authenticates the peer); so are an empty pin and a malformed fingerprint', async () => {
    await expectCode(listen({ host: '127.0.0.1', port: 0, security: { insecure: true }, peer: { names: ['client'] } }), 'INVALID_ARGUMENT');
    await expectCode(connect({ host: '127.0.0.1', port: 1, security: { insecure: true }, peer: { fingerprints: ['ab'.repeat(32)] } }), 'INVALID_ARGUMENT');
    await expectCode(listen({ host: '127.0.0.1', port: 0, security: server, peer: {} }), 'INVALID_ARGUMENT');
    await expectCode(listen({ host: '127.0.0.1', port: 0, security: server, peer: { fingerprints: ['abcd'] } }), 'INVALID_ARGUMENT');
    expect(normalisePeerPolicy({ fingerprints: [`AB:${'cd'.repeat(31)}`] })?.fingerprints).toEqual([`ab${'cd'.repeat(31)}`]);
    expect(normalisePeerPolicy('any')).toBeUndefined();
  });
});
