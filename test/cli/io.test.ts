/** Command-line inputs and outputs: a file read in chunks, as the CSV reader consumes it; outputs written atomically. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inputChunks, writeOutput } from '../../src/cli/io.js';
import { openCsv } from '../../src/csv/reader.js';
import { KoppelError } from '../../src/errors/index.js';

const dir = mkdtempSync(join(tmpdir(), 'koppel-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(path: string): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of inputChunks(path)) chunks.push(c);
  return chunks;
}

async function failure(p: Promise<unknown>): Promise<KoppelError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(KoppelError);
  return e as KoppelError;
}

describe('inputChunks', () => {
  it("yields exactly the file's bytes, in chunks of at most 1 MiB, each in its own buffer", async () => {
    const bytes = new Uint8Array(2.5 * 2 ** 20 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    const path = join(dir, 'big.bin');
    writeFileSync(path, bytes);
    const chunks = await collect(path);
    expect(chunks.length).toBe(3);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(2 ** 20);
    // Chunks kept by the reader stay intact while later ones are read.
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
  });

  it('yields nothing for an empty file', async () => {
    const path = join(dir, 'empty.csv');
    writeFileSync(path, '');
    expect(await collect(path)).toEqual([]);
  });

  it('refuses a missing file and a directory with IO_ERROR', async () => {
    expect((await failure(collect(join(dir, 'missing.csv')))).code).toBe('IO_ERROR');
    const e = await failure(collect(dir));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toMatch(/not a regular file/);
  });

  it('gives the CSV reader the same records as the file holds, across chunk boundaries', async () => {
    const rows = Array.from({ length: 60_000 }, (_, i) => `${i},"quoted, ${i}",x${'y'.repeat(i % 13)}`);
    const path = join(dir, 'records.csv');
    writeFileSync(path, `id,text,pad\n${rows.join('\n')}\n`);
    const csv = await openCsv(inputChunks(path));
    expect(csv.header).toEqual(['id', 'text', 'pad']);
    const seen: string[][] = [];
    for await (const b of csv.batches) seen.push(...b.records);
    expect(seen.length).toBe(rows.length);
    expect(seen[59_999]).toEqual(['59999', 'quoted, 59999', `x${'y'.repeat(59_999 % 13)}`]);
    expect(seen.every((r, i) => r[0] === String(i))).toBe(true);
  });
});

describe('writeOutput', () => {
  it('writes the whole text, replacing an older file, and leaves no temporary file', () => {
    const out = join(dir, 'out-a', 'table.csv');
    mkdirSync(join(dir, 'out-a'));
    writeFileSync(out, 'old\n');
    writeOutput(out, 'region,count\nUtrecht,12\n');
    expect(readFileSync(out, 'utf8')).toBe('region,count\nUtrecht,12\n');
    expect(readdirSync(join(dir, 'out-a'))).toEqual(['table.csv']);
  });

  it('refuses an unwritable place with IO_ERROR naming the path, and leaves nothing behind', () => {
    const target = join(dir, 'out-b', 'table.csv');
    mkdirSync(join(dir, 'out-b'));
    mkdirSync(target); // a directory where the file should go: the rename fails
    let err: unknown;
    try {
      writeOutput(target, 'secret-looking content\n');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KoppelError);
    expect(err).toMatchObject({ code: 'IO_ERROR', details: { path: target } });
    expect(String((err as Error).message)).not.toContain('secret-looking');
    expect(readdirSync(join(dir, 'out-b'))).toEqual(['table.csv']);
    expect(() => writeOutput(join(dir, 'no-such-dir', 'x.csv'), 'x')).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
  });
});
