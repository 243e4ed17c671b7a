/**
 * `koppel check` end to end (issue 17): a dry run of one party's input under a linking
 * agreement. It finds the same invalid records, by the same record numbers, as the real
 * run with `--on-invalid skip --report FILE` (join both sides, PSI both sides), exits 1
 * exactly when the real run with `--on-invalid error` would stop, refuses an agreement
 * that does not parse and a party it does not name, and prints no value.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel } from '../helpers.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (name: string) => join(dir, name);
let port = 28000 + Math.floor(Math.random() * 2000);
const rng = new SyntheticRandom('check-e2e');
const people = Array.from({ length: 60 }, () => syntheticBsn(rng));
/** Nine digits that fail the elfproef: a valid BSN with its last digit changed. */
const broken = (b: string) => b.slice(0, 8) + String((Number(b[8]) + 1) % 10);

const tls = (who: 'server' | 'client') => {
  const p = testPki();
  return who === 'server'
    ? ['--tls-cert', p.serverCert, '--tls-key', p.serverKey, '--tls-ca', p.ca]
    : ['--tls-cert', p.clientCert, '--tls-key', p.clientKey, '--tls-ca', p.ca];
};
const common = ['--timeout', '20', '--idle-timeout', '20'];

/** Writes an agreement with `koppel agreement init --set ...` and has both parties sign it. */
async function agreement(name: string, protocol: 'join' | 'psi', parties: [string, string], sets: string[]): Promise<string> {
  const out = f(name);
  const init = await koppel([
    'agreement',
    'init',
    '--protocol',
    protocol,
    '--id',
    `check-${name}`,
    ...parties.flatMap((p) => ['--party', p]),
    ...sets.flatMap((s) => ['--set', s]),
    '--out',
    out,
  ]);
  expect(init.code, init.stderr).toBe(0);
  const p = testPki();
  for (const [spec, cert, key] of [
    [parties[0], p.serverCert, p.serverKey],
    [parties[1], p.clientCert, p.clientKey],
  ] as const) {
    const r = await koppel(['agreement', 'sign', out, '--party', spec.split(':')[0] as string, '--tls-cert', cert, '--tls-key', key]);
    expect(r.code, r.stderr).toBe(0);
  }
  return out;
}

const joinSets = [
  'parameters.variant="two-party"',
  'parties.cbs.input={"idColumn":"bsn","idType":"bsn","groupColumns":["province"]}',
  'parties.cbs.policy={"minCount":1}',
  'parties.logius.input={"idColumn":"bsn","idType":"bsn","valueColumns":["logins","letters"],"maxValue":100}',
  'parties.logius.policy={"minCount":1}',
];
const psiSets = [
  'parameters.mode="intersection"',
  'parties.rvig.input={"idColumn":"bsn","idType":"bsn"}',
  'parties.gemeente.input={"idColumn":"id","idType":"bsn"}',
];

interface CheckJson {
  recordsRead: number;
  valid: number;
  invalid: number;
  invalidByReason: Array<{ code: string; reason: string; count: number; firstRecords: number[] }>;
  duplicates?: { count: number; firstRecords: number[]; stops: boolean };
  groups?: { count: number; smallest: number };
  stops: Array<{ code: string; record?: number }>;
  wouldStop: boolean;
  signaturesVerified: boolean;
}

async function check(agreementPath: string, party: string, input: string, extra: string[] = []) {
  const r = await koppel(['check', '--agreement', agreementPath, '--party', party, '--in', input, '--summary', 'json', ...extra]);
  return { ...r, json: JSON.parse(r.stdout) as CheckJson };
}

/** The record numbers of a `--report` file, by `code/reason`. */
function reportByReason(path: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of readFileSync(path, 'utf8').trim().split('\n').slice(1)) {
    const [record, code, reason] = line.split(',') as [string, string, string];
    (out[`${code}/${reason}`] ??= []).push(Number(record));
  }
  return out;
}
const checkByReason = (j: CheckJson) => Object.fromEntries(j.invalidByReason.map((x) => [`${x.code}/${x.reason}`, x.firstRecords]));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-check-e2e-'));
  const a = people.slice(0, 40).map((b, i) => [b, i % 2 ? 'Utrecht' : 'Zeeland']);
  // Group holder: a bad checksum (record 3), letters (7), a field too many (12), too few (20), empty id (31).
  a[2] = [broken(a[2]?.[0] as string), 'Zeeland'];
  a[6] = ['12ab56789', 'Zeeland'];
  a[11] = [...(a[11] as string[]), 'extra'];
  a[19] = [a[19]?.[0] as string];
  a[30] = ['', 'Utrecht'];
  writeFileSync(f('cbs.csv'), 'bsn,province\n' + a.map((r) => r.join(',')).join('\n') + '\n');
  const b = people.slice(10, 50).map((p, i) => [p, String(i), String(i % 7)]);
  // Value holder: above the maximum (record 2), not whole (5), negative (9), a bad
  // checksum (14), a field too few (22), not a number (30), empty (33).
  (b[1] as string[])[1] = '101';
  (b[4] as string[])[2] = '1.5';
  (b[8] as string[])[1] = '-1';
  (b[13] as string[])[0] = broken(b[13]?.[0] as string);
  b[21] = (b[21] as string[]).slice(0, 2);
  (b[29] as string[])[2] = 'many';
  (b[32] as string[])[1] = '';
  writeFileSync(f('logius.csv'), 'bsn,logins,letters\n' + b.map((r) => r.join(',')).join('\n') + '\n');
  writeFileSync(
    f('logius-clean.csv'),
    'bsn,logins,letters\n' +
      people
        .slice(10, 50)
        .map((p, i) => `${p},${i % 100},1`)
        .join('\n') +
      '\n',
  );
  writeFileSync(f('logius-dup.csv'), 'bsn,logins,letters\n' + [...people.slice(0, 5), people[2]].map((p) => `${p},1,1`).join('\n') + '\n');
  // PSI: the server's set with a bad checksum (4) and a field too many (9); the client's
  // id column second, with a bad checksum (2), letters (6) and a field too few (11).
  const s = people.slice(0, 20).map((p) => [p, 'x']);
  s[3] = [broken(s[3]?.[0] as string), 'x'];
  s[8] = [...(s[8] as string[]), 'y'];
  writeFileSync(f('rvig.csv'), 'bsn,note\n' + s.map((r) => r.join(',')).join('\n') + '\n');
  const c = people.slice(5, 25).map((p, i) => [String(i), p]);
  c[1] = ['1', broken(c[1]?.[1] as string)];
  c[5] = ['5', 'BSN?'];
  c[10] = ['10'];
  writeFileSync(f('gemeente.csv'), 'n,id\n' + c.map((r) => r.join(',')).join('\n') + '\n');
});

describe('koppel check', () => {
  it('koppel check finds every invalid record a real join run would: the same record numbers as join groups|values --on-invalid skip --report', async () => {
    const path = await agreement('join.json', 'join', ['cbs:groups:server', 'logius:values:client'], joinSets);
    const addr = `127.0.0.1:${port++}`;
    const skip = ['--on-invalid', 'skip'];
    const [g, v] = await Promise.all([
      koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f('cbs.csv'),
        '--agreement',
        path,
        '--out',
        f('table.csv'),
        ...skip,
        '--report',
        f('real-cbs.csv'),
        ...common,
        ...tls('server'),
      ]),
      koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f('logius.csv'),
        '--agreement',
        path,
        ...skip,
        '--report',
        f('real-logius.csv'),
        ...common,
        ...tls('client'),
      ]),
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(v.code, v.stderr).toBe(0);
    for (const [party, input] of [
      ['cbs', 'cbs.csv'],
      ['logius', 'logius.csv'],
    ] as const) {
      const r = await check(path, party, f(input), ['--report', f(`check-${party}.csv`)]);
      expect(r.code, r.stderr).toBe(1);
      const real = reportByReason(f(`real-${party}.csv`));
      // Fewer than FIRST_RECORDS per reason here, so the summary lists them all.
      expect(checkByReason(r.json)).toEqual(real);
      expect(readFileSync(f(`check-${party}.csv`), 'utf8')).toBe(readFileSync(f(`real-${party}.csv`), 'utf8'));
      expect(r.json.invalid).toBe(Object.values(real).flat().length);
      expect(r.json.recordsRead).toBe(40);
      expect(r.json.valid).toBe(40 - r.json.invalid);
      expect(r.json.signaturesVerified).toBe(false);
      expect(r.stderr).toMatch(/CHECK_FAILED/);
    }
    // The reasons the files were built with, by record number.
    expect(reportByReason(f('real-logius.csv'))).toEqual({
      'VALUE_OUT_OF_RANGE/value': [2, 5, 9, 30, 33],
      'INVALID_BSN/checksum': [14],
      'CSV_MALFORMED/field-count': [22],
    });
    expect(reportByReason(f('real-cbs.csv'))).toEqual({
      'INVALID_BSN/checksum': [3],
      'INVALID_BSN/non-digit': [7],
      'CSV_MALFORMED/field-count': [12, 20],
      'INVALID_BSN/empty': [31],
    });
    const groups = (await check(path, 'cbs', f('cbs.csv'))).json.groups;
    expect(groups).toEqual(expect.objectContaining({ count: 2 }));
  });

  it('koppel check finds every invalid record a real PSI run would: the same record numbers as psi serve|connect --on-invalid skip --report', async () => {
    const path = await agreement('psi.json', 'psi', ['rvig:server:server', 'gemeente:client:client'], psiSets);
    const addr = `127.0.0.1:${port++}`;
    const skip = ['--on-invalid', 'skip'];
    const [s, c] = await Promise.all([
      koppel([
        'psi',
        'serve',
        '--listen',
        addr,
        '--in',
        f('rvig.csv'),
        '--agreement',
        path,
        ...skip,
        '--report',
        f('real-rvig.csv'),
        ...common,
        ...tls('server'),
      ]),
      koppel([
        'psi',
        'connect',
        '--connect',
        addr,
        '--in',
        f('gemeente.csv'),
        '--agreement',
        path,
        '--out',
        f('matches.csv'),
        ...skip,
        '--report',
        f('real-gemeente.csv'),
        ...common,
        ...tls('client'),
      ]),
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    for (const party of ['rvig', 'gemeente']) {
      const r = await check(path, party, f(`${party}.csv`), ['--report', f(`check-${party}.csv`)]);
      expect(r.code, r.stderr).toBe(1);
      expect(checkByReason(r.json)).toEqual(reportByReason(f(`real-${party}.csv`)));
      expect(readFileSync(f(`check-${party}.csv`), 'utf8')).toBe(readFileSync(f(`real-${party}.csv`), 'utf8'));
    }
    expect(reportByReason(f('real-rvig.csv'))).toEqual({ 'INVALID_BSN/checksum': [4], 'CSV_MALFORMED/field-count': [9] });
    expect(reportByReason(f('real-gemeente.csv'))).toEqual({
      'INVALID_BSN/checksum': [2],
      'INVALID_BSN/non-digit': [6],
      'CSV_MALFORMED/field-count': [11],
    });
  });

  it('koppel check exits 1 exactly when the real run with --on-invalid error would stop: 0 on a clean file, 1 on a duplicate or an invalid record', async () => {
    const path = await agreement('exit.json', 'join', ['cbs:groups:server', 'logius:values:client'], joinSets);
    const clean = await check(path, 'logius', f('logius-clean.csv'));
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json).toMatchObject({ recordsRead: 40, valid: 40, invalid: 0, wouldStop: false, duplicates: { count: 0 } });
    // A repeated identifier stops the join whatever --on-invalid says.
    const dup = await check(path, 'logius', f('logius-dup.csv'));
    expect(dup.code).toBe(1);
    expect(dup.json.duplicates).toEqual({ count: 1, firstRecords: [6], stops: true });
    // The real run with --on-invalid error stops too, on the first invalid record.
    const addr = `127.0.0.1:${port++}`;
    const [, real] = await Promise.all([
      koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f('logius-clean.csv'),
        '--id-column',
        'bsn',
        '--group-columns',
        'letters',
        '--id-type',
        'bsn',
        '--insecure',
        '--timeout',
        '5',
      ]),
      koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f('logius.csv'),
        '--id-column',
        'bsn',
        '--id-type',
        'bsn',
        '--value-columns',
        'logins,letters',
        '--max-value',
        '100',
        '--insecure',
        '--timeout',
        '5',
      ]),
    ]);
    expect(real.code).toBe(1);
    expect(real.stderr).toMatch(/VALUE_OUT_OF_RANGE.*record=2/);
    const bad = await koppel(['check', '--agreement', path, '--party', 'logius', '--in', f('logius.csv')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/CHECK_FAILED: The real run would stop: 7 invalid records, 0 other stops, the first at record 2 \(VALUE_OUT_OF_RANGE\)/);
    expect(bad.stdout).toMatch(/signatures: not verified/);
  });

  it('koppel check finds every record an aggregation input would refuse, the one the real aggregate input stops at among them', async () => {
    const round = readFileSync(new URL('../../examples/round.json', import.meta.url), 'utf8');
    writeFileSync(f('round.json'), round);
    const init = await koppel([
      'agreement',
      'init',
      '--protocol',
      'aggregate',
      '--id',
      'check-aggregate',
      '--party',
      'gem:input:client',
      '--party',
      'agg:aggregator:server',
      '--party',
      'col:collector:server',
      '--set',
      `round=${round.replace(/\n/g, '')}`,
      '--out',
      f('aggregate.json'),
    ]);
    expect(init.code, init.stderr).toBe(0);
    // An unknown label (record 3), above the maximum (4), not a number (6), a field too few (8).
    const rows = [
      'Groningen,single,5',
      'Utrecht,family,3',
      'Amsterdam,single,1',
      'Utrecht,single,1001',
      'Groningen,family,7',
      'Groningen,family,x',
      'Utrecht,single,0',
      'Utrecht,single',
    ];
    writeFileSync(f('input.csv'), 'region,household,logins\n' + rows.join('\n') + '\n');
    const r = await check(f('aggregate.json'), 'gem', f('input.csv'));
    expect(r.code, r.stderr).toBe(1);
    expect(checkByReason(r.json)).toEqual({ 'INVALID_ARGUMENT/label': [3], 'INVALID_ARGUMENT/value': [4, 6], 'CSV_MALFORMED/field-count': [8] });
    expect(r.json).toMatchObject({ recordsRead: 8, valid: 4, invalid: 4 });
    // The real run tabulates before it contacts anyone, and stops at one of them.
    const real = await koppel([
      'aggregate',
      'input',
      '--round',
      f('round.json'),
      '--party',
      'gem',
      '--aggregators',
      '127.0.0.1:1,127.0.0.1:2',
      '--in',
      f('input.csv'),
      '--insecure',
      '--timeout',
      '2',
    ]);
    expect(real.code).toBe(1);
    const stoppedAt = Number(/record=(\d+)/.exec(real.stderr)?.[1]);
    expect([3, 4, 6, 8]).toContain(stoppedAt);
  });

  it('koppel check refuses an agreement that does not parse and a party the agreement does not name', async () => {
    const path = await agreement('refuse.json', 'join', ['cbs:groups:server', 'logius:values:client'], joinSets);
    writeFileSync(f('broken.json'), readFileSync(path, 'utf8').replace('"protocol": "join"', '"protocol": "jion"'));
    const broken = await koppel(['check', '--agreement', f('broken.json'), '--party', 'cbs', '--in', f('cbs.csv')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/AGREEMENT_INVALID/);
    expect(broken.stdout).toBe('');
    const unknown = await koppel(['check', '--agreement', path, '--party', 'rivm', '--in', f('cbs.csv')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/AGREEMENT_INVALID: The agreement names no party "rivm"/);
    expect(unknown.stdout).toBe('');
  });

  it('koppel check prints no value: a file whose every field is a valid BSN leaves none in stdout or stderr', async () => {
    const path = await agreement('novalue.json', 'join', ['cbs:groups:server', 'logius:values:client'], joinSets);
    // Every field a valid BSN: ids, group labels, values (all above the maximum), and
    // field counts off, duplicates, in both the text and the JSON report.
    const rows = people.slice(0, 30).map((p, i) => [p, people[(i + 7) % 60] as string, people[(i + 13) % 60] as string]);
    rows[4] = [...(rows[4] as string[]), people[50] as string];
    rows[9] = rows[9]?.slice(0, 2) as string[];
    rows[12] = [...(rows[0] as string[])];
    writeFileSync(f('all-bsn.csv'), 'bsn,logins,letters\n' + rows.map((r) => r.join(',')).join('\n') + '\n');
    writeFileSync(f('all-bsn-groups.csv'), 'bsn,province\n' + rows.map((r) => r.slice(0, 2).join(',')).join('\n') + '\n');
    const outputs = [
      await koppel(['check', '--agreement', path, '--party', 'logius', '--in', f('all-bsn.csv')]),
      await koppel(['check', '--agreement', path, '--party', 'logius', '--in', f('all-bsn.csv'), '--summary', 'json']),
      await koppel(['check', '--agreement', path, '--party', 'cbs', '--in', f('all-bsn-groups.csv')]),
      await koppel(['check', '--agreement', path, '--party', 'cbs', '--in', f('all-bsn-groups.csv'), '--log', 'json']),
    ];
    for (const r of outputs) {
      expect(r.code).toBe(1);
      const text = r.stdout + r.stderr;
      for (const p of people) expect(text).not.toContain(p);
      // No run of eight or more digits but the agreement's hash and JSON timestamps.
      expect(text.replace(/[0-9a-f]{64}/g, '').replace(/"time":"[^"]*"/g, '')).not.toMatch(/\d{8,}/);
    }
    expect(outputs[0]?.stdout).toMatch(/VALUE_OUT_OF_RANGE\/value: \d+ \(records 1, 2, 3/);
    expect(outputs[2]?.stdout).toMatch(/duplicates: 1 \(record 13; the run refuses them\)/);
  });
});
