/**
 * Linking agreements end to end (issue 17): `koppel agreement init|sign|verify|show`, and
 * `join groups|values --agreement FILE` as separate processes over loopback mutual TLS.
 * The run takes its parameters and peers from the agreement; it refuses to start when
 * the agreement is unsigned, expired, tampered with or not the peer's, when a flag
 * contradicts it, or when this party's certificate is not the agreement's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel as koppel } from '../helpers.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (name: string) => join(dir, name);
let port = 26000 + Math.floor(Math.random() * 2000);
const pki = () => testPki();
const tls = (who: 'server' | 'client' | 'other') => {
  const p = pki();
  const [cert, key] = who === 'server' ? [p.serverCert, p.serverKey] : who === 'client' ? [p.clientCert, p.clientKey] : [p.otherAgencyCert, p.otherAgencyKey];
  return ['--tls-cert', cert, '--tls-key', key, '--tls-ca', p.ca];
};

/** An agreement for a join: "cbs" (groups) holds the server certificate, "logius" (values) the client one. */
async function makeAgreement(name: string, extra: string[] = []): Promise<string> {
  const out = f(name);
  const r = await koppel([
    'agreement',
    'init',
    '--protocol',
    'join',
    '--id',
    'cbs-logius-test',
    '--party',
    'cbs:groups:server',
    '--party',
    'logius:values:client',
    '--purpose',
    'Share of MijnOverheid users per province and household type',
    '--legal-basis',
    'GDPR art. 6(1)(e); CBS-wet art. 33',
    '--set',
    'parameters.variant="two-party"',
    '--set',
    'parties.cbs.input={"idColumn":"bsn","idType":"bsn","groupColumns":["province"]}',
    '--set',
    'parties.cbs.policy={"minCount":3}',
    '--set',
    'parties.logius.input={"idColumn":"bsn","idType":"bsn","valueColumns":["logins"],"maxValue":1000}',
    '--set',
    'parties.logius.policy={"minCount":3}',
    ...extra,
    '--out',
    out,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

async function signBoth(path: string): Promise<void> {
  const p = pki();
  for (const [party, cert, key] of [
    ['cbs', p.serverCert, p.serverKey],
    ['logius', p.clientCert, p.clientKey],
  ] as const) {
    const r = await koppel(['agreement', 'sign', path, '--party', party, '--tls-cert', cert, '--tls-key', key]);
    expect(r.code, r.stderr).toBe(0);
  }
}

const common = ['--timeout', '20', '--idle-timeout', '20'];

function run(agreementA: string, agreementB: string, extraA: string[] = [], extraB: string[] = [], whoB: 'client' | 'other' = 'client') {
  const addr = `127.0.0.1:${port++}`;
  return Promise.all([
    koppel([
      'join',
      'groups',
      '--listen',
      addr,
      '--in',
      f('cbs.csv'),
      '--agreement',
      agreementA,
      '--out',
      f('table.csv'),
      '--meta',
      f('meta.json'),
      ...common,
      ...tls('server'),
      ...extraA,
    ]),
    koppel(['join', 'values', '--connect', addr, '--in', f('logius.csv'), '--agreement', agreementB, ...common, ...tls(whoB), ...extraB]),
  ]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-agreement-e2e-'));
  const rng = new SyntheticRandom('agreement-e2e');
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
});

describe('koppel agreement and --agreement', () => {
  it('a signed agreement runs: parameters and peers come from it, the table and meta name it, and verify says valid', async () => {
    const path = await makeAgreement('signed.json');
    await signBoth(path);
    const v = await koppel(['agreement', 'verify', path, '--tls-ca', pki().ca]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/valid; signed by cbs, logius; sha256 [0-9a-f]{64}/);
    const show = await koppel(['agreement', 'show', path, '--tls-ca', pki().ca]);
    expect(show.stdout).toContain('cbs (groups)');
    expect(show.stdout).toContain('valid, every party signed');
    // No --group-columns, --value-columns, --id-column, --peer: all from the agreement.
    const [g, b] = await run(path, path);
    expect(g.code, g.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const table = readFileSync(f('table.csv'), 'utf8');
    expect(table.split('\n')[0]).toBe('province,count,sum_logins,suppressed,rule');
    const meta = JSON.parse(readFileSync(f('meta.json'), 'utf8')) as { agreement: { id: string; hash: string; party: string } };
    expect(meta.agreement).toMatchObject({ id: 'cbs-logius-test', party: 'cbs' });
    expect(v.stdout).toContain(meta.agreement.hash);
  });

  it('receipts: both parties write one, signed and countersigned, with the same transcript hash; verify checks signatures, agreement and table, and a changed table or receipt fails', async () => {
    const path = await makeAgreement('receipts.json');
    await signBoth(path);
    const [g, b] = await run(path, path, ['--receipt', f('receipt-cbs.json')], ['--receipt', f('receipt-logius.json')]);
    expect(g.code, g.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    type R = {
      receipt: { transcript: string; session: string; outputs: Array<{ sha256: string }>; learned: Record<string, unknown> };
      peerReceipt: { receipt: { transcript: string } };
    };
    const ra = JSON.parse(readFileSync(f('receipt-cbs.json'), 'utf8')) as R;
    const rb = JSON.parse(readFileSync(f('receipt-logius.json'), 'utf8')) as R;
    expect(ra.receipt.transcript).toMatch(/^[0-9a-f]{64}$/);
    expect(ra.receipt.transcript).toBe(rb.receipt.transcript);
    expect(ra.receipt.session).toBe(rb.receipt.session);
    expect(ra.peerReceipt.receipt.transcript).toBe(ra.receipt.transcript);
    expect(rb.receipt.learned).toHaveProperty('lists');
    // The table's metadata (and so the results report) names the receipt and its transcript.
    const meta = JSON.parse(readFileSync(f('meta.json'), 'utf8')) as { receipt: { file: string; sessions: Array<{ transcript: string }> } };
    expect(meta.receipt).toMatchObject({ file: 'receipt-cbs.json', sessions: [{ transcript: ra.receipt.transcript }] });
    // No identifier or value in a receipt.
    for (const text of [readFileSync(f('receipt-cbs.json'), 'utf8'), readFileSync(f('receipt-logius.json'), 'utf8')]) {
      for (const id of readFileSync(f('cbs.csv'), 'utf8')
        .split('\n')
        .slice(1, 6)
        .map((l) => l.split(',')[0] as string))
        expect(text).not.toContain(id);
    }
    const ok = await koppel(['receipt', 'verify', '--receipt', f('receipt-cbs.json'), '--tls-ca', pki().ca, '--agreement', path, '--table', f('table.csv')]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain("ok: the peer's countersignature verifies through the CA");
    expect(ok.stdout).toContain('ok: the file table.csv is the run');
    const okB = await koppel(['receipt', 'verify', '--receipt', f('receipt-logius.json'), '--tls-ca', pki().ca, '--agreement', path]);
    expect(okB.code, okB.stdout + okB.stderr).toBe(0);
    // The table changed after the run.
    writeFileSync(f('table-changed.csv'), readFileSync(f('table.csv'), 'utf8').replace(/,false,/, ',true,'));
    const t = await koppel(['receipt', 'verify', '--receipt', f('receipt-cbs.json'), '--tls-ca', pki().ca, '--table', f('table-changed.csv')]);
    expect(t.code).not.toBe(0);
    expect(t.stdout).toMatch(/FAILED: the file table-changed.csv is not an output of this run/);
    // The receipt changed after the run.
    const doc = JSON.parse(readFileSync(f('receipt-cbs.json'), 'utf8')) as { receipt: { learned: Record<string, unknown> } };
    doc.receipt.learned['releasedRows'] = 0;
    writeFileSync(f('receipt-changed.json'), JSON.stringify(doc));
    const c = await koppel(['receipt', 'verify', '--receipt', f('receipt-changed.json'), '--tls-ca', pki().ca]);
    expect(c.code).not.toBe(0);
    expect(c.stdout).toMatch(/FAILED: this party's signature: the signature does not verify/);
  });

  it('an unsigned, a half-signed, an expired or a tampered agreement refuses to start, naming the problem', async () => {
    const unsigned = await makeAgreement('unsigned.json');
    const [g1] = await run(unsigned, unsigned, [], ['--timeout', '3']);
    expect(g1.code).not.toBe(0);
    expect(g1.stderr).toMatch(/AGREEMENT_INVALID.*not signed by every party: cbs, logius/);

    const half = await makeAgreement('half.json');
    const p = pki();
    await koppel(['agreement', 'sign', half, '--party', 'cbs', '--tls-cert', p.serverCert, '--tls-key', p.serverKey]);
    const vh = await koppel(['agreement', 'verify', half, '--tls-ca', p.ca]);
    expect(vh.code).not.toBe(0);
    expect(vh.stderr).toMatch(/logius must still sign/);

    const expired = await makeAgreement('expired.json', ['--valid-from', '2020-01-01T00:00:00Z', '--valid-days', '30']);
    await signBoth(expired);
    const [g2] = await run(expired, expired, [], ['--timeout', '3']);
    expect(g2.stderr).toMatch(/AGREEMENT_INVALID.*expired/);

    const tampered = await makeAgreement('tampered.json');
    await signBoth(tampered);
    const doc = JSON.parse(readFileSync(tampered, 'utf8')) as { agreement: { parties: Array<{ policy: { minCount: number } }> } };
    (doc.agreement.parties[1] as { policy: { minCount: number } }).policy.minCount = 1;
    writeFileSync(tampered, JSON.stringify(doc));
    const [g3] = await run(tampered, tampered, [], ['--timeout', '3']);
    expect(g3.stderr).toMatch(/AGREEMENT_INVALID.*changed after signing/);
  });

  it('a flag contradicting the agreement is refused; the other side holding another agreement is AGREEMENT_MISMATCH on both sides', async () => {
    const path = await makeAgreement('strict.json');
    await signBoth(path);
    const [g] = await run(path, path, ['--min-count', '1'], ['--timeout', '3']);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/--min-count contradicts the agreement/);
    const other = await makeAgreement('other.json', ['--set', 'purpose="another purpose"']);
    await signBoth(other);
    const [ga, gb] = await run(path, other, ['--receipt', f('failed-receipt.json')]);
    expect(ga.stderr).toMatch(/AGREEMENT_MISMATCH/);
    expect(gb.stderr).toMatch(/AGREEMENT_MISMATCH/);
    // A failed run writes a receipt too: self-signed, with the error code, no countersignature.
    const failed = JSON.parse(readFileSync(f('failed-receipt.json'), 'utf8')) as { receipt: { status: string; error: string }; countersignature: unknown };
    expect(failed.receipt).toMatchObject({ status: 'failed', error: 'AGREEMENT_MISMATCH' });
    expect(failed.countersignature).toBeNull();
    const v = await koppel(['receipt', 'verify', '--receipt', f('failed-receipt.json'), '--tls-ca', pki().ca]);
    expect(v.stdout).toContain("ok: this party's signature verifies through the CA");
    expect(v.stdout).toMatch(/FAILED: the run failed \(AGREEMENT_MISMATCH\)/);
  });

  it("a peer whose certificate is not the agreement's party is refused: by its own command, and by the pinned listener", async () => {
    const path = await makeAgreement('peer.json');
    await signBoth(path);
    // The other agency runs the values side with its own valid certificate: its command refuses.
    const [, b] = await run(path, path, ['--timeout', '3'], [], 'other');
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/AGREEMENT_INVALID.*certificate/);
    // Without the agreement, its own flags: the group holder's pin (from the agreement) refuses it.
    const addr = `127.0.0.1:${port++}`;
    const [g2, b2] = await Promise.all([
      koppel([
        'join',
        'groups',
        '--listen',
        addr,
        '--in',
        f('cbs.csv'),
        '--agreement',
        path,
        '--out',
        f('t2.csv'),
        ...common,
        ...tls('server'),
        '--timeout',
        '4',
      ]),
      koppel([
        'join',
        'values',
        '--connect',
        addr,
        '--in',
        f('logius.csv'),
        '--id-column',
        'bsn',
        '--id-type',
        'bsn',
        '--value-columns',
        'logins',
        '--max-value',
        '1000',
        '--min-count',
        '3',
        '--peer',
        'server',
        ...common,
        ...tls('other'),
      ]),
    ]);
    expect(b2.stderr).toMatch(/PEER_NOT_ALLOWED/);
    expect(g2.stderr).toMatch(/refused a peer outside the pin/);
  });

  it('PSI receipts, without an agreement: both sides countersign the same transcript, and the client receipt names its output file', async () => {
    const addr = `127.0.0.1:${port++}`;
    const ids = ['--column', 'bsn', '--id-type', 'bsn'];
    const [srv, cli] = await Promise.all([
      koppel([
        'psi',
        'serve',
        '--listen',
        addr,
        '--in',
        f('cbs.csv'),
        ...ids,
        '--receipt',
        f('psi-server.json'),
        ...common,
        ...tls('server'),
        '--peer',
        'client',
      ]),
      koppel([
        'psi',
        'connect',
        '--connect',
        addr,
        '--in',
        f('logius.csv'),
        ...ids,
        '--out',
        f('psi-out.csv'),
        '--receipt',
        f('psi-client.json'),
        ...common,
        ...tls('client'),
        '--peer',
        'server',
      ]),
    ]);
    expect(srv.code, srv.stderr).toBe(0);
    expect(cli.code, cli.stderr).toBe(0);
    const a = JSON.parse(readFileSync(f('psi-server.json'), 'utf8')) as { receipt: { transcript: string; agreement: unknown } };
    const b = JSON.parse(readFileSync(f('psi-client.json'), 'utf8')) as { receipt: { transcript: string } };
    expect(a.receipt.transcript).toBe(b.receipt.transcript);
    expect(a.receipt.agreement).toBeNull();
    const v = await koppel(['receipt', 'verify', '--receipt', f('psi-client.json'), '--tls-ca', pki().ca, '--table', f('psi-out.csv')]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});
