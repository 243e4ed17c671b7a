/**
 * The `koppel` command line as users run it: separate processes, real files, stdin
 * and stdout, exit codes, and error output that names codes and record numbers but
 * never identifier values.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { importKey } from '../../src/pseudonymise/key.js';
import { Pseudonymiser } from '../../src/pseudonymise/pseudonymiser.js';
import { runKoppel as koppel } from '../helpers.js';

let dir: string;
let keyFile: string;
const f = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-cli-'));
  keyFile = f('k.key');
  const r = await koppel(['keygen', '--out', keyFile, '--label', 'test']);
  expect(r.code).toBe(0);
});

describe('koppel --help', () => {
  it.each([[[]], [['keygen']], [['pseudonymise']], [['demo']]])('documents %j', async (cmd) => {
    const r = await koppel([...cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: koppel');
  });
  it('pseudonymise --help documents every flag of the interface', async () => {
    const r = await koppel(['pseudonymise', '--help']);
    for (const flag of [
      '--key',
      '--domain',
      '--column',
      '--id-type',
      '--in',
      '--out',
      '--on-invalid',
      '--report',
      '--delimiter',
      '--threads',
      '--progress',
      '--summary',
      '--quiet',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });
  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await koppel([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });
  it('an unknown command or flag is a usage error (exit 2) with the code on stderr', async () => {
    const r = await koppel(['pseudonymise', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('koppel: INVALID_ARGUMENT');
  });
  it('a value protection that is not a percentage is a usage error, for aggregate collect and join groups', async () => {
    for (const bad of ['150', '-5', 'ten', '12.345']) {
      for (const cmd of [
        ['aggregate', 'collect', '--round', 'r.json', '--listen', '127.0.0.1:1', '--insecure'],
        ['join', 'groups', '--listen', '127.0.0.1:1', '--group-columns', 'a', '--insecure'],
      ]) {
        const r = await koppel([...cmd, '--value-protection', bad]);
        expect(r.code, `${cmd[0]} ${bad}`).toBe(2);
        expect(r.stderr).toMatch(/koppel: INVALID_ARGUMENT: .*--value-protection must be a percentage from 0 to 100/);
      }
    }
  });
});

describe('koppel keygen', () => {
  it('writes a mode 0600 key file and prints only the key id', async () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const k = importKey(readFileSync(keyFile, 'utf8'));
    expect(k.label).toBe('test');
    const r = await koppel(['keygen', '--out', f('k2.key')]);
    expect(r.stderr).toMatch(/generated key [0-9a-f]{12}/);
    expect(r.stderr).not.toContain((JSON.parse(readFileSync(f('k2.key'), 'utf8')) as { secret: string }).secret);
  });
  it('refuses to overwrite a key file without --force', async () => {
    const r = await koppel(['keygen', '--out', keyFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('IO_ERROR');
    expect(importKey(readFileSync(keyFile, 'utf8')).label).toBe('test');
  });
  it('writes to stdout without --out', async () => {
    const r = await koppel(['keygen']);
    expect(importKey(r.stdout).kid).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('koppel pseudonymise', () => {
  const csv = 'bsn,region\n111222333,Utrecht\n12345672,"Den Haag"\n';

  it('pseudonymises a file into a file, matching the library', async () => {
    writeFileSync(f('in.csv'), csv);
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
      f('in.csv'),
      '--out',
      f('out.csv'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/pseudonymised 2 of 2 records \(0 rejected\)/);
    const p = new Pseudonymiser({ key: importKey(readFileSync(keyFile, 'utf8')), domain: 'd/1', idType: 'bsn' });
    expect(readFileSync(f('out.csv'), 'utf8')).toBe(`bsn,region\n${p.pseudonymise('111222333')},Utrecht\n${p.pseudonymise('012345672')},Den Haag\n`);
  });

  it('reads stdin and writes stdout, single-threaded and multi-threaded alike', async () => {
    const a = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd/1', '--column', 'bsn', '--id-type', 'bsn', '--threads', '0', '--quiet'], csv);
    const b = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd/1', '--column', 'bsn', '--id-type', 'bsn', '--threads', '2', '--quiet'], csv);
    expect(a.code).toBe(0);
    expect(a.stderr).toBe('');
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout.split('\n')[1]).toMatch(/^[0-9a-f]{12}\.[A-Za-z0-9_-]{43},Utrecht$/);
  });

  it('stops on an invalid BSN, leaves no output file, and names the record but not the value', async () => {
    writeFileSync(f('bad.csv'), 'bsn\n111222333\n123456789\n');
    const r = await koppel([
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
      f('bad.csv'),
      '--out',
      f('bad.out.csv'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('koppel: INVALID_BSN');
    expect(r.stderr).toContain('record=2');
    expect(r.stderr).not.toContain('123456789');
    expect(existsSync(f('bad.out.csv'))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.partial-'))).toEqual([]);
  });

  it('--on-invalid report writes a report of record numbers and reasons, never values', async () => {
    writeFileSync(f('mixed.csv'), 'bsn,n\n111222333,1\n123456789,2\nabc,3\n123456782,4,extra\n');
    const r = await koppel([
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
      f('mixed.csv'),
      '--out',
      f('mixed.out.csv'),
      '--on-invalid',
      'report',
      '--report',
      f('report.csv'),
      '--summary',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(f('report.csv'), 'utf8')).toBe('record,code,reason\n2,INVALID_BSN,checksum\n3,INVALID_BSN,non-digit\n4,CSV_MALFORMED,field-count\n');
    const summary = JSON.parse(r.stderr.trim()) as Record<string, unknown>;
    expect(summary).toMatchObject({ records: 4, pseudonymised: 1, rejected: 3 });
    const out = readFileSync(f('mixed.out.csv'), 'utf8');
    expect(out).not.toMatch(/123456789|abc|123456782/);
    expect(out.split('\n').filter(Boolean)).toHaveLength(4); // header, valid, two kept with empty id
  });

  it('reports a malformed CSV with CSV_MALFORMED and a non-zero exit', async () => {
    writeFileSync(f('quote.csv'), 'bsn,n\n111222333,"unclosed\n');
    const r = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd', '--column', 'bsn', '--in', f('quote.csv'), '--out', f('quote.out.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CSV_MALFORMED');
    expect(existsSync(f('quote.out.csv'))).toBe(false);
  });

  it('refuses a corrupted key file with INVALID_KEY and never prints the secret', async () => {
    const k = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
    writeFileSync(f('tampered.key'), JSON.stringify({ ...k, kid: 'ffffffffffff' }), { mode: 0o600 });
    const r = await koppel(['pseudonymise', '--key', f('tampered.key'), '--domain', 'd', '--column', 'bsn'], csv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('INVALID_KEY');
    expect(r.stderr).not.toContain(k['secret']);
  });

  it('warns when the key file is readable by others', async () => {
    writeFileSync(f('open.key'), readFileSync(keyFile), { mode: 0o644 });
    const r = await koppel(['pseudonymise', '--key', f('open.key'), '--domain', 'd', '--column', 'bsn', '--quiet'], csv);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('chmod 600');
  });

  it('refuses to write over its input, and a missing column names the column asked for and the column count, not the header', async () => {
    const same = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd', '--column', 'bsn', '--in', f('in.csv'), '--out', f('in.csv')]);
    expect(same.code).toBe(2);
    expect(readFileSync(f('in.csv'), 'utf8')).toBe(csv);
    const missing = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd', '--column', 'id', '--in', f('in.csv')]);
    expect(missing.stderr).toContain('CSV_COLUMN_NOT_FOUND');
    expect(missing.stderr).toContain('no column "id" (it has 2 columns)');
    expect(missing.stderr).not.toContain('region');
  });

  it('a missing input file is IO_ERROR', async () => {
    const r = await koppel(['pseudonymise', '--key', keyFile, '--domain', 'd', '--column', 'bsn', '--in', f('nope.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('IO_ERROR');
  });
});

describe('koppel demo', () => {
  it.each(['two-party', 'helper'])('runs the %s private join as separate processes and agrees with the plain join', async (variant) => {
    const r = await koppel(['demo', '--size', '3000', '--variant', variant, '--dir', f(`demo-${variant}`)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/(\d+) of \1 cells agree: AGREE/);
    expect(r.stdout).toMatch(/\[CBS\] .*"role":"groups"/);
    expect(r.stdout).toMatch(/\[Logius\] .*"role":"values"/);
    // The released table holds aggregates only: no BSN in it.
    const table = readFileSync(f(`demo-${variant}/result.csv`), 'utf8');
    expect(table.split('\n')[0]).toBe('province,household_type,age_band,count,sum_logins,sum_messages_read,suppressed,rule');
    expect(table).not.toMatch(/\d{9}/);
  });
});
