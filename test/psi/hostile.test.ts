/**
 * A hostile or broken peer: every deviation gives a typed error on the honest side,
 * within its timeout, never a hang, a crash or a wrong answer.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { connect, listen } from '../../src/transport/net.js';
import { psiClient, psiServer } from '../../src/psi/psi.js';
import { PSI_PROTOCOL, Step } from '../../src/psi/messages.js';
import { Link } from '../../src/session/link.js';
import { psiOps } from '../../src/psi/ops.js';
import { getSuite } from '../../src/group/suite.js';
import { encodeU } from '../../src/group/elligator2.js';
import { P25519 } from '../../src/group/h2c.js';
import { encodeFrame, toJsonBody } from '../../src/wire/frame.js';
import { randomBytes } from '../../src/util/bytes.js';
import { expectCode } from '../helpers.js';

const OPTS = { threads: 0 };
const hello = (over: Record<string, unknown> = {}) => ({
  protocol: 'koppel-psi',
  version: 1,
  role: 'client',
  mode: 'intersection',
  suite: 'x25519',
  idType: 'raw',
  normalisation: 1,
  ...over,
});

/** A scripted client: hello done, then whatever the test does next. */
async function scriptedClient(over: Record<string, unknown> = {}, channelOptions = { idleTimeoutMs: 2000 }) {
  const [a, b] = createMemoryChannelPair(channelOptions);
  const server = psiServer(b, ['x', 'y'], OPTS);
  server.catch(() => undefined);
  const link = new Link(a, PSI_PROTOCOL, randomBytes(16));
  await link.sendJson(Step.HELLO, hello(over));
  return { a, link, server };
}

async function helloed() {
  const c = await scriptedClient();
  await c.link.receive([Step.HELLO], 'HELLO');
  c.link.suite = 'x25519';
  return c;
}

describe('hostile client against psiServer', () => {
  it('wrong suite: SUITE_MISMATCH on both sides', async () => {
    const { link, server } = await scriptedClient({ suite: 'ristretto255' });
    await expectCode(server, 'SUITE_MISMATCH');
    await expectCode(link.receive([Step.HELLO], 'HELLO'), 'SUITE_MISMATCH');
  });
  it('wrong mode: MODE_MISMATCH', async () => {
    const { server } = await scriptedClient({ mode: 'cardinality' });
    await expectCode(server, 'MODE_MISMATCH');
  });
  it('another protocol version in the hello: VERSION_MISMATCH', async () => {
    const { server } = await scriptedClient({ version: 2 });
    await expectCode(server, 'VERSION_MISMATCH');
  });
  it('another wire format version in the frame header: VERSION_MISMATCH', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const server = psiServer(b, ['x'], OPTS);
    const f = encodeFrame('psi', 'none', Step.HELLO, randomBytes(16), 0, toJsonBody(hello()));
    f[2] = 9;
    await a.send(f);
    await expectCode(server, 'VERSION_MISMATCH');
  });
  it('a hello with a missing or extra-typed field: MESSAGE_MALFORMED', async () => {
    const { server } = await scriptedClient({ suite: 42 });
    await expectCode(server, 'MESSAGE_MALFORMED');
  });
  it('an empty frame: MESSAGE_MALFORMED', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const server = psiServer(b, ['x'], OPTS);
    await a.send(new Uint8Array(0));
    await expectCode(server, 'MESSAGE_MALFORMED');
  });
  it('steps out of order: PROTOCOL_VIOLATION', async () => {
    const { link, server } = await helloed();
    await link.sendJson(Step.TAGS_START, { count: 1, payloadBytes: 0 });
    await expectCode(server, 'PROTOCOL_VIOLATION');
  });
  it('a frame of another session: PROTOCOL_VIOLATION', async () => {
    const { link, server } = await helloed();
    link.session = randomBytes(16);
    await link.send(Step.CLIENT_ELEMENTS, 1, await psiOps.hashMultiply({ suite: 'x25519', items: ['x'], scalar: getSuite('x25519').randomScalar().scalar }));
    await expectCode(server, 'PROTOCOL_VIOLATION');
  });
  it('a frame naming another suite mid-session: SUITE_MISMATCH', async () => {
    const { link, server } = await helloed();
    link.suite = 'ristretto255';
    await link.send(Step.CLIENT_ELEMENTS, 1, new Uint8Array(32));
    await expectCode(server, 'SUITE_MISMATCH');
  });
  it('a truncated chunk (count disagrees with bytes): MESSAGE_MALFORMED', async () => {
    const { link, server } = await helloed();
    await link.send(Step.CLIENT_ELEMENTS, 2, new Uint8Array(40));
    await expectCode(server, 'MESSAGE_MALFORMED');
  });
  it('an oversized chunk count: MESSAGE_MALFORMED', async () => {
    const { link, server } = await helloed();
    await link.send(Step.CLIENT_ELEMENTS, 100000, new Uint8Array(32));
    await expectCode(server, 'MESSAGE_MALFORMED');
  });
  it('a final count that disagrees with the elements sent: MESSAGE_MALFORMED', async () => {
    const { link, server } = await helloed();
    await link.send(Step.CLIENT_ELEMENTS, 1, await psiOps.hashMultiply({ suite: 'x25519', items: ['x'], scalar: getSuite('x25519').randomScalar().scalar }));
    await link.sendJson(Step.CLIENT_DONE, { count: 5 });
    await expectCode(server, 'MESSAGE_MALFORMED');
  });
  it.each([
    ['u = 0 (low order)', encodeU(0n)],
    ['u = 1 (low order)', encodeU(1n)],
    ['u = p (non-canonical)', encodeU(P25519)],
  ])('an invalid point, %s: INVALID_POINT', async (_, point) => {
    const { link, server } = await helloed();
    await link.send(Step.CLIENT_ELEMENTS, 1, point);
    await expectCode(server, 'INVALID_POINT');
  });
  it('ristretto255: the identity: INVALID_POINT', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const server = psiServer(b, ['x'], { ...OPTS, suite: 'ristretto255' });
    const link = new Link(a, PSI_PROTOCOL, randomBytes(16));
    await link.sendJson(Step.HELLO, hello({ suite: 'ristretto255' }));
    await link.receive([Step.HELLO], 'HELLO');
    link.suite = 'ristretto255';
    await link.send(Step.CLIENT_ELEMENTS, 1, new Uint8Array(32));
    await expectCode(server, 'INVALID_POINT');
  });
  it('a client that disappears mid-protocol: CONNECTION_CLOSED', async () => {
    const { a, link, server } = await helloed();
    await link.send(Step.CLIENT_ELEMENTS, 1, await psiOps.hashMultiply({ suite: 'x25519', items: ['x'], scalar: getSuite('x25519').randomScalar().scalar }));
    await a.close();
    await expectCode(server, 'CONNECTION_CLOSED');
  });
  it('a client that stalls: TIMEOUT within the idle timeout', async () => {
    const { server } = await helloed();
    const t = Date.now();
    await expectCode(server, 'TIMEOUT');
    expect(Date.now() - t).toBeLessThan(5000);
  });
  it('over TCP, a frame larger than the limit: MESSAGE_TOO_LARGE', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true }, maxMessageBytes: 4096 });
    const accepted = l.accept(5000).then((ch) => psiServer(ch, ['x'], OPTS));
    const c = await connect({ host: '127.0.0.1', port: l.port, security: { insecure: true }, maxMessageBytes: 1 << 24 });
    await c.send(new Uint8Array(10000));
    await expectCode(accepted, 'MESSAGE_TOO_LARGE');
    await c.close();
    await l.close();
  });
});

/** A scripted server: hello done, client elements collected, then the test misbehaves. */
async function scriptedServer(mode: 'intersection' | 'payload' = 'intersection') {
  const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
  const client = psiClient(a, ['x', 'y', 'z'], { ...OPTS, mode });
  client.catch(() => undefined);
  const h = await (async () => {
    const first = await b.receive();
    const { decodeFrame } = await import('../../src/wire/frame.js');
    return decodeFrame(first);
  })();
  const link = new Link(b, PSI_PROTOCOL, Uint8Array.from(h.session));
  await link.sendJson(Step.HELLO, hello({ role: 'server', mode }));
  link.suite = 'x25519';
  const chunk = await link.receive([Step.CLIENT_ELEMENTS], 'elements');
  await link.receive([Step.CLIENT_DONE], 'done');
  const b_ = getSuite('x25519').randomScalar();
  return { link, client, chunk, b: b_, channel: b };
}

describe('hostile server against psiClient', () => {
  it('answers a chunk with another number of elements: MESSAGE_MALFORMED', async () => {
    const { link, client, chunk, b } = await scriptedServer();
    const e = getSuite('x25519').multiply(b.scalar, chunk.body);
    await link.send(Step.SERVER_EVALUATED, 2, e.subarray(0, 64));
    await expectCode(client, 'MESSAGE_MALFORMED');
  });
  it('answers with low-order points: INVALID_POINT', async () => {
    const { link, client } = await scriptedServer();
    await link.send(Step.SERVER_EVALUATED, 3, new Uint8Array(96));
    await expectCode(client, 'INVALID_POINT');
  });
  it('sends more tags than it announced: MESSAGE_MALFORMED', async () => {
    const { link, client, chunk, b } = await scriptedServer();
    await link.send(Step.SERVER_EVALUATED, 3, getSuite('x25519').multiply(b.scalar, chunk.body));
    await link.sendJson(Step.SERVER_EVALUATED_DONE, { count: 3 });
    await link.sendJson(Step.TAGS_START, { count: 1, payloadBytes: 0 });
    await link.send(Step.SERVER_TAGS, 2, randomBytes(32));
    await expectCode(client, 'MESSAGE_MALFORMED');
  });
  it('tampers with a payload: MESSAGE_MALFORMED, no payload returned', async () => {
    const { link, client, chunk, b } = await scriptedServer('payload');
    await link.send(Step.SERVER_EVALUATED, 3, getSuite('x25519').multiply(b.scalar, chunk.body));
    await link.sendJson(Step.SERVER_EVALUATED_DONE, { count: 3 });
    await link.sendJson(Step.TAGS_START, { count: 1, payloadBytes: 4 });
    // A genuine tag for 'x' with a forged ciphertext.
    const { tags } = await psiOps.hashMultiplyTags({ suite: 'x25519', items: ['x'], scalar: b.scalar, session: link.session, keys: true });
    const entry = new Uint8Array(16 + 2 + 4 + 16);
    entry.set(tags, 0);
    await link.send(Step.SERVER_TAGS, 1, entry);
    await expectCode(client, 'MESSAGE_MALFORMED');
  });
  it('reports its own failure with ABORT: the client gets that code', async () => {
    const { link, client } = await scriptedServer();
    await link.sendJson(Step.ABORT, { code: 'INVALID_ARGUMENT' });
    await expectCode(client, 'INVALID_ARGUMENT');
  });
  it('an ABORT with an unknown code is itself MESSAGE_MALFORMED', async () => {
    const { link, client } = await scriptedServer();
    await link.sendJson(Step.ABORT, { code: 'NOT_A_CODE' });
    await expectCode(client, 'MESSAGE_MALFORMED');
  });
  it('stops after the hello: TIMEOUT', async () => {
    const { client } = await scriptedServer();
    await expectCode(client, 'TIMEOUT');
  });
});
