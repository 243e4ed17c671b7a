/**
 * Property-based fuzzing of what a peer sends (issue 16): the frame decoder, the
 * socket framing, and every protocol's peer messages (PSI both roles and modes, the
 * join's two parties in both variants, the helper, an aggregator and the collector).
 * A real run of the honest counterpart is recorded; fast-check then replays its frames
 * with one mutation (a flipped byte, a cut, another step or count, a dropped or
 * repeated frame, a JSON body of its choice) against an honest party. Whatever the
 * mutation, the honest party ends with a typed KoppelError that is never INTERNAL (or,
 * for a harmless mutation, its normal result), within a bounded time.
 */
import * as net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { listen } from '../../src/transport/net.js';
import { recordingChannel, type TranscriptEntry } from '../../src/transport/transcript.js';
import { decodeFrame } from '../../src/wire/frame.js';
import { KoppelError } from '../../src/errors/index.js';
import { psiClient, psiServer } from '../../src/psi/psi.js';
import { joinGroups, joinHelper, joinValues, type GroupRecord, type ValueRecord } from '../../src/join/join.js';
import { Aggregator, collect, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { households, regions, smallCodebook } from '../aggregate/fixtures.js';

/** A KoppelError that is not INTERNAL, or no error at all. */
function expectTyped(outcome: unknown): void {
  if (outcome === undefined) return;
  expect(outcome, outcome instanceof Error ? outcome.message : typeof outcome).toBeInstanceOf(KoppelError);
  expect((outcome as KoppelError).code, (outcome as KoppelError).message).not.toBe('INTERNAL');
}

const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

/** One mutation of a recorded list of frames. */
type Mutation =
  | { kind: 'flip'; frame: number; at: number; xor: number }
  | { kind: 'cut'; frame: number; length: number }
  | { kind: 'step'; frame: number; step: number }
  | { kind: 'count'; frame: number; count: number }
  | { kind: 'json'; frame: number; json: unknown }
  | { kind: 'drop'; frame: number }
  | { kind: 'repeat'; frame: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), frame: fc.nat(), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), frame: fc.nat(), length: fc.nat() }),
  fc.record({ kind: fc.constant('step' as const), frame: fc.nat(), step: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('count' as const), frame: fc.nat(), count: fc.oneof(fc.nat(70_000), fc.constant(0xffffffff), fc.constant(0)) }),
  fc.record({ kind: fc.constant('json' as const), frame: fc.nat(), json: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant('drop' as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), frame: fc.nat() }),
);

function mutate(frames: readonly Uint8Array[], m: Mutation): Uint8Array[] {
  const out = frames.map((f) => new Uint8Array(f));
  if (out.length === 0) return out;
  const i = m.frame % out.length;
  const f = out[i] as Uint8Array;
  switch (m.kind) {
    case 'flip':
      if (f.length > 0) f[m.at % f.length] = (f[m.at % f.length] as number) ^ m.xor;
      break;
    case 'cut':
      out[i] = f.slice(0, m.length % (f.length + 1));
      break;
    case 'step':
      if (f.length > 5) f[5] = m.step;
      break;
    case 'count':
      if (f.length >= 28) new DataView(f.buffer, f.byteOffset).setUint32(24, m.count);
      break;
    case 'json': {
      const body = new TextEncoder().encode(JSON.stringify(m.json) ?? 'null');
      const g = new Uint8Array(Math.min(28, f.length) + body.length);
      g.set(f.subarray(0, 28));
      g.set(body, Math.min(28, f.length));
      out[i] = g;
      break;
    }
    case 'drop':
      out.splice(i, 1);
      break;
    case 'repeat':
      out.splice(i, 0, new Uint8Array(f));
      break;
  }
  return out;
}

const sent = (view: readonly TranscriptEntry[]) => view.filter((e) => e.direction === 'sent').map((e) => e.bytes);

/**
 * Replays `frames` (mutated) as the peer of `honest`. With `honestStarts`, the honest
 * party's first frame gives the session id the replayed frames are patched to carry.
 * Whatever the honest party sends is drained; the channel closes once it has settled,
 * or 400 ms after the last frame.
 */
async function replay(honest: (c: Channel) => Promise<unknown>, frames: readonly Uint8Array[], honestStarts: boolean): Promise<unknown> {
  const [h, x] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
  const outcome = settle(honest(h));
  let session: Uint8Array | undefined;
  if (honestStarts) {
    const first = await x.receive().catch(() => undefined);
    session = first && first.length >= 24 ? first.slice(8, 24) : undefined;
  }
  void (async () => {
    for (;;) await x.receive();
  })().catch(() => undefined);
  for (const f of frames) {
    const g = new Uint8Array(f);
    if (session && g.length >= 24) g.set(session, 8);
    if (await settleQuick(outcome)) break;
    await x.send(g).catch(() => undefined);
  }
  await Promise.race([outcome, new Promise((r) => setTimeout(r, 400))]);
  await x.close();
  const t0 = Date.now();
  const result = await outcome;
  expect(Date.now() - t0).toBeLessThan(5000); // once the peer is gone, the honest party stops at once
  return result;
}

/** True when `p` has already settled. */
async function settleQuick(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await Promise.resolve();
  return done;
}

const RUNS = 15;
const psiItems = ['a', 'b', 'c', 'd'];

/** Records a full run of `a` against `b` over a memory pair; returns what each side sent. */
async function record(a: (c: Channel) => Promise<unknown>, b: (c: Channel) => Promise<unknown>): Promise<{ a: Uint8Array[]; b: Uint8Array[] }> {
  const [ca, cb] = createMemoryChannelPair();
  const va: TranscriptEntry[] = [];
  const vb: TranscriptEntry[] = [];
  await Promise.all([a(recordingChannel(ca, va)), b(recordingChannel(cb, vb))]);
  return { a: sent(va), b: sent(vb) };
}

describe('fuzz: the frame decoder and the socket framing', () => {
  it('decodeFrame of any bytes returns a frame or throws a typed error, never INTERNAL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, kp) => {
        const b = new Uint8Array(bytes);
        if (kp && b.length >= 3) {
          b[0] = 0x4b;
          b[1] = 0x50;
          b[2] = 1;
        }
        try {
          decodeFrame(b);
        } catch (e) {
          expectTyped(e);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('any byte stream, cut anywhere, against a listener: typed errors only, and the listener holds nothing after', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true }, maxMessageBytes: 4096, limits: { handshakeTimeoutMs: 500 } });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }), async (pieces) => {
          const s = net.connect(l.port, '127.0.0.1');
          s.on('error', () => undefined);
          await new Promise((r) => s.once('connect', r));
          const accepted = l.accept(2000);
          for (const p of pieces) s.write(p);
          const ch = await accepted;
          // Read until the stream fails: every failure is typed.
          const end = await settle(
            (async () => {
              for (;;) await ch.receive();
            })(),
          );
          s.destroy();
          expectTyped(end);
          await ch.close();
        }),
        { numRuns: 25 },
      );
    } finally {
      await l.close();
    }
    // Every connection has ended: its bytes are given back (sockets close asynchronously).
    for (let i = 0; i < 200 && l.bufferedBytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(l.bufferedBytes).toBe(0);
  });
});

describe('fuzz: every protocol against a replayed, mutated peer', () => {
  for (const mode of ['intersection', 'cardinality', 'payload'] as const) {
    it(`PSI (${mode}): honest server against a mutated client, honest client against a mutated server`, async () => {
      const serverItems = mode === 'payload' ? psiItems.map((id) => ({ id, payload: new TextEncoder().encode(`{"p":"${id}"}`) })) : psiItems;
      const server = (c: Channel) => psiServer(c, serverItems, { threads: 0, mode });
      const client = (c: Channel) => psiClient(c, ['b', 'c', 'x'], { threads: 0, mode });
      const rec = await record(client, server);
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          expectTyped(await replay(server, mutate(rec.a, m), false));
          expectTyped(await replay(client, mutate(rec.b, m), true));
        }),
        { numRuns: RUNS },
      );
    });
  }

  const groups: GroupRecord[] = Array.from({ length: 6 }, (_, i) => ({ id: `id-${i}`, group: [i % 2 ? 'odd' : 'even'] }));
  const values: ValueRecord[] = Array.from({ length: 5 }, (_, i) => ({ id: `id-${i + 2}`, values: [i + 1] }));

  it('join, two-party: honest A against a mutated B, honest B against a mutated A', async () => {
    const a = (c: Channel) => joinGroups(c, groups, { threads: 0, threshold: 1 });
    const b = (c: Channel) => joinValues(c, values, { threads: 0, columns: ['v'], minCount: 1 });
    const rec = await record(a, b);
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        expectTyped(await replay(a, mutate(rec.b, m), false));
        expectTyped(await replay(b, mutate(rec.a, m), true));
      }),
      { numRuns: RUNS },
    );
  });

  it('join, helper variant: the helper against mutated parties', async () => {
    // Record what A and B send to the helper in a real run.
    const [ah, ha] = createMemoryChannelPair();
    const [bh, hb] = createMemoryChannelPair();
    const [ca, cb] = createMemoryChannelPair();
    const toHelperA: TranscriptEntry[] = [];
    const toHelperB: TranscriptEntry[] = [];
    const queue = [ha, hb];
    await Promise.all([
      joinGroups(ca, groups, { threads: 0, threshold: 1, variant: 'helper', helper: recordingChannel(ah, toHelperA) }),
      joinValues(cb, values, { threads: 0, columns: ['v'], minCount: 1, variant: 'helper', helper: recordingChannel(bh, toHelperB) }),
      joinHelper(() => Promise.resolve(queue.shift() as Channel)),
    ]);
    const fromA = sent(toHelperA);
    const fromB = sent(toHelperB);
    await fc.assert(
      fc.asyncProperty(mutation, fc.boolean(), async (m, mutateA) => {
        const [xa, hxa] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
        const [xb, hxb] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
        const q = [hxa, hxb];
        const outcome = settle(
          joinHelper(() => {
            const next = q.shift();
            return next ? Promise.resolve(next) : Promise.reject(new KoppelError('TIMEOUT', 'no more parties'));
          }),
        );
        for (const [x, frames] of [
          [xa, mutateA ? mutate(fromA, m) : fromA],
          [xb, mutateA ? fromB : mutate(fromB, m)],
        ] as const) {
          void (async () => {
            for (;;) await x.receive();
          })().catch(() => undefined);
          for (const f of frames) await x.send(f).catch(() => undefined);
        }
        await Promise.race([outcome, new Promise((r) => setTimeout(r, 400))]);
        await xa.close();
        await xb.close();
        expectTyped(await outcome);
      }),
      { numRuns: RUNS },
    );
  });

  const codebook = smallCodebook();
  const cfg: RoundConfig = { round: 'fuzz', codebook, aggregators: 2, minInputs: 1, deadline: Date.now() + 600_000 };
  const vector = tabulate(
    codebook,
    regions.flatMap((r) => households.map((h) => ({ cell: [r, h], values: ['3'] }))),
  );

  it('aggregation: an aggregator against a mutated input party, the collector against a mutated aggregator', async () => {
    // What an input party sends to aggregator 1 (the vector share), and what an aggregator reports.
    const agg = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    const pairs = [createMemoryChannelPair(), createMemoryChannelPair()];
    const toAgg: TranscriptEntry[] = [];
    await Promise.all([
      submitInput([pairs[0]?.[0] as Channel, recordingChannel(pairs[1]?.[0] as Channel, toAgg)], cfg, 'party-1', vector),
      ...agg.map((a, j) => a.handleInput(pairs[j]?.[1] as Channel)),
    ]);
    const [r0, c0] = createMemoryChannelPair();
    const [r1, c1] = createMemoryChannelPair();
    const toCollector: TranscriptEntry[] = [];
    await Promise.all([agg[0]?.report(recordingChannel(r0, toCollector)), agg[1]?.report(r1), collect([c0, c1], cfg, { threshold: 1 })]);
    const input = sent(toAgg);
    const report = sent(toCollector);
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        // handleInput answers every failure with a refusal code rather than throwing.
        const outcome = await replay(
          async (c) => {
            const o = await new Aggregator(cfg, 1).handleInput(c);
            if (!o.accepted) throw new KoppelError(o.code ?? 'INTERNAL', 'refused');
          },
          mutate(input, m),
          false,
        );
        expectTyped(outcome);
        // The collector with one honest aggregator (index 1) and one mutated (index 0).
        const honest = new Aggregator(cfg, 1);
        const [hp, hc] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
        const reported = settle(honest.report(hp));
        const [xp, xc] = createMemoryChannelPair({ idleTimeoutMs: 2000 });
        const collected = settle(collect([xc, hc], cfg, { threshold: 1 }));
        void (async () => {
          for (;;) await xp.receive();
        })().catch(() => undefined);
        for (const f of mutate(report, m)) await xp.send(f).catch(() => undefined);
        await Promise.race([collected, new Promise((r) => setTimeout(r, 400))]);
        await xp.close();
        expectTyped(await collected);
        await reported;
      }),
      { numRuns: RUNS },
    );
  });
});
