/**
 * No value in any message: every CSV-reading command is fed files whose every field is
 * a valid BSN (headerless, with a header, wrong column names, wrong field counts, a BSN
 * in a value column) and neither its error output nor its summary holds any field
 * value: no run of eight or more digits, and none of the BSNs in the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { CLI, runKoppel as koppel } from '../helpers.js';

let dir: string;
let keyFile: string;
const f = (n: string) => join(dir, n);
const rng = new SyntheticRandom('no-values-e2e');
const bsns = Array.from({ length: 60 }, () => syntheticBsn(rng));
/** Nine digits that fail the BSN check (the last digit of a valid one, changed). */
const invalid = (bsns[59] as string).slice(0, 8) + String((Number((bsns[59] as string)[8]) + 1) % 10);
const values = [...bsns, invalid];
let outs = 0;
let port = 19600 + Math.floor(Math.random() * 300);

/** Rows of `width` BSNs each, drawn in turn from `bsns`. */
function rows(n: number, width: number, from: number): string[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, j) => bsns[(from + i * width + j) % bsns.length] as string));
}
const lines = (rs: string[][], d = ',') => rs.map((r) => r.join(d)).join('\n') + '\n';

/** The output a command leaves for its user (stderr: errors, logs, summaries; stdout). */
function expectNoValue(text: string): void {
  // The long numbers a command prints of its own: a JSON summary's peak memory, and
  // hex key ids (12 digits) and fingerprints (16 or more), which may be digits only.
  const own = text.replace(/"peakRssBytes":\d+/g, '').replace(/\b(?:[0-9a-f]{12}|[0-9a-f]{16,})\b/g, '');
  expect(own).not.toMatch(/\d{8,}/);
  for (const v of values) expect(text).not.toContain(v);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-novalues-'));
  keyFile = f('k.key');
  expect((await koppel(['keygen', '--out', keyFile, '--label', 'test'])).code).toBe(0);
  // Every field of every file is a valid BSN, header lines included when there is no header.
  writeFileSync(f('headerless.csv'), lines(rows(5, 3, 0)));
  writeFileSync(f('headerless-semicolon.csv'), lines(rows(5, 3, 15), ';'));
  // With a header: record 2 has one field too many, record 4 one too few.
  const counted = rows(5, 3, 30).map((r, i) => (i === 1 ? [...r, bsns[0] as string] : i === 3 ? r.slice(0, 2) : r));
  writeFileSync(f('field-counts.csv'), 'bsn,region,logins\n' + lines(counted));
  // With a header: every field a BSN, so region labels and value columns hold BSNs too,
  // and record 5's identifier is nine digits that are not a valid BSN.
  const valued = rows(5, 3, 45);
  (valued[4] as string[])[0] = invalid;
  writeFileSync(f('values.csv'), 'bsn,region,logins\n' + lines(valued));
  // For aggregation: labels from the codebook, and a BSN in the value column.
  writeFileSync(
    f('agg-values.csv'),
    'bsn,region,logins\n' +
      rows(5, 2, 10)
        .map(([b, v]) => `${b},Utrecht,${v}`)
        .join('\n') +
      '\n',
  );
  writeFileSync(
    f('round.json'),
    JSON.stringify({
      round: 'nv-1',
      codebook: {
        id: 'nv',
        dimensions: [{ name: 'region', labels: ['Utrecht', 'Zeeland'] }],
        values: [{ name: 'logins', scale: 0, min: '0', max: '100' }],
        maxInputs: 10,
        maxRecordsPerInput: 1000,
      },
      aggregators: 2,
      minInputs: 1,
      deadline: new Date(Date.now() + 600_000).toISOString(),
    }),
  );
});

const headerless = ['headerless.csv', 'headerless-semicolon.csv'];
const all = [...headerless, 'field-counts.csv', 'values.csv'];
const net = ['--insecure', '--timeout', '2', '--idle-timeout', '2'];

/**
 * Each CSV-reading command, given one input file; none gets as far as a peer. PSI and
 * the join read records only once connected: they get their record errors in real
 * runs below.
 */
const commands: Record<string, (file: string) => string[]> = {
  pseudonymise: (file) => [
    'pseudonymise',
    '--key',
    keyFile,
    '--domain',
    'd',
    '--column',
    'bsn',
    '--id-type',
    'bsn',
    '--in',
    f(file),
    '--out',
    f(`out-${++outs}.csv`),
    '--summary',
    'json',
  ],
  'psi serve': (file) => [
    'psi',
    'serve',
    '--listen',
    '127.0.0.1:1',
    '--in',
    f(file),
    '--column',
    'bsn',
    '--id-type',
    'bsn',
    '--mode',
    'payload',
    '--payload-columns',
    'logins',
    '--summary',
    'json',
    ...net,
  ],
  'psi connect': (file) => ['psi', 'connect', '--connect', '127.0.0.1:1', '--in', f(file), '--column', 'bsn', '--id-type', 'bsn', '--summary', 'json', ...net],
  'join groups': (file) => [
    'join',
    'groups',
    '--listen',
    '127.0.0.1:1',
    '--in',
    f(file),
    '--id-column',
    'bsn',
    '--id-type',
    'bsn',
    '--group-columns',
    'region',
    '--summary',
    'json',
    ...net,
  ],
  'join values': (file) => [
    'join',
    'values',
    '--connect',
    '127.0.0.1:1',
    '--in',
    f(file),
    '--id-column',
    'bsn',
    '--id-type',
    'bsn',
    '--value-columns',
    'logins',
    '--max-value',
    '1000',
    '--summary',
    'json',
    ...net,
  ],
  'aggregate input': (file) => [
    'aggregate',
    'input',
    '--round',
    f('round.json'),
    '--party',
    'p0',
    '--aggregators',
    '127.0.0.1:1,127.0.0.1:2',
    '--in',
    f(file),
    ...net,
  ],
};

describe('no field value in any message of a CSV-reading command', () => {
  const cases = Object.keys(commands).flatMap((c) => (c === 'pseudonymise' || c === 'aggregate input' ? all : headerless).map((file) => [c, file] as const));
  it.each(cases)('%s on %s: stderr and stdout hold no field value', async (command, file) => {
    const r = await koppel((commands[command] as (file: string) => string[])(file));
    expect(r.code).not.toBe(0);
    expectNoValue(r.stderr);
    expectNoValue(r.stdout);
    if (file.startsWith('headerless')) expect(r.stderr).toContain('CSV_COLUMN_NOT_FOUND');
  });

  it('aggregate input with a BSN in a value column, and BSNs as record keys: no value in its output', async () => {
    for (const extra of [[], ['--key-column', 'bsn']]) {
      const file = extra.length === 0 ? 'agg-values.csv' : 'values.csv';
      const r = await koppel([...(commands['aggregate input'] as (file: string) => string[])(file), ...extra]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('INVALID_ARGUMENT');
      expectNoValue(r.stderr);
      expectNoValue(r.stdout);
    }
  });

  it('pseudonymise --on-invalid report: the summary and the report hold record numbers, no value', async () => {
    const r = await koppel([
      ...(commands['pseudonymise'] as (file: string) => string[])('field-counts.csv'),
      '--on-invalid',
      'report',
      '--report',
      f('report.csv'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expectNoValue(r.stderr);
    expectNoValue(readFileSync(f('report.csv'), 'utf8'));
    expect(JSON.parse(r.stderr.trim().split('\n').pop() as string)).toMatchObject({ rejected: 2 });
  });

  it('a real psi run with rejected records: both summaries hold no value', async () => {
    const addr = `127.0.0.1:${port++}`;
    const common = [
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--on-invalid',
      'skip',
      '--summary',
      'json',
      '--insecure',
      '--timeout',
      '20',
      '--idle-timeout',
      '20',
    ];
    const [s, c] = await Promise.all([
      koppel(['psi', 'serve', '--listen', addr, '--in', f('field-counts.csv'), ...common]),
      koppel(['psi', 'connect', '--connect', addr, '--in', f('values.csv'), '--out', f('inter.csv'), ...common]),
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    for (const t of [s.stderr, s.stdout, c.stderr, c.stdout]) expectNoValue(t);
  });

  it('a real psi run stopped by a bad record: both error outputs hold no value', async () => {
    const addr = `127.0.0.1:${port++}`;
    const common = ['--column', 'bsn', '--id-type', 'bsn', '--summary', 'json', '--insecure', '--timeout', '20', '--idle-timeout', '20'];
    const [s, c] = await Promise.all([
      koppel(['psi', 'serve', '--listen', addr, '--in', f('values.csv'), ...common]),
      koppel(['psi', 'connect', '--connect', addr, '--in', f('field-counts.csv'), '--out', f('inter-2.csv'), ...common]),
    ]);
    expect([s.code, c.code].some((code) => code !== 0)).toBe(true);
    for (const t of [s.stderr, s.stdout, c.stderr, c.stdout]) expectNoValue(t);
  });

  it('a real join whose values are BSNs (out of range) and whose groups have wrong field counts: no value in any output', async () => {
    const addr = `127.0.0.1:${port++}`;
    const common = ['--id-column', 'bsn', '--id-type', 'bsn', '--summary', 'json', '--insecure', '--timeout', '20', '--idle-timeout', '20'];
    const [g, v] = await Promise.all([
      koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f('field-counts.csv'),
        '--group-columns',
        'region',
        '--on-invalid',
        'skip',
        '--out',
        f('table.csv'),
        ...common,
      ]),
      koppel(['join', 'values', '--connect', addr, '--in', f('values.csv'), '--value-columns', 'logins', '--max-value', '1000', ...common]),
    ]);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/VALUE_OUT_OF_RANGE|INVALID_BSN/);
    for (const t of [g.stderr, g.stdout, v.stderr, v.stdout]) expectNoValue(t);
  });
});

describe('no field value in any message of pseudonymise --oprf, nor in the service log', () => {
  let server: ChildProcess | undefined;
  let log = '';
  const oprfPort = port++;
  beforeAll(async () => {
    expect((await koppel(['oprf', 'keygen', '--out', f('oprf.key')])).code).toBe(0);
    const child = spawn(process.execPath, [CLI, 'oprf', 'serve', '--key', f('oprf.key'), '--listen', `127.0.0.1:${oprfPort}`, '--insecure', '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    await new Promise<void>((resolve, reject) => {
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        if (d.includes('listening on')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`oprf serve exited ${code}`)));
    });
  });
  afterAll(() => {
    server?.kill('SIGKILL');
  });

  it.each(all)('pseudonymise --oprf on %s: stderr, stdout and the service log hold no field value', async (file) => {
    const r = await koppel([
      'pseudonymise',
      '--oprf',
      `http://127.0.0.1:${oprfPort}`,
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      f(file),
      '--out',
      f(`oprf-out-${++outs}.csv`),
      '--threads',
      '1',
      '--summary',
      'json',
    ]);
    expect(r.code).not.toBe(0);
    expectNoValue(r.stderr);
    expectNoValue(r.stdout);
    expectNoValue(log);
    if (file.startsWith('headerless')) expect(r.stderr).toContain('CSV_COLUMN_NOT_FOUND');
  });
});
