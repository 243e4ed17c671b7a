/**
 * The byte fast path of CSV pseudonymisation gives the same output, counts, rejections
 * and failures as the general path (papaparse and re-quoting) on every input: random
 * CSVs with quoted fields, doubled quotes, stray quotes, CR and CRLF, byte order marks,
 * blank lines, wrong field counts, invalid identifiers, under every policy.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateKey } from '../../src/pseudonymise/key.js';
import { Pseudonymiser } from '../../src/pseudonymise/pseudonymiser.js';
import { processChunk, type ChunkLayout } from '../../src/pseudonymise/csv-chunk.js';
import { processChunkBytes } from '../../src/pseudonymise/csv-fast.js';
import { INVALID_POLICIES } from '../../src/csv/policy.js';
import type { CsvDelimiter } from '../../src/csv/records.js';
import type { IdType } from '../../src/pseudonymise/normalise.js';

const key = generateKey();
const pseudonymisers = new Map<IdType, Pseudonymiser>(
  (['bsn', 'raw', 'email'] as const).map((t) => [t, new Pseudonymiser({ key, domain: 'fast', idType: t })]),
);

/** Both paths on the same chunk, in comparable form. */
function both(text: string, layout: ChunkLayout, idType: IdType, firstRecord = 1) {
  const p = pseudonymisers.get(idType) as Pseudonymiser;
  const bytes = new TextEncoder().encode(text);
  const g = processChunk(new TextDecoder('utf-8', { fatal: true }).decode(bytes), p, layout, firstRecord);
  const f = processChunkBytes(bytes, p, layout, firstRecord);
  const general = g.failure ? { failure: g.failure } : { text: g.text, records: g.records, pseudonymised: g.pseudonymised, rejected: g.rejected };
  const fast = f.failure
    ? { failure: f.failure }
    : { text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(f.bytes), records: f.records, pseudonymised: f.pseudonymised, rejected: f.rejected };
  return { general, fast };
}

const piece = fc.constantFrom(
  'a',
  'Utrecht',
  'é',
  '€',
  '111222333',
  '123456782',
  '12345678',
  '000000000',
  'x@Example.NL',
  ' ',
  '"',
  ',',
  ';',
  '\t',
  '\r',
  '\n',
  '\ufeff',
  '',
);
const content = fc.array(piece, { maxLength: 4 }).map((xs) => xs.join(''));
/** A field: raw text (anything, stray quotes included) or well-formed quoted, sometimes with junk after the quote. */
const field = fc.oneof(
  { weight: 3, arbitrary: content.filter((s) => !/[",;\t\r\n]/.test(s)) },
  { weight: 2, arbitrary: content.map((s) => '"' + s.replaceAll('"', '""') + '"') },
  { weight: 1, arbitrary: content },
  { weight: 1, arbitrary: fc.tuple(content, fc.constantFrom(' ', 'x', '\r', '"')).map(([s, t]) => '"' + s.replaceAll('"', '""') + '"' + t) },
);

describe('processChunkBytes against processChunk', () => {
  it('gives identical results on random CSV chunks, for every delimiter, newline, policy and identifier type', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CsvDelimiter>(',', ';', '\t'),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(3),
        fc.constantFrom(...INVALID_POLICIES),
        fc.constantFrom<IdType>('bsn', 'raw', 'email'),
        fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
        fc.array(fc.tuple(fc.array(field, { minLength: 1, maxLength: 5 }), fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n')), { maxLength: 8 }),
        fc.boolean(),
        (delimiter, fields, col, policy, idType, newline, rows, cutLast) => {
          const layout: ChunkLayout = { column: col % fields, fields, delimiter, newline, policy };
          let text = rows.map(([fs, end]) => fs.join(delimiter) + end).join('');
          if (cutLast && text.endsWith('\n')) text = text.slice(0, -1);
          const { general, fast } = both(text, layout, idType, 5);
          expect(fast).toEqual(general);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('gives identical results on well-formed chunks of the usual shape (mostly the fast path)', () => {
    const bsn = fc.constantFrom('111222333', '123456782', '12345678', ' 111222333 ', '111222334', '');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(bsn, fc.constantFrom('Utrecht', '"Zuid-Holland"', '"a, b"', '"say ""hi"""', 'é€', ''), fc.nat(99)), { maxLength: 30 }),
        fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
        fc.constantFrom(...INVALID_POLICIES),
        (rows, newline, policy) => {
          const layout: ChunkLayout = { column: 0, fields: 3, delimiter: ',', newline, policy };
          const text = rows.map(([id, region, n]) => `${id},${region},${n}${newline}`).join('');
          const { general, fast } = both(text, layout, 'bsn');
          expect(fast).toEqual(general);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('pseudonymises the plain case itself and unquotes fields that need no quotes', () => {
    const layout: ChunkLayout = { column: 0, fields: 3, delimiter: ',', newline: '\n', policy: 'error' };
    const text = '111222333,"paar met kinderen",1\r\n123456782,"a, b",2\r\n';
    const { general, fast } = both(text, layout, 'bsn');
    expect(fast).toEqual(general);
    const p = pseudonymisers.get('bsn') as Pseudonymiser;
    expect((fast as { text: string }).text).toBe(`${p.pseudonymise('111222333')},paar met kinderen,1\n${p.pseudonymise('123456782')},"a, b",2\n`);
  });
});
