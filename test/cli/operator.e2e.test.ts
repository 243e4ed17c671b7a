/**
 * What an operator at an agency sees, end to end on realistic files with some invalid
 * BSNs: Excel exports (BOM, CRLF) round-trip through every command; a cp1252 byte is
 * reported at its record; listeners say which port they got; progress has a total;
 * `--log json` makes every stderr line JSON; exit statuses are the documented ones;
 * the example round file and the test-PKI script of examples/ work as docs/ say;
 * `--report` and `--meta` write what they promise.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readRoundFile } from '../../src/cli/aggregate.js';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { KoppelError } from '../../src/errors/index.js';
import { listeningPort, runKoppel as koppel, startKoppel } from '../helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
/** A BSN that fails the elfproef. */
const INVALID_BSN = '123456789';

let dir: string;
const f = (n: string) => join(dir, n);
let ids: string[];
let keyFile: string;

/** An Excel export: BOM, CRLF, the given rows. */
function excelFile(name: string, header: string, rows: string[]): string {
  writeFileSync(f(name), '\ufeff' + [header, ...rows].join('\r\n') + '\r\n');
  return f(name);
}

/** Asserts a file is in Excel style: starts with the BOM, every line ends in CRLF. */
function expectExcelStyle(path: string): string {
  const text = readFileSync(path, 'utf8');
  expect(text.startsWith('\ufeff'), path).toBe(true);
  expect(text.endsWith('\r\n'), path).toBe(true);
  expect(text.replaceAll('\r\n', ''), path).not.toContain('\n');
  return text.slice(1);
}

const lines = (text: string) => text.split('\r\n').filter((l) => l !== '');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** True when a TCP connection to the port succeeds. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-operator-'));
  const rng = new SyntheticRandom('operator-e2e');
  ids = Array.from({ length: 3000 }, () => syntheticBsn(rng));
  keyFile = f('k.key');
  expect((await koppel(['keygen', '--out', keyFile])).code).toBe(0);
});

describe('Excel fidelity end to end', () => {
  it('pseudonymise on worker threads keeps the BOM and CRLF, in the output and in the --report file, and names each skipped record', async () => {
    const rows = ids.slice(0, 500).map((b, i) => `${i === 4 || i === 16 ? INVALID_BSN : b},R${i % 3}`);
    const input = excelFile('persons.csv', 'bsn,region', rows);
    const r = await koppel([
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'cbs/2026/test',
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      input,
      '--out',
      f('persons.pseud.csv'),
      '--on-invalid',
      'skip',
      '--report',
      f('rejected.csv'),
      '--threads',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(expectExcelStyle(f('persons.pseud.csv')));
    expect(out[0]).toBe('bsn,region');
    expect(out.length).toBe(1 + 498);
    expect(lines(expectExcelStyle(f('rejected.csv')))).toEqual(['record,code,reason', '5,INVALID_BSN,checksum', '17,INVALID_BSN,checksum']);
  });

  it('a cp1252 byte at record 12,000 is CSV_MALFORMED at record 12,000 (worker threads), exit 1, and no output file', async () => {
    const parts = [Buffer.from('bsn,name\n')];
    for (let r = 1; r <= 20_000; r++)
      parts.push(r === 12_000 ? Buffer.from([...Buffer.from(`${ids[0]},Ren`), 0xe9, 0x0a]) : Buffer.from(`${ids[r % 3000]},n${r}\n`));
    writeFileSync(f('cp1252.csv'), Buffer.concat(parts));
    const r = await koppel([
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'd/1',
      '--column',
      'bsn',
      '--in',
      f('cp1252.csv'),
      '--out',
      f('cp1252.out.csv'),
      '--threads',
      '2',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CSV_MALFORMED');
    expect(r.stderr).toContain('record=12000');
    expect(existsSync(f('cp1252.out.csv'))).toBe(false);
  });

  it('psi connect keeps the BOM and CRLF, prefixes payload columns that clash with its own (and says so), and --report names the skipped records on both sides', async () => {
    const client = excelFile(
      'psi-client.csv',
      'bsn,region',
      ids.slice(0, 1000).map((b, i) => `${i === 9 ? INVALID_BSN : b},R${i % 4}`),
    );
    const server = excelFile(
      'psi-server.csv',
      'id,region,logins',
      ids.slice(500, 1500).map((b, i) => `${i === 2 ? INVALID_BSN : b},S${i % 3},${i % 17}`),
    );
    const common = ['--id-type', 'bsn', '--mode', 'payload', '--on-invalid', 'skip', '--insecure', '--timeout', '20'];
    const serve = startKoppel([
      'psi',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--in',
      server,
      '--column',
      'id',
      '--payload-columns',
      'region,logins',
      '--report',
      f('psi-server-skipped.csv'),
      ...common,
    ]);
    const port = await listeningPort(serve);
    const c = await koppel([
      'psi',
      'connect',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      client,
      '--column',
      'bsn',
      '--out',
      f('psi-out.csv'),
      '--report',
      f('psi-client-skipped.csv'),
      '--summary',
      'json',
      ...common,
    ]);
    const s = await serve.done;
    expect(c.code, c.stderr).toBe(0);
    expect(s.code, s.stderr).toBe(0);
    const out = lines(expectExcelStyle(f('psi-out.csv')));
    expect(out[0]).toBe('bsn,region,payload_region,logins');
    expect(out.length - 1).toBe(499); // ids 500..999 less the server's invalid one (index 502)
    expect(out.every((l, i) => i === 0 || /^\d{9},R\d,S\d,\d+$/.test(l))).toBe(true);
    const summary = JSON.parse(c.stderr.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(summary['renamedPayloadColumns']).toEqual([{ from: 'region', to: 'payload_region' }]);
    expect(lines(expectExcelStyle(f('psi-client-skipped.csv')))).toEqual(['record,code,reason', '10,INVALID_BSN,checksum']);
    expect(lines(expectExcelStyle(f('psi-server-skipped.csv')))).toEqual(['record,code,reason', '3,INVALID_BSN,checksum']);
  });

  it('psi --report without --on-invalid skip is a usage error', async () => {
    const r = await koppel([
      'psi',
      'connect',
      '--connect',
      '127.0.0.1:1',
      '--in',
      f('psi-client.csv'),
      '--column',
      'bsn',
      '--insecure',
      '--report',
      f('x.csv'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--report needs --on-invalid skip');
  });
});

describe('the test PKI of examples/make-test-pki.sh (docs/tls.md), a join with --meta and --report', () => {
  it('makes a CA and party certificates with which join groups and join values run over mutual TLS, pinned by name; the table keeps the Excel style and is ordered by label; --meta has parameters, counts, suppression, the peer, times and hashes', async () => {
    const pkiDir = f('pki');
    const made = execFileSync(join(EXAMPLES, 'make-test-pki.sh'), [pkiDir, 'cbs', 'logius'], { encoding: 'utf8' });
    expect(made).toMatch(/^logius: .* sha256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    for (const n of ['ca.crt', 'cbs.crt', 'cbs.key', 'logius.crt', 'logius.key']) expect(existsSync(join(pkiDir, n)), n).toBe(true);
    for (const n of readdirSync(pkiDir).filter((x) => x.endsWith('.key'))) expect(statSync(join(pkiDir, n)).mode & 0o077, n).toBe(0);
    const tls = (self: string, peer: string) => [
      '--tls-cert',
      join(pkiDir, `${self}.crt`),
      '--tls-key',
      join(pkiDir, `${self}.key`),
      '--tls-ca',
      join(pkiDir, 'ca.crt'),
      '--peer',
      peer,
    ];
    const regions = ['Zeeland', 'Drenthe', 'Utrecht'];
    const cbs = excelFile(
      'cbs.csv',
      'bsn,province,size',
      ids.slice(0, 1200).map((b, i) => `${b},${regions[i % 3]},${String(i % 2 === 0 ? 2 : 10)}`),
    );
    const logius = excelFile(
      'logius.csv',
      'bsn,logins',
      ids.slice(200, 1400).map((b, i) => `${i === 7 ? INVALID_BSN : b},${i % 9}`),
    );
    const common = ['--id-column', 'bsn', '--id-type', 'bsn', '--timeout', '30', '--idle-timeout', '30'];
    const groups = startKoppel([
      'join',
      'groups',
      '--listen',
      '127.0.0.1:0',
      '--in',
      cbs,
      '--group-columns',
      'province,size',
      '--out',
      f('table.csv'),
      '--meta',
      f('meta.json'),
      '--totals',
      ...common,
      ...tls('cbs', 'logius'),
    ]);
    const port = await listeningPort(groups);
    const values = await koppel([
      'join',
      'values',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      logius,
      '--value-columns',
      'logins',
      '--max-value',
      '100',
      '--on-invalid',
      'skip',
      '--report',
      f('logius-skipped.csv'),
      ...common,
      ...tls('logius', 'cbs'),
    ]);
    const g = await groups.done;
    expect(values.code, values.stderr).toBe(0);
    expect(g.code, g.stderr).toBe(0);
    const table = lines(expectExcelStyle(f('table.csv')));
    expect(table[0]).toBe('province,size,count,sum_logins,suppressed,rule');
    const keys = table.slice(1).map((l) => l.split(',').slice(0, 2).join('/'));
    expect(keys).toEqual([
      'Drenthe/2',
      'Drenthe/10',
      'Utrecht/2',
      'Utrecht/10',
      'Zeeland/2',
      'Zeeland/10',
      'Drenthe/*',
      'Utrecht/*',
      'Zeeland/*',
      '*/2',
      '*/10',
      '*/*',
    ]);
    expect(lines(expectExcelStyle(f('logius-skipped.csv')))).toEqual(['record,code,reason', '8,INVALID_BSN,checksum']);
    const meta = JSON.parse(readFileSync(f('meta.json'), 'utf8')) as Record<string, unknown> & { suppression: Record<string, number> };
    expect(meta['command']).toBe('join groups');
    expect(meta['parameters']).toMatchObject({
      variant: 'two-party',
      groupColumns: ['province', 'size'],
      valueColumns: ['logins'],
      minCount: 10,
      totals: true,
      maxValue: 100,
    });
    expect(meta['counts']).toMatchObject({ records: 1200, skipped: 0, matched: 999, groups: 6, valueRecords: 1199, rows: 12 }); // ids[207] is Logius's invalid record
    const sup = meta.suppression;
    expect(sup['suppressed']).toBe((sup['threshold'] as number) + (sup['secondary'] as number));
    expect((sup['published'] as number) + (sup['suppressed'] as number)).toBe(12);
    const fingerprint = (made.match(/^logius: .* sha256 (.*)$/m) as RegExpMatchArray)[1]!.replaceAll(':', '').toLowerCase();
    expect(meta['peer']).toEqual({ name: 'logius', fingerprint, authenticated: true });
    expect(Date.parse(meta['finishedAt'] as string)).toBeGreaterThanOrEqual(Date.parse(meta['startedAt'] as string));
    expect(meta['inputs']).toEqual([{ path: cbs, sha256: sha256(cbs), bytes: readFileSync(cbs).length }]);
    expect(meta['outputs']).toEqual([{ path: f('table.csv'), sha256: sha256(f('table.csv')), bytes: readFileSync(f('table.csv')).length }]);
  });
});

describe('the example round file (examples/round.json)', () => {
  it('parses, with min and max as JSON numbers, to the same codebook as with strings', () => {
    const fromNumbers = readRoundFile(join(EXAMPLES, 'round.json'));
    const json = JSON.parse(readFileSync(join(EXAMPLES, 'round.json'), 'utf8')) as { codebook: { values: Array<{ min: unknown; max: unknown }> } };
    expect(json.codebook.values[0]).toMatchObject({ min: 0, max: 1000 });
    json.codebook.values = json.codebook.values.map((v) => ({ ...v, min: String(v.min), max: String(v.max) }));
    writeFileSync(f('round-strings.json'), JSON.stringify(json));
    expect(readRoundFile(f('round-strings.json')).codebook.hash).toBe(fromNumbers.codebook.hash);
  });

  it("a malformed round file is a usage error naming the local file, not the peer's", async () => {
    writeFileSync(
      f('bad-round.json'),
      JSON.stringify({ round: 'x', codebook: { id: 'c', dimensions: [], values: [{ name: 'v', scale: 0, min: true, max: 1 }] } }),
    );
    let error: unknown;
    try {
      readRoundFile(f('bad-round.json'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KoppelError);
    expect((error as KoppelError).message).toContain(f('bad-round.json'));
    expect((error as KoppelError).message).not.toMatch(/peer/i);
    // A well-formed file whose codebook koppel refuses (min above max) is named too.
    const json = JSON.parse(readFileSync(join(EXAMPLES, 'round.json'), 'utf8')) as { codebook: { values: Array<Record<string, unknown>> } };
    json.codebook.values[0] = { ...json.codebook.values[0], min: 5, max: 1 };
    writeFileSync(f('inverted-round.json'), JSON.stringify(json));
    expect(() => readRoundFile(f('inverted-round.json'))).toThrow(`The round file "${f('inverted-round.json')}" has a codebook koppel cannot use`);
    const r = await koppel(['aggregate', 'collect', '--round', f('bad-round.json'), '--listen', '127.0.0.1:0', '--insecure']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`The round file "${f('bad-round.json')}" is malformed`);
  });

  it('runs a round on port 0 everywhere: every listener says its port; the meta lists the parties, the aggregators and the times', async () => {
    const json = JSON.parse(readFileSync(join(EXAMPLES, 'round.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(f('round.json'), JSON.stringify({ ...json, deadline: new Date(Date.now() + 30_000).toISOString() }));
    const common = ['--round', f('round.json'), '--insecure', '--timeout', '20', '--idle-timeout', '20'];
    const collector = startKoppel([
      'aggregate',
      'collect',
      ...common,
      '--listen',
      '127.0.0.1:0',
      '--threshold',
      '1',
      '--out',
      f('agg.csv'),
      '--meta',
      f('agg-meta.json'),
    ]);
    const cport = await listeningPort(collector);
    const aggregators = [0, 1].map((j) =>
      startKoppel([
        'aggregate',
        'aggregator',
        ...common,
        '--index',
        String(j),
        '--listen',
        '127.0.0.1:0',
        '--collector',
        `127.0.0.1:${cport}`,
        '--expect',
        '3',
      ]),
    );
    const aports = await Promise.all(aggregators.map(listeningPort));
    const inputs = [0, 1, 2].map((p) => {
      writeFileSync(f(`agg-${p}.csv`), 'region,household,logins\n' + ['Groningen,single,3', 'Utrecht,family,4', 'Utrecht,single,5'].join('\n') + '\n');
      return koppel([
        'aggregate',
        'input',
        ...common,
        '--party',
        `gemeente-${p}`,
        '--in',
        f(`agg-${p}.csv`),
        '--aggregators',
        aports.map((a) => `127.0.0.1:${a}`).join(','),
      ]);
    });
    const results = await Promise.all([collector.done, ...aggregators.map((a) => a.done), ...inputs]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const meta = JSON.parse(readFileSync(f('agg-meta.json'), 'utf8')) as Record<string, unknown>;
    expect(meta['parties']).toEqual(['gemeente-0', 'gemeente-1', 'gemeente-2']);
    expect(meta['aggregators']).toHaveLength(2);
    for (const a of meta['aggregators'] as Array<Record<string, unknown>>) expect(a['authenticated']).toBe(false);
    expect(Date.parse(meta['finishedAt'] as string)).toBeGreaterThanOrEqual(Date.parse(meta['startedAt'] as string));
    expect(meta['outputs']).toEqual([{ path: f('agg.csv'), sha256: sha256(f('agg.csv')), bytes: readFileSync(f('agg.csv')).length }]);
    // The released table is in the codebook's order: labels as the codebook lists them, * after each dimension's labels.
    const keys = readFileSync(f('agg.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').slice(0, 2).join('/'));
    expect(keys).toEqual([
      'Groningen/single',
      'Groningen/family',
      'Groningen/*',
      'Utrecht/single',
      'Utrecht/family',
      'Utrecht/*',
      '*/single',
      '*/family',
      '*/*',
    ]);
  });
});

describe('listeners say which port they got', () => {
  // psi serve, join groups, the aggregator and the collector are reached at the port they print in the tests above.
  it('oprf serve on port 0 prints listening on HOST:PORT with a port that accepts connections, and stops gracefully (0) on SIGTERM', async () => {
    expect((await koppel(['oprf', 'keygen', '--out', f('oprf.key')])).code).toBe(0);
    const p = startKoppel(['oprf', 'serve', '--key', f('oprf.key'), '--listen', '127.0.0.1:0', '--insecure', '--threads', '0']);
    expect(await accepts(await listeningPort(p))).toBe(true);
    p.child.kill('SIGTERM');
    expect((await p.done).code).toBe(0);
  });

  it('pseudonymise --oprf: the first progress line within a second of the start (not after the first batch), with the input size; the output keeps the Excel style', async () => {
    const p = startKoppel(['oprf', 'serve', '--key', f('oprf.key'), '--listen', '127.0.0.1:0', '--insecure', '--threads', '0']);
    const port = await listeningPort(p);
    const input = excelFile(
      'oprf-in.csv',
      'bsn,region',
      ids.slice(0, 2000).map((b, i) => `${b},R${i % 3}`),
    );
    const started = Date.now();
    const r = await koppel([
      'pseudonymise',
      '--oprf',
      `http://127.0.0.1:${port}`,
      '--mode',
      'oprf',
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      input,
      '--out',
      f('oprf-out.csv'),
      '--threads',
      '0',
      '--progress',
      '--log',
      'json',
    ]);
    p.child.kill('SIGTERM');
    await p.done;
    expect(r.code, r.stderr).toBe(0);
    const first = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((x) => x['event'] === 'progress');
    expect(first).toMatchObject({ role: 'pseudonymise --oprf', totalBytes: readFileSync(input).length, percent: 0 });
    expect(Date.parse(first?.['time'] as string) - started).toBeLessThan(1000);
    expect(lines(expectExcelStyle(f('oprf-out.csv'))).length).toBe(2001);
  });

  it('join helper on port 0 prints listening on HOST:PORT, and a SIGTERM while it waits exits 143', async () => {
    const p = startKoppel(['join', 'helper', '--listen', '127.0.0.1:0', '--insecure']);
    await listeningPort(p);
    p.child.kill('SIGTERM');
    expect((await p.done).code).toBe(143);
  });
});

describe('progress', () => {
  it('the first line comes within a second of the start, with the input size, and every line carries the total', async () => {
    const rows = Array.from({ length: 150_000 }, (_, i) => `${ids[i % 3000]},${'x'.repeat(40)}`);
    writeFileSync(f('big.csv'), 'bsn,pad\n' + rows.join('\n') + '\n');
    const size = readFileSync(f('big.csv')).length;
    const started = Date.now();
    const r = await koppel([
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'd/1',
      '--column',
      'bsn',
      '--in',
      f('big.csv'),
      '--out',
      f('big.out.csv'),
      '--threads',
      '1',
      '--progress',
      '--log',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const records = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const progress = records.filter((x) => x['event'] === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ role: 'pseudonymise', totalBytes: size, percent: 0 });
    expect(Date.parse(progress[0]!['time'] as string) - started).toBeLessThan(1000);
    for (const p of progress) expect(p['totalBytes']).toBe(size);
    const text = await koppel([
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'd/1',
      '--column',
      'bsn',
      '--in',
      f('big.csv'),
      '--out',
      f('big.out2.csv'),
      '--threads',
      '1',
      '--progress',
    ]);
    expect(text.stderr.split('\n')[0]).toMatch(/^pseudonymise: starting; input 0% of \d+\.\d MB$/);
  });
});

describe('--log json and --summary json', () => {
  it('with --log json every stderr line is a JSON record: the listening line, the summary and an error', async () => {
    const serve = startKoppel([
      'psi',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--in',
      f('psi-server.csv'),
      '--column',
      'id',
      '--id-type',
      'bsn',
      '--on-invalid',
      'skip',
      '--insecure',
      '--log',
      'json',
    ]);
    const port = Number((await serve.waitFor(/"message":"psi serve: listening on 127\.0\.0\.1:(\d+)"/))[1]);
    const c = await koppel([
      'psi',
      'connect',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      f('psi-client.csv'),
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--on-invalid',
      'skip',
      '--insecure',
      '--out',
      f('j.csv'),
      '--log',
      'json',
    ]);
    const s = await serve.done;
    for (const r of [c, s]) {
      expect(r.code, r.stderr).toBe(0);
      const recs = r.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const x of recs) expect(typeof x['time'] === 'string' && typeof x['level'] === 'string').toBe(true);
      expect(recs.some((x) => x['event'] === 'summary' && typeof x['skipped'] === 'number')).toBe(true);
    }
    const bad = await koppel(['psi', 'serve', '--listen', '127.0.0.1:0', '--in', f('psi-server.csv'), '--column', 'nope', '--insecure', '--log', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stderr.trim())).toMatchObject({ level: 'error', code: 'CSV_COLUMN_NOT_FOUND', exitStatus: 1, details: { column: 'nope' } });
  });

  it('with --summary json an error (a usage error too) is JSON', async () => {
    const data = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd/1', '--column', 'nope', '--in', f('psi-client.csv'), '--summary', 'json']);
    expect(data.code).toBe(1);
    expect(JSON.parse(data.stderr.trim())).toMatchObject({ level: 'error', code: 'CSV_COLUMN_NOT_FOUND', exitStatus: 1 });
    const usage = await koppel(['psi', 'serve', '--listen', 'nowhere', '--in', f('psi-server.csv'), '--column', 'id', '--insecure', '--summary', 'json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr.trim())).toMatchObject({ level: 'error', code: 'INVALID_ARGUMENT', exitStatus: 2 });
  });
});

describe('exit statuses (docs/cli.md)', () => {
  it('a usage error exits 2 on every command', async () => {
    for (const cmd of [
      ['keygen'],
      ['pseudonymise'],
      ['oprf', 'keygen'],
      ['oprf', 'serve'],
      ['psi', 'serve'],
      ['psi', 'connect'],
      ['join', 'groups'],
      ['join', 'values'],
      ['join', 'helper'],
      ['aggregate', 'input'],
      ['aggregate', 'aggregator'],
      ['aggregate', 'collect'],
      ['demo'],
    ]) {
      const r = await koppel([...cmd, '--bogus-flag']);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr, cmd.join(' ')).toContain('koppel: INVALID_ARGUMENT');
    }
  });

  it('a data error exits 1 (an invalid BSN under --on-invalid error), naming the record', async () => {
    const r = await koppel([
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'd/1',
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      f('persons.csv'),
      '--out',
      f('never.csv'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/koppel: INVALID_BSN: .*record=5/);
    expect(existsSync(f('never.csv'))).toBe(false);
  });

  it('SIGINT exits 130 and SIGTERM 143, and no output file or partial file is left', async () => {
    for (const [signal, status] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const out = f(`stopped-${signal}.csv`);
      const p = startKoppel([
        'join',
        'groups',
        '--listen',
        '127.0.0.1:0',
        '--in',
        f('cbs.csv'),
        '--id-column',
        'bsn',
        '--group-columns',
        'province',
        '--out',
        out,
        '--insecure',
      ]);
      await listeningPort(p);
      p.child.kill(signal);
      const r = await p.done;
      expect(r.code, r.stderr).toBe(status);
      expect(r.stderr).toContain(`koppel: ABORTED: Stopped by ${signal}`);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.includes(`stopped-${signal}`))).toEqual([]);
    }
  });
});
