/**
 * Transcript tests: what crosses the wire in a private join, message by message, is
 * exactly what docs/protocols/join.md describes: the steps in order, and sizes that are
 * functions of the list sizes, B's list size and the number of value columns only.
 */
import { describe, expect, it } from 'vitest';
import { Step } from '../../src/join/messages.js';
import type { TranscriptEntry } from '../../src/transport/transcript.js';
import { decodeFrame } from '../../src/wire/frame.js';
import { runJoin } from './fixtures.js';
import type { GroupRecord, ValueRecord } from '../../src/join/join.js';

const NAMES = new Map<number, string>(Object.entries(Step).map(([k, v]) => [v, k]));

/** The transcript as A sees it: direction, step, item count and body size of every message, chunks of a stream merged. */
function flow(view: readonly TranscriptEntry[]): string[] {
  const out: string[] = [];
  for (const e of view) {
    const f = decodeFrame(e.bytes);
    const line = `${e.direction === 'sent' ? 'A->B' : 'B->A'} ${NAMES.get(f.step)}`;
    const last = out[out.length - 1];
    if (last?.startsWith(line + ' ') && (f.step === Step.GROUP_ELEMENTS || f.step === Step.EVALUATED || f.step === Step.RECORDS)) {
      const [, n, bytes] = /x(\d+) (\d+)B$/.exec(last) as RegExpExecArray;
      out[out.length - 1] = `${line} x${Number(n) + f.count} ${Number(bytes) + f.body.length}B`;
    } else out.push(`${line} x${f.count} ${f.body.length}B`);
  }
  return out.map((l) => (/(HELLO|LISTS|DONE|START|FINISHED)/.test(l) ? l.replace(/ \d+B$/, ' json') : l));
}

// A: 3 groups of 4, 5 and 6 persons; B: 8 records, 2 value columns.
const a: GroupRecord[] = [4, 5, 6].flatMap((n, g) => Array.from({ length: n }, (_, i) => ({ id: `p${g}-${i}`, group: [`g${g}`] })));
const b: ValueRecord[] = Array.from({ length: 8 }, (_, i) => ({ id: i < 5 ? `p${i % 3}-${i}` : `x${i}`, values: [i, 1] }));

describe('the transcript of a private join, as A sees it', () => {
  it('two-party: HELLOs, key shares with proofs, lists, evaluated lists, encrypted records, one decryption per list and column', async () => {
    const r = await runJoin(a, b, { aOptions: { groupColumns: 1, chunkSize: 64 }, bOptions: { chunkSize: 64 } });
    const k = 2;
    const L = 3;
    const E = 64; // a P-256 element, x || y (join protocol version 4)
    expect(flow(r.aView)).toEqual([
      'B->A HELLO x0 json',
      'A->B HELLO x0 json',
      `A->B KEYS x${k} ${k * (E + 64)}B`, // A_j and a Schnorr proof per column
      `B->A KEYS x${k} ${k * E}B`, // B_j per column
      'A->B LISTS x0 json', // the list sizes, nothing else about the groups
      `A->B GROUP_ELEMENTS x15 ${15 * 32}B`,
      'A->B GROUP_DONE x0 json',
      `B->A EVALUATED x15 ${15 * 32}B`,
      'B->A EVALUATED_DONE x0 json',
      'B->A RECORDS_START x0 json',
      `B->A RECORDS x8 ${8 * (32 + E * (1 + k))}B`, // H(x)^b, C1, C2 per column
      'B->A RECORDS_DONE x0 json',
      `A->B DECRYPT x${L} ${L * E}B`, // one re-randomised C1' per list
      ...Array.from({ length: k }, () => `B->A PARTIALS x${L + 1} ${L * E + 64}B`), // per column: D per list and a DLEQ proof (64 bytes: one element's width)
      'A->B FINISHED x0 json',
    ]);
    expect(r.a.groups.map((g) => g.count)).toEqual([2, 2, 1]);
  });

  it('helper: the same blinding layer, then records with one 8-byte share per column and no decryption round', async () => {
    const r = await runJoin(a, b, { variant: 'helper', aOptions: { groupColumns: 1, chunkSize: 64 }, bOptions: { chunkSize: 64 } });
    expect(flow(r.aView)).toEqual([
      'B->A HELLO x0 json',
      'A->B HELLO x0 json',
      'A->B LISTS x0 json',
      `A->B GROUP_ELEMENTS x15 ${15 * 32}B`,
      'A->B GROUP_DONE x0 json',
      `B->A EVALUATED x15 ${15 * 32}B`,
      'B->A EVALUATED_DONE x0 json',
      'B->A RECORDS_START x0 json',
      `B->A RECORDS x8 ${8 * (32 + 8 * 2)}B`,
      'B->A RECORDS_DONE x0 json',
      'A->B FINISHED x0 json',
    ]);
    // The helper received A's HELLO, one relabelled index (4 bytes) per position of B's list, and the end mark.
    const toHelper = r.hView.filter((e) => e.direction === 'received').map((e) => decodeFrame(e.bytes));
    expect(toHelper.map((f) => NAMES.get(f.step))).toEqual(['HELLO', 'INDICES', 'INDICES_DONE']);
    expect(toHelper[1]?.body.length).toBe(8 * 4);
  });
});
