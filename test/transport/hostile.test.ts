/**
 * Listeners under hostile load (issue 16), each test written as the attack: too many
 * connections, silent ones, partial frames that would fill memory, a frame dripped in
 * 1 KiB writes, and every way a TLS handshake goes wrong, reported on both sides under
 * TLS_ERROR while the listener keeps waiting for the right peer.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../src/transport/channel.js';
import { connect, listen, type ListenerEvent, type Security } from '../../src/transport/net.js';
import { KoppelError } from '../../src/errors/index.js';
import { pem, testPki } from '../tls.js';

const insecure: Security = { insecure: true };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw TCP connection to a listener, open once connected. */
function raw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

/** A frame header announcing `n` bytes. */
function header(n: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(n);
  return h;
}

/** Waits until `cond` holds, polling, at most `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(10);
  }
}

async function exchangeOne(c: Channel, s: Channel): Promise<void> {
  await c.send(new Uint8Array([1, 2, 3]));
  expect(await s.receive()).toEqual(new Uint8Array([1, 2, 3]));
}

describe('listener limits', () => {
  it('closes the connection beyond maxConnections and reports it, while the held ones stay served', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { maxConnections: 3 }, onEvent: (e) => events.push(e) });
    const held = await Promise.all([raw(l.port), raw(l.port), raw(l.port)]);
    const extra = await raw(l.port);
    const closed = new Promise<void>((r) => extra.once('close', () => r()));
    await closed;
    await until(() => events.some((e) => e.event === 'too-many-connections'));
    expect(events.find((e) => e.event === 'too-many-connections')?.code).toBe('LIMIT_EXCEEDED');
    for (const s of held) s.destroy();
    await l.close();
  });

  it('closes a connection that says nothing within the handshake deadline (no-hello), and an honest peer is not delayed by silent ones', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { handshakeTimeoutMs: 300 }, onEvent: (e) => events.push(e) });
    const silent = await Promise.all(Array.from({ length: 10 }, () => raw(l.port)));
    const t0 = Date.now();
    const c = await connect({ host: '127.0.0.1', port: l.port, security: insecure, connectTimeoutMs: 2000 });
    await c.send(new Uint8Array([7]));
    const s = await l.acceptReady(5000);
    // The honest peer is taken at once, not after the silent ones' deadlines.
    expect(Date.now() - t0).toBeLessThan(250);
    expect(await s.receive()).toEqual(new Uint8Array([7]));
    await until(() => events.filter((e) => e.event === 'no-hello').length === 10);
    expect(events.every((e) => e.address?.startsWith('127.0.0.1:'))).toBe(true);
    await Promise.all(silent.map((x) => new Promise((r) => (x.destroyed ? r(undefined) : x.once('close', r)))));
    await c.close();
    await s.close();
    await l.close();
  });

  it('refuses a first message (HELLO) over maxHelloBytes before buffering it', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { maxHelloBytes: 1024 }, onEvent: (e) => events.push(e) });
    const s = await raw(l.port);
    s.write(header(16 * 1024 * 1024 - 1));
    s.write(Buffer.alloc(4096));
    await until(() => events.length > 0);
    expect(events[0]).toMatchObject({ event: 'malformed', code: 'MESSAGE_TOO_LARGE' });
    expect(l.bufferedBytes).toBe(0);
    s.destroy();
    await l.close();
  });

  it('holds at most its total budget (plus one read per connection) while 30 connections each hold a partial 4 MiB frame', async () => {
    const budget = 12 * 1024 * 1024;
    const l = await listen({
      host: '127.0.0.1',
      port: 0,
      security: insecure,
      maxMessageBytes: 4 * 1024 * 1024,
      limits: { maxBufferedBytes: budget, maxConnectionBufferedBytes: 5 * 1024 * 1024 },
    });
    const attackers = await Promise.all(Array.from({ length: 30 }, () => raw(l.port)));
    const chunk = Buffer.alloc(64 * 1024, 1);
    let peak = 0;
    for (const a of attackers) {
      a.write(Buffer.concat([header(1), Buffer.from([0])])); // a first message, then a frame that never ends
      a.write(header(4 * 1024 * 1024));
    }
    for (let round = 0; round < 63; round++) {
      for (const a of attackers) a.write(chunk);
      await sleep(5);
      peak = Math.max(peak, l.bufferedBytes);
    }
    await sleep(200);
    peak = Math.max(peak, l.bufferedBytes);
    expect(peak).toBeGreaterThan(budget / 2); // the attack did fill the budget...
    expect(peak).toBeLessThanOrEqual(budget + 30 * 64 * 1024 + 30 * 8); // ...and no more
    // Paused connections hold their bytes until they end: closing the listener ends them.
    await l.close();
    expect(l.bufferedBytes).toBe(0);
    for (const a of attackers) a.destroy();
  });

  it('reassembles a 16 MiB frame written in 1 KiB pieces in linear time (the old reassembly copied the buffer per piece: 13 s of CPU)', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    const s = await raw(l.port);
    const accepted = l.accept(5000);
    const n = 16 * 1024 * 1024 - 64;
    const cpu0 = process.cpuUsage();
    const piece = Buffer.alloc(1024, 5);
    s.write(Buffer.concat([header(1), Buffer.from([0])])); // the first message (a HELLO) is small
    s.write(header(n));
    for (let at = 0; at < n; at += 1024) s.write(at + 1024 <= n ? piece : piece.subarray(0, n - at));
    const ch = await accepted;
    expect((await ch.receive()).length).toBe(1);
    const m = await ch.receive();
    const cpu = process.cpuUsage(cpu0);
    expect(m.length).toBe(n);
    expect(m[n - 1]).toBe(5);
    expect((cpu.user + cpu.system) / 1e6).toBeLessThan(4);
    s.destroy();
    await ch.close();
    await l.close();
  });
});

describe('EADDRINUSE names the address', () => {
  it('a listener on a port in use fails with NETWORK_ERROR naming host:port', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    const e = await listen({ host: '127.0.0.1', port: l.port, security: insecure }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(KoppelError);
    expect((e as KoppelError).code).toBe('NETWORK_ERROR');
    expect((e as KoppelError).message).toContain(`127.0.0.1:${l.port}`);
    expect((e as KoppelError).message).toContain('in use');
    await l.close();
  });
});

describe('TLS diagnostics on both sides', () => {
  const pki = testPki();
  const server: Security = { tls: { cert: pem(pki.serverCert), key: pem(pki.serverKey), ca: pem(pki.ca) } };
  const client: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.ca) } };

  /** A listener that records its events, and then serves the honest client (it kept waiting). */
  async function withListener(security: Security, attack: (port: number) => Promise<void>): Promise<ListenerEvent[]> {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security, onEvent: (e) => events.push(e) });
    try {
      const ready = l.acceptReady(10_000);
      await attack(l.port);
      await until(() => events.length > 0);
      if ('tls' in security) {
        const c = await connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 5000 });
        await c.send(new Uint8Array([1, 2, 3]));
        const s = await ready;
        expect(await s.receive()).toEqual(new Uint8Array([1, 2, 3]));
        await c.close();
        await s.close();
      } else {
        ready.catch(() => undefined);
      }
      return events;
    } finally {
      await l.close();
    }
  }

  it('a client certificate from another CA: the client hears "not signed by the CA the peer trusts", the listener logs it and serves the right peer', async () => {
    let clientError: unknown;
    const events = await withListener(server, async (port) => {
      const intruder: Security = { tls: { cert: pem(pki.otherClientCert), key: pem(pki.otherClientKey), ca: pem(pki.ca) } };
      const c = await connect({ host: '127.0.0.1', port, security: intruder, connectTimeoutMs: 2000 });
      await c.send(new Uint8Array([1])).catch(() => undefined);
      clientError = await c.receive().catch((e: unknown) => e);
    });
    expect((clientError as KoppelError).code).toBe('TLS_ERROR');
    expect((clientError as KoppelError).message).toContain('not signed by the CA the peer trusts');
    expect(events[0]).toMatchObject({ event: 'tls-failed', code: 'TLS_ERROR' });
    expect(events[0]?.reason).toContain('not signed by the CA');
    expect(events[0]?.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('an expired client certificate: "expired" on both sides', async () => {
    let clientError: unknown;
    const events = await withListener(server, async (port) => {
      const expired: Security = { tls: { cert: pem(pki.expiredCert), key: pem(pki.expiredKey), ca: pem(pki.ca) } };
      const c = await connect({ host: '127.0.0.1', port, security: expired, connectTimeoutMs: 2000 });
      clientError = await c.receive().catch((e: unknown) => e);
    });
    expect((clientError as KoppelError).code).toBe('TLS_ERROR');
    expect((clientError as KoppelError).message).toContain('expired');
    expect(events[0]?.reason).toContain('expired');
  });

  it('no client certificate: the listener logs "the client sent no certificate"', async () => {
    const events = await withListener(server, async (port) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: pem(pki.ca), minVersion: 'TLSv1.3' });
      s.on('error', () => undefined);
      s.resume();
      await new Promise((r) => s.once('close', r));
    });
    expect(events[0]).toMatchObject({ event: 'tls-failed', code: 'TLS_ERROR' });
    expect(events[0]?.reason).toContain('sent no certificate');
  });

  it('an expired server certificate: connect() says "expired", and the listener hears that the client refused it', async () => {
    const expiredServer: Security = { tls: { cert: pem(pki.expiredCert), key: pem(pki.expiredKey), ca: pem(pki.ca) } };
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: expiredServer, onEvent: (e) => events.push(e) });
    const e = await connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 2000 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as KoppelError).code).toBe('TLS_ERROR');
    expect((e as KoppelError).message).toContain("server's certificate has expired");
    await until(() => events.length > 0);
    expect(events[0]).toMatchObject({ event: 'tls-failed', code: 'TLS_ERROR' });
    expect(events[0]?.reason).toContain('expired');
    await l.close();
  });

  it('a server certificate for another name: "does not carry the name" on the client, and the listener hears it', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: server, onEvent: (e) => events.push(e) });
    const wrongName: Security = { tls: { cert: pem(pki.clientCert), key: pem(pki.clientKey), ca: pem(pki.ca), servername: 'elsewhere.example' } };
    const e = await connect({ host: '127.0.0.1', port: l.port, security: wrongName, connectTimeoutMs: 2000 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as KoppelError).code).toBe('TLS_ERROR');
    expect((e as KoppelError).message).toContain('does not carry the name');
    expect((e as KoppelError).message).not.toContain('CA');
    await until(() => events.length > 0);
    expect(events[0]?.reason).toContain('does not carry the name');
    await l.close();
  });

  it('a plain-TCP client against a TLS listener: the listener logs "plain TCP" and keeps waiting; the timeout says a peer connected but failed', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: server, onEvent: (e) => events.push(e) });
    const waiting = l.acceptReady(1500).then(
      () => undefined,
      (x: unknown) => x,
    );
    const c = await connect({ host: '127.0.0.1', port: l.port, security: insecure, connectTimeoutMs: 2000 });
    await c.send(new Uint8Array(40)).catch(() => undefined);
    await c.receive().catch(() => undefined);
    await until(() => events.length > 0);
    expect(events[0]).toMatchObject({ event: 'tls-failed', code: 'TLS_ERROR' });
    expect(events[0]?.reason).toContain('plain TCP');
    const timeout = (await waiting) as KoppelError;
    expect(timeout.code).toBe('TIMEOUT');
    expect(timeout.message).toContain('1 connection arrived but failed');
    expect(timeout.message).toContain('plain TCP');
    await c.close();
    await l.close();
  });

  it('a TLS client against a plain-TCP listener: the client hears that the peer does not speak TLS, the listener logs it', async () => {
    const events: ListenerEvent[] = [];
    const l = await listen({ host: '127.0.0.1', port: 0, security: insecure, onEvent: (e) => events.push(e) });
    const e = await connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 2000 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as KoppelError).code).toBe('TLS_ERROR');
    expect((e as KoppelError).message).toContain('plain TCP');
    await until(() => events.length > 0);
    expect(events[0]).toMatchObject({ event: 'tls-failed', code: 'TLS_ERROR' });
    expect(events[0]?.reason).toContain('TLS');
    await l.close();
  });

  it('the right peer still connects after all that (sanity: the checks do not refuse good certificates)', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: server });
    const [c, s] = await Promise.all([connect({ host: '127.0.0.1', port: l.port, security: client, connectTimeoutMs: 5000 }), l.accept(5000)]);
    await exchangeOne(c, s);
    await c.close();
    await s.close();
    await l.close();
  });
});
