/**
 * Resumable channels (issue 16, "Reconnect within a session"): a connection that drops
 * is resumed within the reconnect window and every message arrives once, in order; the
 * reconnecting side must hold the session's key and, under TLS, the same certificate;
 * a connection that does not come back ends both sides with a clear error in time.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { KoppelError } from '../../src/errors/index.js';
import type { Channel } from '../../src/transport/channel.js';
import { connect, listen, type Listener, type ListenerEvent, type Security } from '../../src/transport/net.js';
import type { ResumableChannel, ResumeEvent } from '../../src/transport/resumable.js';
import { expectCode } from '../helpers.js';
import { startProxy, type CuttingProxy } from '../helpers/proxy.js';
import { pem, testPki } from '../tls.js';

const insecure: Security = { insecure: true };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A listener, a proxy in front of it, and a resumable channel through the proxy. */
async function pair(
  o: {
    windowMs?: number;
    serverWindowMs?: number;
    cutAfterBytes?: number[];
    security?: { server: Security; client: Security };
    peer?: { names: string[] };
  } = {},
): Promise<{
  listener: Listener;
  proxy: CuttingProxy;
  server: Channel;
  client: Channel;
  events: { server: ResumeEvent[]; client: ResumeEvent[]; listener: ListenerEvent[] };
}> {
  const events = { server: [] as ResumeEvent[], client: [] as ResumeEvent[], listener: [] as ListenerEvent[] };
  const listener = await listen({
    host: '127.0.0.1',
    port: 0,
    security: o.security?.server ?? insecure,
    ...(o.peer ? { peer: o.peer } : {}),
    ...(o.serverWindowMs === undefined ? {} : { reconnectWindowMs: o.serverWindowMs }),
    onResume: (e) => events.server.push(e),
    onEvent: (e) => events.listener.push(e),
  });
  const proxy = await startProxy(listener.port, o.cutAfterBytes ? { cutAfterBytes: o.cutAfterBytes } : {});
  const accepted = listener.accept(10_000);
  const client = await connect({
    host: '127.0.0.1',
    port: proxy.port,
    security: o.security?.client ?? insecure,
    reconnectWindowMs: o.windowMs ?? 10_000,
    onResume: (e) => events.client.push(e),
  });
  const server = await accepted;
  // One message each way: the channel is open at both ends (a cut before that is not resumable).
  await client.send(new Uint8Array([0]));
  expect(await server.receive()).toEqual(new Uint8Array([0]));
  await server.send(new Uint8Array([0]));
  expect(await client.receive()).toEqual(new Uint8Array([0]));
  cleanups.push(
    () => listener.close(),
    () => proxy.close(),
    () => client.close(),
    () => server.close(),
  );
  return { listener, proxy, server, client, events };
}

/** Message i: its index in the first 4 bytes, then a length that varies from 4 bytes to 70 KiB. */
function message(i: number): Uint8Array {
  const m = new Uint8Array(4 + ((i * 7919) % 70_000));
  new DataView(m.buffer).setUint32(0, i);
  for (let j = 4; j < m.length; j += 997) m[j] = (i + j) & 0xff;
  return m;
}

function check(i: number, m: Uint8Array): void {
  expect(m.length).toBe(4 + ((i * 7919) % 70_000));
  expect(new DataView(m.buffer, m.byteOffset).getUint32(0)).toBe(i);
  for (let j = 4; j < m.length; j += 997) if (m[j] !== ((i + j) & 0xff)) expect.fail(`message ${i} corrupted at byte ${j}`);
}

async function sendAll(c: Channel, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await c.send(message(i));
}

async function receiveAll(c: Channel, n: number): Promise<void> {
  for (let i = 0; i < n; i++) check(i, await c.receive());
}

describe('a resumable channel', () => {
  it('delivers every message once and in order in both directions while the connection is cut three times', async () => {
    const n = 600; // about 21 MB each way
    const p = await pair({ cutAfterBytes: [3_000_000, 15_000_000, 30_000_000] });
    await Promise.all([sendAll(p.client, n), receiveAll(p.server, n), sendAll(p.server, n), receiveAll(p.client, n)]);
    expect(p.proxy.cuts).toBe(3);
    expect(p.proxy.connections).toBe(4);
    expect(p.events.client.filter((e) => e.event === 'resumed')).toHaveLength(3);
    expect(p.events.server.filter((e) => e.event === 'resumed')).toHaveLength(3);
    // Still one channel: a message after the last cut gets through, and then a clean close.
    await p.client.send(new Uint8Array([42]));
    expect(await p.server.receive()).toEqual(new Uint8Array([42]));
  }, 60_000);

  it('keeps working when the listener was closed after accepting (the port stays bound for the peer to come back)', async () => {
    const p = await pair();
    await p.listener.close();
    await p.client.send(new Uint8Array([1]));
    expect(await p.server.receive()).toEqual(new Uint8Array([1]));
    p.proxy.cut();
    await p.client.send(new Uint8Array([2]));
    expect(await p.server.receive()).toEqual(new Uint8Array([2]));
    await p.server.send(new Uint8Array([3]));
    expect(await p.client.receive()).toEqual(new Uint8Array([3]));
  });

  it('close() delivers the last message although the connection drops right after it is sent', async () => {
    const p = await pair();
    await p.client.send(message(7));
    p.proxy.cut();
    await p.client.close();
    check(7, await p.server.receive());
    await expectCode(p.server.receive(), 'CONNECTION_CLOSED');
  });

  it('a connection that does not come back within the window ends both sides with CONNECTION_CLOSED, within the window', async () => {
    const p = await pair({ windowMs: 1500 });
    p.proxy.refuse(true);
    p.proxy.cut();
    const t0 = Date.now();
    const [s, c] = await Promise.all([p.server.receive().catch((e: unknown) => e), p.client.receive().catch((e: unknown) => e)]);
    expect((s as KoppelError).code).toBe('CONNECTION_CLOSED');
    expect((c as KoppelError).code).toBe('CONNECTION_CLOSED');
    expect((s as KoppelError).message).toContain('reconnect window');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(p.events.client.map((e) => e.event)).toEqual(['dropped', 'lost']);
  });

  it('without a window (0 on the listener) a drop ends the channel at once, as a plain one', async () => {
    const p = await pair({ serverWindowMs: 0 });
    p.proxy.cut();
    const t0 = Date.now();
    const ends = await Promise.all([p.client.receive().catch((e: unknown) => e), p.server.receive().catch((e: unknown) => e)]);
    for (const e of ends) expect(['CONNECTION_CLOSED', 'NETWORK_ERROR']).toContain((e as KoppelError).code);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(p.events.client).toEqual([]);
  });

  it('a RESUME that names the session but cannot prove its key is refused, and the session goes on', async () => {
    const p = await pair();
    const id = (p.client as ResumableChannel).channelId;
    // An intruder who saw the channel id (it crosses the wire) asks to resume it.
    const intruder = await connect({ host: '127.0.0.1', port: p.listener.port, security: insecure });
    await intruder.send(resumeRecord(id));
    const challenge = await intruder.receive();
    expect(challenge[0]).toBe(0x04);
    await intruder.send(new Uint8Array([0x05, ...new Uint8Array(32)])); // a proof without the key
    await expectCode(intruder.receive(), 'CONNECTION_CLOSED');
    await waitFor(() => p.events.listener.some((e) => e.event === 'resume-refused'));
    await p.client.send(new Uint8Array([5]));
    expect(await p.server.receive()).toEqual(new Uint8Array([5]));
  });

  it('a RESUME for a session the listener does not hold is refused with a reason', async () => {
    const p = await pair();
    const stranger = await connect({ host: '127.0.0.1', port: p.listener.port, security: insecure });
    await stranger.send(resumeRecord('00'.repeat(16)));
    const r = await stranger.receive();
    expect([...r]).toEqual([0x06, 1]);
    await waitFor(() => p.events.listener.some((e) => e.event === 'resume-refused' && e.code === 'CONNECTION_CLOSED'));
  });
});

describe('a resumable channel under mutual TLS', () => {
  const pki = testPki();
  const tlsOf = (cert: string, key: string): Security => ({ tls: { cert: pem(cert), key: pem(key), ca: pem(pki.ca) } });
  const server = tlsOf(pki.serverCert, pki.serverKey);
  const client = tlsOf(pki.clientCert, pki.clientKey);
  const otherAgency = tlsOf(pki.otherAgencyCert, pki.otherAgencyKey);

  it('is resumed over a new TLS connection with the same certificate, and the peer stays the authenticated one', async () => {
    const p = await pair({ security: { server, client }, peer: { names: ['client', 'other-agency'] } });
    await p.client.send(new Uint8Array([1]));
    expect(await p.server.receive()).toEqual(new Uint8Array([1]));
    p.proxy.cut();
    await p.server.send(new Uint8Array([2]));
    expect(await p.client.receive()).toEqual(new Uint8Array([2]));
    expect(p.proxy.connections).toBe(2);
    expect(p.server.peer?.names).toContain('client');
  });

  it("another agency's valid certificate cannot resume the session, even with its id", async () => {
    const p = await pair({ security: { server, client }, peer: { names: ['client', 'other-agency'] } });
    const id = (p.client as ResumableChannel).channelId;
    const intruder = await connect({ host: '127.0.0.1', port: p.listener.port, security: otherAgency, connectTimeoutMs: 5000 });
    await intruder.send(resumeRecord(id));
    expect([...(await intruder.receive())]).toEqual([0x06, 2]);
    await p.client.send(new Uint8Array([3]));
    expect(await p.server.receive()).toEqual(new Uint8Array([3]));
  });
});

function resumeRecord(idHex: string): Uint8Array {
  const r = new Uint8Array(42);
  r[0] = 0x03;
  r[1] = 1;
  r.set(Buffer.from(idHex, 'hex'), 2);
  return r;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An OPEN record with a real ephemeral key, as a hostile but well-formed client would send. */
function openRecord(): Uint8Array {
  const der = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
  const r = new Uint8Array(54);
  r[0] = 0x01;
  r[1] = 1;
  r.set(crypto.getRandomValues(new Uint8Array(16)), 2);
  r.set(der.subarray(der.length - 32), 18);
  new DataView(r.buffer).setUint32(50, 10_000);
  return r;
}

const hostileRecord: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  // A record type koppel knows, with arbitrary contents and lengths.
  fc.tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12), fc.uint8Array({ maxLength: 80 })).map(([t, b]) => Uint8Array.from([t, ...b])),
  // DATA and ACK with sequence numbers out of order or beyond what was sent.
  fc.tuple(fc.constantFrom(0x10, 0x11), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([t, n]) => {
    const r = new Uint8Array(t === 0x10 ? 12 : 9);
    r[0] = t;
    new DataView(r.buffer).setBigUint64(1, n);
    return r;
  }),
);

describe('hostile records on a resumable connection', () => {
  it('a peer that opens a resumable channel and then sends any records gets a typed error, never INTERNAL, and the listener keeps serving', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { handshakeTimeoutMs: 2000 } });
    cleanups.push(() => listener.close());
    await fc.assert(
      fc.asyncProperty(fc.array(hostileRecord, { minLength: 1, maxLength: 6 }), async (records) => {
        const accepted = listener.accept(5000);
        const raw = await connect({ host: '127.0.0.1', port: listener.port, security: insecure });
        await raw.send(openRecord());
        const server = await accepted;
        for (const r of records) await raw.send(r).catch(() => undefined);
        // The server side either delivers what was valid or ends with a typed error.
        for (;;) {
          const got = await Promise.race([
            server.receive().then(
              () => 'message',
              (e: unknown) => e,
            ),
            new Promise((r) => setTimeout(() => r('quiet'), 200)),
          ]);
          if (got === 'message') continue;
          if (got !== 'quiet') {
            expect((got as KoppelError).code).toBeDefined();
            expect((got as KoppelError).code).not.toBe('INTERNAL');
          }
          break;
        }
        await raw.close();
        await server.close().catch(() => undefined);
      }),
      { numRuns: 40 },
    );
    // An honest resumable client still gets through.
    const accepted = listener.accept(5000);
    const honest = await connect({ host: '127.0.0.1', port: listener.port, security: insecure, reconnectWindowMs: 5000 });
    const server = await accepted;
    await honest.send(new Uint8Array([1, 2, 3]));
    expect(await server.receive()).toEqual(new Uint8Array([1, 2, 3]));
    await honest.close();
  }, 60_000);

  it('RESUME, CHALLENGE and PROOF records in any order from a stranger are refused or dropped, and a live session goes on', async () => {
    const p = await pair();
    const id = (p.client as ResumableChannel).channelId;
    await fc.assert(
      fc.asyncProperty(fc.array(hostileRecord, { maxLength: 4 }), fc.boolean(), async (records, rightId) => {
        const stranger = await connect({ host: '127.0.0.1', port: p.listener.port, security: insecure });
        await stranger.send(resumeRecord(rightId ? id : '11'.repeat(16)));
        for (const r of records) await stranger.send(r).catch(() => undefined);
        await stranger.close();
      }),
      { numRuns: 30 },
    );
    await p.client.send(new Uint8Array([9]));
    expect(await p.server.receive()).toEqual(new Uint8Array([9]));
    await p.server.send(new Uint8Array([8]));
    expect(await p.client.receive()).toEqual(new Uint8Array([8]));
  }, 60_000);

  it('connections that open a resumable channel and drop before their HELLO cannot pile up: at most maxConnections are kept, and an honest client still gets through', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { maxConnections: 8, handshakeTimeoutMs: 60_000 } });
    cleanups.push(() => listener.close());
    for (let i = 0; i < 40; i++) {
      const raw = await connect({ host: '127.0.0.1', port: listener.port, security: insecure });
      await raw.send(openRecord());
      expect((await raw.receive())[0]).toBe(0x02); // OPEN_OK: the channel is open, and held
      await raw.close();
    }
    await waitFor(() => listener.sessions <= 8);
    expect(listener.sessions).toBeLessThanOrEqual(8);
    expect(listener.sessions).toBeGreaterThan(0);
    const accepted = listener.acceptReady(5000);
    const honest = await connect({ host: '127.0.0.1', port: listener.port, security: insecure, reconnectWindowMs: 5000 });
    await honest.send(new Uint8Array([0x4b, 0x50, 1]));
    const server = await accepted;
    expect(await server.receive()).toEqual(new Uint8Array([0x4b, 0x50, 1]));
    await honest.close();
  }, 60_000);

  it('acceptReady waits past its timeout for a resumable channel still within its HELLO deadline (the join helper: its parties connect, then blind for minutes)', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { handshakeTimeoutMs: 10_000 } });
    cleanups.push(() => listener.close());
    const accepted = listener.acceptReady(300);
    const client = await connect({ host: '127.0.0.1', port: listener.port, security: insecure, reconnectWindowMs: 5000 });
    cleanups.push(() => client.close());
    await new Promise((r) => setTimeout(r, 1200)); // well past acceptReady's 300 ms
    await client.send(new Uint8Array([7]));
    const server = await accepted;
    expect(await server.receive()).toEqual(new Uint8Array([7]));
  });

  it('after a resumption, messages of the full maxMessageBytes still pass both ways (the resumed connection allows the record overhead)', async () => {
    const p = await pair();
    p.proxy.cut();
    const full = new Uint8Array(16 * 1024 * 1024).fill(3);
    await p.client.send(full);
    expect((await p.server.receive()).length).toBe(full.length);
    await p.server.send(full);
    expect((await p.client.receive()).length).toBe(full.length);
  }, 30_000);

  it('accept() handing out a connection that turns out to RESUME gives a closed channel, never a hang', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, security: insecure });
    cleanups.push(() => listener.close());
    const accepted = listener.accept(5000);
    const stranger = await connect({ host: '127.0.0.1', port: listener.port, security: insecure });
    cleanups.push(() => stranger.close());
    const server = await accepted;
    await stranger.send(resumeRecord('22'.repeat(16)));
    await expectCode(server.receive(), 'CONNECTION_CLOSED');
  });

  it('a plain protocol may still speak first on what accept() returned', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0, security: insecure, limits: { handshakeTimeoutMs: 0 } });
    cleanups.push(() => listener.close());
    const accepted = listener.accept(5000);
    const client = await connect({ host: '127.0.0.1', port: listener.port, security: insecure });
    cleanups.push(() => client.close());
    const server = await accepted;
    await server.send(new Uint8Array([1, 2]));
    expect(await client.receive()).toEqual(new Uint8Array([1, 2]));
  });

  it('a listener that refuses to resume (it holds no such session) ends the reconnecting side at once, not after the window', async () => {
    const p = await pair({ windowMs: 60_000 });
    await new Promise((r) => setTimeout(r, 200)); // the acknowledgements of pair()'s messages are through
    // The network goes down; meanwhile the listener's side ends (it forgets the session).
    p.proxy.refuse(true);
    p.proxy.cut();
    await p.server.close().catch(() => undefined);
    await waitFor(() => p.events.client.some((e) => e.event === 'dropped'));
    p.proxy.refuse(false);
    const t0 = Date.now();
    const e = await p.client.receive().catch((x: unknown) => x);
    expect((e as KoppelError).code).toBe('CONNECTION_CLOSED');
    expect((e as KoppelError).message).toContain('holds no such session');
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);
});
