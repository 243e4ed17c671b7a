/**
 * The invalid-record policy: one rule for every CSV path. Each caller (keyed and OPRF
 * pseudonymisation, both PSI roles, both join roles) given the same records keeps the
 * same records and reports the same rejections (number, code, reason) as a direct
 * model of the rule; under `error` every caller stops at the same record with the same
 * code; no message or report carries a value.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { POLICY_WORDING, RecordPolicy, SkipReport, openPolicyCsv, type InvalidRecord } from '../../src/csv/policy.js';
import { formatRecord, parseRecords } from '../../src/csv/records.js';
import { KoppelError } from '../../src/errors/index.js';
import { openJoinGroupsCsv, openJoinValuesCsv } from '../../src/join/csv.js';
import type { OprfPseudonymiser, OprfResult } from '../../src/oprf/client.js';
import { oprfPseudonymiseCsv } from '../../src/oprf/csv.js';
import { pseudonymiseCsv } from '../../src/pseudonymise/csv.js';
import { generateKey } from '../../src/pseudonymise/key.js';
import { checkBsn } from '../../src/pseudonymise/normalise.js';
import { openPsiClientCsv, openPsiServerCsv } from '../../src/psi/csv.js';
import { expectCodeSync } from '../helpers.js';

async function* source(text: string, pieces = 5): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
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

/** Records: `bsn,n,v` where n is the record's own number; some BSNs invalid, some records with a field too many or too few. */
const BSNS = ['111222333', '123456782', '12345672', '123456789', '', '12345678a', '000000000', ' 111222333 '];
const recordSpec = fc.record({ bsn: fc.constantFrom(...BSNS), width: fc.constantFrom(3, 3, 3, 3, 2, 4) });
const specs = fc.array(recordSpec, { maxLength: 40 });

function csvOf(recs: Array<{ bsn: string; width: number }>): string {
  const body = recs.map((r, i) => formatRecord([r.bsn, String(i + 1), '7', 'x'].slice(0, r.width), ',', '\n')).join('');
  return 'bsn,n,v\n' + body;
}

/** The rule, stated directly: what should be kept (by record number) and reported. */
function model(recs: Array<{ bsn: string; width: number }>): { kept: number[]; rejected: InvalidRecord[] } {
  const kept: number[] = [];
  const rejected: InvalidRecord[] = [];
  recs.forEach((r, i) => {
    const record = i + 1;
    if (r.width !== 3) return void rejected.push({ record, code: 'CSV_MALFORMED', reason: 'field-count' });
    const n = checkBsn(r.bsn);
    if (typeof n !== 'string') return void rejected.push({ record, code: n.code, reason: n.reason });
    kept.push(record);
  });
  return { kept, rejected };
}

/** A stand-in for the OPRF service client: normalises as the real one does, "evaluates" by prefixing. */
const fakeOprf = {
  kid: 'fake',
  checkIdentifier: (id: string) => checkBsn(id),
  tryPseudonymiseMany: (ids: string[]): Promise<OprfResult[]> =>
    Promise.resolve(
      ids.map((id) => {
        const n = checkBsn(id);
        return typeof n === 'string' ? { ok: true as const, pseudonym: 'p' + n } : { ok: false as const, code: n.code, reason: n.reason };
      }),
    ),
} as unknown as OprfPseudonymiser;

type Caller = (text: string, policy: 'error' | 'skip') => Promise<{ kept: number[]; rejected: InvalidRecord[] }>;

const keyedOutput = (out: string): number[] =>
  parseRecords(out, ',', 1)
    .slice(1)
    .map((r) => Number(r[1]));

const CALLERS: Record<string, Caller> = {
  async pseudonymise(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const out = sink();
    await pseudonymiseCsv(source(text), out.stream, {
      key: generateKey(),
      domain: 'policy',
      column: 'bsn',
      idType: 'bsn',
      threads: 0,
      onInvalid,
      onRejected: (r) => rejected.push(r),
    });
    return { kept: keyedOutput(out.text()), rejected };
  },
  async oprf(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const out = sink();
    await oprfPseudonymiseCsv(source(text), out.stream, fakeOprf, { column: 'bsn', onInvalid, onRejected: (r) => rejected.push(r) });
    return { kept: keyedOutput(out.text()), rejected };
  },
  async psiServer(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const csv = await openPsiServerCsv(source(text), { column: 'bsn', idType: 'bsn', onInvalid, payloadColumns: ['n'], onRejected: (r) => rejected.push(r) });
    const kept: number[] = [];
    for await (const item of csv.items) kept.push(Number((JSON.parse(new TextDecoder().decode((item as { payload: Uint8Array }).payload)) as { n: string }).n));
    expect(csv.skipped).toBe(rejected.length);
    return { kept, rejected };
  },
  async psiClient(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const csv = await openPsiClientCsv(source(text), { column: 'bsn', idType: 'bsn', onInvalid, keepRecords: true, onRejected: (r) => rejected.push(r) });
    for await (const _ of csv.ids);
    expect(csv.skipped).toBe(rejected.length);
    return { kept: (csv.kept ?? []).map((r) => Number(r[1])), rejected };
  },
  async joinGroups(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const csv = await openJoinGroupsCsv(source(text), { idColumn: 'bsn', idType: 'bsn', onInvalid, groupColumns: ['n'], onRejected: (r) => rejected.push(r) });
    const kept: number[] = [];
    for await (const r of csv.records) kept.push(Number(r.group[0]));
    return { kept, rejected };
  },
  async joinValues(text, onInvalid) {
    const rejected: InvalidRecord[] = [];
    const csv = await openJoinValuesCsv(source(text), {
      idColumn: 'bsn',
      idType: 'bsn',
      onInvalid,
      valueColumns: ['n'],
      maxValue: 1000,
      onRejected: (r) => rejected.push(r),
    });
    const kept: number[] = [];
    for await (const r of csv.records) kept.push(r.values[0] as number);
    return { kept, rejected };
  },
};

describe('RecordPolicy', () => {
  const report = () => {
    const seen: InvalidRecord[] = [];
    return { seen, report: new SkipReport((r) => seen.push(r)) };
  };

  it('error: a wrong field count stops with CSV_MALFORMED naming the record and the counts, never the content', () => {
    const p = new RecordPolicy({ fields: 2, policy: 'error', wording: POLICY_WORDING.pseudonymise });
    expect(p.hasFields(['a', 'b'], 1)).toBe(true);
    const e = expectCodeSync(() => p.hasFields(['123456782'], 7), 'CSV_MALFORMED');
    expect(e.details).toEqual({ record: 7, reason: 'field-count', fields: 1, expected: 2 });
    expect(e.message).toBe('A CSV record has 1 fields where the header has 2; fix the record or rerun with --on-invalid skip or report.');
    expect(e.message).not.toContain('123456782');
  });

  it('skip and report: a wrong field count is reported and never kept', () => {
    for (const policy of ['skip', 'report'] as const) {
      const { seen, report: r } = report();
      const p = new RecordPolicy({ fields: 2, policy, wording: POLICY_WORDING.oprf, report: r });
      expect(p.hasFields(['a', 'b', 'c'], 3)).toBe(false);
      expect(seen).toEqual([{ record: 3, code: 'CSV_MALFORMED', reason: 'field-count' }]);
      expect(r.byReason).toEqual({ 'CSV_MALFORMED/field-count': 1 });
    }
  });

  it('reject: error throws the code with record and reason, skip drops, report keeps; each caller keeps its wording', () => {
    const e = expectCodeSync(
      () => new RecordPolicy({ fields: 1, policy: 'error', wording: POLICY_WORDING.matching }).reject(4, 'INVALID_BSN', 'checksum'),
      'INVALID_BSN',
    );
    expect(e.details).toEqual({ record: 4, reason: 'checksum' });
    expect(e.message).toBe('An identifier is invalid (checksum); fix it or use --on-invalid skip.');
    const o = expectCodeSync(
      () => new RecordPolicy({ fields: 1, policy: 'error', wording: POLICY_WORDING.oprf }).reject(4, 'INVALID_BSN', 'checksum'),
      'INVALID_BSN',
    );
    expect(o.message).toBe('An identifier or record is invalid (checksum); fix it or use --on-invalid skip or report.');
    expect(new RecordPolicy({ fields: 1, policy: 'skip', wording: POLICY_WORDING.matching }).reject(4, 'INVALID_BSN', 'checksum')).toBe(false);
    expect(new RecordPolicy({ fields: 1, policy: 'report', wording: POLICY_WORDING.matching }).reject(4, 'INVALID_BSN', 'checksum')).toBe(true);
  });

  it('identify normalises per id type, and reports an invalid identifier without its value', () => {
    const { seen, report: r } = report();
    const p = new RecordPolicy({ fields: 2, column: 1, idType: 'bsn', policy: 'skip', wording: POLICY_WORDING.matching, report: r });
    expect(p.identify(['x', ' 12345672 '], 1)).toBe('012345672');
    expect(p.identify(['x', '123456789'], 2)).toBeUndefined();
    expect(seen).toEqual([{ record: 2, code: 'INVALID_BSN', reason: 'checksum' }]);
    expect(JSON.stringify(seen)).not.toContain('123456789');
  });

  it("screen keeps the records with the header's field count, in order", () => {
    const p = new RecordPolicy({ fields: 2, policy: 'skip', wording: POLICY_WORDING.matching });
    expect(p.screen({ firstRecord: 10, records: [['a', 'b'], ['c'], ['d', 'e']] })).toEqual([
      ['a', 'b'],
      ['d', 'e'],
    ]);
    expect(p.report.count).toBe(1);
    const strict = new RecordPolicy({ fields: 2, policy: 'error', wording: POLICY_WORDING.strict });
    const e = expectCodeSync(() => strict.screen({ firstRecord: 10, records: [['a', 'b'], ['c']] }), 'CSV_MALFORMED');
    expect(e.message).toBe('A record has another number of fields than the header.');
    expect(e.details).toMatchObject({ record: 11 });
  });

  it('refuses an unknown policy', () => {
    expectCodeSync(() => new RecordPolicy({ fields: 1, policy: 'ignore' as 'skip', wording: POLICY_WORDING.matching }), 'INVALID_ARGUMENT');
  });

  it('openPolicyCsv finds the column before reading records, and counts records read', async () => {
    await expect(openPolicyCsv(source('id,x\n1,2\n'), { column: 'bsn', onInvalid: 'error' })).rejects.toMatchObject({ code: 'CSV_COLUMN_NOT_FOUND' });
    const csv = await openPolicyCsv(source('bsn,x\n111222333,1\n123456789,2\n3\n'), { column: 'bsn', idType: 'bsn', onInvalid: 'skip' });
    const got = [];
    for await (const r of csv.records()) got.push(r);
    expect(got).toEqual([{ record: 1, fields: ['111222333', '1'], id: '111222333' }]);
    expect(csv.recordsRead).toBe(3);
    expect(csv.policy.report.byReason).toEqual({ 'INVALID_BSN/checksum': 1, 'CSV_MALFORMED/field-count': 1 });
  });
});

describe('every CSV path applies the same policy', () => {
  it('skip: the same records kept and the same skip report, for every caller, as the rule says', async () => {
    await fc.assert(
      fc.asyncProperty(specs, async (recs) => {
        const want = model(recs);
        const text = csvOf(recs);
        for (const [name, run] of Object.entries(CALLERS)) {
          const got = await run(text, 'skip');
          expect({ name, ...got }).toEqual({ name, ...want });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('error: every caller stops at the first invalid record, with the same code and record number', async () => {
    await fc.assert(
      fc.asyncProperty(specs, async (recs) => {
        const first = model(recs).rejected[0];
        const text = csvOf(recs);
        for (const [name, run] of Object.entries(CALLERS)) {
          const outcome = await run(text, 'error').then(
            () => undefined,
            (e: unknown) => e,
          );
          if (!first) {
            expect({ name, outcome }).toEqual({ name, outcome: undefined });
            continue;
          }
          expect(outcome).toBeInstanceOf(KoppelError);
          const e = outcome as KoppelError;
          expect({ name, code: e.code, record: e.details['record'], reason: e.details['reason'] }).toEqual({
            name,
            code: first.code,
            record: first.record,
            reason: first.reason,
          });
          expect(e.message).not.toMatch(/\d{8}/);
        }
      }),
      { numRuns: 40 },
    );
  });
});
