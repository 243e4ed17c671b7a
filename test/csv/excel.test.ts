/**
 * Excel fidelity in the library: every CSV output derived from an input keeps the
 * input's byte order mark and line ending; an encoding error names the record that
 * holds the first invalid byte, wherever it is in the file; PSI payload columns that
 * the client's header has already get a `payload_` prefix; a released join table is
 * ordered by its group labels.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openCsv } from '../../src/csv/reader.js';
import { invalidUtf8Record, styleOf } from '../../src/csv/records.js';
import { generateKey } from '../../src/pseudonymise/key.js';
import { pseudonymiseCsv } from '../../src/pseudonymise/csv.js';
import { oprfPseudonymiseCsv } from '../../src/oprf/csv.js';
import type { OprfPseudonymiser, OprfResult } from '../../src/oprf/client.js';
import { openPsiClientCsv, payloadColumnNames, writePsiMatches } from '../../src/psi/csv.js';
import type { PsiClientResult } from '../../src/psi/psi.js';
import { compareLabels, writeJoinTable } from '../../src/join/csv.js';
import type { JoinTableRow } from '../../src/join/table.js';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { expectCode } from '../helpers.js';

const enc = new TextEncoder();

async function* source(bytes: Uint8Array, pieces = 5): AsyncGenerator<Uint8Array> {
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
}

function sink(): { stream: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(Buffer.from(c));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

const rng = new SyntheticRandom('excel');
const bsns = Array.from({ length: 6 }, () => syntheticBsn(rng));
/** An Excel export: BOM, CRLF. */
const excel = enc.encode('\ufeffbsn;region\r\n' + bsns.map((b, i) => `${b};R${i}`).join('\r\n') + '\r\n');

/** Asserts a whole output is in Excel style: starts with the BOM, every line ends in CRLF. */
function expectExcelStyle(text: string): void {
  expect(text.startsWith('\ufeff')).toBe(true);
  expect(text.endsWith('\r\n')).toBe(true);
  expect(text.replaceAll('\r\n', '')).not.toContain('\n');
}

describe("outputs keep the input's byte order mark and line ending", () => {
  it('styleOf reads both from the header bytes', () => {
    expect(styleOf(enc.encode('\ufeffa,b\r\n'))).toEqual({ bom: true, newline: '\r\n' });
    expect(styleOf(enc.encode('a,b\n'))).toEqual({ bom: false, newline: '\n' });
    expect(styleOf(enc.encode('a,b'))).toEqual({ bom: false, newline: '\n' });
  });

  it('keyed pseudonymisation (inline here; the CLI test runs the workers)', async () => {
    const out = sink();
    await pseudonymiseCsv(source(excel), out.stream, { key: generateKey(), domain: 'x/1', column: 'bsn', idType: 'bsn', delimiter: ';', threads: 0 });
    expectExcelStyle(out.text());
    expect(out.text().split('\r\n')[0]).toBe('\ufeffbsn;region');
  });

  it('pseudonymisation through the OPRF service', async () => {
    const client = {
      kid: 'k1',
      checkIdentifier: (id: string) => id,
      tryPseudonymiseMany: (ids: string[]): Promise<OprfResult[]> => Promise.resolve(ids.map((id) => ({ ok: true, pseudonym: `k1.${id.length}` }))),
    } as unknown as OprfPseudonymiser;
    const out = sink();
    const s = await oprfPseudonymiseCsv(source(excel), out.stream, client, { column: 'bsn', onInvalid: 'error', delimiter: ';' });
    expect(s.pseudonymised).toBe(bsns.length);
    expectExcelStyle(out.text());
  });

  it('the PSI client writes its matches (and payload columns) in the input style', async () => {
    const csv = await openPsiClientCsv(source(excel), { column: 'bsn', idType: 'bsn', delimiter: ';', keepRecords: true });
    for await (const id of csv.ids) void id;
    const intersection: PsiClientResult = { mode: 'intersection', intersection: bsns.slice(0, 3), serverSetSize: 10 } as unknown as PsiClientResult;
    const out = sink();
    expect(await writePsiMatches(intersection, csv, out.stream, { idType: 'bsn', delimiter: ';' })).toBe(3);
    expectExcelStyle(out.text());
    expect(out.text().split('\r\n').length).toBe(5); // header, 3 records, the empty tail
  });

  it('the join table in the style the caller passes (the CLI passes the input style); plain LF without one', () => {
    const table: JoinTableRow[] = [{ labels: ['a'], count: 12, sums: [3], rule: 'published', total: false }];
    const styled = sink();
    writeJoinTable({ columns: ['v'], table }, ['g'], styled.stream, { style: { bom: true, newline: '\r\n' } });
    expect(styled.text()).toBe('\ufeffg,count,sum_v,suppressed,rule\r\na,12,3,false,published\r\n');
    const plain = sink();
    writeJoinTable({ columns: ['v'], table }, ['g'], plain.stream);
    expect(plain.text()).toBe('g,count,sum_v,suppressed,rule\na,12,3,false,published\n');
  });
});

describe('an encoding error names the record that holds the first invalid byte', () => {
  /** 20,000 records (quoted newlines and blank lines among them) with a cp1252 é in record `bad`. */
  function withCp1252At(bad: number): Uint8Array {
    const parts: Uint8Array[] = [enc.encode('bsn,name\n')];
    for (let r = 1; r <= 20_000; r++) {
      if (r % 1000 === 0) parts.push(enc.encode('\n')); // a blank line: not a record
      if (r === bad) parts.push(enc.encode('111222333,Ren'), new Uint8Array([0xe9]), enc.encode('\n'));
      else parts.push(enc.encode(r % 7 === 0 ? `111222333,"two\nlines"\n` : `111222333,n${r}\n`));
    }
    return Buffer.concat(parts);
  }

  it('the CSV reader (PSI, join, OPRF, aggregation) says record 12,000, not the first record of the chunk', async () => {
    const csv = await openCsv(source(withCp1252At(12_000), 3));
    const e = await expectCode(
      (async () => {
        for await (const b of csv.batches) void b;
      })(),
      'CSV_MALFORMED',
    );
    expect(e.details['record']).toBe(12_000);
    expect(e.message).toContain('UTF-8');
  });

  it('keyed pseudonymisation says record 12,000 too', async () => {
    const out = sink();
    const e = await expectCode(
      pseudonymiseCsv(source(withCp1252At(12_000), 3), out.stream, { key: generateKey(), domain: 'x/1', column: 'bsn', threads: 0 }),
      'CSV_MALFORMED',
    );
    expect(e.details['record']).toBe(12_000);
  });

  it('invalidUtf8Record counts records within a chunk, quoted newlines and blank lines included', () => {
    const chunk = Buffer.concat([enc.encode('a,"x\ny"\n\nb,c\n'), new Uint8Array([0xc3, 0x28]), enc.encode(',d\n')]);
    expect(invalidUtf8Record(chunk, ',')).toBe(3);
    expect(invalidUtf8Record(Buffer.concat([new Uint8Array([0xff]), enc.encode('\n')]), ',')).toBe(1);
  });
});

describe('payload columns that clash with the client header get a payload_ prefix', () => {
  it('renames only the clashing names, and never makes a duplicate', () => {
    expect(payloadColumnNames(['bsn', 'region'], ['region', 'logins', 'payload_region'])).toEqual({
      names: ['payload_region', 'logins', 'payload_payload_region'],
      renamed: [
        { from: 'region', to: 'payload_region' },
        { from: 'payload_region', to: 'payload_payload_region' },
      ],
    });
    expect(payloadColumnNames(['bsn'], ['logins']).renamed).toEqual([]);
  });
});

describe('a released join table is ordered by its group labels', () => {
  it('groups by label (whole numbers by value), totals last with * after the labels', () => {
    const row = (labels: string[], total = false): JoinTableRow => ({ labels, count: 20, sums: [], rule: 'published', total });
    const table = [row(['b', '10']), row(['*', '2'], true), row(['a', '2']), row(['b', '2']), row(['a', '*'], true), row(['*', '*'], true), row(['a', '10'])];
    const out = sink();
    writeJoinTable({ columns: [], table }, ['g', 'n'], out.stream, { totals: true });
    const order = out
      .text()
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').slice(0, 2).join('/'));
    expect(order).toEqual(['a/2', 'a/10', 'b/2', 'b/10', 'a/*', '*/2', '*/*']);
    expect([compareLabels('2', '10') < 0, compareLabels('Zeeland', 'Utrecht') > 0, compareLabels('a', 'a')]).toEqual([true, true, 0]);
  });
});
