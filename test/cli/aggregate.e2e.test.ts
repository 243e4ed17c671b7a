/**
 * `koppel aggregate` end to end: 3 input processes, 2 aggregators and 1 collector over
 * loopback mutual TLS; the released table equals the plain sum after disclosure control.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordKey } from '../../src/aggregate/tabulate.js';
import { listeningPort, runKoppel as koppel, startKoppel } from '../helpers.js';
import { certFingerprint, testPki } from '../tls.js';

const regions = ['Groningen', 'Utrecht'];
const households = ['single', 'family'];

describe('koppel aggregate over loopback mutual TLS', () => {
  it('3 inputs, 2 aggregators, 1 collector: the table is the plain sum, with the threshold applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-e2e-'));
    // Party p: 4 + p records per cell, except Utrecht/single where only party 0 has 2 records.
    const expected = new Map<string, { count: number; logins: number }>();
    for (let p = 0; p < 3; p++) {
      const lines = ['region,household,logins'];
      for (const r of regions)
        for (const h of households) {
          const n = r === 'Utrecht' && h === 'single' ? (p === 0 ? 2 : 0) : 4 + p;
          for (let i = 0; i < n; i++) lines.push(`${r},${h},${p + i}`);
          const e = expected.get(`${r},${h}`) ?? { count: 0, logins: 0 };
          e.count += n;
          for (let i = 0; i < n; i++) e.logins += p + i;
          expected.set(`${r},${h}`, e);
        }
      writeFileSync(join(dir, `p${p}.csv`), lines.join('\n') + '\n');
    }
    const rows = await tlsRound({
      dir,
      dimensions: [
        { name: 'region', labels: regions },
        { name: 'household', labels: households },
      ],
      inputs: ['p0.csv', 'p1.csv', 'p2.csv'],
      collectFlags: ['--protection', '2', '--value-protection', '12.5'],
    });
    expect(rows[0]).toEqual(['region', 'household', 'count', 'sum_logins', 'suppressed', 'rule']);
    const get = (r: string, h: string) => rows.find((x) => x[0] === r && x[1] === h) as string[];
    const total = [...expected.values()].reduce((a, e) => ({ count: a.count + e.count, logins: a.logins + e.logins }), { count: 0, logins: 0 });
    const groningen = ['single', 'family'].map((h) => expected.get(`Groningen,${h}`) as { count: number; logins: number });
    expect(get('*', '*').slice(2, 6)).toEqual([String(total.count), String(total.logins), 'false', 'published']);
    expect(get('Groningen', '*').slice(2, 4)).toEqual([String(groningen[0]!.count + groningen[1]!.count), String(groningen[0]!.logins + groningen[1]!.logins)]);
    expect(get('Utrecht', 'single').slice(2, 6)).toEqual(['', '', 'true', 'threshold']);
    // In a 2 x 2 table with published margins, one small cell forces the other three to be
    // suppressed too: otherwise the margins give it away by subtraction.
    for (const [r, h] of [
      ['Utrecht', 'family'],
      ['Groningen', 'single'],
      ['Groningen', 'family'],
    ] as const)
      expect(get(r, h).slice(2, 6)).toEqual(['', '', 'true', 'secondary']);
    expect(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'))).toMatchObject({
      inputs: 3,
      dropped: 0,
      disclosure: { threshold: 10, secondary: true, protection: 2, valueProtection: 12.5 },
    });
  });

  it("a third agency's valid certificate from the same CA is refused by aggregate aggregator with PEER_NOT_ALLOWED, and the pinned input party is still accepted", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-pin-'));
    const pki = testPki();
    const tlsOf = (cert: string, key: string) => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', pki.ca];
    const round = {
      round: 'e2e-pin',
      codebook: {
        id: 'usage',
        dimensions: [{ name: 'region', labels: regions }],
        values: [],
        maxInputs: 10,
        maxRecordsPerInput: 1000,
      },
      aggregators: 2,
      minInputs: 1,
      deadline: new Date(Date.now() + 30_000).toISOString(),
    };
    writeFileSync(join(dir, 'round.json'), JSON.stringify(round));
    writeFileSync(join(dir, 'in.csv'), 'region\n' + Array.from({ length: 12 }, (_, i) => regions[i % 2]).join('\n') + '\n');
    const common = ['--round', join(dir, 'round.json'), '--timeout', '20', '--idle-timeout', '20'];
    const server = tlsOf(pki.serverCert, pki.serverKey);
    const { collector, aggregators, list } = await startServices(
      common,
      ['--out', join(dir, 'table.csv'), '--threshold', '1', ...server, '--peer', 'server'],
      [...server, '--peer', 'client', '--collector-peer', 'server'],
      1,
    );
    const input = (cert: string, key: string, party: string) =>
      koppel(['aggregate', 'input', ...common, '--party', party, '--in', join(dir, 'in.csv'), '--aggregators', list, ...tlsOf(cert, key), '--peer', 'server']);
    const intruder = await input(pki.otherAgencyCert, pki.otherAgencyKey, 'gemeente-x');
    expect(intruder.code).not.toBe(0);
    expect(intruder.stderr).toContain('PEER_NOT_ALLOWED');
    const honest = await input(pki.clientCert, pki.clientKey, 'gemeente-0');
    expect(honest.code, honest.stderr).toBe(0);
    const results = await Promise.all([collector, ...aggregators].map((x) => x.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const a of results.slice(1)) {
      expect(a.stderr).toContain(`refused a peer outside the pin (certificate sha256 ${certFingerprint(pki.otherAgencyCert)})`);
      expect(a.stderr).toContain(`accepted an input from peer "client" (sha256 ${certFingerprint(pki.clientCert)})`);
    }
    const rows = readFileSync(join(dir, 'table.csv'), 'utf8').trim().split('\n');
    expect(rows.find((l) => l.startsWith('*,'))?.split(',')[1]).toBe('12');
  });

  it('the released table does not give the true count back: no column or field from which count minus perturbation follows (--cell-key default)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-ck-'));
    // 13 Groningen and 17 Utrecht records, every record key 0: each cell key is 0, which the
    // default p-table maps to -2 for counts of 3 and more, so every count is perturbed.
    const truth = new Map([
      ['Groningen', 13],
      ['Utrecht', 17],
      ['*', 30],
    ]);
    const lines = ['region,logins,key'];
    for (const [r, n] of truth) if (r !== '*') for (let i = 0; i < n; i++) lines.push(`${r},${i},0`);
    writeFileSync(join(dir, 'in.csv'), lines.join('\n') + '\n');
    const rows = await cellKeyRound(dir, regions, ['--key-column', 'key'], true);
    // Nothing beside the count: the labels, the count, the sums, whether suppressed and the rule.
    expect(rows[0]).toEqual(['region', 'count', 'sum_logins', 'suppressed', 'rule']);
    for (const row of rows.slice(1)) {
      expect(row).toHaveLength(5);
      const t = truth.get(row[0] as string) as number;
      // The method did perturb (so the check below could fail), and nothing in the row is the true count or the perturbation.
      expect(Number(row[1])).toBe(t - 2);
      expect(row.slice(3)).toEqual(['false', 'published']);
    }
    const metaText = readFileSync(join(dir, 'meta.json'), 'utf8');
    expect(metaText).not.toMatch(/perturbation|cellKeySum|"key"/i);
    expect(JSON.parse(metaText)).toMatchObject({ disclosure: { cellKey: 'koppel-default-D2-V0.6', cellKeyCountsOnly: true } });
  });

  it('record keys from --id-column and --cell-key-secret are recordKey(secret, id): the same perturbed table as those keys given in a --key-column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-ids-'));
    // A fixed secret and fixed identifiers, so that the perturbations below are fixed too.
    const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    writeFileSync(join(dir, 'secret.hex'), secret.toString('hex') + '\n');
    // 8 cells of 10 to 17 records (all published at threshold 10), each record a distinct
    // identifier: the cell keys, and so the perturbations, follow from the record keys.
    const labels = Array.from({ length: 8 }, (_, i) => `r${i}`);
    const records = labels.flatMap((r, i) => Array.from({ length: 10 + i }, (_, j) => ({ r, id: `id-${i}-${j}` })));
    const csv = (withKey: boolean) =>
      [
        withKey ? 'region,logins,bsn,key' : 'region,logins,bsn',
        ...records.map((x, j) => `${x.r},${j % 7},${x.id}` + (withKey ? `,${recordKey(secret, x.id)}` : '')),
      ].join('\n') + '\n';
    writeFileSync(join(dir, 'in.csv'), csv(false));
    const fromSecret = await cellKeyRound(dir, labels, ['--id-column', 'bsn', '--cell-key-secret', join(dir, 'secret.hex')]);
    writeFileSync(join(dir, 'in.csv'), csv(true));
    const fromColumn = await cellKeyRound(dir, labels, ['--key-column', 'key']);
    expect(fromSecret).toEqual(fromColumn);
    // The perturbation did act (so the comparison could fail): some count is not its cell's true count.
    const perturbed = fromSecret
      .slice(1)
      .filter((row) => row[0] !== '*' && row[4] === 'published' && Number(row[1]) !== records.filter((x) => x.r === row[0]).length);
    expect(perturbed.length).toBeGreaterThan(0);
  });

  it("an input party's certificate cannot stand in for the collector: the aggregator pins the collector apart (--collector-peer) and reports nothing to an impostor", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-impostor-'));
    const pki = testPki();
    const round = {
      round: 'e2e-impostor',
      codebook: { id: 'usage', dimensions: [{ name: 'region', labels: regions }], values: [], maxInputs: 10, maxRecordsPerInput: 1000 },
      aggregators: 2,
      minInputs: 1,
      deadline: new Date(Date.now() + 8_000).toISOString(),
    };
    writeFileSync(join(dir, 'round.json'), JSON.stringify(round));
    writeFileSync(join(dir, 'in.csv'), 'region\n' + Array.from({ length: 12 }, (_, i) => regions[i % 2]).join('\n') + '\n');
    const common = ['--round', join(dir, 'round.json'), '--timeout', '20', '--idle-timeout', '20'];
    const tls = (cert: string, key: string) => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', pki.ca];
    // Without a pin for the collector, with TLS, the aggregator does not start.
    const unpinned = await koppel([...aggregatorArgs(common, 0, '127.0.0.1:0', '127.0.0.1:1', 1), ...tls(pki.serverCert, pki.serverKey), '--peer', 'client']);
    expect(unpinned.code).not.toBe(0);
    expect(unpinned.stderr).toContain('--collector-peer');
    // The input party here is the other agency (its certificate, valid from the same CA, is
    // good for servers too); the impostor is a collector process that holds it.
    const {
      collector: impostor,
      aggregators,
      list,
    } = await startServices(
      common,
      ['--out', join(dir, 'table.csv'), '--threshold', '1', ...tls(pki.otherAgencyCert, pki.otherAgencyKey), '--peer', 'server'],
      [...tls(pki.serverCert, pki.serverKey), '--peer', 'other-agency', '--collector-peer', 'server'],
      1,
    );
    const input = await koppel([
      'aggregate',
      'input',
      ...common,
      '--party',
      'gemeente-0',
      '--in',
      join(dir, 'in.csv'),
      '--aggregators',
      list,
      ...tls(pki.otherAgencyCert, pki.otherAgencyKey),
      '--peer',
      'server',
    ]);
    expect(input.code, input.stderr).toBe(0);
    const [c, ...as] = await Promise.all([impostor.done, ...aggregators.map((a) => a.done)]);
    // Every aggregator fails and reports nothing; the first refuses the impostor's certificate
    // (the impostor's round then fails, so a later one may find no collector at all).
    for (const a of as) {
      expect(a.code).not.toBe(0);
      expect(a.stderr).not.toContain('reported to collector');
    }
    expect(as.some((a) => a.stderr.includes('PEER_NOT_ALLOWED'))).toBe(true);
    expect(c.code).not.toBe(0);
    expect(existsSync(join(dir, 'table.csv'))).toBe(false);
  });
});

/** A round over loopback mutual TLS with 2 aggregators and a collector: see {@link tlsRound}. */
interface TlsRound {
  readonly dir: string;
  readonly dimensions: ReadonlyArray<{ readonly name: string; readonly labels: readonly string[] }>;
  /** CSV files in `dir` (columns: the dimensions, logins, ...), one input party each (gemeente-0, gemeente-1, ...). */
  readonly inputs: readonly string[];
  /** Flags every input party gets. */
  readonly inputFlags?: readonly string[];
  /** The collector's disclosure flags. */
  readonly collectFlags: readonly string[];
  /** Flags the collector is first started with and must refuse (`INVALID_ARGUMENT` mentioning `mentions`). */
  readonly refused?: { readonly flags: readonly string[]; readonly mentions: string };
}

/**
 * Runs the round of `r` (one value column, logins 0..100; every input required): the
 * collector writes dir/table.csv and dir/meta.json; every process must succeed. Returns
 * the released table's rows.
 */
async function tlsRound(r: TlsRound): Promise<string[][]> {
  const { dir } = r;
  const pki = testPki();
  const server = ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca];
  const client = ['--tls-cert', pki.clientCert, '--tls-key', pki.clientKey, '--tls-ca', pki.ca];
  const round = {
    round: `e2e-${randomBytes(4).toString('hex')}`,
    codebook: {
      id: 'usage',
      dimensions: r.dimensions,
      values: [{ name: 'logins', scale: 0, min: '0', max: '100' }],
      maxInputs: 10,
      maxRecordsPerInput: 1000,
    },
    aggregators: 2,
    minInputs: r.inputs.length,
    deadline: new Date(Date.now() + 30_000).toISOString(),
  };
  writeFileSync(join(dir, 'round.json'), JSON.stringify(round));
  const common = ['--round', join(dir, 'round.json'), '--timeout', '20', '--idle-timeout', '20'];
  const collectFlags = ['--out', join(dir, 'table.csv'), '--meta', join(dir, 'meta.json'), ...server, '--peer', 'server'];
  if (r.refused) {
    const refused = await koppel(['aggregate', 'collect', ...common, '--listen', '127.0.0.1:0', ...collectFlags, ...r.refused.flags]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('INVALID_ARGUMENT');
    expect(refused.stderr).toContain(r.refused.mentions);
  }
  const { collector, aggregators, list } = await startServices(
    common,
    [...collectFlags, ...r.collectFlags],
    [...server, '--peer', 'client', '--collector-peer', 'server'],
    r.inputs.length,
  );
  const inputs = r.inputs.map((file, p) =>
    koppel([
      'aggregate',
      'input',
      ...common,
      '--party',
      `gemeente-${p}`,
      '--in',
      join(dir, file),
      ...(r.inputFlags ?? []),
      '--aggregators',
      list,
      ...client,
      '--peer',
      'server',
    ]),
  );
  const results = await Promise.all([collector.done, ...aggregators.map((a) => a.done), ...inputs]);
  for (const x of results) expect(x.code, x.stderr).toBe(0);
  return readFileSync(join(dir, 'table.csv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

/**
 * One round with the cell key method (`--cell-key default`, counts only, threshold 10, no
 * secondary suppression): one input party reads dir/in.csv (columns region, logins, ...)
 * with `inputFlags`. With `checkRefusal`, the collector is first started without
 * `--cell-key-counts-only` and must refuse.
 */
function cellKeyRound(dir: string, labels: readonly string[], inputFlags: readonly string[], checkRefusal = false): Promise<string[][]> {
  const disclosure = ['--threshold', '10', '--no-secondary', '--cell-key', 'default'];
  return tlsRound({
    dir,
    dimensions: [{ name: 'region', labels }],
    inputs: ['in.csv'],
    inputFlags,
    collectFlags: [...disclosure, '--cell-key-counts-only'],
    // Exact sums beside perturbed counts only when the operator says so.
    ...(checkRefusal ? { refused: { flags: disclosure, mentions: '--cell-key-counts-only' } } : {}),
  });
}

/** `aggregate aggregator` number `j` of 2, listening on `listen`, reporting to the collector on `collector` once `inputs` inputs arrived. */
function aggregatorArgs(common: readonly string[], j: number, listen: string, collector: string, inputs: number): string[] {
  return ['aggregate', 'aggregator', ...common, '--index', String(j), '--listen', listen, '--collector', collector, '--expect', String(inputs)];
}

/**
 * Starts a round's collector and its 2 aggregators, every one on port 0, and waits until
 * each has said its port: `list` is the aggregators' addresses for `--aggregators`.
 */
async function startServices(common: readonly string[], collectFlags: readonly string[], aggregatorFlags: readonly string[], inputs: number) {
  const collector = startKoppel(['aggregate', 'collect', ...common, '--listen', '127.0.0.1:0', ...collectFlags]);
  const cport = await listeningPort(collector);
  const aggregators = [0, 1].map((j) => startKoppel([...aggregatorArgs(common, j, '127.0.0.1:0', `127.0.0.1:${cport}`, inputs), ...aggregatorFlags]));
  const aports = await Promise.all(aggregators.map(listeningPort));
  return { collector, aggregators, list: aports.map((a) => `127.0.0.1:${a}`).join(',') };
}
