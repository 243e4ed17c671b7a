/**
 * Library parity (issue 19): the OPRF client takes an `AbortSignal`. A request to a
 * service that never answers, or one being retried, ends with `ABORTED` as soon as the
 * signal fires, not after the client's deadlines.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { startOprfService } from '../../src/oprf/service.js';
import { expectCode } from '../helpers.js';

const key = importOprfKeyFile(generateOprfKeyFile());
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

describe('the OPRF client with an AbortSignal', () => {
  it('an evaluation the service never answers ends with ABORTED when the signal fires', async () => {
    const service = await startOprfService({ keys: [key.voprf], host: '127.0.0.1', port: 0, threads: 0 });
    closers.push(() => service.close());
    // A proxy that forwards /v1/keys and holds /v1/evaluate forever.
    const held: Array<() => void> = [];
    const proxy = createServer((req, res) => {
      if (req.url?.startsWith('/v1/evaluate')) {
        held.push(() => res.destroy());
        return;
      }
      void fetch(`http://127.0.0.1:${service.port}${req.url ?? '/'}`).then(async (r) => {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(await r.text());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    closers.push(
      () =>
        new Promise((r) => {
          for (const h of held) h();
          proxy.close(r);
        }),
    );
    const ac = new AbortController();
    const c = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, threads: 0, signal: ac.signal });
    closers.push(() => c.close());
    const started = performance.now();
    setTimeout(() => ac.abort(), 200);
    await expectCode(c.pseudonymiseMany(['111222333']), 'ABORTED');
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
