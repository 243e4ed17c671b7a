/**
 * The session layer: what every protocol session guarantees, whichever protocol runs on
 * it. HELLO mismatches name the field and both values; both ends of a completed session
 * compute the same transcript hash, which is the documented SHA-256 over the frames that
 * crossed the wire; streams check sizes and counts; a run's resources are released and
 * its peer told why on failure and on cancellation.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { joinGroups, joinValues } from '../../src/join/join.js';
import { psiClient, psiServer } from '../../src/psi/psi.js';
import { PSI_PROTOCOL } from '../../src/psi/messages.js';
import { Link, type ProtocolSpec } from '../../src/session/link.js';
import { openSession, runSession, type Session } from '../../src/session/session.js';
import { TranscriptHash } from '../../src/session/transcript.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { recordingChannel, type TranscriptEntry } from '../../src/transport/transcript.js';
import { t } from '../../src/util/cjs.js';
import { expectCode } from '../helpers.js';

const OPTS = { threads: 0 };

/** A toy protocol for the layer's own tests. */
const TOY: ProtocolSpec = { wire: 'psi', name: 'koppel-psi', version: 1, steps: { HELLO: 1, ITEMS: 2, ITEMS_DONE: 3, ABORT: 63 } };
const ToyHello = t.type({ protocol: t.string, version: t.number, role: t.string, colour: t.string });

function toy(channel: Channel, side: 'initiator' | 'responder', colour: string): Promise<Session<t.TypeOf<typeof ToyHello>>> {
  return openSession({
    channel,
    protocol: TOY,
    side,
    hello: { role: side, colour },
    codec: ToyHello,
    suite: 'none',
    peerRole: side === 'initiator' ? 'responder' : 'initiator',
    shared: [{ field: 'colour', code: 'MODE_MISMATCH', flag: '--colour' }],
  });
}

/** The transcript as docs/session.md defines it, recomputed from a recording of one side. */
function transcriptFromRecording(spec: ProtocolSpec, side: 'initiator' | 'responder', entries: readonly TranscriptEntry[]): Uint8Array {
  const fromInitiator = entries.filter((e) => (e.direction === 'sent') === (side === 'initiator')).map((e) => e.bytes);
  const fromResponder = entries.filter((e) => (e.direction === 'sent') === (side === 'responder')).map((e) => e.bytes);
  const running = (frames: Uint8Array[]) => {
    const h = createHash('sha256');
    for (const f of frames) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(f.length);
      h.update(len).update(f);
    }
    return h.digest();
  };
  const count = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  return new Uint8Array(
    createHash('sha256')
      .update('koppel/transcript/v1')
      .update(Uint8Array.of(1, spec.version))
      .update(count(fromInitiator.length))
      .update(running(fromInitiator))
      .update(count(fromResponder.length))
      .update(running(fromResponder))
      .digest(),
  );
}

describe('opening a session', () => {
  it('a shared parameter that differs fails both sides with its code, naming the field and both values', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [ra, rb] = await Promise.allSettled([toy(a, 'initiator', 'red'), toy(b, 'responder', 'blue')]);
    expect(rb).toMatchObject({ status: 'rejected', reason: { code: 'MODE_MISMATCH', details: { field: 'colour', ours: 'blue', theirs: 'red' } } });
    expect(((rb as PromiseRejectedResult).reason as Error).message).toContain('--colour');
    // The initiator learns it from the responder's ABORT.
    expect(ra).toMatchObject({ status: 'rejected', reason: { code: 'MODE_MISMATCH', details: { peer: true } } });
  });

  it('a PSI mode mismatch names the field mode and both modes', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [, server] = await Promise.allSettled([psiClient(a, ['x'], { ...OPTS, mode: 'cardinality' }), psiServer(b, ['x'], OPTS)]);
    expect(server).toMatchObject({
      status: 'rejected',
      reason: { code: 'MODE_MISMATCH', details: { field: 'mode', ours: 'intersection', theirs: 'cardinality' } },
    });
  });

  it('a join suite mismatch names the field suite and both suites', async () => {
    const [c, d] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [g2] = await Promise.allSettled([
      joinGroups(c, [{ id: 'x', group: ['g'] }], { ...OPTS, suite: 'ristretto255' }),
      joinValues(d, [], { ...OPTS, columns: ['v'] }),
    ]);
    expect(g2).toMatchObject({ status: 'rejected', reason: { code: 'SUITE_MISMATCH', details: { field: 'suite', ours: 'ristretto255', theirs: 'x25519' } } });
  });

  it("the responder adopts the initiator's session id, and every later frame must carry it", async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [sa, sb] = await Promise.all([toy(a, 'initiator', 'red'), toy(b, 'responder', 'red')]);
    expect(sb.idHex).toBe(sa.idHex);
    expect(sa.id).toHaveLength(16);
    // A session is immutable: its id is a copy, and it cannot be reassigned.
    sa.id.fill(0);
    expect(sa.idHex).toBe(sb.idHex);
    expect(() => Object.assign(sa, { suite: 'x25519' })).toThrow();
    const stray = new Link(a, TOY, new Uint8Array(16));
    await stray.sendJson(2, {});
    await expectCode(sb.receive([2], 'items'), 'PROTOCOL_VIOLATION');
  });
});

describe('the transcript hash', () => {
  it('is the same at both ends of a completed PSI run, and is the documented SHA-256 over the recorded frames', async () => {
    const [a, b] = createMemoryChannelPair();
    const recorded: TranscriptEntry[] = [];
    let client: Session | undefined;
    let server: Session | undefined;
    await Promise.all([
      psiClient(recordingChannel(a, recorded), ['a', 'b', 'c'], { ...OPTS, chunkSize: 2, onSession: (s) => (client = s) }),
      psiServer(b, ['b', 'c', 'd', 'e'], { ...OPTS, onSession: (s) => (server = s) }),
    ]);
    expect(client && server).toBeTruthy();
    const ct = (client as Session).transcript();
    expect(ct).toHaveLength(32);
    expect(Buffer.from(ct).equals(Buffer.from((server as Session).transcript()))).toBe(true);
    expect(Buffer.from(ct).equals(Buffer.from(transcriptFromRecording(PSI_PROTOCOL, 'initiator', recorded)))).toBe(true);
  });

  it('is the documented SHA-256 when frames are gathered, cross the gathering limit, or stream, with digests taken along the way', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ initiator: fc.boolean(), size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1000, max: 40_000 })), digest: fc.boolean() }),
          {
            maxLength: 12,
          },
        ),
        (steps) => {
          const th = new TranscriptHash(PSI_PROTOCOL, 'initiator');
          const recorded: TranscriptEntry[] = [];
          const check = () => expect(Buffer.from(th.digest()).equals(Buffer.from(transcriptFromRecording(PSI_PROTOCOL, 'initiator', recorded)))).toBe(true);
          steps.forEach((st, i) => {
            const frame = Uint8Array.from({ length: st.size }, (_, j) => (i * 7 + j) & 0xff);
            if (st.initiator) th.sent(frame);
            else th.received(frame);
            recorded.push({ direction: st.initiator ? 'sent' : 'received', bytes: frame.slice() });
            frame.fill(0); // the hash must not depend on the caller's buffer after the call
            if (st.digest) check();
          });
          check();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('differs between two sessions over the same sets (fresh session ids and scalars)', async () => {
    const once = async () => {
      const [a, b] = createMemoryChannelPair();
      let s: Session | undefined;
      await Promise.all([psiClient(a, ['a', 'b'], { ...OPTS, onSession: (x) => (s = x) }), psiServer(b, ['b'], OPTS)]);
      return Buffer.from((s as Session).transcript()).toString('hex');
    };
    expect(await once()).not.toBe(await once());
  });

  it("is the same at both ends of a completed join, in both variants' two-party session", async () => {
    const [a, b] = createMemoryChannelPair();
    let ga: Session | undefined;
    let vb: Session | undefined;
    await Promise.all([
      joinGroups(
        a,
        [
          { id: 'x', group: ['g'] },
          { id: 'y', group: ['h'] },
        ],
        { ...OPTS, onSession: (s) => (ga = s) },
      ),
      joinValues(b, [{ id: 'x', values: [3] }], { ...OPTS, columns: ['v'], onSession: (s) => (vb = s) }),
    ]);
    expect(Buffer.from((ga as Session).transcript()).toString('hex')).toBe(Buffer.from((vb as Session).transcript()).toString('hex'));
  });
});

describe('a session that does not record its transcript', () => {
  /** A toy session's options; `transcript` as given (undefined: the default). */
  const toyOptions = (channel: Channel, side: 'initiator' | 'responder', transcript?: boolean) =>
    ({
      channel,
      protocol: TOY,
      side,
      hello: { role: side, colour: 'red' },
      codec: ToyHello,
      suite: 'none',
      peerRole: side === 'initiator' ? 'responder' : 'initiator',
      ...(transcript === undefined ? {} : { transcript }),
    }) as const;

  it('refuses transcript() with INVALID_ARGUMENT, while one opened by default gives it', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [off, on] = await Promise.all([openSession(toyOptions(a, 'initiator', false)), openSession(toyOptions(b, 'responder'))]);
    expect(off.recordsTranscript).toBe(false);
    expect(on.recordsTranscript).toBe(true);
    let refused: unknown;
    try {
      off.transcript();
    } catch (e) {
      refused = e;
    }
    expect(refused).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((refused as Error).message).toContain('transcript: true');
    expect(on.transcript()).toHaveLength(32);
  });

  it('checks every frame as a recording one does: a frame of another session is still refused', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [, sb] = await Promise.all([openSession(toyOptions(a, 'initiator', false)), openSession(toyOptions(b, 'responder', false))]);
    const stray = new Link(a, TOY, new Uint8Array(16), 'initiator', { transcript: false });
    await stray.sendJson(2, {});
    await expectCode(sb.receive([2], 'items'), 'PROTOCOL_VIOLATION');
  });
});

describe('streams', () => {
  async function streamed(send: (l: Link) => Promise<void>, expected?: number): Promise<number> {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const [sa, sb] = await Promise.all([toy(a, 'initiator', 'red'), toy(b, 'responder', 'red')]);
    const raw = new Link(a, TOY, sa.id);
    const sending = send(raw);
    let got = 0;
    for await (const f of sb.stream({ chunk: 2, done: 3, what: 'items', itemBytes: 4, ...(expected === undefined ? {} : { expected }) })) got += f.count;
    await sending;
    return got;
  }

  it('yields every chunk and checks the done count', async () => {
    expect(
      await streamed(async (l) => {
        await l.send(2, 2, new Uint8Array(8));
        await l.send(2, 1, new Uint8Array(4));
        await l.sendJson(3, { count: 3 });
      }, 3),
    ).toBe(3);
  });

  it('more items than announced: PROTOCOL_VIOLATION', async () => {
    await expectCode(
      streamed(async (l) => {
        await l.send(2, 2, new Uint8Array(8));
        await l.send(2, 2, new Uint8Array(8));
      }, 3),
      'PROTOCOL_VIOLATION',
    );
  });

  it('fewer items than announced, or a done count that lies: MESSAGE_MALFORMED', async () => {
    await expectCode(
      streamed(async (l) => {
        await l.send(2, 1, new Uint8Array(4));
        await l.sendJson(3, { count: 1 });
      }, 3),
      'MESSAGE_MALFORMED',
    );
    await expectCode(
      streamed(async (l) => {
        await l.send(2, 1, new Uint8Array(4));
        await l.sendJson(3, { count: 2 });
      }),
      'MESSAGE_MALFORMED',
    );
  });

  it('a chunk whose bytes disagree with its count: MESSAGE_MALFORMED', async () => {
    await expectCode(
      streamed(async (l) => {
        await l.send(2, 2, new Uint8Array(7));
      }),
      'MESSAGE_MALFORMED',
    );
  });
});

describe("a run's resources", () => {
  it('are released and the peer told why when the body fails', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
    const wiped: string[] = [];
    const peer = toy(b, 'responder', 'red').then((s) => s.receive([2], 'items'));
    await expectCode(
      runSession(async (scope) => {
        scope.secret(new Uint8Array([1, 2, 3]), (x) => {
          x.fill(0);
          wiped.push('secret');
        });
        scope.defer(() => wiped.push('deferred'));
        await scope.open({
          channel: a,
          protocol: TOY,
          side: 'initiator',
          hello: { role: 'initiator', colour: 'red' },
          codec: ToyHello,
          suite: 'none',
          peerRole: 'responder',
        });
        throw new (await import('../../src/errors/index.js')).KoppelError('VALUE_OUT_OF_RANGE', 'test');
      }),
      'VALUE_OUT_OF_RANGE',
    );
    expect(wiped).toEqual(['deferred', 'secret']);
    // The peer hears the code, not a hang.
    await expectCode(peer, 'VALUE_OUT_OF_RANGE');
  });

  it('a guarded task that fails stops every wait of the run at once', async () => {
    const [a] = createMemoryChannelPair({ idleTimeoutMs: 60_000 });
    const started = Date.now();
    await expectCode(
      runSession(async (scope) => {
        const failing = scope.guard(Promise.reject(new (await import('../../src/errors/index.js')).KoppelError('WORKER_FAILED', 'test')));
        failing.catch(() => undefined);
        await scope.race(a.receive()); // would wait 60 s for a message that never comes
      }),
      'WORKER_FAILED',
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('cancelling a PSI run through its AbortSignal fails both sides with ABORTED, without waiting for the peer', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 60_000 });
    const ac = new AbortController();
    // The server never gets its own items: it waits forever unless the run is cancelled.
    const never = (async function* () {
      await new Promise(() => undefined);
      yield 'x';
    })();
    const server = psiServer(b, never, { ...OPTS, signal: ac.signal });
    const client = psiClient(a, ['a', 'b'], OPTS);
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    await expectCode(server, 'ABORTED');
    await expectCode(client, 'ABORTED');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
