/**
 * The join on CSV files, library side: group and value records read under the policy
 * (a value that is not a whole number up to the declared maximum is refused with
 * VALUE_OUT_OF_RANGE, or skipped), and the released table written with suppressed
 * rows empty and totals only when asked for.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openJoinGroupsCsv, openJoinValuesCsv, writeJoinTable } from '../../src/join/csv.js';
import { expectCode } from '../helpers.js';

async function* source(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('join CSV inputs', () => {
  it('group records carry the named group columns, in their order', async () => {
    const csv = await openJoinGroupsCsv(source('region,bsn,type\nUtrecht,111222333,a\n'), { idColumn: 'bsn', idType: 'bsn', groupColumns: ['type', 'region'] });
    expect(await all(csv.records)).toEqual([{ id: '111222333', group: ['a', 'Utrecht'] }]);
  });

  it('a value above the maximum, negative or not a number: VALUE_OUT_OF_RANGE naming the record, or skipped', async () => {
    const text = 'bsn,v\n111222333,5\n123456782,11\n12345672,-1\n';
    const strict = await openJoinValuesCsv(source(text), { idColumn: 'bsn', idType: 'bsn', valueColumns: ['v'], maxValue: 10 });
    const e = await expectCode(all(strict.records), 'VALUE_OUT_OF_RANGE');
    expect(e.details).toMatchObject({ record: 2 });
    expect(e.message).not.toContain('11');
    const lenient = await openJoinValuesCsv(source(text), { idColumn: 'bsn', idType: 'bsn', valueColumns: ['v'], maxValue: 10, onInvalid: 'skip' });
    expect(await all(lenient.records)).toEqual([{ id: '111222333', values: [5] }]);
    expect(lenient.skipped).toBe(2);
    expect(lenient.recordsRead).toBe(3);
  });
});

describe('writeJoinTable', () => {
  it('writes suppressed rows with empty count and sums, and totals only with totals', () => {
    const table = [
      { labels: ['Utrecht'], count: 12, sums: [340], rule: 'published' as const, total: false },
      { labels: ['Zeeland'], count: null, sums: [null], rule: 'threshold' as const, total: false },
      { labels: ['*'], count: 15, sums: [400], rule: 'published' as const, total: true },
    ];
    const write = (totals: boolean) => {
      let text = '';
      const out = new Writable({
        write(c, _e, cb) {
          text += String(c);
          cb();
        },
      });
      const counts = writeJoinTable({ columns: ['income'], table }, ['region'], out, { totals });
      return { text, counts };
    };
    expect(write(false)).toEqual({
      text: 'region,count,sum_income,suppressed,rule\nUtrecht,12,340,false,published\nZeeland,,,true,threshold\n',
      counts: { rows: 2, suppressed: 1 },
    });
    expect(write(true).text.endsWith('*,15,400,false,published\n')).toBe(true);
    expect(write(true).counts).toEqual({ rows: 3, suppressed: 1 });
  });
});
