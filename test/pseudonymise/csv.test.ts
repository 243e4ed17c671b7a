/**
 * Streaming CSV pseudonymisation: only the named column changes, every policy for
 * invalid records does what it says, malformed CSV is a clear error that names a
 * record number and never a value, and the worker-thread path gives byte-identical
 * output to the single-thread path.
 */
import { PassThrough, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateKey } from '../../src/pseudonymise/key.js';
import { Pseudonymiser } from '../../src/pseudonymise/pseudonymiser.js';
import { pseudonymiseCsv, type InvalidRecord, type PseudonymiseCsvOptions } from '../../src/pseudonymise/csv.js';
import type * as CsvModule from '../../src/pseudonymise/csv.js';
import type * as KeyModule from '../../src/pseudonymise/key.js';
import { formatRecord, parseRecords } from '../../src/csv/records.js';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { expectCode } from '../helpers.js';

const key = generateKey();
const base = { key, domain: 'test/csv', column: 'bsn', idType: 'bsn' as const, threads: 0 };

async function* source(text: string | Uint8Array, pieces = 7): AsyncGenerator<Uint8Array> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
}

async function run(text: string | Uint8Array, options: Partial<PseudonymiseCsvOptions> = {}) {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c: Uint8Array, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  });
  const rejected: InvalidRecord[] = [];
  const summary = await pseudonymiseCsv(source(text), out, { ...base, onRejected: (r) => rejected.push(r), ...options });
  return { text: Buffer.concat(chunks).toString('utf8'), summary, rejected };
}

const p = new Pseudonymiser({ key, domain: base.domain, idType: 'bsn' });

describe('pseudonymiseCsv', () => {
  it('replaces only the named column and keeps the header and other fields', async () => {
    const { text, summary } = await run('name,bsn,city\n"Jansen, J.",111222333,Utrecht\nDe Vries,123456782,"Den\nHaag"\n');
    expect(text).toBe(`name,bsn,city\n"Jansen, J.",${p.pseudonymise('111222333')},Utrecht\nDe Vries,${p.pseudonymise('123456782')},"Den\nHaag"\n`);
    expect(summary).toMatchObject({ records: 2, pseudonymised: 2, rejected: 0 });
  });

  // Issue 19: the byte order mark is kept now (Excel reads a file without one as the local code page).
  it('keeps CRLF line endings, a ";" delimiter and a byte order mark, and drops blank lines', async () => {
    const wrong = await expectCode(run('\ufeffbsn;x\r\n111222333;a\r\n'), 'CSV_COLUMN_NOT_FOUND');
    expect(wrong.message).toContain('--delimiter');
    const semi = await run('\ufeffbsn;x\r\n111222333;"a;b"\r\n\r\n123456782;c\r\n', { delimiter: ';' });
    expect(semi.text).toBe(`\ufeffbsn;x\r\n${p.pseudonymise('111222333')};"a;b"\r\n${p.pseudonymise('123456782')};c\r\n`);
    expect(semi.summary.records).toBe(2);
  });

  it('handles a file without a final newline, and a header-only file', async () => {
    expect((await run('bsn\n111222333')).text).toBe(`bsn\n${p.pseudonymise('111222333')}\n`);
    expect((await run('bsn,x\n')).text).toBe('bsn,x\n');
    expect((await run('bsn,x')).text).toBe('bsn,x\n');
  });

  it('policy error: stops at the first invalid identifier, naming its record number only', async () => {
    const e = await expectCode(run('bsn\n111222333\n123456789\n'), 'INVALID_BSN');
    expect(e.details).toMatchObject({ record: 2, reason: 'checksum' });
    expect(e.message + JSON.stringify(e.details)).not.toContain('123456789');
  });

  it('policy skip: drops invalid records and counts them by reason', async () => {
    const { text, summary, rejected } = await run('bsn,n\n111222333,1\n12345678a,2\n123456782,3\n,4\n', { onInvalid: 'skip' });
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);
    expect(summary.rejectedByReason).toEqual({ 'INVALID_BSN/non-digit': 1, 'INVALID_BSN/empty': 1 });
    expect(rejected).toEqual([
      { record: 2, code: 'INVALID_BSN', reason: 'non-digit' },
      { record: 4, code: 'INVALID_BSN', reason: 'empty' },
    ]);
  });

  it('policy report: keeps invalid records with an empty identifier', async () => {
    const { text } = await run('bsn,n\n123456789,1\n111222333,2\n', { onInvalid: 'report' });
    expect(text).toBe(`bsn,n\n,1\n${p.pseudonymise('111222333')},2\n`);
  });

  it('a record with the wrong field count is an error, or skipped, never echoed', async () => {
    const e = await expectCode(run('bsn,n\n111222333,1\n123456782\n'), 'CSV_MALFORMED');
    expect(e.details).toMatchObject({ record: 2, fields: 1, expected: 2 });
    const { text, rejected } = await run('bsn,n\n111222333,1,extra\n123456782,2\n', { onInvalid: 'report' });
    expect(text).not.toContain('111222333');
    expect(rejected).toEqual([{ record: 1, code: 'CSV_MALFORMED', reason: 'field-count' }]);
  });

  it('an unclosed quote is CSV_MALFORMED', async () => {
    await expectCode(run('bsn,n\n111222333,"open\n'), 'CSV_MALFORMED');
    await expectCode(run('bsn,n\n111222333,"a"b\n'), 'CSV_MALFORMED');
  });

  it('input that is not UTF-8 is CSV_MALFORMED with advice', async () => {
    const latin1 = new Uint8Array([...new TextEncoder().encode('bsn,name\n111222333,'), 0xe9, 0x0a]);
    const e = await expectCode(run(latin1), 'CSV_MALFORMED');
    expect(e.message).toContain('UTF-8');
  });

  it('an empty input, a missing column and a duplicated column are clear errors', async () => {
    await expectCode(run(''), 'CSV_MALFORMED');
    const missing = await expectCode(run('id,n\n1,2\n'), 'CSV_COLUMN_NOT_FOUND');
    expect(missing.message).toContain('"bsn"');
    expect(missing.message).not.toContain('"id"');
    await expectCode(run('bsn,bsn\n1,2\n'), 'CSV_MALFORMED');
  });

  it('numbers records across chunk boundaries correctly', async () => {
    const rng = new SyntheticRandom('numbering');
    const rows = Array.from({ length: 5000 }, () => syntheticBsn(rng));
    rows[3777] = '000000000';
    const text = 'bsn\n' + rows.join('\n') + '\n';
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(c: Uint8Array, _e, cb) {
        chunks.push(Buffer.from(c));
        cb();
      },
    });
    const rejected: InvalidRecord[] = [];
    await pseudonymiseCsv(source(text, 50), out, { ...base, onInvalid: 'skip', onRejected: (r) => rejected.push(r) });
    expect(rejected).toEqual([{ record: 3778, code: 'INVALID_BSN', reason: 'zero' }]);
  });

  it('any CSV content: output has the same records with the column mapped', async () => {
    const field = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('"', 'a,b', 'x\ny', ''));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('111222333', '123456782', '12345672'), field), { maxLength: 30 }), async (recs) => {
        const body = recs.map(([b, f]) => formatRecord([f, b], ',', '\n')).join('');
        const { text } = await run('other,bsn\n' + body);
        const got = parseRecords(text, ',', 1);
        const expected = [['other', 'bsn'], ...parseRecords(body, ',', 1).map(([f, b]) => [f, p.pseudonymise(b as string)])];
        expect(got).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('respects back-pressure: never has more than a few chunks in flight', async () => {
    const rng = new SyntheticRandom('pressure');
    const text = 'bsn\n' + Array.from({ length: 20000 }, () => syntheticBsn(rng)).join('\n') + '\n';
    const slow = new PassThrough({ highWaterMark: 1024 });
    let reading = true;
    const drained = (async () => {
      for await (const _ of slow) {
        await new Promise((r) => setTimeout(r, 1));
        if (!reading) break;
      }
    })();
    await pseudonymiseCsv(source(text, 40), slow, { ...base });
    slow.end();
    reading = false;
    await drained;
    expect(slow.writableLength).toBeLessThan(1 << 20);
  });

  it('rejects a bad thread count and policy before reading', async () => {
    await expectCode(run('bsn\n', { threads: -1 }), 'INVALID_ARGUMENT');
    await expectCode(run('bsn\n', { onInvalid: 'ignore' as 'skip' }), 'INVALID_ARGUMENT');
  });
});

describe('pseudonymiseCsv on worker threads (compiled package)', () => {
  it('gives byte-identical output and counts to the single-thread path', async () => {
    const dist = pathToFileURL(fileURLToPath(new URL('../../dist/pseudonymise/csv.js', import.meta.url))).href;
    const mod = (await import(dist)) as typeof CsvModule;
    const keyMod = (await import(dist.replace('csv.js', 'key.js'))) as typeof KeyModule;
    const { exportKey } = await import('../../src/pseudonymise/key.js');
    const distKey = keyMod.importKey(exportKey(key));
    const rng = new SyntheticRandom('threads');
    const lines = Array.from({ length: 60000 }, (_, i) => `${i % 1000 === 7 ? '12345678x' : syntheticBsn(rng)},"r ${i}",${i}`);
    const text = 'bsn,region,n\n' + lines.join('\n') + '\n';
    const collect = async (threads: number) => {
      const chunks: Buffer[] = [];
      const out = new Writable({
        write(c: Uint8Array, _e, cb) {
          chunks.push(Buffer.from(c));
          cb();
        },
      });
      const rejected: InvalidRecord[] = [];
      const s = await mod.pseudonymiseCsv(source(text, 23), out, { ...base, key: distKey, threads, onInvalid: 'report', onRejected: (r) => rejected.push(r) });
      return { out: Buffer.concat(chunks).toString(), s, rejected };
    };
    const one = await collect(0);
    const two = await collect(2);
    expect(two.out).toBe(one.out);
    expect(two.rejected).toEqual(one.rejected);
    expect(two.rejected).toHaveLength(60);
    expect(two.s.threads).toBe(2);
    expect({ ...two.s, elapsedMs: 0, threads: 0 }).toEqual({ ...one.s, elapsedMs: 0, threads: 0 });
  });
});
