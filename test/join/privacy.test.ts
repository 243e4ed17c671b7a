/**
 * What each party of the private join sees, checked on recorded transcripts
 * (docs/protocols/join.md, leakage table).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { getSuite } from '../../src/group/suite.js';
import { proveKnowledge } from '../../src/join/elgamal.js';
import { joinValues, type GroupRecord, type ValueRecord } from '../../src/join/join.js';
import { JOIN_PROTOCOL, Step } from '../../src/join/messages.js';
import { Link } from '../../src/session/link.js';
import { psiDst, psiOps } from '../../src/psi/ops.js';
import { valueGroup } from '../../src/join/ops.js';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import type { TranscriptEntry } from '../../src/transport/transcript.js';
import { concatBytes, utf8 } from '../../src/util/bytes.js';
import { decodeFrame } from '../../src/wire/frame.js';
import { runJoin } from './fixtures.js';

/** The shape of what a party received: step, item count and size of every message. */
function shape(view: readonly TranscriptEntry[], direction: 'sent' | 'received' = 'received'): string[] {
  return view
    .filter((e) => e.direction === direction)
    .map((e) => {
      const f = decodeFrame(e.bytes);
      return `${f.step}:${f.count}:${f.body.length}`;
    });
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}

/** A's records: four groups of 10 with the given labels and id prefix. */
function groupsOf(prefix: string, labels: string[]): GroupRecord[] {
  return labels.flatMap((l, g) => Array.from({ length: 10 }, (_, i) => ({ id: `${prefix}${g}-${i}`, group: [l] })));
}

describe.each(['two-party', 'helper'] as const)('privacy of the private join, %s variant', (variant) => {
  it("B's view depends only on the list sizes: other identifiers and group labels, same sizes, same view", async () => {
    const b: ValueRecord[] = Array.from({ length: 25 }, (_, i) => ({ id: `p0-${i % 10}x${i}`, values: [i] }));
    const one = await runJoin(groupsOf('p', ['Groningen', 'Utrecht', 'Zeeland', 'Limburg']), b, { variant, aOptions: { groupColumns: 1 } });
    const two = await runJoin(groupsOf('q', ['single', 'couple', 'family', 'other']), b, { variant, aOptions: { groupColumns: 1 } });
    expect(shape(one.bView)).toEqual(shape(two.bView));
    for (const label of ['Groningen', 'Utrecht', 'single', 'family'])
      expect(one.bView.concat(two.bView).some((e) => contains(e.bytes, utf8(label)))).toBe(false);
  });

  it("A's view is the same whichever of its records matched, given equal per-group counts", async () => {
    const a = groupsOf('p', ['N', 'E', 'S', 'W']);
    // B matches records 0-4 of every group in one run and records 5-9 in the other, with the same values.
    const bOf = (from: number): ValueRecord[] =>
      a.filter((r) => Number(r.id.split('-')[1]) >= from && Number(r.id.split('-')[1]) < from + 5).map((r) => ({ id: r.id, values: [3, 4] }));
    const one = await runJoin(a, bOf(0), { variant, aOptions: { groupColumns: 1 } });
    const two = await runJoin(a, bOf(5), { variant, aOptions: { groupColumns: 1 } });
    expect(shape(one.aView)).toEqual(shape(two.aView));
    expect(one.a.groups).toEqual(two.a.groups);
    // Nothing A received repeats between the runs: fresh scalars and randomness per session.
    const elements = (v: TranscriptEntry[]) =>
      new Set(
        v
          .filter((e) => e.direction === 'received')
          .flatMap((e) => {
            const f = decodeFrame(e.bytes);
            return f.step === Step.EVALUATED || f.step === Step.RECORDS ? [Buffer.from(f.body.subarray(0, 32)).toString('hex')] : [];
          }),
      );
    const seen = elements(one.aView);
    for (const x of elements(two.aView)) expect(seen.has(x)).toBe(false);
  });

  it('no identifier, SHA-256 of one, or unkeyed hash to the group of one crosses the wire', async () => {
    const a = groupsOf('p', ['N', 'E']);
    const b: ValueRecord[] = a.slice(0, 12).map((r) => ({ id: r.id, values: [1, 1] }));
    const run = await runJoin(a, b, { variant, aOptions: { groupColumns: 1 } });
    const all = [...run.aView, ...run.bView, ...run.hView].map((e) => e.bytes);
    const suite = getSuite('x25519');
    for (const { id } of a.slice(0, 12)) {
      const needles = [
        utf8(id),
        createHash('sha256').update(id).digest(),
        suite.hashToGroup([id], psiDst('x25519', 'join')),
        suite.hashToGroup([id], psiDst('x25519', 'psi')),
      ];
      for (const bytes of all) for (const n of needles) expect(contains(bytes, n.subarray(0, 16))).toBe(false);
    }
  });
});

describe('privacy of the helper', () => {
  it("the helper's view depends only on the histogram of matches per group", async () => {
    const a = groupsOf('p', ['N', 'E', 'S', 'W']);
    // Equal histogram {6, 3, 0, 0} reached through different groups and records.
    const pick = (groups: number[], counts: number[]): ValueRecord[] =>
      groups.flatMap((g, i) => Array.from({ length: counts[i] as number }, (_, j) => ({ id: `p${g}-${j + i}`, values: [j] })));
    const one = await runJoin(a, pick([0, 1], [6, 3]), { variant: 'helper', aOptions: { groupColumns: 1 } });
    const two = await runJoin(a, pick([3, 2], [6, 3]), { variant: 'helper', aOptions: { groupColumns: 1 } });
    expect(shape(one.hView)).toEqual(shape(two.hView));
    expect(one.h?.histogram).toEqual([6, 3, 0, 0]);
    expect(two.h?.histogram).toEqual([6, 3, 0, 0]);
  });
});

describe('B shuffles every list, so A cannot tell which of its records matched', () => {
  it('the matching element lands at a random position within its list', async () => {
    // The test plays A by hand: it sends one list of 20 elements, of which only the one
    // at position 7 belongs to B, and looks where B's answer puts the match.
    const r = await valueGroup();
    const suite = getSuite('x25519');
    const ids = Array.from({ length: 20 }, (_, i) => `person-${i}`);
    const landed: number[] = [];
    for (let run = 0; run < 6; run++) {
      const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
      const b = joinValues(cb, [{ id: 'person-7', values: [1] }], { threads: 0, columns: ['v'] });
      b.catch(() => undefined);
      const link = new Link(ca, JOIN_PROTOCOL, new Uint8Array(16));
      const hello = await link.receive([Step.HELLO], 'HELLO');
      link.session = Uint8Array.from(hello.session);
      await link.sendJson(Step.HELLO, {
        protocol: 'koppel-join',
        version: JOIN_PROTOCOL.version,
        role: 'groups',
        variant: 'two-party',
        suite: 'x25519',
        idType: 'raw',
        normalisation: 1,
      });
      link.suite = 'x25519';
      const share = r.randomScalar();
      const A = r.mulBase(share);
      const ctx = concatBytes(utf8('koppel/join/v1/key-a\u0000'), link.session, new Uint8Array([0, 0]));
      await link.send(Step.KEYS, 1, concatBytes(A, proveKnowledge(r, share, A, ctx)));
      await link.receive([Step.KEYS], 'KEYS');
      const a = suite.randomScalar();
      await link.sendJson(Step.LISTS, { sizes: [20] });
      await link.send(Step.GROUP_ELEMENTS, 20, await psiOps.hashMultiply({ suite: 'x25519', items: ids, scalar: a.scalar, protocol: 'join' }));
      await link.sendJson(Step.GROUP_DONE, { count: 20 });
      const evaluated = (await link.receive([Step.EVALUATED], 'EVALUATED')).body;
      await link.receive([Step.EVALUATED_DONE], 'EVALUATED_DONE');
      await link.receive([Step.RECORDS_START], 'RECORDS_START');
      const rec = (await link.receive([Step.RECORDS], 'RECORDS')).body;
      const mine = suite.multiply(a.scalar, rec.subarray(0, 32));
      const at = [...Array(20).keys()].filter((i) => Buffer.from(evaluated.subarray(i * 32, i * 32 + 32)).equals(Buffer.from(mine)));
      expect(at).toHaveLength(1);
      landed.push(at[0] as number);
      await ca.close();
    }
    // Unshuffled, it would land at 7 every time (probability of that when shuffled: 20^-6).
    expect(landed.every((p) => p === 7)).toBe(false);
  });
});
