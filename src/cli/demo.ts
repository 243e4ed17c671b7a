/**
 * `koppel demo`: the CBS–Logius question answered by the private join, on synthetic
 * data, with each party a separate `koppel` process talking over loopback.
 *
 * CBS (party A) holds every person's province, household type and age band; Logius
 * (party B) holds MijnOverheid users with their logins and messages read. `koppel join
 * groups` (CBS) and `koppel join values` (Logius) run as two processes (and `koppel
 * join helper` as a third with `--variant helper`); CBS ends up with the released table
 * and nothing else. The demo then computes the plain, non-private join on raw BSNs
 * (only a demo that generated both sides can) and checks cell by cell that the private
 * table equals it after the same disclosure control.
 *
 * @packageDocumentation
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from './commander.js';
import { parseRecords } from '../csv/records.js';
import { KoppelError } from '../errors/index.js';
import { generateSynthetic, type Person, type User } from '../demo/synthetic.js';
import { protectJoinTable, withholdTotals, type JoinGroup } from '../join/table.js';
import { formatCount } from './io.js';
import { parseIntFlag } from './common.js';
import type { Console } from './program.js';

interface DemoFlags {
  readonly size: number;
  readonly seed: string;
  readonly dir?: string;
  readonly variant: 'two-party' | 'helper';
  readonly minCount: number;
  readonly reportHtml?: string;
}

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const GROUP_COLUMNS = ['province', 'household_type', 'age_band'];
const VALUE_COLUMNS = ['logins', 'messages_read'];

/** Registers `demo`. */
export function demoCommand(program: Command, io: Console): void {
  program
    .command('demo')
    .description('Answer the CBS–Logius question with the private join on synthetic data, each party its own koppel process.')
    .option('--size <n>', 'persons in the synthetic population', parseIntFlag('--size', 100, 50_000_000), 50_000)
    .option('--seed <text>', 'seed of the synthetic data (same seed, same data)', 'koppel-demo')
    .addOption(
      new Option('--variant <variant>', 'two-party (CBS and Logius only) or helper (with a third, non-colluding helper process)')
        .choices(['two-party', 'helper'])
        .default('two-party'),
    )
    .option('--min-count <k>', 'threshold rule of the released table', parseIntFlag('--min-count', 1, 1_000_000), 10)
    .option('--dir <dir>', "working directory for the parties' files (default: a new temporary directory)")
    .option('--report-html <file>', "where CBS writes the results report (self-contained HTML; default: report.html in the demo's directory)")
    .action(async (flags: DemoFlags) => {
      await runDemo(flags, io);
    });
}

/** A running party: resolves with its stderr when it exits 0. */
interface Party {
  readonly done: Promise<string>;
  /** Resolves with the port once the party prints `listening on HOST:PORT`. */
  readonly listening: Promise<number>;
}

/** Starts one `koppel` command as its own process; its stderr is shown prefixed by its name. */
function party(name: string, args: string[], io: Console): Party {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let onPort: (p: number) => void = () => undefined;
  const listening = new Promise<number>((resolve) => (onPort = resolve));
  let pending = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      io.out(`  [${name}] ${line}\n`);
      const m = /listening on .*:(\d+)$/.exec(line);
      if (m) onPort(Number(m[1]));
    }
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (pending) io.out(`  [${name}] ${pending}\n`);
      if (code === 0) resolve(stderr);
      else reject(new KoppelError('INTERNAL', `The ${name} process failed (exit ${code}); see its messages above.`));
    });
  });
  done.catch(() => undefined);
  return { done, listening };
}

/** Runs a koppel command to completion (the demo's own steps: agreement, receipts); its stdout. */
function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new KoppelError('INTERNAL', `koppel ${args.slice(0, 2).join(' ')} failed in the demo: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

/** openssl's arguments for a new ECDSA P-256 key, unencrypted. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A test CA and one certificate per name (CN and subjectAltName the name, DNS localhost,
 * IP 127.0.0.1), made with openssl as examples/make-test-pki.sh does; `undefined` when
 * openssl is not there. Test certificates only: between agencies they come from their CA.
 */
function makeTestPki(dir: string, names: readonly string[]): string | undefined {
  const ssl = (args: string[]) => spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = ssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=koppel demo CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  if (ca.error || ca.status !== 0) return undefined;
  for (const n of names) {
    const req = ssl(['req', '-new', ...EC_KEY, '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n}`]);
    writeFileSync(
      join(dir, `${n}.ext`),
      `subjectAltName=DNS:${n},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`,
    );
    const sign = ssl([
      'x509',
      '-req',
      '-in',
      `${n}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${n}.crt`,
      '-extfile',
      `${n}.ext`,
    ]);
    if (req.status !== 0 || sign.status !== 0) return undefined;
  }
  return dir;
}

function csvOfPopulation(people: readonly Person[]): string {
  const lines = ['bsn,province,household_type,age_band'];
  for (const p of people) lines.push(`${p.bsn},${p.province},${p.householdType},${p.ageBand}`);
  return lines.join('\n') + '\n';
}

function csvOfUsers(users: readonly User[], corrupt: ReadonlySet<number>): string {
  const lines = ['bsn,logins,messages_read'];
  users.forEach((u, i) => {
    // A typing error in a few BSNs (two digits swapped), as real registers have.
    const bsn = corrupt.has(i) ? u.bsn.slice(0, 3) + (u.bsn[4] ?? '') + (u.bsn[3] ?? '') + u.bsn.slice(5) : u.bsn;
    lines.push(`${bsn},${u.logins},${u.messagesRead}`);
  });
  return lines.join('\n') + '\n';
}

/** The plain join on raw BSNs, grouped like the private one. */
function plainGroups(people: readonly Person[], usage: ReadonlyMap<string, User>): JoinGroup[] {
  const index = new Map<string, { labels: string[]; count: number; sums: number[] }>();
  for (const p of people) {
    const labels = [p.province, p.householdType, p.ageBand];
    const key = labels.join('\u0000');
    let g = index.get(key);
    if (!g) {
      g = { labels, count: 0, sums: [0, 0] };
      index.set(key, g);
    }
    const u = usage.get(p.bsn);
    if (u) {
      g.count++;
      g.sums[0] = (g.sums[0] as number) + u.logins;
      g.sums[1] = (g.sums[1] as number) + u.messagesRead;
    }
  }
  return [...index.values()];
}

async function runDemo(flags: DemoFlags, io: Console): Promise<void> {
  const say = (line: string) => io.out(line + '\n');
  const started = performance.now();
  const dir = flags.dir ?? (await mkdtemp(join(tmpdir(), 'koppel-demo-')));
  await mkdir(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const reportPath = resolve(flags.reportHtml ?? f('report.html'));

  say(`koppel demo: ${formatCount(flags.size)} synthetic persons (seed "${flags.seed}"), ${flags.variant} private join, in ${dir}`);
  const data = generateSynthetic(flags.size, flags.seed);
  const corrupt = new Set<number>();
  // Swapping two adjacent different digits always fails the elfproef (weights differ by 1).
  for (let i = 0; i < data.users.length; i += 997) {
    const b = (data.users[i] as User).bsn;
    if (b[3] !== b[4]) corrupt.add(i);
  }
  await writeFile(f('cbs.csv'), csvOfPopulation(data.population));
  await writeFile(f('logius.csv'), csvOfUsers(data.users, corrupt));
  say(`  CBS holds ${formatCount(data.population.length)} persons (bsn, province, household type, age band): cbs.csv`);
  say(`  Logius holds ${formatCount(data.users.length)} MijnOverheid users (bsn, logins, messages read): logius.csv`);

  // 0. The agencies' agreement, signed by each with its TLS key; the run and its receipts under it.
  const names = flags.variant === 'helper' ? ['cbs', 'logius', 'helper'] : ['cbs', 'logius'];
  const pki = makeTestPki(f('pki'), names);
  const agreementPath = f('agreement.json');
  const tlsOf = (n: string) =>
    pki ? ['--tls-cert', join(pki, `${n}.crt`), '--tls-key', join(pki, `${n}.key`), '--tls-ca', join(pki, 'ca.crt')] : ['--insecure'];
  const underAgreement = (n: string) => (pki ? [...tlsOf(n), '--agreement', agreementPath, '--receipt', f(`receipt-${n}.json`)] : ['--insecure']);
  if (pki) {
    say('\n0. CBS and Logius agree in writing what is linked, for which purpose, with which thresholds, until when:');
    say(`   a linking agreement, signed by each with its own TLS key (a test CA made for this demo: ${pki}).`);
    cli([
      'agreement',
      'init',
      '--protocol',
      'join',
      '--id',
      'cbs-logius-demo',
      ...names.flatMap((n) => ['--party', `${n}:${n === 'cbs' ? 'groups' : n === 'logius' ? 'values' : 'helper'}:${n}`]),
      '--purpose',
      'Share of MijnOverheid users per province, household type and age band (synthetic demo data)',
      '--legal-basis',
      'Demo only: no real persons',
      '--valid-days',
      '1',
      '--set',
      `parameters.variant="${flags.variant}"`,
      '--set',
      `parties.cbs.input=${JSON.stringify({ idColumn: 'bsn', idType: 'bsn', groupColumns: GROUP_COLUMNS })}`,
      '--set',
      `parties.cbs.policy=${JSON.stringify({ minCount: flags.minCount, totals: true })}`,
      '--set',
      `parties.logius.input=${JSON.stringify({ idColumn: 'bsn', idType: 'bsn', valueColumns: VALUE_COLUMNS, maxValue: 100000 })}`,
      '--set',
      `parties.logius.policy=${JSON.stringify({ minCount: flags.minCount })}`,
      '--out',
      agreementPath,
    ]);
    for (const n of names) cli(['agreement', 'sign', agreementPath, '--party', n, '--tls-cert', join(pki, `${n}.crt`), '--tls-key', join(pki, `${n}.key`)]);
    say(`   ${cli(['agreement', 'verify', agreementPath, '--tls-ca', join(pki, 'ca.crt')]).trim()}`);
    say(`   The agreement: ${agreementPath} (read it with \`koppel agreement show ${agreementPath}\`).`);
  } else {
    say('\n0. (openssl is not available: no test certificates, so the demo runs without TLS, agreement or receipts.)');
  }

  say('\n1. CBS and Logius start `koppel join groups` and `koppel join values`, each its own process,');
  say(
    pki
      ? '   over mutual TLS under the agreement. No BSN, pseudonym or record leaves either; CBS gets the released table.'
      : '   No BSN, pseudonym or record leaves either; CBS gets the released table and nothing else.',
  );
  const net = ['--timeout', '120', '--idle-timeout', '600', '--summary', 'json', '--id-column', 'bsn', '--id-type', 'bsn'];
  const variantArgs: string[] = [];
  let helper: Party | undefined;
  if (flags.variant === 'helper') {
    helper = party(
      'helper',
      [
        'join',
        'helper',
        '--listen',
        '127.0.0.1:0',
        // The helper writes a receipt too: each of its two sessions ends with the exchange.
        ...underAgreement('helper'),
        '--timeout',
        '120',
        '--idle-timeout',
        '600',
        '--summary',
        'json',
      ],
      io,
    );
    variantArgs.push('--variant', 'helper', '--helper', `127.0.0.1:${await helper.listening}`);
  }
  const cbs = party(
    'CBS',
    [
      'join',
      'groups',
      '--listen',
      '127.0.0.1:0',
      '--in',
      f('cbs.csv'),
      '--group-columns',
      GROUP_COLUMNS.join(','),
      '--min-count',
      String(flags.minCount),
      '--totals',
      '--out',
      f('result.csv'),
      '--meta',
      f('meta.json'),
      '--report-html',
      reportPath,
      ...net,
      ...underAgreement('cbs'),
      ...variantArgs,
    ],
    io,
  );
  const port = await Promise.race([cbs.listening, cbs.done.then(() => 0)]);
  const logius = party(
    'Logius',
    [
      'join',
      'values',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      f('logius.csv'),
      '--value-columns',
      VALUE_COLUMNS.join(','),
      '--max-value',
      '100000',
      '--min-count',
      String(flags.minCount),
      '--on-invalid',
      'skip',
      ...net,
      ...underAgreement('logius'),
      ...variantArgs,
    ],
    io,
  );
  await Promise.all([cbs.done, logius.done, helper?.done]);
  if (pki) {
    say(
      names.length > 2
        ? '\n   Each party checks its receipt: signed by itself, each session countersigned by its peer, the same transcript at both ends, under the agreement:'
        : '\n   Each party checks its receipt: signed by itself, countersigned by the other, the same transcript, under the agreement:',
    );
    for (const n of names) {
      const out = cli([
        'receipt',
        'verify',
        '--receipt',
        f(`receipt-${n}.json`),
        '--tls-ca',
        join(pki, 'ca.crt'),
        '--agreement',
        agreementPath,
        ...(n === 'cbs' ? ['--table', f('result.csv')] : []),
      ]);
      say(`   ${n}: ${out.trim().split('\n').pop() ?? ''} (${f(`receipt-${n}.json`)})`);
    }
  }

  say('\n2. The check: the plain join on raw BSNs (only this demo, which made both sides, can do it),');
  say('   through the same disclosure control, compared with the private table cell by cell.');
  const usage = new Map<string, User>();
  data.users.forEach((u, i) => {
    if (!corrupt.has(i)) usage.set(u.bsn, u); // typed-in-error BSNs link by neither route
  });
  // Logius states the same --min-count as its policy: CBS never learns the sums of a group
  // with fewer matched users (nor, therefore, of a total over one).
  const plain = plainGroups(data.population, usage).map((g) => (g.count > 0 && g.count < flags.minCount ? { ...g, sums: null } : g));
  const expected = withholdTotals(protectJoinTable(3, 2, plain, { threshold: flags.minCount }), plain);
  const text = await readFile(f('result.csv'), 'utf8');
  const rows = parseRecords(text.slice(text.indexOf('\n') + 1), ',', 2).filter((r) => r.length > 1);
  const got = new Map(rows.map((r) => [r.slice(0, 3).join('\u0000'), r.slice(3)]));
  let agree = 0;
  for (const e of expected) {
    const want = [e.count === null ? '' : String(e.count), ...e.sums.map((x) => (x === null ? '' : String(x))), String(e.count === null), e.rule];
    const have = got.get(e.labels.join('\u0000'));
    if (have && have.join(',') === want.join(',')) agree++;
  }
  const ok = agree === expected.length && rows.length === expected.length;

  // The mission's question: share of MijnOverheid users per province and household type
  // (the age-band total rows of the released table), with CBS's own person counts.
  const persons = new Map<string, number>();
  for (const p of data.population) persons.set(`${p.province}\u0000${p.householdType}`, (persons.get(`${p.province}\u0000${p.householdType}`) ?? 0) + 1);
  const margin = rows.filter((r) => r[0] !== '*' && r[1] !== '*' && r[2] === '*');
  io.out(
    `\nShare of MijnOverheid users per province and household type (first 15 of ${margin.length}; every cell, with age bands and totals, in ${f('result.csv')}):\n`,
  );
  io.out(`${'province'.padEnd(15)}${'household type'.padEnd(24)}${'persons'.padStart(9)}${'users'.padStart(9)}${'share'.padStart(7)}${'logins'.padStart(9)}\n`);
  for (const r of margin.slice(0, 15)) {
    const n = persons.get(`${r[0]}\u0000${r[1]}`) ?? 0;
    const users = r[3] === '' ? 'supp.' : (r[3] as string);
    const share = r[3] === '' ? '' : (Number(r[3]) / Math.max(n, 1)).toFixed(3);
    io.out(
      `${(r[0] ?? '').padEnd(15)}${(r[1] ?? '').padEnd(24)}${String(n).padStart(9)}${users.padStart(9)}${share.padStart(7)}${(r[4] || 'supp.').padStart(9)}\n`,
    );
  }
  const suppressed = rows.filter((r) => r[6] === 'true').length;
  io.out(
    `\n${rows.length} rows released (${suppressed} suppressed: fewer than ${flags.minCount} matched users, or protecting such a cell against subtraction and bounds).\n`,
  );
  io.out(`Check against the plain join on raw BSNs: ${agree} of ${expected.length} cells agree: ${ok ? 'AGREE' : 'DISAGREE'}\n`);
  io.out(`${corrupt.size} Logius records had an invalid BSN and were skipped (by record number only; no BSN is ever printed).\n`);
  io.out(`The results report (chart, sortable table, disclosure summary, parties; self-contained HTML): ${reportPath}\n`);
  io.out(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
  if (!ok) throw new KoppelError('INTERNAL', 'The private table differs from the plain join; please report this.');
}
