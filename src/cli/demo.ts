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
import { spawn } from 'node:child_process';
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

  say('\n1. CBS and Logius start `koppel join groups` and `koppel join values`, each its own process.');
  say('   No BSN, pseudonym or record leaves either; CBS gets the released table and nothing else.');
  const net = ['--insecure', '--timeout', '120', '--idle-timeout', '600', '--summary', 'json', '--id-column', 'bsn', '--id-type', 'bsn'];
  const variantArgs: string[] = [];
  let helper: Party | undefined;
  if (flags.variant === 'helper') {
    helper = party('helper', ['join', 'helper', '--listen', '127.0.0.1:0', '--insecure', '--timeout', '120', '--idle-timeout', '600', '--summary', 'json'], io);
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
      ...variantArgs,
    ],
    io,
  );
  await Promise.all([cbs.done, logius.done, helper?.done]);

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
