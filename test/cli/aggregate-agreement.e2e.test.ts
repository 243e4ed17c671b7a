/**
 * Aggregation and the join helper under a linking agreement, with receipts (issue 17):
 * separate processes over loopback mutual TLS. Every process runs under the agreement
 * (the round comes from it) and writes a receipt listing each of its sessions; every
 * receipt verifies, the two ends of each session carry the same transcript hash, and a
 * changed table fails `--table`. A party under another agreement is stopped with
 * AGREEMENT_MISMATCH at both ends.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel, startKoppel } from '../helpers.js';
import { testPki, type TestPki } from '../tls.js';

let dir: string;
let pki: TestPki;
const f = (name: string) => join(dir, name);
let port = 29000 + Math.floor(Math.random() * 2000);
const common = ['--timeout', '20', '--idle-timeout', '20'];
type Who = 'server' | 'client' | 'other';
const certOf = (who: Who) =>
  who === 'server' ? [pki.serverCert, pki.serverKey] : who === 'client' ? [pki.clientCert, pki.clientKey] : [pki.otherAgencyCert, pki.otherAgencyKey];
const tls = (who: Who) => {
  const [cert, key] = certOf(who) as [string, string];
  return ['--tls-cert', cert, '--tls-key', key, '--tls-ca', pki.ca];
};

/** The parties of the round and the certificate each connects with (aggregators and the collector listen: server-usable). */
const ROUND_PARTIES: ReadonlyArray<readonly [string, string, Who]> = [
  ['gemeente-0', 'input', 'client'],
  ['gemeente-1', 'input', 'other'],
  ['agg-0', 'aggregator', 'server'],
  ['agg-1', 'aggregator', 'other'],
  ['cbs', 'collector', 'server'],
];
const CN: Record<Who, string> = { server: 'server', client: 'client', other: 'other-agency' };

async function signed(name: string, protocol: string, parties: ReadonlyArray<readonly [string, string, Who]>, extra: string[]): Promise<string> {
  const out = f(name);
  const init = await koppel([
    'agreement',
    'init',
    '--protocol',
    protocol,
    '--id',
    `test-${name}`,
    ...parties.flatMap(([n, role, who]) => ['--party', `${n}:${role}:${CN[who]}`]),
    '--purpose',
    'Logins per region and household type',
    ...extra,
    '--out',
    out,
  ]);
  expect(init.code, init.stderr).toBe(0);
  for (const [n, , who] of parties) {
    const [cert, key] = certOf(who) as [string, string];
    const s = await koppel(['agreement', 'sign', out, '--party', n, '--tls-cert', cert, '--tls-key', key]);
    expect(s.code, s.stderr).toBe(0);
  }
  return out;
}

const round = () => ({
  round: 'agreement-e2e',
  codebook: {
    id: 'usage',
    dimensions: [
      { name: 'region', labels: ['Groningen', 'Utrecht'] },
      { name: 'household', labels: ['single', 'family'] },
    ],
    values: [{ name: 'logins', scale: 0, min: '0', max: '100' }],
    maxInputs: 10,
    maxRecordsPerInput: 1000,
  },
  aggregators: 2,
  minInputs: 2,
  deadline: new Date(Date.now() + 60_000).toISOString(),
});

interface SessionEntry {
  session: string;
  transcript: string;
  peer: { names: string[]; fingerprint: string };
}
interface Receipt {
  receipt: { role: string; status: string; sessions?: SessionEntry[]; outputs: Array<{ name: string; sha256: string }>; agreement: { hash: string } | null };
  sessions?: Array<{ receipt: SessionEntry; peerReceipt: { receipt: SessionEntry } }>;
}
const readReceipt = (name: string) => JSON.parse(readFileSync(f(name), 'utf8')) as Receipt;
const verify = (name: string, agreement: string, extra: string[] = []) =>
  koppel(['receipt', 'verify', '--receipt', f(name), '--tls-ca', pki.ca, '--agreement', agreement, ...extra]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-agg-agreement-e2e-'));
  pki = testPki();
  for (const p of [0, 1]) {
    const lines = ['region,household,logins'];
    for (const r of ['Groningen', 'Utrecht']) for (const h of ['single', 'family']) for (let i = 0; i < 6; i++) lines.push(`${r},${h},${p + i}`);
    writeFileSync(f(`p${p}.csv`), lines.join('\n') + '\n');
  }
});

describe('aggregation under an agreement, with receipts', () => {
  it('a whole round under one agreement completes; every process writes a receipt that verifies; both ends of each session carry the same transcript; a changed table fails --table', async () => {
    const agreement = await signed('round.json', 'aggregate', ROUND_PARTIES, ['--set', `round=${JSON.stringify(round())}`]);
    const addr = [port++, port++, port++].map((p) => `127.0.0.1:${p}`) as [string, string, string];
    const collector = koppel([
      'aggregate',
      'collect',
      '--agreement',
      agreement,
      '--listen',
      addr[0],
      '--out',
      f('table.csv'),
      '--meta',
      f('meta.json'),
      '--receipt',
      f('r-collector.json'),
      ...common,
      ...tls('server'),
    ]);
    const aggregators = [0, 1].map((j) =>
      koppel([
        'aggregate',
        'aggregator',
        '--agreement',
        agreement,
        '--index',
        String(j),
        '--listen',
        addr[1 + j] as string,
        '--collector',
        addr[0],
        '--expect',
        '2',
        '--receipt',
        f(`r-agg-${j}.json`),
        ...common,
        ...tls(j === 0 ? 'server' : 'other'),
      ]),
    );
    await new Promise((r) => setTimeout(r, 500));
    // First an input under another agreement: both aggregators refuse it, and their receipts say so.
    const other = await signed('round-other.json', 'aggregate', ROUND_PARTIES, ['--set', `round=${JSON.stringify(round())}`, '--purpose', 'Something else']);
    const stray = await koppel([
      'aggregate',
      'input',
      '--agreement',
      other,
      '--party',
      'gemeente-0',
      '--in',
      f('p0.csv'),
      '--aggregators',
      `${addr[1]},${addr[2]}`,
      ...common,
      ...tls('client'),
    ]);
    expect(stray.code).not.toBe(0);
    const inputs = [0, 1].map((p) =>
      koppel([
        'aggregate',
        'input',
        '--agreement',
        agreement,
        // --round may name the agreement file itself.
        ...(p === 0 ? ['--round', agreement] : []),
        '--party',
        `gemeente-${p}`,
        '--in',
        f(`p${p}.csv`),
        '--aggregators',
        `${addr[1]},${addr[2]}`,
        '--receipt',
        f(`r-input-${p}.json`),
        ...common,
        ...tls(p === 0 ? 'client' : 'other'),
      ]),
    );
    const results = await Promise.all([collector, ...aggregators, ...inputs]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const total = readFileSync(f('table.csv'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('*,*,'));
    expect(total?.split(',').slice(2, 4)).toEqual(['48', String(4 * (15 + 21))]);

    const names = ['r-collector.json', 'r-agg-0.json', 'r-agg-1.json', 'r-input-0.json', 'r-input-1.json'];
    for (const n of names) {
      const v = await verify(n, agreement);
      expect(v.code, `${n}: ${v.stdout}${v.stderr}`).toBe(0);
      expect(v.stdout).toMatch(/ok: session 1 \(.+\): countersigned by the peer/);
    }
    const collectorReceipt = readReceipt('r-collector.json');
    const agg = [readReceipt('r-agg-0.json'), readReceipt('r-agg-1.json')];
    const inp = [readReceipt('r-input-0.json'), readReceipt('r-input-1.json')];
    // Sessions per party: the collector 2 (the aggregators), each aggregator 2 inputs + the collector, each input 2.
    expect(collectorReceipt.receipt.sessions).toHaveLength(2);
    for (const a of agg) expect(a.receipt.sessions).toHaveLength(3);
    // What each aggregator turned away is in its receipt: counts by code, never who.
    for (const a of agg) expect((a.receipt as unknown as { inputs: unknown }).inputs).toEqual({ accepted: 2, refused: 1, 'refused:AGREEMENT_MISMATCH': 1 });
    for (const i of inp) expect(i.receipt.sessions).toHaveLength(2);
    // Each session's two ends: the same session id and transcript, in both parties' receipts.
    const bySession = new Map<string, string[]>();
    for (const r of [collectorReceipt, ...agg, ...inp])
      for (const s of r.receipt.sessions ?? []) {
        expect(s.transcript).toMatch(/^[0-9a-f]{64}$/);
        bySession.set(s.session, [...(bySession.get(s.session) ?? []), s.transcript]);
      }
    // 2 collector sessions + 4 input sessions, each seen from both ends.
    expect(bySession.size).toBe(6);
    for (const ts of bySession.values()) {
      expect(ts).toHaveLength(2);
      expect(ts[0]).toBe(ts[1]);
    }
    for (const r of [collectorReceipt, ...agg, ...inp]) for (const s of r.sessions ?? []) expect(s.peerReceipt.receipt.transcript).toBe(s.receipt.transcript);

    const ok = await verify('r-collector.json', agreement, ['--table', f('table.csv')]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain('ok: the file table.csv is the run');
    writeFileSync(f('table-changed.csv'), readFileSync(f('table.csv'), 'utf8').replace('*,*,48,', '*,*,47,'));
    const changed = await verify('r-collector.json', agreement, ['--table', f('table-changed.csv')]);
    expect(changed.code).not.toBe(0);
    expect(changed.stdout).toMatch(/FAILED: the file table-changed.csv is not an output of this run/);
    // A receipt whose list of sessions was changed after the run fails its own signature.
    const doc = readReceipt('r-agg-0.json');
    (doc.receipt.sessions as SessionEntry[]).pop();
    writeFileSync(f('r-changed.json'), JSON.stringify(doc));
    const c = await verify('r-changed.json', agreement);
    expect(c.code).not.toBe(0);
    expect(c.stdout).toMatch(/FAILED: this party's signature/);
  });

  it('an input under another agreement: the input and the aggregator both stop that session with AGREEMENT_MISMATCH', async () => {
    const r = round();
    const mine = await signed('mine.json', 'aggregate', ROUND_PARTIES, ['--set', `round=${JSON.stringify(r)}`]);
    const other = await signed('other.json', 'aggregate', ROUND_PARTIES, ['--set', `round=${JSON.stringify(r)}`, '--purpose', 'Something else']);
    const addr = [port++, port++].map((p) => `127.0.0.1:${p}`) as [string, string];
    const aggregators = [0, 1].map((j) =>
      startKoppel([
        'aggregate',
        'aggregator',
        '--agreement',
        mine,
        '--index',
        String(j),
        '--listen',
        addr[j] as string,
        '--collector',
        '127.0.0.1:1',
        ...common,
        ...tls(j === 0 ? 'server' : 'other'),
      ]),
    );
    try {
      for (const a of aggregators) await a.waitFor(/listening/, 15_000);
      const input = await koppel([
        'aggregate',
        'input',
        '--agreement',
        other,
        '--party',
        'gemeente-0',
        '--in',
        f('p0.csv'),
        '--aggregators',
        `${addr[0]},${addr[1]}`,
        ...common,
        ...tls('client'),
      ]);
      expect(input.code).not.toBe(0);
      expect(input.stderr).toMatch(/aggregator 0 refused the input: AGREEMENT_MISMATCH/);
      expect(input.stderr).toMatch(/aggregator 1 refused the input: AGREEMENT_MISMATCH/);
      for (const a of aggregators) await a.waitFor(/refused an input: AGREEMENT_MISMATCH/, 10_000);
    } finally {
      for (const a of aggregators) a.child.kill();
      await Promise.all(aggregators.map((a) => a.done));
    }
  });
});

describe('the join helper under an agreement, with receipts', () => {
  it('groups, values and the helper under one agreement: each writes a receipt listing its two sessions, all verify, and each session has one transcript at both ends', async () => {
    const rng = new SyntheticRandom('helper-agreement-e2e');
    const people = Array.from({ length: 40 }, () => syntheticBsn(rng));
    writeFileSync(f('cbs.csv'), 'bsn,province\n' + people.map((b, i) => `${b},${i % 2 ? 'Utrecht' : 'Zeeland'}`).join('\n') + '\n');
    writeFileSync(
      f('logius.csv'),
      'bsn,logins\n' +
        people
          .slice(0, 30)
          .map((b, i) => `${b},${i}`)
          .join('\n') +
        '\n',
    );
    const agreement = await signed(
      'helper.json',
      'join',
      [
        ['cbs', 'groups', 'server'],
        ['logius', 'values', 'client'],
        ['helper', 'helper', 'other'],
      ],
      [
        '--set',
        'parameters.variant="helper"',
        '--set',
        'parties.cbs.input={"idColumn":"bsn","idType":"bsn","groupColumns":["province"]}',
        '--set',
        'parties.cbs.policy={"minCount":3}',
        '--set',
        'parties.logius.input={"idColumn":"bsn","idType":"bsn","valueColumns":["logins"],"maxValue":1000}',
        '--set',
        'parties.logius.policy={"minCount":3}',
      ],
    );
    const [a, h] = [port++, port++].map((p) => `127.0.0.1:${p}`) as [string, string];
    const helper = koppel(['join', 'helper', '--agreement', agreement, '--listen', h, '--receipt', f('r-helper.json'), ...common, ...tls('other')]);
    const groups = koppel([
      'join',
      'groups',
      '--agreement',
      agreement,
      '--listen',
      a,
      '--helper',
      h,
      '--in',
      f('cbs.csv'),
      '--out',
      f('join-table.csv'),
      '--receipt',
      f('r-groups.json'),
      ...common,
      ...tls('server'),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const values = koppel([
      'join',
      'values',
      '--agreement',
      agreement,
      '--connect',
      a,
      '--helper',
      h,
      '--in',
      f('logius.csv'),
      '--receipt',
      f('r-values.json'),
      ...common,
      ...tls('client'),
    ]);
    const results = await Promise.all([helper, groups, values]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const bySession = new Map<string, string[]>();
    for (const n of ['r-helper.json', 'r-groups.json', 'r-values.json']) {
      const v = await verify(n, agreement, n === 'r-groups.json' ? ['--table', f('join-table.csv')] : []);
      expect(v.code, `${n}: ${v.stdout}${v.stderr}`).toBe(0);
      const r = readReceipt(n);
      expect(r.receipt.sessions).toHaveLength(2);
      // The helper's sessions share the join's session id: key them by peer pair too.
      for (const s of r.receipt.sessions ?? []) {
        const key = `${s.session}:${s.transcript}`;
        bySession.set(key, [...(bySession.get(key) ?? []), n]);
      }
    }
    // Three sessions (groups-values, groups-helper, values-helper), each in exactly two receipts.
    expect(bySession.size).toBe(3);
    for (const holders of bySession.values()) expect(holders).toHaveLength(2);
  });
});
