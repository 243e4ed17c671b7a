/**
 * `koppel psi serve` and `koppel psi connect` as two processes over loopback mutual TLS,
 * on CSV files, in each mode; the output equals the plain join.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel, type CliResult as Result } from '../helpers.js';
import { certFingerprint, testPki } from '../tls.js';

let dir: string;
let port = 17300 + Math.floor(Math.random() * 500);
const f = (n: string) => join(dir, n);
let clientIds: string[];
let serverRows: Map<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-psi-e2e-'));
  const rng = new SyntheticRandom('psi-e2e');
  const all = Array.from({ length: 1500 }, () => syntheticBsn(rng));
  clientIds = all.slice(0, 1000);
  const serverIds = all.slice(600);
  serverRows = new Map(serverIds.map((b, i) => [b, String(i % 17)]));
  writeFileSync(f('client.csv'), 'bsn,region\n' + clientIds.map((b, i) => `${b},R${i % 5}`).join('\n') + '\n');
  writeFileSync(f('server.csv'), 'id,logins,secret\n' + serverIds.map((b) => `${b},${serverRows.get(b)},s-${b}`).join('\n') + '\n');
});

function tls(role: 'server' | 'client'): string[] {
  const pki = testPki();
  return role === 'server'
    ? ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca, '--peer', 'client']
    : ['--tls-cert', pki.clientCert, '--tls-key', pki.clientKey, '--tls-ca', pki.ca, '--peer', 'server'];
}

async function session(serverArgs: string[], clientArgs: string[]): Promise<[Result, Result]> {
  const addr = `127.0.0.1:${port++}`;
  const server = koppel([
    'psi',
    'serve',
    '--listen',
    addr,
    '--in',
    f('server.csv'),
    '--column',
    'id',
    '--id-type',
    'bsn',
    '--timeout',
    '20',
    '--idle-timeout',
    '20',
    ...tls('server'),
    ...serverArgs,
  ]);
  const client = koppel([
    'psi',
    'connect',
    '--connect',
    addr,
    '--in',
    f('client.csv'),
    '--column',
    'bsn',
    '--id-type',
    'bsn',
    '--timeout',
    '20',
    '--idle-timeout',
    '20',
    ...tls('client'),
    ...clientArgs,
  ]);
  return Promise.all([server, client]);
}

const expected = () => clientIds.filter((b) => serverRows.has(b));

describe('koppel psi over loopback mutual TLS', () => {
  it('intersection mode: the client writes exactly its matching records', async () => {
    const [s, c] = await session([], ['--out', f('inter.csv')]);
    expect(s.code, s.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    const lines = readFileSync(f('inter.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('bsn,region');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(expected());
    expect(s.stderr).toMatch(/client set of 1,000/);
    expect(c.stderr).toMatch(/400 matching records/);
  });

  it('cardinality mode: the client prints only {"cardinality": N}', async () => {
    const [s, c] = await session(['--mode', 'cardinality'], ['--mode', 'cardinality']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toEqual({ cardinality: expected().length });
  });

  it("payload mode: matching records get the server's payload columns, and only those", async () => {
    const [s, c] = await session(['--mode', 'payload', '--payload-columns', 'logins'], ['--mode', 'payload', '--out', f('payload.csv')]);
    expect(s.code, s.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    const text = readFileSync(f('payload.csv'), 'utf8');
    expect(text).not.toContain('s-'); // the secret column was not sent
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('bsn,region,logins');
    for (const l of lines.slice(1)) {
      const [b, , logins] = l.split(',');
      expect(logins).toBe(serverRows.get(b as string));
    }
    expect(lines.length - 1).toBe(expected().length);
  });

  it('a mode mismatch fails on both sides with MODE_MISMATCH', async () => {
    const [s, c] = await session(['--mode', 'cardinality'], []);
    expect(s.code).toBe(1);
    expect(c.code).toBe(1);
    expect(s.stderr + c.stderr).toContain('MODE_MISMATCH');
  });

  it('without TLS flags or --insecure, refuses to start', async () => {
    const r = await koppel(['psi', 'connect', '--connect', '127.0.0.1:1', '--in', f('client.csv'), '--column', 'bsn']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--insecure');
  });

  it('a missing column is reported before any network activity', async () => {
    const r = await koppel(['psi', 'serve', '--listen', '127.0.0.1:1', '--in', f('client.csv'), '--column', 'nope', '--insecure']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CSV_COLUMN_NOT_FOUND');
  });

  it('a client with no server gives up after --timeout with TIMEOUT', async () => {
    const r = await koppel(['psi', 'connect', '--connect', `127.0.0.1:${port++}`, '--in', f('client.csv'), '--column', 'bsn', '--insecure', '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TIMEOUT');
  });
});

describe('koppel psi with peer pinning', () => {
  const pki = () => testPki();
  const certArgs = (cert: string, key: string) => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', pki().ca];
  const serve = (addr: string, args: string[]) =>
    koppel([
      'psi',
      'serve',
      '--listen',
      addr,
      '--in',
      f('server.csv'),
      '--column',
      'id',
      '--id-type',
      'bsn',
      '--timeout',
      '20',
      '--idle-timeout',
      '20',
      ...args,
    ]);
  const connectTo = (addr: string, args: string[]) =>
    koppel([
      'psi',
      'connect',
      '--connect',
      addr,
      '--in',
      f('client.csv'),
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--mode',
      'cardinality',
      '--timeout',
      '20',
      '--idle-timeout',
      '20',
      ...args,
    ]);

  it("a third agency's valid certificate from the same CA is refused by psi serve with PEER_NOT_ALLOWED, and the listener still serves the pinned client", async () => {
    const addr = `127.0.0.1:${port++}`;
    const server = serve(addr, ['--mode', 'cardinality', '--summary', 'json', ...certArgs(pki().serverCert, pki().serverKey), '--peer', 'client']);
    const intruder = await connectTo(addr, [...certArgs(pki().otherAgencyCert, pki().otherAgencyKey), '--peer', 'server']);
    expect(intruder.code).toBe(1);
    expect(intruder.stderr).toContain('PEER_NOT_ALLOWED');
    expect(intruder.stdout).toBe('');
    const client = await connectTo(addr, [...certArgs(pki().clientCert, pki().clientKey), '--peer', 'server', '--summary', 'json']);
    const s = await server;
    expect(client.code, client.stderr).toBe(0);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(client.stdout)).toEqual({ cardinality: expected().length });
    // The server logs the refused certificate by fingerprint, and its summary names the peer that took part.
    expect(s.stderr).toContain(`refused a peer outside the pin (certificate sha256 ${certFingerprint(pki().otherAgencyCert)})`);
    const summary = JSON.parse(s.stderr.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(summary['peer']).toEqual({ name: 'client', fingerprint: certFingerprint(pki().clientCert), authenticated: true });
    const clientSummary = JSON.parse(client.stderr.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(clientSummary['peer']).toEqual({ name: 'server', fingerprint: certFingerprint(pki().serverCert), authenticated: true });
  });

  it('psi connect refuses a server that holds another valid certificate of the same CA with PEER_NOT_ALLOWED', async () => {
    const addr = `127.0.0.1:${port++}`;
    const impostor = serve(addr, ['--mode', 'cardinality', ...certArgs(pki().otherAgencyCert, pki().otherAgencyKey), '--any-peer']);
    const c = await connectTo(addr, [...certArgs(pki().clientCert, pki().clientKey), '--peer', 'server']);
    const s = await impostor;
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('PEER_NOT_ALLOWED');
    expect(c.stdout).toBe('');
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('PEER_NOT_ALLOWED');
  });

  it('pinning by fingerprint (hex with colons, upper case) accepts the pinned server and refuses another certificate of the same CA', async () => {
    const colons = (file: string) => certFingerprint(file).toUpperCase().match(/../g)?.join(':') ?? '';
    const addr = `127.0.0.1:${port++}`;
    const server = serve(addr, ['--mode', 'cardinality', ...certArgs(pki().serverCert, pki().serverKey), '--peer-fingerprint', colons(pki().clientCert)]);
    const intruder = await connectTo(addr, [...certArgs(pki().otherAgencyCert, pki().otherAgencyKey), '--peer-fingerprint', certFingerprint(pki().serverCert)]);
    expect(intruder.stderr).toContain('PEER_NOT_ALLOWED');
    const c = await connectTo(addr, [...certArgs(pki().clientCert, pki().clientKey), '--peer-fingerprint', colons(pki().serverCert)]);
    expect(c.code, c.stderr).toBe(0);
    expect((await server).code).toBe(0);
  });

  it('--any-peer accepts every certificate the CA signed', async () => {
    const addr = `127.0.0.1:${port++}`;
    const server = serve(addr, ['--mode', 'cardinality', ...certArgs(pki().serverCert, pki().serverKey), '--any-peer']);
    const c = await connectTo(addr, [...certArgs(pki().otherAgencyCert, pki().otherAgencyKey), '--any-peer']);
    expect(c.code, c.stderr).toBe(0);
    expect((await server).code).toBe(0);
  });

  it('with TLS and no --peer, --peer-fingerprint or --any-peer, refuses to start; --any-peer with a list and a pin with --insecure are INVALID_ARGUMENT', async () => {
    const tlsArgs = certArgs(pki().clientCert, pki().clientKey);
    const none = await connectTo('127.0.0.1:1', tlsArgs);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('INVALID_ARGUMENT');
    for (const flag of ['--peer', '--peer-fingerprint', '--any-peer']) expect(none.stderr).toContain(flag);
    const both = await connectTo('127.0.0.1:1', [...tlsArgs, '--any-peer', '--peer', 'server']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('INVALID_ARGUMENT');
    const plain = await serve('127.0.0.1:1', ['--insecure', '--peer', 'client']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('INVALID_ARGUMENT');
  });
});
