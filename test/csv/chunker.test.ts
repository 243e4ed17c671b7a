/**
 * The chunker cuts a CSV byte stream only at record boundaries, whatever the read
 * sizes and however fields are quoted: parsing the chunks one by one gives exactly
 * the records that parsing the whole file gives.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CsvChunker, findCut } from '../../src/csv/chunker.js';
import { formatRecord, parseRecords } from '../../src/csv/records.js';
import { expectCodeSync } from '../helpers.js';

const field = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', '"', '""', '\n', '\r\n', ',', 'a"b', 'x\ny', ' quoted, "text"\n'));
const records = fc.array(fc.array(field, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 40 });

function splitAt(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length] as number);
    out.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

describe('CsvChunker', () => {
  it('chunks parse to the same records as the whole input, for any read sizes', () => {
    fc.assert(
      fc.property(records, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }), fc.boolean(), (recs, sizes, crlf) => {
        const nl = crlf ? '\r\n' : '\n';
        const header = 'a,b,c' + nl;
        const body = recs.map((r) => formatRecord(r, ',', nl)).join('');
        const bytes = new TextEncoder().encode(header + body);
        const chunker = new CsvChunker({ header: true });
        const chunks: Uint8Array[] = [];
        for (const piece of splitAt(bytes, sizes)) chunks.push(...chunker.push(piece));
        const tail = chunker.end();
        if (tail) chunks.push(tail);
        expect(new TextDecoder().decode(chunker.header)).toBe(header);
        const fromChunks = chunks.flatMap((c) => parseRecords(new TextDecoder().decode(c), ',', 1));
        expect(fromChunks).toEqual(parseRecords(body, ',', 1));
        // Every chunk but the tail ends right after a newline.
        for (const c of chunks.slice(0, tail ? -1 : undefined)) expect(c[c.length - 1]).toBe(0x0a);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a final record without a trailing newline', () => {
    const c = new CsvChunker({ header: true });
    const out = c.push(new TextEncoder().encode('h\n1\n2'));
    expect(out.map((b) => b.toString())).toEqual(['1\n']);
    expect(c.end()?.toString()).toBe('2');
  });

  it('refuses a record longer than the cap (an unclosed quote)', () => {
    const c = new CsvChunker({ header: true, maxRecordBytes: 100 });
    c.push(new TextEncoder().encode('h\n"open field\n'));
    expectCodeSync(() => c.push(new Uint8Array(200).fill(0x61)), 'CSV_MALFORMED');
  });

  it('findCut ignores newlines inside quotes', () => {
    const b = new TextEncoder().encode('x,"a\nb"\ny,"c\n');
    expect(findCut(b, 0, false, false)).toEqual({ cut: 7, inQuote: true });
    expect(findCut(b, 0, false, true)).toEqual({ cut: 7, inQuote: false });
  });
});
