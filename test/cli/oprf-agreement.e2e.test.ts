/**
 * The OPRF service under a linking agreement, with receipts (issue 17): `koppel oprf
 * serve --agreement FILE --receipt FILE` and `koppel pseudonymise --oprf URL --agreement
 * FILE --receipt FILE` as separate processes over loopback mutual TLS.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel, startKoppel, type RunningKoppel } from '../helpers.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (name: string) => join(dir, name);
let port = 21000 + Math.floor(Math.random() * 2000);
const running: RunningKoppel[] = [];
let bsns: string[];

type Who = 'server' | 'client' | 'other';
const tls = (who: Who) => {
  const p = testPki();
  const [cert, key] = who === 'server' ? [p.serverCert, p.serverKey] : who === 'client' ? [p.clientCert, p.clientKey] : [p.otherAgencyCert, p.otherAgencyKey];
  return ['--tls-cert', cert, '--tls-key', key, '--tls-ca', p.ca];
};

/** An oprf agreement: "keyholder" (the service) holds the server certificate, "logius" (a client) the client one. */
async function makeAgreement(name: string, extra: string[] = [], sign: Array<'keyholder' | 'logius'> = ['keyholder', 'logius']): Promise<string> {
  const out = f(name);
  const r = await koppel([
    'agreement',
    'init',
    '--protocol',
    'oprf',
    '--id',
    'oprf-test',
    '--party',
    'keyholder:service:server',
    '--party',
    'logius:client:client',
    '--purpose',
    'Blind pseudonyms of BSN for the linkage',
    '--mode',
    'voprf',
    '--id-column',
    'bsn',
    '--id-type',
    'bsn',
    '--budget',
    '100000',
    '--budget-period',
    '86400',
    ...extra,
    '--out',
    out,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const p = testPki();
  for (const party of sign) {
    const [cert, key] = party === 'keyholder' ? [p.serverCert, p.serverKey] : [p.clientCert, p.clientKey];
    const s = await koppel(['agreement', 'sign', out, '--party', party, '--tls-cert', cert, '--tls-key', key]);
    expect(s.code, s.stderr).toBe(0);
  }
  return out;
}

/** `oprf serve` under `agreement` (or none); resolves once it listens, with its address. */
async function serve(agreement: string | undefined, extra: string[] = []): Promise<{ url: string; service: RunningKoppel }> {
  const at = port++;
  const service = startKoppel([
    'oprf',
    'serve',
    '--key',
    f('oprf.key'),
    '--listen',
    `127.0.0.1:${at}`,
    '--threads',
    '1',
    ...tls('server'),
    ...(agreement ? ['--agreement', agreement] : ['--peer', 'client,other-agency']),
    ...extra,
  ]);
  running.push(service);
  await service.waitFor(/listening on/);
  return { url: `https://127.0.0.1:${at}`, service };
}

function pseudonymise(url: string, agreement: string | undefined, extra: string[] = [], who: Who = 'client', out = f('out.csv')) {
  return koppel([
    'pseudonymise',
    '--oprf',
    url,
    ...tls(who),
    ...(agreement ? ['--agreement', agreement] : ['--column', 'bsn', '--id-type', 'bsn']),
    '--in',
    f('persons.csv'),
    '--out',
    out,
    '--batch-size',
    '100',
    '--concurrency',
    '3',
    '--threads',
    '1',
    ...extra,
  ]);
}

async function stop(s: RunningKoppel): Promise<void> {
  s.child.kill('SIGTERM');
  await s.done;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-oprf-agreement-e2e-'));
  const rng = new SyntheticRandom('oprf-agreement-e2e');
  bsns = Array.from({ length: 1000 }, () => syntheticBsn(rng));
  writeFileSync(f('persons.csv'), 'bsn,region\n' + bsns.map((b, i) => `${b},R${i % 4}`).join('\n') + '\n');
  const r = await koppel(['oprf', 'keygen', '--out', f('oprf.key')]);
  expect(r.code, r.stderr).toBe(0);
});
afterEach(async () => {
  for (const s of running.splice(0)) if (s.child.exitCode === null) await stop(s);
});

type Receipt = {
  receipt: {
    role: string;
    status: string;
    error: string | null;
    session: string;
    transcript: string | null;
    agreement: { hash: string } | null;
    learned: Record<string, unknown>;
    inputs: Record<string, number>;
    outputs: Array<{ name: string; sha256: string }>;
  };
  countersignature: unknown;
  peerReceipt: { receipt: { transcript: string } } | null;
};

describe('the OPRF service under a linking agreement', () => {
  it('client and service receipts of one run carry the same transcript hash and both verify; the output file is named by its SHA-256', async () => {
    const agreement = await makeAgreement('run.json');
    const ca = testPki().ca;
    const show = await koppel(['agreement', 'show', agreement, '--tls-ca', ca]);
    expect(show.stdout).toContain('Protocol: oprf (suite ristretto255-SHA512, mode voprf)');
    expect(show.stdout).toContain('logius (client)');
    expect(show.stdout).toContain('policy: {"budget":100000,"budgetPeriod":86400}');
    expect(show.stdout).toContain('valid, every party signed');
    const v = await koppel(['agreement', 'verify', agreement, '--tls-ca', ca]);
    expect(v.stdout).toMatch(/valid; signed by keyholder, logius; sha256 [0-9a-f]{64}/);
    const { url, service } = await serve(agreement, ['--receipt', f('service-receipts.jsonl')]);
    const r = await pseudonymise(url, agreement, ['--receipt', f('client-receipt.json')]);
    expect(r.code, r.stderr).toBe(0);
    await stop(service);
    const client = JSON.parse(readFileSync(f('client-receipt.json'), 'utf8')) as Receipt;
    const lines = readFileSync(f('service-receipts.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const served = JSON.parse(lines[0] as string) as Receipt;
    expect(client.receipt.transcript).toMatch(/^[0-9a-f]{64}$/);
    expect(served.receipt.transcript).toBe(client.receipt.transcript);
    expect(served.receipt.session).toBe(client.receipt.session);
    expect(client.receipt).toMatchObject({ role: 'client', status: 'completed', learned: { batches: 10, evaluations: 1000 } });
    expect(served.receipt).toMatchObject({ role: 'service', status: 'completed', learned: { batches: 10, evaluations: 1000 } });
    expect(client.receipt.agreement?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(served.receipt.agreement?.hash).toBe(client.receipt.agreement?.hash);
    const sha = createHash('sha256')
      .update(readFileSync(f('out.csv')))
      .digest('hex');
    expect(client.receipt.outputs).toEqual([{ name: 'out.csv', sha256: sha }]);
    // Sizes and hashes only: no identifier, no pseudonym.
    const pseudonym = (readFileSync(f('out.csv'), 'utf8').split('\n')[1] as string).split(',')[0] as string;
    for (const text of [readFileSync(f('client-receipt.json'), 'utf8'), lines[0] as string]) {
      for (const b of bsns.slice(0, 20)) expect(text).not.toContain(b);
      expect(text).not.toContain(pseudonym.split('.')[1]);
    }
    writeFileSync(f('service-receipt.json'), lines[0] as string);
    const vc = await koppel(['receipt', 'verify', '--receipt', f('client-receipt.json'), '--tls-ca', ca, '--agreement', agreement, '--table', f('out.csv')]);
    expect(vc.code, vc.stdout + vc.stderr).toBe(0);
    expect(vc.stdout).toContain("ok: the peer's countersignature verifies through the CA");
    expect(vc.stdout).toContain('ok: the file out.csv is the run');
    const vs = await koppel(['receipt', 'verify', '--receipt', f('service-receipt.json'), '--tls-ca', ca, '--agreement', agreement]);
    expect(vs.code, vs.stdout + vs.stderr).toBe(0);
    expect(vs.stdout).toContain(`both receipts carry transcript ${client.receipt.transcript ?? ''}`);
  });

  it('a receipt edited afterwards, or an output edited afterwards, fails koppel receipt verify', async () => {
    const agreement = await makeAgreement('edit.json');
    const { url, service } = await serve(agreement, ['--receipt', f('edit-receipts.jsonl')]);
    const r = await pseudonymise(url, agreement, ['--receipt', f('edit-receipt.json')], 'client', f('edit-out.csv'));
    expect(r.code, r.stderr).toBe(0);
    const again = await pseudonymise(url, agreement, ['--receipt', f('edit-receipt-2.json')], 'client', f('edit-out-2.csv'));
    expect(again.code, again.stderr).toBe(0);
    await stop(service);
    const ca = testPki().ca;
    // The service's receipts file: one line per client run; verify checks every line, or the one of --run.
    const all = await koppel(['receipt', 'verify', '--receipt', f('edit-receipts.jsonl'), '--tls-ca', ca, '--agreement', agreement]);
    expect(all.code, all.stdout + all.stderr).toBe(0);
    expect(all.stdout.match(/receipt of oprf serve \(service\), session [0-9a-f]{32}: valid/g)).toHaveLength(2);
    const second = (JSON.parse(readFileSync(f('edit-receipt-2.json'), 'utf8')) as Receipt).receipt.session;
    const one = await koppel(['receipt', 'verify', '--receipt', f('edit-receipts.jsonl'), '--tls-ca', ca, '--run', second]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(one.stdout).toContain(`session ${second}: valid`);
    expect(one.stdout.match(/: valid/g)).toHaveLength(1);
    writeFileSync(f('edit-out-changed.csv'), readFileSync(f('edit-out.csv'), 'utf8').replace('R1', 'R2'));
    const t = await koppel(['receipt', 'verify', '--receipt', f('edit-receipt.json'), '--tls-ca', ca, '--table', f('edit-out-changed.csv')]);
    expect(t.code).not.toBe(0);
    expect(t.stdout).toMatch(/FAILED: the file edit-out-changed.csv is not an output of this run/);
    for (const [name, text] of [
      ['edited-client.json', readFileSync(f('edit-receipt.json'), 'utf8')],
      ['edited-service.json', readFileSync(f('edit-receipts.jsonl'), 'utf8').split('\n')[0] as string],
    ] as const) {
      const doc = JSON.parse(text) as Receipt;
      doc.receipt.learned['evaluations'] = 10;
      writeFileSync(f(name), JSON.stringify(doc));
      const c = await koppel(['receipt', 'verify', '--receipt', f(name), '--tls-ca', ca]);
      expect(c.code).not.toBe(0);
      expect(c.stdout).toMatch(/FAILED: this party's signature: the signature does not verify/);
    }
  });

  it('a service under an agreement refuses a client without it or with another: AGREEMENT_MISMATCH on the client, nothing evaluated', async () => {
    const agreement = await makeAgreement('strict.json');
    const other = await makeAgreement('other.json', ['--purpose', 'another purpose']);
    const { url } = await serve(agreement, ['--state', f('ledger.json')]);
    const none = await pseudonymise(url, undefined, ['--receipt', f('mismatch-receipt.json')]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/AGREEMENT_MISMATCH.*agreement/);
    const another = await pseudonymise(url, other);
    expect(another.code).not.toBe(0);
    expect(another.stderr).toMatch(/AGREEMENT_MISMATCH.*Koppel-Agreement/);
    expect(another.stderr).not.toMatch(/[0-9a-f]{64}/); // names the field, not the hashes
    // The ledger did not move: no evaluation was spent.
    expect(existsSync(f('ledger.json'))).toBe(false);
    // A failed run writes a receipt too: self-signed, with the error code, no countersignature.
    const failed = JSON.parse(readFileSync(f('mismatch-receipt.json'), 'utf8')) as Receipt;
    expect(failed.receipt).toMatchObject({ status: 'failed', error: 'AGREEMENT_MISMATCH' });
    expect(failed.countersignature).toBeNull();
    // A service under none refuses a client under one.
    const { url: plain } = await serve(undefined);
    const under = await pseudonymise(plain, agreement);
    expect(under.code).not.toBe(0);
    expect(under.stderr).toMatch(/AGREEMENT_MISMATCH/);
  });

  it('a client certificate not named in the agreement is refused, by the service and by its own command', async () => {
    const agreement = await makeAgreement('peer.json');
    const { url } = await serve(agreement);
    const own = await pseudonymise(url, agreement, [], 'other');
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/AGREEMENT_INVALID.*certificate/);
    const bySevice = await pseudonymise(url, undefined, [], 'other');
    expect(bySevice.code).not.toBe(0);
    expect(bySevice.stderr).toMatch(/PEER_NOT_ALLOWED/);
  });

  it('an unsigned or expired agreement refuses to start, both the service and the client', async () => {
    const unsigned = await makeAgreement('unsigned.json', [], ['keyholder']);
    const expired = await makeAgreement('expired.json', ['--valid-from', '2020-01-01T00:00:00Z', '--valid-days', '30']);
    for (const [path, why] of [
      [unsigned, /AGREEMENT_INVALID.*logius must still sign/],
      [expired, /AGREEMENT_INVALID.*expired/],
    ] as const) {
      const s = await koppel(['oprf', 'serve', '--key', f('oprf.key'), '--listen', `127.0.0.1:${port++}`, ...tls('server'), '--agreement', path]);
      expect(s.code).not.toBe(0);
      expect(s.stderr).toMatch(why);
      const c = await pseudonymise(`https://127.0.0.1:${port++}`, path);
      expect(c.code).not.toBe(0);
      expect(c.stderr).toMatch(why);
    }
  });

  it('a flag contradicting the agreement is refused, on the service and on the client', async () => {
    const agreement = await makeAgreement('flags.json');
    const s = await koppel([
      'oprf',
      'serve',
      '--key',
      f('oprf.key'),
      '--listen',
      `127.0.0.1:${port++}`,
      ...tls('server'),
      '--agreement',
      agreement,
      '--budget',
      '5',
    ]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--budget contradicts the agreement/);
    const peer = await koppel([
      'oprf',
      'serve',
      '--key',
      f('oprf.key'),
      '--listen',
      `127.0.0.1:${port++}`,
      ...tls('server'),
      '--agreement',
      agreement,
      '--peer',
      'other-agency',
    ]);
    expect(peer.code).toBe(2);
    expect(peer.stderr).toMatch(/--peer contradicts the agreement/);
    for (const [flag, value] of [
      ['--mode', 'oprf'],
      ['--column', 'region'],
      ['--id-type', 'raw'],
    ] as const) {
      const c = await pseudonymise(`https://127.0.0.1:${port++}`, agreement, [flag, value]);
      expect(c.code, flag).toBe(2);
      expect(c.stderr).toContain(`${flag} contradicts the agreement`);
    }
  });

  it('koppel check for an OPRF client finds the same invalid records, by number and reason, as the real run with --on-invalid skip --report, and prints no value', async () => {
    const agreement = await makeAgreement('check.json');
    // Record 3: a BSN failing the elfproef; record 6: one field too many; record 9: empty.
    const lines = bsns
      .slice(0, 12)
      .map((b, i) => (i === 2 ? `${b.slice(0, 8)}${(Number(b[8]) + 1) % 10},R1` : i === 5 ? `${b},R1,extra` : i === 8 ? ',R1' : `${b},R${i % 4}`));
    writeFileSync(f('check-in.csv'), 'bsn,region\n' + lines.join('\n') + '\n');
    const { url } = await serve(agreement);
    const real = await koppel([
      'pseudonymise',
      '--oprf',
      url,
      ...tls('client'),
      '--agreement',
      agreement,
      '--in',
      f('check-in.csv'),
      '--out',
      f('check-out.csv'),
      '--on-invalid',
      'skip',
      '--report',
      f('check-real.csv'),
      '--threads',
      '1',
    ]);
    expect(real.code, real.stderr).toBe(0);
    const dry = await koppel([
      'check',
      '--agreement',
      agreement,
      '--party',
      'logius',
      '--in',
      f('check-in.csv'),
      '--report',
      f('check-dry.csv'),
      '--summary',
      'json',
    ]);
    expect(dry.code).toBe(1); // the real run with --on-invalid error would stop
    expect(readFileSync(f('check-dry.csv'), 'utf8')).toBe(readFileSync(f('check-real.csv'), 'utf8'));
    expect(
      readFileSync(f('check-dry.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
    ).toEqual(['3', '6', '9']);
    const result = JSON.parse(dry.stdout) as { role: string; recordsRead: number; valid: number; invalid: number };
    expect(result).toMatchObject({ role: 'client', recordsRead: 12, valid: 9, invalid: 3 });
    for (const b of bsns.slice(0, 12)) expect(dry.stdout + dry.stderr).not.toContain(b);
  });
});
