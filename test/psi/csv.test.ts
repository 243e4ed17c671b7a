/**
 * PSI on CSV files, library side: the server's items (identifiers or payloads of the
 * named columns), and the client's result written as the matching input records in
 * input order (from kept records or from a second read), with payload columns
 * appended, or as the cardinality alone.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openPsiClientCsv, openPsiServerCsv, psiMatchCount, writePsiMatches } from '../../src/psi/csv.js';
import type { PsiClientResult } from '../../src/psi/psi.js';

async function* source(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(c: Uint8Array, _e, cb) {
        chunks.push(Buffer.from(c));
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

const CLIENT = 'bsn,name\n111222333,a\n123456782,"b, c"\n12345672,d\n123456789,e\n';

async function client(keepRecords: boolean) {
  const csv = await openPsiClientCsv(source(CLIENT), { column: 'bsn', idType: 'bsn', onInvalid: 'skip', keepRecords });
  const ids: string[] = [];
  for await (const id of csv.ids) ids.push(id);
  return { csv, ids };
}

describe('openPsiServerCsv', () => {
  it('gives normalised identifiers, or identifiers with a JSON payload of the named columns', async () => {
    const plain = await openPsiServerCsv(source('bsn,region\n12345672,Utrecht\n'), { column: 'bsn', idType: 'bsn' });
    const items = [];
    for await (const i of plain.items) items.push(i);
    expect(items).toEqual(['012345672']);
    const payload = await openPsiServerCsv(source('bsn,region,x\n12345672,Utrecht,1\n'), { column: 'bsn', idType: 'bsn', payloadColumns: ['region'] });
    const got = [];
    for await (const i of payload.items) got.push(i);
    expect(got).toHaveLength(1);
    const { id, payload: bytes } = got[0] as { id: string; payload: Uint8Array };
    expect(id).toBe('012345672');
    expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual({ region: 'Utrecht' });
  });

  it('refuses a payload column missing from the header before any record is read', async () => {
    await expect(openPsiServerCsv(source('bsn\n1\n'), { column: 'bsn', payloadColumns: ['region'] })).rejects.toMatchObject({ code: 'CSV_COLUMN_NOT_FOUND' });
  });
});

describe('writePsiMatches', () => {
  it('intersection: the matching records in input order, the same from kept records and from a second read', async () => {
    const result: PsiClientResult = { mode: 'intersection', intersection: ['012345672', '111222333'], serverSetSize: 9 };
    const kept = await client(true);
    expect(kept.ids).toEqual(['111222333', '123456782', '012345672']);
    expect(kept.csv.skipped).toBe(1);
    const a = sink();
    expect(await writePsiMatches(result, kept.csv, a.stream, { idType: 'bsn' })).toBe(2);
    expect(a.text()).toBe('bsn,name\n111222333,a\n12345672,d\n');
    const reread = await client(false);
    expect(reread.csv.kept).toBeUndefined();
    const b = sink();
    expect(await writePsiMatches(result, reread.csv, b.stream, { idType: 'bsn', reread: source(CLIENT) })).toBe(2);
    expect(b.text()).toBe(a.text());
  });

  it("payload: the server's columns appended to every matching record", async () => {
    const enc = new TextEncoder();
    const result: PsiClientResult = {
      mode: 'payload',
      matches: [{ id: '123456782', payload: enc.encode(JSON.stringify({ region: 'Utrecht' })) }],
      serverSetSize: 3,
    };
    const { csv } = await client(true);
    const out = sink();
    expect(await writePsiMatches(result, csv, out.stream, { idType: 'bsn' })).toBe(1);
    expect(out.text()).toBe('bsn,name,region\n123456782,"b, c",Utrecht\n');
    expect(psiMatchCount(result)).toBe(1);
  });

  it('waits for a slow output to drain: never more than about one piece queued, and every record written in order', async () => {
    const n = 60000;
    const ids = Array.from({ length: n }, (_, i) => String(100000000 + i));
    const text = 'id\n' + ids.join('\n') + '\n';
    const csv = await openPsiClientCsv(source(text), { column: 'id', keepRecords: true });
    for await (const id of csv.ids) void id;
    const chunks: Buffer[] = [];
    let most = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(c: Uint8Array, _e, cb) {
        chunks.push(Buffer.from(c));
        setImmediate(cb); // takes each write a turn later
      },
    });
    const original = slow.write.bind(slow);
    slow.write = ((chunk: string, ...rest: never[]) => {
      const r = original(chunk, ...rest);
      most = Math.max(most, slow.writableLength);
      return r;
    }) as typeof slow.write;
    const result: PsiClientResult = { mode: 'intersection', intersection: ids.filter((_, i) => i % 2 === 0), serverSetSize: n };
    expect(await writePsiMatches(result, csv, slow)).toBe(n / 2);
    await new Promise<void>((r) => slow.end(r));
    expect(Buffer.concat(chunks).toString('utf8')).toBe('id\n' + ids.filter((_, i) => i % 2 === 0).join('\n') + '\n');
    // All records at once would queue n / 2 * 10 = 300,000 bytes.
    expect(most).toBeLessThan(2 * 65536 + 100);
  });

  it('cardinality: {"cardinality": N} and no records', async () => {
    const result: PsiClientResult = { mode: 'cardinality', size: 5, serverSetSize: 7 };
    const { csv } = await client(true);
    const out = sink();
    expect(await writePsiMatches(result, csv, out.stream)).toBe(0);
    expect(out.text()).toBe('{"cardinality":5}\n');
    expect(psiMatchCount(result)).toBe(5);
  });
});
