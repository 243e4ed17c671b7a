/**
 * The transcript of an OPRF client run: the client, whose batches are answered out of
 * order, folds them in by the service's positions and gets the service's hash; a batch
 * answered twice or never seen by the client makes the hash unavailable, never wrong.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OprfTranscript } from '../../src/oprf/transcript.js';

const run = randomBytes(16).toString('hex');
const batches = Array.from({ length: 12 }, (_, i) => ({ request: randomBytes(40 + i), response: randomBytes(50 + i), elements: i + 1 }));

function serviceSide(agreement: string | null = null): { hash: string | null; positions: number[] } {
  const t = new OprfTranscript(run, agreement);
  const positions = batches.map((b) => t.append(b.request, b.response, b.elements));
  return { hash: t.digest(), positions };
}

describe('the OPRF run transcript', () => {
  it('a client placing the batches in any arrival order by their positions gets the hash the service computed', () => {
    const { hash, positions } = serviceSide();
    expect(positions).toEqual(batches.map((_, i) => i));
    const order = [3, 0, 2, 1, 7, 5, 4, 6, 11, 8, 10, 9];
    const c = new OprfTranscript(run, null);
    for (const i of order) {
      const b = batches[i] as (typeof batches)[number];
      c.place(i, b.request, b.response, b.elements);
    }
    expect(c.digest()).toBe(hash);
    expect(c.batches).toBe(12);
    expect(c.evaluations).toBe(78);
  });

  it('the hash depends on the run id, the agreement and every byte of every body', () => {
    const base = serviceSide().hash;
    expect(serviceSide('ab'.repeat(32)).hash).not.toBe(base);
    const other = new OprfTranscript(randomBytes(16).toString('hex'), null);
    for (const b of batches) other.append(b.request, b.response, b.elements);
    expect(other.digest()).not.toBe(base);
    const flipped = new OprfTranscript(run, null);
    batches.forEach((b, i) => flipped.append(b.request, i === 5 ? Buffer.concat([b.response.subarray(1), Buffer.from([0])]) : b.response, b.elements));
    expect(flipped.digest()).not.toBe(base);
  });

  it('a position missing (an answer the client never saw) or seen twice leaves no hash rather than a wrong one', () => {
    const gap = new OprfTranscript(run, null);
    batches.forEach((b, i) => i !== 4 && gap.place(i, b.request, b.response, b.elements));
    expect(gap.digest()).toBeNull();
    const twice = new OprfTranscript(run, null);
    batches.forEach((b, i) => twice.place(i, b.request, b.response, b.elements));
    twice.place(2, batches[2]?.request as Buffer, batches[2]?.response as Buffer, 3);
    expect(twice.digest()).toBeNull();
  });

  it('the hash so far can be read at any time without ending the transcript', () => {
    const t = new OprfTranscript(run, null);
    t.append(batches[0]?.request as Buffer, batches[0]?.response as Buffer, 1);
    const first = t.digest();
    t.append(batches[1]?.request as Buffer, batches[1]?.response as Buffer, 2);
    expect(t.digest()).not.toBe(first);
  });
});
