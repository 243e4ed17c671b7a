/**
 * `koppel join groups`, `join values` and `join helper` as separate processes over
 * loopback mutual TLS on CSV files; the table equals the plain join's.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel } from '../helpers.js';
import { certFingerprint, testPki } from '../tls.js';

let dir: string;
let port = 17800 + Math.floor(Math.random() * 500);
const f = (n: string) => join(dir, n);
const plain = new Map<string, { count: number; logins: number; messages: number }>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-join-e2e-'));
  const rng = new SyntheticRandom('join-e2e');
  const ids = Array.from({ length: 1400 }, () => syntheticBsn(rng));
  const provinces = ['Drenthe', 'Zeeland', 'Utrecht'];
  const households = ['single', 'couple, no children', 'family'];
  const a = ids.slice(0, 1000).map((b, i) => ({ b, p: provinces[i % 3] as string, h: households[(i >> 2) % 3] as string }));
  const usage = new Map(ids.slice(300).map((b, i) => [b, { logins: i % 23, messages: (i * 7) % 5 }]));
  writeFileSync(f('cbs.csv'), 'bsn,province,household\n' + a.map((r) => `${r.b},${r.p},"${r.h}"`).join('\n') + '\n');
  writeFileSync(f('logius.csv'), 'bsn,logins,messages\n' + [...usage].map(([b, u]) => `${b},${u.logins},${u.messages}`).join('\n') + '\n');
  for (const r of a) {
    const key = `${r.p}|${r.h}`;
    const c = plain.get(key) ?? { count: 0, logins: 0, messages: 0 };
    const u = usage.get(r.b);
    if (u) {
      c.count++;
      c.logins += u.logins;
      c.messages += u.messages;
    }
    plain.set(key, c);
  }
});

const pki = () => testPki();
// The group holder and the helper hold the server certificate, the value holder the
// client one; each pins the certificates of the peers it talks to.
const serverTls = (peers: string) => ['--tls-cert', pki().serverCert, '--tls-key', pki().serverKey, '--tls-ca', pki().ca, '--peer', peers];
const clientTls = () => ['--tls-cert', pki().clientCert, '--tls-key', pki().clientKey, '--tls-ca', pki().ca, '--peer', 'server'];
const common = ['--id-column', 'bsn', '--id-type', 'bsn', '--timeout', '30', '--idle-timeout', '30'];

function parseTable(text: string): Map<string, string[]> {
  const lines = text.trim().split('\n');
  expect(lines[0]).toBe('province,household,count,sum_logins,sum_messages,suppressed,rule');
  return new Map(
    lines.slice(1).map((l) => {
      const m = /^([^,]+),("[^"]*"|[^,]*),(.*)$/.exec(l) as RegExpExecArray;
      return [`${m[1]}|${(m[2] as string).replace(/"/g, '')}`, (m[3] as string).split(',')];
    }),
  );
}

describe.each([
  ['two-party', 'x25519'],
  ['helper', 'x25519'],
  ['two-party', 'ristretto255'],
] as const)('koppel join over loopback mutual TLS, %s variant, %s blinding suite', (variant, suite) => {
  it("writes the plain join's table, every group, with the rule per row", async () => {
    const addr = `127.0.0.1:${port++}`;
    const helperAddr = `127.0.0.1:${port++}`;
    const helperArgs = [...(variant === 'helper' ? ['--variant', 'helper', '--helper', helperAddr, '--helper-peer', 'server'] : []), '--suite', suite];
    const helper =
      variant === 'helper'
        ? koppel(['join', 'helper', '--listen', helperAddr, '--timeout', '30', '--idle-timeout', '30', ...serverTls('server,client')])
        : undefined;
    const groups = koppel([
      'join',
      'groups',
      '--listen',
      addr,
      '--in',
      f('cbs.csv'),
      '--group-columns',
      'province,household',
      '--min-count',
      '5',
      '--out',
      f(`result-${variant}-${suite}.csv`),
      '--summary',
      'json',
      ...common,
      ...serverTls('client'),
      ...helperArgs,
    ]);
    const values = koppel([
      'join',
      'values',
      '--connect',
      addr,
      '--in',
      f('logius.csv'),
      '--value-columns',
      'logins,messages',
      '--max-value',
      '1000',
      '--summary',
      'json',
      ...common,
      ...clientTls(),
      ...helperArgs,
    ]);
    const [g, v, h] = await Promise.all([groups, values, helper]);
    expect(g.code, g.stderr).toBe(0);
    expect(v.code, v.stderr).toBe(0);
    if (h) expect(h.code, h.stderr).toBe(0);
    const table = parseTable(readFileSync(f(`result-${variant}-${suite}.csv`), 'utf8'));
    expect(table.size).toBe(plain.size);
    for (const [key, want] of plain) {
      expect(table.get(key)).toEqual([String(want.count), String(want.logins), String(want.messages), 'false', 'published']);
    }
    const summary = JSON.parse(g.stderr.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(summary).toMatchObject({ role: 'groups', variant, groups: 9, matched: 700, records: 1000 });
    // Every summary names the peers that took part (certificate name and fingerprint).
    expect(summary['peer']).toEqual({ name: 'client', fingerprint: certFingerprint(pki().clientCert), authenticated: true });
    if (variant === 'helper') expect(summary['helperPeer']).toMatchObject({ name: 'server', fingerprint: certFingerprint(pki().serverCert) });
    expect(JSON.parse(v.stderr.trim().split('\n').pop() as string)).toMatchObject({ peer: { name: 'server', fingerprint: certFingerprint(pki().serverCert) } });
    // B's summary: it learned list sizes only.
    expect(JSON.parse(v.stderr.trim().split('\n').pop() as string)).toMatchObject({ role: 'values', lists: 9, listElements: 1000 });
  });
});

describe('koppel join with peer pinning', () => {
  it("a third agency's valid certificate from the same CA is refused by join groups with PEER_NOT_ALLOWED, and the group holder still serves the pinned value holder", async () => {
    const addr = `127.0.0.1:${port++}`;
    const groups = koppel([
      'join',
      'groups',
      '--listen',
      addr,
      '--in',
      f('cbs.csv'),
      '--group-columns',
      'province,household',
      '--min-count',
      '5',
      '--out',
      f('pinned.csv'),
      ...common,
      ...serverTls('client'),
    ]);
    const valuesWith = (cert: string, key: string) =>
      koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f('logius.csv'),
        '--value-columns',
        'logins,messages',
        '--max-value',
        '1000',
        ...common,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
        '--tls-ca',
        pki().ca,
        '--peer',
        'server',
      ]);
    const intruder = await valuesWith(pki().otherAgencyCert, pki().otherAgencyKey);
    expect(intruder.code).toBe(1);
    expect(intruder.stderr).toContain('PEER_NOT_ALLOWED');
    const v = await valuesWith(pki().clientCert, pki().clientKey);
    const g = await groups;
    expect(v.code, v.stderr).toBe(0);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toContain(`certificate sha256 ${certFingerprint(pki().otherAgencyCert)}`);
    expect(parseTable(readFileSync(f('pinned.csv'), 'utf8')).size).toBe(plain.size);
  });
});

describe('koppel join with bad input', () => {
  it('a value that is not a whole number stops the value holder with VALUE_OUT_OF_RANGE and the group holder with the same code', async () => {
    writeFileSync(
      f('bad.csv'),
      'bsn,logins\n' +
        readFileSync(f('logius.csv'), 'utf8')
          .split('\n')
          .slice(1, 4)
          .map((l) => l.split(',')[0] + ',1.5')
          .join('\n') +
        '\n',
    );
    const addr = `127.0.0.1:${port++}`;
    const [g, v] = await Promise.all([
      koppel(['join', 'groups', '--listen', addr, '--in', f('cbs.csv'), '--group-columns', 'province', '--out', f('never.csv'), ...common, '--insecure']),
      koppel(['join', 'values', '--connect', addr, '--in', f('bad.csv'), '--value-columns', 'logins', ...common, '--insecure']),
    ]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/VALUE_OUT_OF_RANGE/);
    expect(v.stderr).not.toMatch(/\d{9}/); // no BSN in the error
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/VALUE_OUT_OF_RANGE/);
  });

  it('a value column missing from the header is reported before connecting', async () => {
    const v = await koppel(['join', 'values', '--connect', '127.0.0.1:1', '--in', f('logius.csv'), '--value-columns', 'logins,nope', ...common, '--insecure']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/CSV_COLUMN_NOT_FOUND/);
  });
});

describe("koppel join values --min-count: the value holder's policy", () => {
  it.each(['two-party', 'helper'] as const)(
    "A's groups shaped to single people out (one record per group, --min-count 1 on A) get no sums from B's policy (--min-count 3 on B), %s variant",
    async (variant) => {
      // Six persons, each a group of its own (the group column is unique), and a crowd of four.
      const rng = new SyntheticRandom('join-policy-e2e');
      const people = Array.from({ length: 10 }, () => syntheticBsn(rng));
      const incomes = [41000, 73500, 18250, 52125, 66875, 29375, 1000, 1001, 1002, 1003];
      writeFileSync(f(`policy-a-${variant}.csv`), 'bsn,person\n' + people.map((b, i) => `${b},${i < 6 ? `person-${i}` : 'crowd'}`).join('\n') + '\n');
      writeFileSync(f(`policy-b-${variant}.csv`), 'bsn,income\n' + people.map((b, i) => `${b},${incomes[i] as number}`).join('\n') + '\n');
      const addr = `127.0.0.1:${port++}`;
      const helperAddr = `127.0.0.1:${port++}`;
      const variantArgs = variant === 'helper' ? ['--variant', 'helper', '--helper', helperAddr] : [];
      const helper =
        variant === 'helper'
          ? koppel(['join', 'helper', '--listen', helperAddr, '--timeout', '30', '--idle-timeout', '30', '--summary', 'json', '--insecure'])
          : undefined;
      const out = f(`policy-result-${variant}.csv`);
      const groups = koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f(`policy-a-${variant}.csv`),
        '--group-columns',
        'person',
        '--min-count',
        '1',
        '--no-secondary',
        '--totals',
        '--out',
        out,
        '--summary',
        'json',
        ...common,
        '--insecure',
        ...variantArgs,
      ]);
      const values = koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f(`policy-b-${variant}.csv`),
        '--value-columns',
        'income',
        '--max-value',
        '100000',
        '--min-count',
        '3',
        '--summary',
        'json',
        ...common,
        '--insecure',
        ...variantArgs,
      ]);
      const [g, v, h] = await Promise.all([groups, values, helper]);
      expect(g.code, g.stderr).toBe(0);
      expect(v.code, v.stderr).toBe(0);
      if (h) expect(h.code, h.stderr).toBe(0);
      const text = readFileSync(out, 'utf8');
      // Same shape as ever: the singles' rows are suppressed; the crowd's is published; the total has its count, not the sums.
      const lines = text.trim().split('\n');
      expect(lines[0]).toBe('person,count,sum_income,suppressed,rule');
      for (let i = 0; i < 6; i++) expect(lines).toContain(`person-${i},,,true,threshold`);
      expect(lines).toContain('crowd,4,4006,false,published');
      expect(lines).toContain('*,10,,false,published');
      for (const income of incomes.slice(0, 6)) expect(text).not.toContain(String(income));
      const summary = JSON.parse(g.stderr.trim().split('\n').pop() as string) as Record<string, unknown>;
      expect(summary).toMatchObject({ role: 'groups', minCount: 3, threshold: 3, suppressed: 6 });
      expect(JSON.parse(v.stderr.trim().split('\n').pop() as string)).toMatchObject({ role: 'values', minCount: 3 });
      if (h) expect(JSON.parse(h.stderr.trim().split('\n').pop() as string)).toMatchObject({ role: 'helper', minCount: 3, withheld: 6 });
    },
  );

  it('B refuses a table shaped to single people out with --min-list-size: both processes exit 1 with POLICY_REFUSED, and A writes no table', async () => {
    const rng = new SyntheticRandom('join-list-policy-e2e');
    const people = Array.from({ length: 10 }, () => syntheticBsn(rng));
    writeFileSync(f('shape-a.csv'), 'bsn,person\n' + people.map((b, i) => `${b},${i < 6 ? `person-${i}` : 'crowd'}`).join('\n') + '\n');
    writeFileSync(f('shape-b.csv'), 'bsn,income\n' + people.map((b, i) => `${b},${1000 + i}`).join('\n') + '\n');
    const addr = `127.0.0.1:${port++}`;
    const out = f('shape-result.csv');
    const [g, v] = await Promise.all([
      koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f('shape-a.csv'),
        '--group-columns',
        'person',
        '--min-count',
        '1',
        '--out',
        out,
        ...common,
        '--insecure',
      ]),
      koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f('shape-b.csv'),
        '--value-columns',
        'income',
        '--min-count',
        '3',
        '--min-list-size',
        '3',
        '--max-lists',
        '50',
        ...common,
        '--insecure',
      ]),
    ]);
    expect(v.code, v.stderr).toBe(1);
    expect(g.code, g.stderr).toBe(1);
    expect(v.stderr).toMatch(/POLICY_REFUSED/);
    expect(v.stderr).toMatch(/6 of the group holder's 7 lists/);
    expect(g.stderr).toMatch(/POLICY_REFUSED/);
    expect(existsSync(out)).toBe(false);
  });

  it('the helper is pinned apart from the other party: with TLS and the helper variant, --helper-peer (or --any-peer) is required on both parties', async () => {
    for (const role of ['groups', 'values'] as const) {
      const args =
        role === 'groups'
          ? ['join', 'groups', '--listen', '127.0.0.1:0', '--in', f('cbs.csv'), '--group-columns', 'province', ...serverTls('client')]
          : ['join', 'values', '--connect', '127.0.0.1:1', '--in', f('logius.csv'), '--value-columns', 'logins', ...clientTls()];
      const r = await koppel([...args, ...common, '--variant', 'helper', '--helper', '127.0.0.1:2']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('INVALID_ARGUMENT');
      expect(r.stderr).toContain('--helper-peer');
    }
  });
});
