/**
 * Channels in memory, over TCP and over mutual TLS: ordered delivery, size limits,
 * back-pressure, timeouts, a peer that disappears, and certificate checks.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { connect, listen, prepareTls, type Security, type TlsOptions } from '../../src/transport/net.js';
import { KoppelError } from '../../src/errors/index.js';
import { expectCode } from '../helpers.js';
import { pem, testPki } from '../tls.js';

const insecure: Security = { insecure: true };

async function pair(
  security: { server: Security; client: Security },
  opts: { maxMessageBytes?: number; idleTimeoutMs?: number } = {},
): Promise<[Channel, Channel, () => Promise<void>]> {
  const l = await listen({ host: '127.0.0.1', port: 0, security: security.server, ...opts });
  const [client, server] = await Promise.all([
    connect({ host: '127.0.0.1', port: l.port, security: security.client, connectTimeoutMs: 5000, ...opts }),
    l.accept(5000),
  ]);
  return [client, server, () => l.close()];
}

async function exchange(a: Channel, b: Channel): Promise<void> {
  const messages = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(1 << 20).fill(9), new Uint8Array(100).fill(4)];
  const sending = (async () => {
    for (const m of messages) await a.send(m);
  })();
  // Buffer.equals: vitest's deep equality is very slow on megabyte arrays.
  for (const m of messages) expect(Buffer.from(await b.receive()).equals(m)).toBe(true);
  await sending;
}

describe('memory channel pair', () => {
  it('delivers in order, copies messages, and reports a closed peer', async () => {
    const [a, b] = createMemoryChannelPair();
    await exchange(a, b);
    const m = new Uint8Array([5]);
    await a.send(m);
    m[0] = 6;
    expect(await b.receive()).toEqual(new Uint8Array([5]));
    await a.close();
    await expectCode(b.receive(), 'CONNECTION_CLOSED');
    await expectCode(a.send(new Uint8Array(1)), 'CONNECTION_CLOSED');
  });
  it('a close reaches a receive already waiting and one that comes later, both sides, after the queued messages', async () => {
    const [a, b] = createMemoryChannelPair();
    const waiting = a.receive();
    await b.send(new Uint8Array([1]));
    expect(await waiting).toEqual(new Uint8Array([1]));
    const waitingAgain = a.receive();
    await b.send(new Uint8Array([2]));
    await b.send(new Uint8Array([3]));
    await b.close();
    expect(await waitingAgain).toEqual(new Uint8Array([2]));
    expect(await a.receive()).toEqual(new Uint8Array([3]));
    await expectCode(a.receive(), 'CONNECTION_CLOSED');
    await expectCode(a.receive(), 'CONNECTION_CLOSED');
    await expectCode(b.receive(), 'CONNECTION_CLOSED');
    const [c, d] = createMemoryChannelPair();
    const pending = [c.receive(), d.receive()];
    await d.close();
    for (const p of pending) await expectCode(p, 'CONNECTION_CLOSED');
  });

  it('times out a receive when the peer sends nothing', async () => {
    const [, b] = createMemoryChannelPair({ idleTimeoutMs: 50 });
    await expectCode(b.receive(), 'TIMEOUT');
  });
  it('refuses messages over the limit', async () => {
    const [a] = createMemoryChannelPair({ maxMessageBytes: 10 });
    await expectCode(a.send(new Uint8Array(11)), 'MESSAGE_TOO_LARGE');
  });
});

describe('TCP channel', () => {
  it('delivers framed messages in order, both ways', async () => {
    const [c, s, stop] = await pair({ server: insecure, client: insecure });
    await exchange(c, s);
    await exchange(s, c);
    await c.close();
    await s.close();
    await stop();
  });
  it('drops a peer that announces a message over the limit, without buffering it', async () => {
    const [c, s, stop] = await pair({ server: insecure, client: insecure }, { maxMessageBytes: 1024 });
    // The client's own limit check stops it sending, so write the oversized frame raw.
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure, maxMessageBytes: 1024 });
    const net = await import('node:net');
    const raw = net.connect(l.port, '127.0.0.1');
    const victim = await l.accept(5000);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1 << 30);
    raw.write(header);
    await expectCode(victim.receive(), 'MESSAGE_TOO_LARGE');
    raw.destroy();
    await l.close();
    await expectCode(c.send(new Uint8Array(2048)), 'MESSAGE_TOO_LARGE');
    await c.close();
    await s.close();
    await stop();
  });
  it('reports a peer that disappears mid-conversation as CONNECTION_CLOSED', async () => {
    const [c, s, stop] = await pair({ server: insecure, client: insecure });
    const pending = expectCode(s.receive(), 'CONNECTION_CLOSED');
    await c.close();
    await pending;
    await stop();
  });
  it('times out a silent peer', async () => {
    const [c, s, stop] = await pair({ server: insecure, client: insecure }, { idleTimeoutMs: 100 });
    await expectCode(s.receive(), 'TIMEOUT');
    await c.close();
    await s.close();
    await stop();
  });
  it('waits for a server that starts later, and gives up after the connect timeout', async () => {
    const probe = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    const port = probe.port;
    await probe.close();
    const connecting = connect({ host: '127.0.0.1', port, security: insecure, connectTimeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    const l = await listen({ host: '127.0.0.1', port, security: insecure });
    const [c, s] = await Promise.all([connecting, l.accept(5000)]);
    await exchange(c, s);
    await c.close();
    await s.close();
    await l.close();
    await expectCode(connect({ host: '127.0.0.1', port, security: insecure, connectTimeoutMs: 300 }), 'TIMEOUT');
  });
  it('closing the listener ends a pending accept at once (no timer keeps the process alive)', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    const pending = expectCode(l.accept(600_000), 'CONNECTION_CLOSED');
    const t = Date.now();
    await l.close();
    await pending;
    expect(Date.now() - t).toBeLessThan(1000);
  });
  it('accept gives up after its timeout', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    await expectCode(l.accept(100), 'TIMEOUT');
    await l.close();
  });
});

describe('mutual TLS channel', () => {
  const pki = testPki();
  const server: Security = { tls: { cert: pem(pki.serverCert), key: pem(pki.serverKey), ca: pem(pki.ca) } };
  const client: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.ca) } };

  it('connects when both certificates chain to the CA, and carries messages', async () => {
    const [c, s, stop] = await pair({ server, client });
    await exchange(c, s);
    await exchange(s, c);
    await c.close();
    await s.close();
    await stop();
  });
  it('refuses a client whose certificate another CA signed', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    const intruder: Security = { tls: { cert: pem(pki.otherClientCert), key: pem(pki.otherClientKey), ca: pem(pki.ca) } };
    const accepted = l.accept(1500);
    accepted.catch(() => undefined);
    const c = await connect({ host: '127.0.0.1', port: l.port, security: intruder, connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    if (c instanceof Error) {
      expect((c as { code?: string }).code).toBe('TLS_ERROR');
    } else {
      // TLS 1.3: the client finishes its side before the server's rejection arrives,
      // which then says why (issue 16: it was CONNECTION_CLOSED or NETWORK_ERROR).
      await expectCode((c as Channel).receive(), 'TLS_ERROR');
    }
    await expectCode(accepted, 'TIMEOUT');
    await l.close();
  });
  it("refuses a server the client's CA did not sign", async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    const distrustful: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.otherCa) } };
    await expectCode(connect({ host: '127.0.0.1', port: l.port, security: distrustful, connectTimeoutMs: 2000 }), 'TLS_ERROR');
    await l.close();
  });
  it('refuses a key that does not belong to its certificate with INVALID_KEY, before any connection, without echoing it', async () => {
    const mismatched = { cert: pem(pki.clientCert), key: pem(pki.serverKey), ca: pem(pki.ca) };
    const e = await prepareTls(mismatched).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(KoppelError);
    expect((e as KoppelError).code).toBe('INVALID_KEY');
    expect((e as KoppelError).message).not.toContain('BEGIN');
    await expectCode(listen({ host: '127.0.0.1', port: 0, security: { tls: mismatched } }), 'INVALID_KEY');
    // Not retried as if the peer were down: it fails at once, though nothing listens.
    const t0 = Date.now();
    await expectCode(
      connect({ host: '127.0.0.1', port: 1, security: { tls: { ...mismatched, ca: 'not a certificate' } }, connectTimeoutMs: 5000 }),
      'INVALID_KEY',
    );
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  it('prepares one TLS context per set of options, which every connection then uses', async () => {
    const tls = (client as { tls: TlsOptions }).tls;
    const context = await prepareTls(tls);
    expect(await prepareTls(tls)).toBe(context);
    expect(await prepareTls({ ...tls })).not.toBe(context);
    // Connections made with the prepared options work (and check the server as before).
    const [c, s, stop] = await pair({ server, client });
    await exchange(c, s);
    await c.close();
    await s.close();
    await stop();
  });
  it('refuses a server whose certificate names another host', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    const wrongName: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.ca), servername: 'elsewhere.example' } };
    await expectCode(connect({ host: '127.0.0.1', port: l.port, security: wrongName, connectTimeoutMs: 2000 }), 'TLS_ERROR');
    await l.close();
  });
});
