/**
 * `koppel pseudonymise --resume` (issue 16): a run killed (SIGKILL, a crash) in the middle
 * of the file continues where its last committed batch ended: the rows already written
 * are kept, none is evaluated twice (with --oprf the service's budget ledger counts the
 * evaluations: exactly one per record over both runs), and the output is byte-identical
 * to an uninterrupted run. Bytes written after the last commit (a crash mid-write) are
 * cut off; another input or other flags are refused with RESUME_MISMATCH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { CLI, runKoppel as koppel } from '../helpers.js';
import { testPki } from '../tls.js';

let dir: string;
const f = (n: string) => join(dir, n);
const children: ChildProcess[] = [];
const N = 6000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-resume-'));
  const rng = new SyntheticRandom('resume-e2e');
  const bsns = Array.from({ length: N }, () => syntheticBsn(rng));
  // A few invalid identifiers (kept with an empty id under --on-invalid report) and quoted fields.
  writeFileSync(f('persons.csv'), 'bsn,region\n' + bsns.map((b, i) => `${i % 997 === 5 ? '123' : b},"R ${i % 4}, NL"`).join('\n') + '\n');
  expect((await koppel(['keygen', '--out', f('master.key')])).code).toBe(0);
  expect((await koppel(['oprf', 'keygen', '--out', f('oprf.key')])).code).toBe(0);
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

interface State {
  records: number;
  outputBytes: number;
}
const stateOf = (out: string): State | undefined => {
  try {
    return JSON.parse(readFileSync(`${out}.koppel-resume`, 'utf8')) as State;
  } catch {
    return undefined;
  }
};

/** Starts koppel; SIGKILLs it once its resume state has passed `atRecords` records. Resolves with its exit code (null when killed). */
function runAndKill(args: string[], out: string, atRecords: number): Promise<{ code: number | null; killedAt: number | undefined }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let killedAt: number | undefined;
  const poll = setInterval(() => {
    const s = stateOf(out);
    if (s && s.records >= atRecords && killedAt === undefined) {
      killedAt = s.records;
      child.kill('SIGKILL');
    }
  }, 5);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, killedAt });
    }),
  );
}

const keyed = (out: string) => [
  'pseudonymise',
  '--key',
  f('master.key'),
  '--domain',
  'test/resume',
  '--column',
  'bsn',
  '--id-type',
  'bsn',
  '--on-invalid',
  'report',
  '--in',
  f('persons.csv'),
  '--out',
  out,
  '--threads',
  '0',
];

describe('pseudonymise --resume, keyed', () => {
  it('refuses --resume on stdin or stdout, and with a report on stdout', async () => {
    const a = await koppel(['pseudonymise', '--key', f('master.key'), '--domain', 'd', '--column', 'bsn', '--in', f('persons.csv'), '--resume']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--resume needs --in FILE and --out FILE');
    const b = await koppel([...keyed(f('never.csv')), '--resume', '--report', '-']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--resume needs --report FILE');
    expect(existsSync(f('never.csv.koppel-partial'))).toBe(false);
  });

  it('with --report: killed at half the file, the resumed output and report are byte-identical to an uninterrupted run; resuming without the report is refused', async () => {
    const M = 300_000;
    // Every 1000th identifier is empty: skipped and reported.
    writeFileSync(f('gaps.csv'), 'id,n\n' + Array.from({ length: M }, (_, i) => `${i % 1000 === 7 ? '' : `q${i}`},${i % 5}`).join('\n') + '\n');
    const args = (out: string, report: string) => [
      ...keyed(out).map((a) => (a === f('persons.csv') ? f('gaps.csv') : a === 'bsn' ? 'raw' : a === 'report' ? 'skip' : a)),
      '--report',
      report,
    ];
    const withId = (a: string[]) => {
      a[a.indexOf('--column') + 1] = 'id';
      return a;
    };
    const r0 = await koppel(withId(args(f('gaps-whole.csv'), f('gaps-whole.report.csv'))));
    expect(r0.code, r0.stderr).toBe(0);
    const out = f('gaps-resumed.csv');
    const report = f('gaps-resumed.report.csv');
    const killed = await runAndKill([...withId(args(out, report)), '--resume'], out, M / 2);
    expect(killed.code).toBe(null);
    expect(stateOf(out)?.records).toBeLessThan(M);
    expect(existsSync(report)).toBe(false);
    appendFileSync(`${report}.koppel-partial`, '123456,INVALID_'); // a row half written after the last commit
    const refused = await koppel([...withId(args(out, report)).slice(0, -2), '--resume']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('RESUME_MISMATCH');
    const r1 = await koppel([...withId(args(out, report)), '--resume']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(f('gaps-whole.csv')))).toBe(true);
    expect(readFileSync(report, 'utf8')).toBe(readFileSync(f('gaps-whole.report.csv'), 'utf8'));
    expect(readFileSync(report, 'utf8').trim().split('\n')).toHaveLength(1 + M / 1000);
    expect(existsSync(`${report}.koppel-partial`)).toBe(false);
  }, 120_000);

  it('killed at half the file: continues from the committed state (bytes after the last commit cut), byte-identical to an uninterrupted run', async () => {
    const M = 400_000;
    writeFileSync(f('big.csv'), 'id,n\n' + Array.from({ length: M }, (_, i) => `p${i},${i % 7}`).join('\n') + '\n');
    const args = (out: string) => keyed(out).map((a) => (a === f('persons.csv') ? f('big.csv') : a === 'bsn' ? 'raw' : a === 'report' ? 'error' : a));
    const withId = (out: string) => {
      const a = args(out);
      a[a.indexOf('--column') + 1] = 'id';
      return a;
    };
    const whole = f('keyed-whole.csv');
    const r0 = await koppel(withId(whole));
    expect(r0.code, r0.stderr).toBe(0);
    const out = f('keyed-resumed.csv');
    const killed = await runAndKill([...withId(out), '--resume'], out, M / 2);
    expect(killed.code).toBe(null);
    const state = stateOf(out) as State;
    expect(state.records).toBeGreaterThanOrEqual(M / 2);
    expect(state.records).toBeLessThan(M);
    expect(existsSync(out)).toBe(false);
    appendFileSync(`${out}.koppel-partial`, 'p-half-written,');
    const r1 = await koppel([...withId(out), '--resume']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(whole))).toBe(true);
    expect(existsSync(`${out}.koppel-resume`)).toBe(false);
    expect(existsSync(`${out}.koppel-partial`)).toBe(false);
  }, 120_000);
});

describe('pseudonymise --oprf --resume after a kill at half the file', () => {
  let port = 0;
  let service: ChildProcess;
  const pki = testPki();
  const ledger = () => f('ledger.json');
  const used = (): number => {
    const l = JSON.parse(readFileSync(ledger(), 'utf8')) as { clients: Record<string, { used: number }> };
    return Object.values(l.clients).reduce((s, c) => s + c.used, 0);
  };

  beforeAll(async () => {
    service = spawn(
      process.execPath,
      [
        CLI,
        'oprf',
        'serve',
        '--key',
        f('oprf.key'),
        '--listen',
        '127.0.0.1:0',
        '--state',
        ledger(),
        '--threads',
        '1',
        '--tls-cert',
        pki.serverCert,
        '--tls-key',
        pki.serverKey,
        '--tls-ca',
        pki.ca,
        '--peer',
        'client',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(service);
    port = await new Promise<number>((resolve, reject) => {
      let err = '';
      service.stderr?.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      service.on('exit', (code) => reject(new Error(`oprf serve exited ${code}`)));
    });
  });

  const oprf = (out: string) => [
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
    '--on-invalid',
    'report',
    '--in',
    f('persons.csv'),
    '--out',
    out,
    '--batch-size',
    '100',
    '--concurrency',
    '1',
    '--threads',
    '1',
  ];

  it('keeps the rows written, spends no evaluation again on a committed row, and ends byte-identical to an uninterrupted run', async () => {
    const whole = f('oprf-whole.csv');
    const r0 = await koppel(oprf(whole));
    expect(r0.code, r0.stderr).toBe(0);
    const valid = N - Math.ceil(N / 997); // the invalid ids are never sent
    const before = used();
    expect(before).toBe(valid);

    const out = f('oprf-resumed.csv');
    const killed = await runAndKill([...oprf(out), '--resume'], out, N / 2);
    expect(killed.code, String(killed.killedAt)).toBe(null); // killed, not finished
    const state = stateOf(out) as State;
    expect(state.records).toBeGreaterThanOrEqual(N / 2);
    expect(state.records).toBeLessThan(N);
    expect(existsSync(out)).toBe(false);
    const spentFirst = used() - before;
    // A crash in the middle of a write: bytes past the last commit.
    appendFileSync(`${out}.koppel-partial`, 'half a record,"unterminated');

    const r1 = await koppel([...oprf(out), '--resume', '--summary', 'json']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(whole));
    expect(existsSync(`${out}.koppel-resume`)).toBe(false);
    // Every valid record evaluated once over both runs, except those of batches the
    // kill caught in flight (evaluated, never committed): at most the 3 batches of 100 in flight here.
    const spent = used() - before;
    // The resumed run evaluated exactly the valid records after the committed point.
    const validAfter = Array.from({ length: N - state.records }, (_, j) => state.records + j).filter((i) => i % 997 !== 5).length;
    expect(spent - spentFirst).toBe(validAfter);
    expect(spent).toBeGreaterThanOrEqual(valid);
    expect(spent - valid).toBeLessThanOrEqual(300);
    const summary = JSON.parse(r1.stderr.split('\n').find((l) => l.startsWith('{')) as string) as { resumedAt: number; records: number; pseudonymised: number };
    expect(summary.resumedAt).toBe(state.records);
    expect(summary.records).toBe(N);
    expect(summary.pseudonymised).toBe(valid);
    console.log(`--oprf --resume: killed at ${state.records} of ${N}; evaluations ${spentFirst} + ${spent - spentFirst} = ${spent} for ${valid} valid records`);
  }, 120_000);

  it('refuses to continue over another input or with other flags (RESUME_MISMATCH), before any evaluation', async () => {
    const out = f('oprf-mismatch.csv');
    const killed = await runAndKill([...oprf(out), '--resume'], out, 1000);
    expect(killed.code).toBe(null);
    const before = used();
    const other = await koppel([...oprf(out).map((a) => (a === 'raw' ? a : a)), '--resume', '--on-invalid', 'skip']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('RESUME_MISMATCH');
    writeFileSync(f('other.csv'), readFileSync(f('persons.csv'), 'utf8').replace('R 1', 'R 9'));
    const args = oprf(out);
    args[args.indexOf(f('persons.csv'))] = f('other.csv');
    const changed = await koppel([...args, '--resume']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('RESUME_MISMATCH');
    expect(used()).toBe(before);
  }, 120_000);
});
