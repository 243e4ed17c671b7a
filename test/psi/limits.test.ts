/**
 * What a PSI peer can make the other side store or parse (issue 16): on 80b18a1,
 * 150,000 one-element chunks in cardinality mode ended the server with an untyped
 * `RangeError` (a spread in concatBytes) and it stored any number of client elements;
 * a payload that is not JSON was `INTERNAL: unexpected SyntaxError`.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { psiServer, type PsiClientResult } from '../../src/psi/psi.js';
import { PSI_PROTOCOL, Step } from '../../src/psi/messages.js';
import { openPsiClientCsv, writePsiMatches } from '../../src/psi/csv.js';
import { Link } from '../../src/session/link.js';
import { psiOps } from '../../src/psi/ops.js';
import { getSuite } from '../../src/group/suite.js';
import { concatAll, concatBytes, randomBytes } from '../../src/util/bytes.js';
import { expectCode } from '../helpers.js';

const hello = (mode: string) => ({ protocol: 'koppel-psi', version: 1, role: 'client', mode, suite: 'x25519', idType: 'raw', normalisation: 1 });

/** A scripted client of `mode` that has said HELLO and heard the answer. */
async function helloed(mode: string, serverOptions: Parameters<typeof psiServer>[2] = {}) {
  const [a, b] = createMemoryChannelPair({ idleTimeoutMs: 20_000 });
  const server = psiServer(b, ['x', 'y'], { threads: 0, mode: mode as 'cardinality', ...serverOptions });
  server.catch(() => undefined);
  const link = new Link(a, PSI_PROTOCOL, randomBytes(16));
  await link.sendJson(Step.HELLO, hello(mode));
  await link.receive([Step.HELLO], 'HELLO');
  link.suite = 'x25519';
  return { link, server };
}

describe('bytes: no spread over a count the peer chooses', () => {
  it('concatAll joins 200,000 parts (a spread into an argument list throws RangeError there)', () => {
    const parts = Array.from({ length: 200_000 }, (_, i) => new Uint8Array([i & 0xff]));
    const all = concatAll(parts);
    expect(all.length).toBe(200_000);
    expect(all[199_999]).toBe(199_999 & 0xff);
    expect(concatBytes(new Uint8Array([1]), new Uint8Array([2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
  });
});

describe('PSI server: what a client can make it store', () => {
  // 150,000 chunks (the finding) cost the server 150,000 group operations, over a minute
  // here: the RangeError itself is covered above; this runs the same path with 3,000.
  it('cardinality mode: thousands of one-element chunks are stored as a list and answered, every element counted', async () => {
    const { link, server } = await helloed('cardinality');
    const element = await psiOps.hashMultiply({ suite: 'x25519', items: ['q'], scalar: getSuite('x25519').randomScalar().scalar });
    const n = 3_000;
    for (let i = 0; i < n; i++) await link.send(Step.CLIENT_ELEMENTS, 1, element);
    await link.sendJson(Step.CLIENT_DONE, { count: n });
    let got = 0;
    for await (const f of link.stream({ chunk: Step.SERVER_EVALUATED, done: Step.SERVER_EVALUATED_DONE, what: 'evaluated', itemBytes: 32 })) got += f.count;
    expect(got).toBe(n);
    const start = await link.receive([Step.TAGS_START], 'TAGS_START');
    expect(start.step).toBe(Step.TAGS_START);
    await link.close();
    await server.catch(() => undefined);
  });

  it('more client elements than maxClientElements: LIMIT_EXCEEDED, in every mode, before they are evaluated', async () => {
    for (const mode of ['cardinality', 'intersection']) {
      const { link, server } = await helloed(mode, { maxClientElements: 10 });
      const elements = await psiOps.hashMultiply({
        suite: 'x25519',
        items: Array.from({ length: 11 }, (_, i) => `e${i}`),
        scalar: getSuite('x25519').randomScalar().scalar,
      });
      await link.send(Step.CLIENT_ELEMENTS, 11, elements);
      await expectCode(server, 'LIMIT_EXCEEDED');
    }
  });
});

describe('PSI payload mode: a payload that is not JSON', () => {
  it('is MESSAGE_MALFORMED when the client writes its matches, not INTERNAL', async () => {
    const csv = await openPsiClientCsv(
      (async function* () {
        yield new TextEncoder().encode('bsn,name\n123456782,b\n');
      })(),
      { column: 'bsn', idType: 'bsn', keepRecords: true },
    );
    for await (const id of csv.ids) void id;
    const out = new Writable({
      write(_c, _e, cb) {
        cb();
      },
    });
    for (const payload of ['not json', '[1,2]', '{"region":7}']) {
      const result: PsiClientResult = { mode: 'payload', matches: [{ id: '123456782', payload: new TextEncoder().encode(payload) }], serverSetSize: 1 };
      await expectCode(writePsiMatches(result, csv, out, { idType: 'bsn' }), 'MESSAGE_MALFORMED');
    }
  });
});
