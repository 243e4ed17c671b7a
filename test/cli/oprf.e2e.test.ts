/**
 * `koppel oprf serve` and `koppel pseudonymise --oprf` as separate processes over
 * loopback mutual TLS on a CSV file, including a service restart in the middle of the
 * file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { FastOprf } from '../../src/oprf/fast.js';
import { importOprfKeyFile } from '../../src/oprf/key.js';
import { toBase64Url } from '../../src/util/bytes.js';
import { CLI, runKoppel as koppel } from '../helpers.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (n: string) => join(dir, n);
let bsns: string[];
const port = 18400 + Math.floor(Math.random() * 500);
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-oprf-e2e-'));
  const rng = new SyntheticRandom('oprf-e2e');
  bsns = Array.from({ length: 6000 }, () => syntheticBsn(rng));
  writeFileSync(f('persons.csv'), 'bsn,region\n' + bsns.map((b, i) => `${b},R${i % 4}`).join('\n') + '\n');
  const r = await koppel(['oprf', 'keygen', '--out', f('oprf.key')]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function serve(): Promise<ChildProcess> {
  const pki = testPki();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'oprf',
      'serve',
      '--key',
      f('oprf.key'),
      '--listen',
      `127.0.0.1:${port}`,
      '--tls-cert',
      pki.serverCert,
      '--tls-key',
      pki.serverKey,
      '--tls-ca',
      pki.ca,
      '--peer',
      'client',
      '--threads',
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('listening on')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`oprf serve exited ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

async function expectedPseudonyms(): Promise<string[]> {
  const key = importOprfKeyFile(readFileSync(f('oprf.key'), 'utf8')).voprf;
  const fo = await FastOprf.load('voprf');
  const inputs = bsns.map((b) => new TextEncoder().encode(b));
  const { blinds, blinded } = fo.blind(inputs);
  return fo.finalize(inputs, blinds, fo.evaluate(key.secretKey, blinded)).map((o) => `${key.kid}.${toBase64Url(o.subarray(0, 32))}`);
}

function client(): Promise<{ code: number | null; stderr: string }> {
  const pki = testPki();
  return koppel([
    'pseudonymise',
    '--oprf',
    `https://127.0.0.1:${port}`,
    '--tls-ca',
    pki.ca,
    '--tls-cert',
    pki.clientCert,
    '--tls-key',
    pki.clientKey,
    '--column',
    'bsn',
    '--id-type',
    'bsn',
    '--in',
    f('persons.csv'),
    '--out',
    f('out.csv'),
    '--batch-size',
    '200',
    '--concurrency',
    '2',
    '--threads',
    '1',
    '--summary',
    'json',
  ]);
}

describe('koppel oprf serve + pseudonymise --oprf over loopback mutual TLS', () => {
  it("replaces the BSN column with the service's pseudonyms, row for row; the service logs no element", async () => {
    const server = await serve();
    let log = '';
    server.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
    const r = await client();
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(f('out.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('bsn,region');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(await expectedPseudonyms());
    expect(lines.slice(1).map((l) => l.split(',')[1])).toEqual(bsns.map((_, i) => `R${i % 4}`));
    expect(JSON.parse(r.stderr.trim().split('\n').pop() as string)).toMatchObject({ records: 6000, pseudonymised: 6000, mode: 'voprf' });
    expect(await stop(server)).toBe(0);
    expect(log).toContain('"event":"request"');
    expect(log).not.toMatch(/[A-Za-z0-9_-]{43}/);
    for (const b of bsns.slice(0, 50)) expect(log).not.toContain(b);
  });

  it('a service restart in the middle of the file: the client waits, resumes, and writes every row once', async () => {
    let server = await serve();
    const run = client();
    await new Promise((r) => setTimeout(r, 700));
    expect(await stop(server)).toBe(0);
    await new Promise((r) => setTimeout(r, 800));
    server = await serve();
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(f('out.csv'), 'utf8').trim().split('\n').slice(1);
    expect(lines.map((l) => l.split(',')[0])).toEqual(await expectedPseudonyms());
    await stop(server);
  });

  it('a service without client authentication is refused at start', async () => {
    const pki = testPki();
    const r = await koppel(['oprf', 'serve', '--key', f('oprf.key'), '--listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey]);
    expect(r.code).toBe(2); // a usage error
    expect(r.stderr).toMatch(/INVALID_ARGUMENT.*authenticated/);
  });
});
