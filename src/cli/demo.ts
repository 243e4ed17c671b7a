/**
 * `koppel demo`: the CBS–Logius style linkage on synthetic data, with every party a
 * separate `koppel` process.
 *
 * Until the private join exists this demo shows the pseudonymisation route: a key
 * holder generates a key, both agencies pseudonymise their BSN column with it in their
 * own process, and an analyst links the two pseudonymised files. The demo then checks
 * that the table from pseudonyms equals the table from a plain join on raw BSNs.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { KoppelError } from '../errors/index.js';
import { generateSynthetic, type Person, type User } from '../demo/synthetic.js';
import { formatCount } from './io.js';
import { parseIntFlag, type Console } from './shared.js';

interface DemoFlags {
  readonly size: number;
  readonly seed: string;
  readonly dir?: string;
}

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));

/** Registers `demo`. */
export function demoCommand(program: Command, io: Console): void {
  program
    .command('demo')
    .description('Run the CBS–Logius style linkage on synthetic data, each party as its own koppel process.')
    .option('--size <n>', 'persons in the synthetic population', parseIntFlag('--size', 10, 50_000_000), 200_000)
    .option('--seed <text>', 'seed of the synthetic data (same seed, same data)', 'koppel-demo')
    .option('--dir <dir>', 'working directory for the parties\' files (default: a new temporary directory)')
    .action(async (flags: DemoFlags) => {
      await runDemo(flags, io);
    });
}

/** Runs one `koppel` command as its own process; resolves with its stderr. */
function party(name: string, args: string[], io: Console): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      for (const line of stderr.trimEnd().split('\n')) if (line) io.out(`  [${name}] ${line}\n`);
      if (code === 0) resolve(stderr);
      else reject(new KoppelError('INTERNAL', `The ${name} process failed (exit ${code}); see its messages above.`));
    });
  });
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

async function* csvRows(path: string): AsyncGenerator<string[]> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let header = true;
  for await (const line of rl) {
    if (header) {
      header = false;
      continue;
    }
    if (line) yield line.split(',');
  }
}

interface Cell {
  persons: number;
  users: number;
  logins: number;
}

function emptyCell(): Cell {
  return { persons: 0, users: 0, logins: 0 };
}

/** Aggregates the linked records per province and household type. */
function table(
  people: Iterable<readonly [string, string, string]>,
  usage: ReadonlyMap<string, number>,
): Map<string, Cell> {
  const t = new Map<string, Cell>();
  for (const [id, province, household] of people) {
    const k = `${province},${household}`;
    const c = t.get(k) ?? emptyCell();
    c.persons++;
    const logins = usage.get(id);
    if (logins !== undefined) {
      c.users++;
      c.logins += logins;
    }
    t.set(k, c);
  }
  return t;
}

async function runDemo(flags: DemoFlags, io: Console): Promise<void> {
  const say = (line: string) => io.out(line + '\n');
  const started = performance.now();
  const dir = flags.dir ?? (await mkdtemp(join(tmpdir(), 'koppel-demo-')));
  await mkdir(dir, { recursive: true });
  const f = (name: string) => join(dir, name);

  say(`koppel demo: ${formatCount(flags.size)} synthetic persons (seed "${flags.seed}") in ${dir}`);
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

  say('\n1. The key holder generates a pseudonymisation key (its own process).');
  await party('key holder', ['keygen', '--out', f('shared.key'), '--label', 'demo'], io);

  say('\n2. Each agency pseudonymises its BSN column, in its own process, at the same time.');
  const domain = 'demo/cbs-logius/2026';
  const common = ['--key', f('shared.key'), '--domain', domain, '--column', 'bsn', '--id-type', 'bsn'];
  await Promise.all([
    party('CBS', ['pseudonymise', ...common, '--in', f('cbs.csv'), '--out', f('cbs.pseud.csv')], io),
    party('Logius', ['pseudonymise', ...common, '--in', f('logius.csv'), '--out', f('logius.pseud.csv'), '--on-invalid', 'report', '--report', f('logius.rejected.csv')], io),
  ]);

  say('\n3. The analyst links the pseudonymised files (no BSN in them) and tabulates.');
  const usage = new Map<string, number>();
  for await (const [p, logins] of csvRows(f('logius.pseud.csv'))) if (p) usage.set(p, Number(logins));
  const linkedPeople: Array<readonly [string, string, string]> = [];
  for await (const [p, province, household] of csvRows(f('cbs.pseud.csv'))) linkedPeople.push([p as string, province as string, household as string]);
  const privateTable = table(linkedPeople, usage);

  // The plain, non-private join on raw BSNs, for comparison (only the demo can do this:
  // it generated both sides). Users whose BSN has a typing error cannot be linked by
  // either route, so they are left out of both.
  const plainUsage = new Map<string, number>();
  data.users.forEach((u, i) => {
    if (!corrupt.has(i)) plainUsage.set(u.bsn, u.logins);
  });
  const plainTable = table(
    data.population.map((p) => [p.bsn, p.province, p.householdType] as const),
    plainUsage,
  );

  const keys = [...new Set([...privateTable.keys(), ...plainTable.keys()])].sort();
  let agree = 0;
  const rows: string[] = ['province,household_type,persons,users,share_users,logins'];
  for (const k of keys) {
    const a = privateTable.get(k) ?? emptyCell();
    const b = plainTable.get(k) ?? emptyCell();
    if (a.persons === b.persons && a.users === b.users && a.logins === b.logins) agree++;
    rows.push(`${k},${a.persons},${a.users},${(a.users / Math.max(a.persons, 1)).toFixed(3)},${a.logins}`);
  }
  await writeFile(f('result.csv'), rows.join('\n') + '\n');

  io.out(`\nShare of MijnOverheid users per province and household type (first 15 of ${keys.length} cells; all in ${f('result.csv')}):\n`);
  const shown = rows.slice(1, 16).map((r) => r.split(','));
  io.out(`${'province'.padEnd(15)}${'household type'.padEnd(24)}${'persons'.padStart(9)}${'users'.padStart(9)}${'share'.padStart(7)}\n`);
  for (const r of shown) io.out(`${(r[0] ?? '').padEnd(15)}${(r[1] ?? '').padEnd(24)}${(r[2] ?? '').padStart(9)}${(r[3] ?? '').padStart(9)}${(r[4] ?? '').padStart(7)}\n`);
  const ok = agree === keys.length;
  io.out(`\nCheck against the plain join on raw BSNs: ${agree} of ${keys.length} cells agree: ${ok ? 'AGREE' : 'DISAGREE'}\n`);
  io.out(`Linked ${formatCount([...privateTable.values()].reduce((s, c) => s + c.users, 0))} users to the population; ${corrupt.size} Logius records had an invalid BSN and were reported by record number only (logius.rejected.csv).\n`);
  io.out(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);
  if (!ok) throw new KoppelError('INTERNAL', 'The table from pseudonyms differs from the plain join; please report this.');
}
