/**
 * Issue 16, "Reconnect within a session": the CLI's PSI and both join variants, run as
 * separate processes over mutual TLS through a proxy that cuts every connection three
 * times during the run, give the same answer as an uncut run and as the plain join.
 * The cuts fall at 40%, 60% and 80% of the bytes an uncut run sends; the chunk in flight
 * at each cut is lost.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { startKoppel, type CliResult } from '../helpers.js';
import { startProxy, type CuttingProxy } from '../helpers/proxy.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (n: string) => join(dir, n);
const plain = new Map<string, { count: number; logins: number }>();
let psiExpected: string[];
const proxies: CuttingProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-reconnect-e2e-'));
  const rng = new SyntheticRandom('reconnect-e2e');
  const ids = Array.from({ length: 5000 }, () => syntheticBsn(rng));
  const provinces = ['Drenthe', 'Zeeland', 'Utrecht'];
  const a = ids.slice(0, 3500).map((b, i) => ({ b, p: provinces[i % 3] as string }));
  const usage = new Map(ids.slice(1000).map((b, i) => [b, i % 23]));
  writeFileSync(f('a.csv'), 'bsn,province\n' + a.map((r) => `${r.b},${r.p}`).join('\n') + '\n');
  writeFileSync(f('b.csv'), 'bsn,logins\n' + [...usage].map(([b, u]) => `${b},${u}`).join('\n') + '\n');
  for (const r of a) {
    const c = plain.get(r.p) ?? { count: 0, logins: 0 };
    const u = usage.get(r.b);
    if (u !== undefined) {
      c.count++;
      c.logins += u;
    }
    plain.set(r.p, c);
  }
  psiExpected = ids.slice(1000, 3500).sort();
});

const pki = () => testPki();
const serverTls = (peers: string) => ['--tls-cert', pki().serverCert, '--tls-key', pki().serverKey, '--tls-ca', pki().ca, '--peer', peers];
const clientTls = () => ['--tls-cert', pki().clientCert, '--tls-key', pki().clientKey, '--tls-ca', pki().ca, '--peer', 'server'];
const idFlags = (cmd: 'psi' | 'join') => (cmd === 'psi' ? ['--column', 'bsn'] : ['--id-column', 'bsn']);
const common = ['--id-type', 'bsn', '--timeout', '30', '--idle-timeout', '60', '--reconnect-window', '30'];

const listening = /listening on 127\.0\.0\.1:(\d+)/;

async function proxyTo(listener: ReturnType<typeof startKoppel>, cutAfterBytes: number[]): Promise<CuttingProxy> {
  const port = Number((await listener.waitFor(listening))[1]);
  const p = await startProxy(port, { cutAfterBytes });
  proxies.push(p);
  return p;
}

function ok(...rs: Array<CliResult | undefined>): void {
  for (const r of rs) if (r) expect(r.code, rs.map((x) => x?.stderr ?? '').join('\n---\n')).toBe(0);
}

/** Bytes the proxies forwarded in an uncut run, to place the cuts of the next one inside it. */
const cutsAt = (total: number) => [Math.floor(total * 0.4), Math.floor(total * 0.6), Math.floor(total * 0.8)];

describe('the CLI resumes a dropped connection within --reconnect-window', () => {
  async function psi(cut: number[]): Promise<{ out: string[]; proxy: CuttingProxy; server: CliResult; client: CliResult }> {
    const out = f(`psi-${cut.length}.csv`);
    const serve = startKoppel(['psi', 'serve', '--listen', '127.0.0.1:0', '--in', f('b.csv'), ...idFlags('psi'), ...common, ...serverTls('client')]);
    const proxy = await proxyTo(serve, cut);
    const client = startKoppel([
      'psi',
      'connect',
      '--connect',
      `127.0.0.1:${proxy.port}`,
      '--in',
      f('a.csv'),
      '--out',
      out,
      ...idFlags('psi'),
      ...common,
      ...clientTls(),
    ]);
    const [s, c] = await Promise.all([serve.done, client.done]);
    ok(s, c);
    const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1);
    return { out: rows.map((r) => r.split(',')[0] as string).sort(), proxy, server: s, client: c };
  }

  it('psi: the intersection of a run cut three times equals the uncut run and the plain intersection', async () => {
    const uncut = await psi([]);
    expect(uncut.out).toEqual(psiExpected);
    const cut = await psi(cutsAt(uncut.proxy.bytes));
    expect(cut.proxy.cuts).toBe(3);
    expect(cut.proxy.connections).toBe(4);
    expect(cut.out).toEqual(psiExpected);
    // A cut can also fall on a reconnection in progress (it is then dialled again), so
    // at least two of the three are resumptions of the session; both sides saw each one.
    const resumed = (cut.client.stderr.match(/the connection came back/g) ?? []).length;
    expect(resumed).toBeGreaterThanOrEqual(2);
    expect((cut.server.stderr.match(/the connection came back/g) ?? []).length).toBe(resumed);
  }, 120_000);

  async function joinRun(variant: 'two-party' | 'helper', cut: (bytes: number) => number[], totals?: number[]) {
    const out = f(`join-${variant}-${totals ? 'cut' : 'uncut'}.csv`);
    const helper =
      variant === 'helper'
        ? startKoppel([
            'join',
            'helper',
            '--listen',
            '127.0.0.1:0',
            '--timeout',
            '30',
            '--idle-timeout',
            '60',
            '--reconnect-window',
            '30',
            ...serverTls('server,client'),
          ])
        : undefined;
    const helperProxy = helper ? await proxyTo(helper, totals ? cut(totals[1] as number) : []) : undefined;
    const helperArgs = helperProxy ? ['--variant', 'helper', '--helper', `127.0.0.1:${helperProxy.port}`, '--helper-peer', 'server'] : [];
    const groups = startKoppel([
      'join',
      'groups',
      '--listen',
      '127.0.0.1:0',
      '--in',
      f('a.csv'),
      '--group-columns',
      'province',
      '--min-count',
      '5',
      '--out',
      out,
      ...idFlags('join'),
      ...common,
      ...serverTls('client'),
      ...helperArgs,
    ]);
    const abProxy = await proxyTo(groups, totals ? cut(totals[0] as number) : []);
    const values = startKoppel([
      'join',
      'values',
      '--connect',
      `127.0.0.1:${abProxy.port}`,
      '--in',
      f('b.csv'),
      '--value-columns',
      'logins',
      '--max-value',
      '100',
      ...idFlags('join'),
      ...common,
      ...clientTls(),
      ...helperArgs,
    ]);
    const [g, v, h] = await Promise.all([groups.done, values.done, helper?.done]);
    ok(g, v, h);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('province,count,sum_logins,suppressed,rule');
    const table = new Map(lines.slice(1).map((l) => [l.split(',')[0] as string, l.split(',').slice(1, 3).map(Number)]));
    return { table, proxies: [abProxy, ...(helperProxy ? [helperProxy] : [])], stderr: [g.stderr, v.stderr, h?.stderr ?? ''] };
  }

  it.each(['two-party', 'helper'] as const)(
    "join, %s variant: the table of a run whose every connection is cut three times equals the uncut run's and the plain join's",
    async (variant) => {
      const uncut = await joinRun(variant, () => []);
      for (const [k, want] of plain) expect(uncut.table.get(k)).toEqual([want.count, want.logins]);
      const cut = await joinRun(
        variant,
        cutsAt,
        uncut.proxies.map((p) => p.bytes),
      );
      for (const p of cut.proxies) {
        expect(p.cuts).toBe(3);
        expect(p.connections).toBeGreaterThanOrEqual(4);
      }
      expect(cut.table).toEqual(uncut.table);
      for (const [k, want] of plain) expect(cut.table.get(k)).toEqual([want.count, want.logins]);
      expect(cut.stderr.join('\n')).toMatch(/the connection came back; the session continues/);
    },
    180_000,
  );
});
