/**
 * PSI privacy properties, checked on recorded transcripts (docs/protocols/psi.md,
 * leakage table):
 * - no identifier, and no unkeyed hash of one, crosses the wire;
 * - nothing is equal across two sessions over the same sets (fresh scalars, fresh session ids);
 * - in cardinality mode the order of the server's answers is independent of the client's order;
 * - the messages reveal only the sizes the leakage table lists (with padding: only the bounds).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { recordingChannel, type TranscriptEntry } from '../../src/transport/transcript.js';
import { psiClient, psiServer, type PsiCommonOptions } from '../../src/psi/psi.js';
import { PSI_PROTOCOL, Step } from '../../src/psi/messages.js';
import { Link } from '../../src/session/link.js';
import { deriveTags, psiDst, psiOps } from '../../src/psi/ops.js';
import { getSuite } from '../../src/group/suite.js';
import { decodeFrame, jsonBody } from '../../src/wire/frame.js';
import { randomBytes } from '../../src/util/bytes.js';

async function transcriptOf(X: string[], Y: string[], options: PsiCommonOptions = {}, serverOptions: PsiCommonOptions = options) {
  const [a, b] = createMemoryChannelPair();
  const t: TranscriptEntry[] = [];
  await Promise.all([psiClient(recordingChannel(a, t), X, { threads: 0, ...options }), psiServer(b, Y, { threads: 0, ...serverOptions })]);
  return t;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) !== -1;
}

const X = Array.from({ length: 40 }, (_, i) => String(111222333 + i * 1000));
const Y = X.filter((_, i) => i % 3 === 0).concat(['999999990']);

describe.each(['x25519', 'ristretto255'] as const)('transcripts (%s)', (suite) => {
  it('contain no identifier and no unkeyed hash of an identifier', async () => {
    const t = await transcriptOf(X, Y, { suite });
    const all = Buffer.concat(t.map((e) => e.bytes));
    const dst = psiDst(suite);
    for (const id of [...X, ...Y]) {
      expect(contains(all, Buffer.from(id))).toBe(false);
      expect(contains(all, createHash('sha256').update(id).digest().subarray(0, 16))).toBe(false);
      // H(id), the unkeyed hash to the group, never travels either.
      expect(contains(all, getSuite(suite).hashToGroup([id], dst))).toBe(false);
    }
  });

  it('share nothing across two sessions over the same sets', async () => {
    const t1 = await transcriptOf(X, Y, { suite });
    const t2 = await transcriptOf(X, Y, { suite });
    const chunks = (t: TranscriptEntry[]) => {
      const out = new Set<string>();
      for (const e of t) {
        const f = decodeFrame(e.bytes);
        if (f.step === Step.CLIENT_ELEMENTS || f.step === Step.SERVER_EVALUATED)
          for (let i = 0; i < f.count; i++) out.add(Buffer.from(f.body.subarray(i * 32, i * 32 + 32)).toString('hex'));
        if (f.step === Step.SERVER_TAGS) for (let i = 0; i < f.count; i++) out.add(Buffer.from(f.body.subarray(i * 16, i * 16 + 16)).toString('hex'));
      }
      return out;
    };
    const [a, b] = [chunks(t1), chunks(t2)];
    expect(a.size).toBe(X.length * 2 + Y.length);
    for (const x of a) expect(b.has(x)).toBe(false);
    expect(decodeFrame((t1[0] as TranscriptEntry).bytes).session).not.toEqual(decodeFrame((t2[0] as TranscriptEntry).bytes).session);
  });
});

describe('sizes on the wire', () => {
  type Shape = Array<[string, number, number]>;
  const shape = (t: TranscriptEntry[], direction: 'sent' | 'received'): Shape =>
    t
      .filter((e) => e.direction === direction)
      .map((e) => {
        const f = decodeFrame(e.bytes);
        // JSON control bodies carry counts; compare them as parsed values.
        const json = f.count === 0 ? JSON.stringify(jsonBody(f, 'control')) : '';
        return [`${f.step}:${json}`, f.count, f.body.length];
      });

  it("the server's messages reveal |Y| and nothing else about Y: equal-size sets give equal shapes", async () => {
    const Y2 = Array.from({ length: Y.length }, (_, i) => `other-${i}`);
    expect(shape(await transcriptOf(X, Y), 'received')).toEqual(shape(await transcriptOf(X, Y2), 'received'));
  });

  it("with padding, the server's messages reveal only the bound", async () => {
    const small = await transcriptOf(X, Y.slice(0, 2), { padTo: 64 });
    const large = await transcriptOf(X, [...Y, ...Array.from({ length: 30 }, (_, i) => `y${i}`)], { padTo: 64 });
    expect(shape(small, 'received')).toEqual(shape(large, 'received'));
    expect(shape(small, 'sent')).toEqual(shape(large, 'sent'));
  });

  it("the client's chunks ramp up from 256 items by the chunk setting alone: equal-size sets give equal chunk counts", async () => {
    const ids = (tag: string) => Array.from({ length: 1000 }, (_, i) => `${tag}-${i}`);
    const counts = (t: TranscriptEntry[]) =>
      t
        .map((e) => decodeFrame(e.bytes))
        .filter((f) => f.step === Step.CLIENT_ELEMENTS)
        .map((f) => f.count);
    const a = await transcriptOf(ids('a'), Y);
    const b = await transcriptOf(ids('b'), Y);
    expect(counts(a)).toEqual([256, 512, 232]);
    expect(shape(a, 'sent')).toEqual(shape(b, 'sent'));
    // A chunk setting below the first size is used as is.
    expect(counts(await transcriptOf(ids('c').slice(0, 300), Y, { chunkSize: 100 }))).toEqual([100, 100, 100]);
  });

  it("with padding, the client's messages reveal only its bound", async () => {
    const a = await transcriptOf(X.slice(0, 3), Y, { padTo: 50 }, {});
    const b = await transcriptOf(X, Y, { padTo: 50 }, {});
    expect(shape(a, 'sent')).toEqual(shape(b, 'sent'));
    // Across the ramped first chunks too: 3 and 300 real items under a bound of 1000.
    const many = Array.from({ length: 300 }, (_, i) => `m-${i}`);
    const c = await transcriptOf(X.slice(0, 3), Y, { padTo: 1000 }, {});
    const d = await transcriptOf(many, Y, { padTo: 1000 }, {});
    expect(shape(c, 'sent')).toEqual(shape(d, 'sent'));
  });
});

describe('cardinality mode', () => {
  /**
   * A scripted client that knows its own scalar, so the test can find where the server
   * put the answer to the client's first element.
   */
  async function positionOfFirst(mode: 'cardinality' | 'intersection'): Promise<number> {
    const [a, b] = createMemoryChannelPair();
    const items = Array.from({ length: 10 }, (_, i) => `item-${i}`);
    const server = psiServer(b, ['item-0'], { threads: 0, mode });
    const suite = getSuite('x25519');
    const session = randomBytes(16);
    const link = new Link(a, PSI_PROTOCOL, session);
    const s = suite.randomScalar();
    await link.sendJson(Step.HELLO, { protocol: 'koppel-psi', version: 1, role: 'client', mode, suite: 'x25519', idType: 'raw', normalisation: 1 });
    await link.receive([Step.HELLO], 'HELLO');
    link.suite = 'x25519';
    await link.send(Step.CLIENT_ELEMENTS, 10, await psiOps.hashMultiply({ suite: 'x25519', items, scalar: s.scalar }));
    await link.sendJson(Step.CLIENT_DONE, { count: 10 });
    const e = await link.receive([Step.SERVER_EVALUATED], 'E');
    await link.receive([Step.SERVER_EVALUATED_DONE], 'done');
    await link.receive([Step.TAGS_START], 'start');
    const tagFrame = await link.receive([Step.SERVER_TAGS], 'tags');
    await link.receive([Step.SERVER_DONE], 'done');
    await server;
    const mine = deriveTags(suite.multiply(s.inverse, e.body), session, false).tags;
    const serverTag = Buffer.from(tagFrame.body.subarray(0, 16));
    for (let i = 0; i < 10; i++) if (serverTag.equals(Buffer.from(mine.subarray(i * 16, i * 16 + 16)))) return i;
    throw new Error('no match found');
  }

  it("shuffles the server's answers: the first element's answer lands anywhere", async () => {
    const positions = new Set<number>();
    for (let i = 0; i < 120 && positions.size < 10; i++) positions.add(await positionOfFirst('cardinality'));
    // Each of 10 positions is hit within 120 runs unless the order is not uniform (P < 3e-5).
    expect(positions.size).toBe(10);
  });

  it("(contrast) intersection mode answers in the client's order", async () => {
    for (let i = 0; i < 5; i++) expect(await positionOfFirst('intersection')).toBe(0);
  });
});
