/**
 * An aggregation round under hostile load (issue 16): silent connections against the
 * collector and every aggregator must not delay the honest parties. On 80b18a1 the
 * collector read HELLOs one connection at a time, so three silent connections held it
 * for three idle timeouts and the round failed with TIMEOUT.
 */
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { connect, listen, type Listener } from '../../src/transport/net.js';
import { Aggregator, collect, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { partyInput, smallCodebook, submitToAggregators } from './fixtures.js';

const codebook = smallCodebook();
const config = (): RoundConfig => ({ round: 'r-hostile', codebook, aggregators: 2, minInputs: 2, deadline: Date.now() + 60_000 });

/** Party p's vector (fixtures.ts). */
const inputOf = (p: number) => partyInput(codebook, p);

/** `n` plain TCP connections that connect and never say anything. */
function silent(port: number, n: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.on('error', () => undefined);
          s.once('error', reject);
        }),
    ),
  );
}

describe('an aggregation round with silent connections open', () => {
  it('the collector reads HELLOs concurrently: silent channels ahead of the aggregators do not delay them', async () => {
    const cfg = config();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    for (const p of [0, 1]) await submitToAggregators(aggs, cfg, `party-${p}`, inputOf(p));
    // Silent channels with a 60 s idle timeout come first: read one at a time, the
    // collector would wait a minute for each.
    const silentPairs = Array.from({ length: 5 }, () => createMemoryChannelPair({ idleTimeoutMs: 60_000 }));
    const pairs = [createMemoryChannelPair({ idleTimeoutMs: 60_000 }), createMemoryChannelPair({ idleTimeoutMs: 60_000 })];
    const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
    const source = (async function* () {
      for (const [, c] of silentPairs) yield c;
      for (const [, c] of pairs) yield c;
    })();
    const t0 = Date.now();
    const r = await collect(source, cfg);
    expect(Date.now() - t0).toBeLessThan(5000);
    await Promise.all(reports);
    expect(r.inputs).toBe(2);
    for (const [a] of silentPairs) await a.close();
  });

  it('over TCP: a round completes with 50 silent connections open against the collector and each aggregator', async () => {
    const cfg = config();
    const security = { insecure: true } as const;
    const opts = { host: '127.0.0.1', port: 0, security, idleTimeoutMs: 60_000, limits: { handshakeTimeoutMs: 60_000 } };
    const aggListeners: Listener[] = await Promise.all([listen(opts), listen(opts)]);
    const collectorListener = await listen(opts);
    const strays = (await Promise.all([...aggListeners, collectorListener].map((l) => silent(l.port, 50)))).flat();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    const t0 = Date.now();
    try {
      // Each aggregator serves every connection that says HELLO, as `aggregate aggregator` does.
      const serving = aggs.map(async (a, j) => {
        const l = aggListeners[j] as Listener;
        const handled: Array<Promise<unknown>> = [];
        for (let accepted = 0; accepted < 2; accepted++) handled.push(a.handleInput(await l.acceptReady(30_000)));
        return Promise.all(handled);
      });
      await Promise.all(
        [0, 1].map(async (p) => {
          const channels = await Promise.all(aggListeners.map((l) => connect({ host: '127.0.0.1', port: l.port, security, connectTimeoutMs: 5000 })));
          const outcome = await submitInput(channels, cfg, `party-${p}`, inputOf(p));
          expect(outcome.every((o) => o.accepted)).toBe(true);
        }),
      );
      await Promise.all(serving);
      const incoming = (async function* () {
        for (;;) yield await collectorListener.acceptReady(30_000);
      })();
      const reports = aggs.map(async (a) => {
        const c = await connect({ host: '127.0.0.1', port: collectorListener.port, security, connectTimeoutMs: 5000 });
        try {
          return await a.report(c);
        } finally {
          await c.close();
        }
      });
      const r = await collect(incoming, cfg);
      await Promise.all(reports);
      expect(r.inputs).toBe(2);
      expect(r.table.find((e) => e.labels[0] === 'Utrecht' && e.labels[1] === 'family')?.count).toBe(21n);
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      for (const s of strays) s.destroy();
      for (const l of [...aggListeners, collectorListener]) await l.close();
    }
  });
});
