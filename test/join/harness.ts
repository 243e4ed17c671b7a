/**
 * The hostile-peer harness of the join tests: channel wrappers that rewrite, record or
 * drop one party's frames, and a run of both parties that expects their error codes.
 */
import { expect } from 'vitest';
import type { KoppelErrorCode } from '../../src/errors/index.js';
import { joinGroups, joinValues } from '../../src/join/join.js';
import type { GroupRecord, ValueRecord } from '../../src/join/types.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { decodeFrame, encodeFrame } from '../../src/wire/frame.js';

/**
 * Wraps a channel so that frames it sends of `step` are rewritten by `f`: it returns the
 * new count and body, or nothing when it changed the body in place (same count).
 */
export function tamper(channel: Channel, step: number, f: (count: number, body: Uint8Array) => { count: number; body: Uint8Array } | void): Channel {
  return {
    send(m) {
      const fr = decodeFrame(m);
      if (fr.step !== step) return channel.send(m);
      const body = new Uint8Array(fr.body);
      const out = f(fr.count, body) ?? { count: fr.count, body };
      return channel.send(encodeFrame('join', fr.suite, fr.step, fr.session, out.count, out.body));
    },
    receive: () => channel.receive(),
    close: () => channel.close(),
  };
}

/** Wraps a channel so that the bodies of the frames it sends of `step` are kept in `into`. */
export function spy(channel: Channel, step: number, into: Uint8Array[]): Channel {
  return {
    send(m) {
      const fr = decodeFrame(m);
      if (fr.step === step) into.push(new Uint8Array(fr.body));
      return channel.send(m);
    },
    receive: () => channel.receive(),
    close: () => channel.close(),
  };
}

/** Closes the channel instead of sending its `n`-th message. */
export function dropsAfter(channel: Channel, n: number): Channel {
  let sent = 0;
  return {
    async send(m) {
      if (++sent >= n) {
        await channel.close();
        return;
      }
      await channel.send(m);
    },
    receive: () => channel.receive(),
    close: () => channel.close(),
  };
}

/** The identity wrapper: the party plays honestly. */
export const honest = (c: Channel): Channel => c;

/** Options of {@link runHostile}. */
export interface HostileRunOptions {
  expectColumns?: string[];
  maxValue?: number;
  bSuite?: 'ristretto255';
}

/**
 * Runs A (`a`) and B (`b`, value columns x and y) over memory channels wrapped by `wrapA`
 * and `wrapB`, and expects each to fail with its code (null: not checked).
 */
export async function runHostile(
  a: GroupRecord[],
  b: ValueRecord[],
  wrapA: (c: Channel) => Channel,
  wrapB: (c: Channel) => Channel,
  aCode: KoppelErrorCode | null,
  bCode: KoppelErrorCode | null,
  opts: HostileRunOptions = {},
): Promise<void> {
  const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
  const [ra, rb] = await Promise.allSettled([
    joinGroups(wrapA(ca), a, { threads: 0, ...(opts.expectColumns ? { expectColumns: opts.expectColumns } : {}) }),
    joinValues(wrapB(cb), b, { threads: 0, columns: ['x', 'y'], maxValue: opts.maxValue ?? 50, ...(opts.bSuite ? { suite: opts.bSuite } : {}) }),
  ]);
  if (aCode) expect(ra).toMatchObject({ status: 'rejected', reason: { name: 'KoppelError', code: aCode } });
  if (bCode) expect(rb).toMatchObject({ status: 'rejected', reason: { name: 'KoppelError', code: bCode } });
}
