/**
 * A round's sessions record their transcript when a hook that may exchange a receipt is
 * given (afterSession, afterInput, afterReport, beforeClose): both ends of each session
 * then hold the same transcript, as a receipt needs.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, collect, type RoundConfig } from '../../src/aggregate/round.js';
import type { Session } from '../../src/session/session.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { partyInput, smallCodebook, submitToAggregators } from './fixtures.js';

const codebook = smallCodebook();
const config = (): RoundConfig => ({ round: 'transcript-r', codebook, aggregators: 2, minInputs: 2, deadline: Date.now() + 60_000 });
const hex = (s: Session) => Buffer.from(s.transcript()).toString('hex');

describe("a round's transcripts", () => {
  it('with every hook given, both ends of every session hold the same transcript', async () => {
    const cfg = config();
    const atAggregator = new Map<string, string>();
    const atInput = new Map<string, string>();
    const reported: string[] = [];
    const collected: string[] = [];
    const aggs = [0, 1].map(
      (j) =>
        new Aggregator(cfg, j, {
          afterInput: (s, party) => {
            expect(s.recordsTranscript).toBe(true);
            atAggregator.set(`${party}/${j}`, hex(s));
            return Promise.resolve();
          },
          afterReport: (s) => {
            reported[j] = hex(s);
            return Promise.resolve();
          },
        }),
    );
    for (const p of [0, 1]) {
      const { sent, handled } = await submitToAggregators(
        aggs,
        cfg,
        `party-${p}`,
        partyInput(codebook, p),
        {
          afterSession: (s, j) => {
            atInput.set(`party-${p}/${j}`, hex(s));
            return Promise.resolve();
          },
        },
        3000,
      );
      expect(sent.every((o) => o.accepted)).toBe(true);
      expect(handled.every((o) => o.accepted)).toBe(true);
    }
    expect(atInput.size).toBe(4);
    for (const [k, v] of atInput) expect(atAggregator.get(k)).toBe(v);
    // Two different sessions never share a transcript (each has its own id).
    expect(new Set(atInput.values()).size).toBe(4);
    const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
    const [result] = await Promise.all([
      collect(
        pairs.map(([, c]) => c),
        cfg,
        { threshold: 1 },
        {
          beforeClose: (_r, sessions) => {
            // The sessions come in aggregator index order.
            sessions.forEach((s, j) => (collected[j] = hex(s)));
            return Promise.resolve();
          },
        },
      ),
      ...aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0])),
    ]);
    expect(result.inputs).toBe(2);
    expect(collected).toHaveLength(2);
    expect(reported).toEqual(collected);
  });
});
