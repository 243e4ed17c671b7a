/**
 * Private join benchmark: the helper and two-party variants against plain PSI on the
 * same sets, each party its own `koppel` process over loopback TCP (wall time includes
 * process start and reading the CSV files; peak RSS per party from the processes; CPU time
 * of all of a run's processes together, which depends less on what else the machine runs).
 *
 * A: n persons in about 2,000 groups (40 x 50 labels); B: n records with 2 value
 * columns, half of them A's. Every private table is checked against the plain join.
 *
 * Usage: node bench/join.mjs [--n 100000,1000000] [--quick] [--skip-two-party-above N] [--variants psi,helper,two-party]
 * Figures are printed and written as JSON on the last line; nothing is asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticBsn, SyntheticRandom } from '../dist/demo/synthetic.js';
import { basePort, numberFlag, runCliWithCpu } from './lib.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const sizes = args.includes('--n') ? args[args.indexOf('--n') + 1].split(',').map(Number) : quick ? [2000] : [100_000, 1_000_000];
const skipTwoPartyAbove = numberFlag(args, '--skip-two-party-above', Infinity);
// Which runs (default: all three); the ratios need plain PSI in the same run.
const variants = new Set(args.includes('--variants') ? args[args.indexOf('--variants') + 1].split(',') : ['psi', 'helper', 'two-party']);
const results = { bench: 'join', quick, cpu: cpus()[0]?.model, cores: cpus().length, runs: [] };

function data(n, seed) {
  const rng = new SyntheticRandom(seed);
  const all = new Set();
  while (all.size < Math.round(n * 1.5)) all.add(syntheticBsn(rng));
  const list = [...all];
  const a = list.slice(0, n).map((b, i) => [b, `r${i % 40}`, `h${Math.floor(i / 40) % 50}`]);
  const b = list.slice(n / 2, n / 2 + n).map((id) => [id, rng.int(101), rng.int(51)]);
  return { a, b };
}

function plainTable(a, b) {
  const values = new Map(b.map(([id, x, y]) => [id, [x, y]]));
  const t = new Map();
  for (const [id, r, h] of a) {
    const key = `${r},${h}`;
    const c = t.get(key) ?? [0, 0, 0];
    const v = values.get(id);
    if (v) {
      c[0]++;
      c[1] += v[0];
      c[2] += v[1];
    }
    t.set(key, c);
  }
  return t;
}

function checkTable(file, plain) {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  if (lines.length !== plain.size) return false;
  for (const l of lines) {
    const [r, h, count, s1, s2] = l.split(',');
    const want = plain.get(`${r},${h}`);
    if (!want || Number(count) !== want[0] || Number(s1) !== want[1] || Number(s2) !== want[2]) return false;
  }
  return true;
}

/** A process's summary (its JSON last line on stderr) with its CPU seconds (all threads) as `cpuSeconds`. */
const json = (p) => p.then(({ stderr, cpuSeconds }) => ({ ...JSON.parse(stderr.trim().split('\n').pop()), cpuSeconds }));
/** The CLI, its CPU time measured. */
const runCli = (cmd) => runCliWithCpu(cmd);
const cpuOf = (...summaries) => Number(summaries.reduce((t, x) => t + (x?.cpuSeconds ?? 0), 0).toFixed(2));
const mb = (x) => Math.round(x.peakRssBytes / 2 ** 20);
let port = basePort(200);

for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-join-bench-'));
  try {
    const { a, b } = data(n, `join-bench-${n}`);
    writeFileSync(join(dir, 'a.csv'), 'bsn,region,household\n' + a.map((r) => r.join(',')).join('\n') + '\n');
    writeFileSync(join(dir, 'b.csv'), 'bsn,logins,messages\n' + b.map((r) => r.join(',')).join('\n') + '\n');
    const plain = plainTable(a, b);
    const common = ['--id-type', 'bsn', '--insecure', '--summary', 'json', '--no-progress', '--idle-timeout', '3600'];
    const row = { n, groups: plain.size };

    // Plain PSI on the same identifiers (intersection mode): the baseline.
    let t0 = performance.now();
    let addr = `127.0.0.1:${port++}`;
    if (variants.has('psi')) {
      const [ps, pc] = await Promise.all([
        json(runCli(['psi', 'serve', '--listen', addr, '--in', join(dir, 'b.csv'), '--column', 'bsn', ...common])),
        json(runCli(['psi', 'connect', '--connect', addr, '--in', join(dir, 'a.csv'), '--column', 'bsn', '--out', join(dir, 'psi.csv'), ...common])),
      ]);
      row.psi = { wallMs: Math.round(performance.now() - t0), cpuS: cpuOf(pc, ps), intersection: pc.intersectionSize, rssMB: [mb(pc), mb(ps)] };
    }

    const joinRun = async (variant) => {
      addr = `127.0.0.1:${port++}`;
      const helperAddr = `127.0.0.1:${port++}`;
      const v = variant === 'helper' ? ['--variant', 'helper', '--helper', helperAddr] : [];
      t0 = performance.now();
      const helper =
        variant === 'helper'
          ? json(runCli(['join', 'helper', '--listen', helperAddr, '--insecure', '--summary', 'json', '--no-progress', '--idle-timeout', '3600']))
          : Promise.resolve(undefined);
      const out = join(dir, `join-${variant}.csv`);
      const [g, vv, h] = await Promise.all([
        json(
          runCli([
            'join',
            'groups',
            '--listen',
            addr,
            '--in',
            join(dir, 'a.csv'),
            '--id-column',
            'bsn',
            '--group-columns',
            'region,household',
            '--min-count',
            '1',
            '--out',
            out,
            ...common,
            ...v,
          ]),
        ),
        json(
          runCli([
            'join',
            'values',
            '--connect',
            addr,
            '--in',
            join(dir, 'b.csv'),
            '--id-column',
            'bsn',
            '--value-columns',
            'logins,messages',
            '--max-value',
            '1000',
            // No policy on either side: the bench checks every exact group against the plain join.
            '--min-count',
            '1',
            ...common,
            ...v,
          ]),
        ),
        helper,
      ]);
      return {
        wallMs: Math.round(performance.now() - t0),
        // CPU seconds of all the run's processes together (A, B and the helper).
        cpuS: cpuOf(g, vv, h),
        matched: g.matched,
        correct: checkTable(out, plain),
        rssMB: { groups: mb(g), values: mb(vv), ...(h ? { helper: mb(h) } : {}) },
      };
    };
    if (variants.has('helper')) row.helper = await joinRun('helper');
    if (variants.has('two-party') && n <= skipTwoPartyAbove) row.twoParty = await joinRun('two-party');
    results.runs.push(row);

    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `\n${n.toLocaleString('en-US')} x ${n.toLocaleString('en-US')}, ${row.groups} groups, 2 value columns (${results.cpu}, ${results.cores} cores), separate processes on loopback TCP:`,
    );
    const ratio = (ms) => (row.psi ? ` = ${(ms / row.psi.wallMs).toFixed(2)}x plain PSI;` : '');
    const cpu = (v) => ` CPU ${v.cpuS.toFixed(1)} s${row.psi ? ` (${(v.cpuS / row.psi.cpuS).toFixed(2)}x PSI's)` : ''};`;
    if (row.psi)
      console.log(
        `  plain PSI (psi serve/connect)  ${s(row.psi.wallMs).padStart(9)}  CPU ${row.psi.cpuS.toFixed(1)} s; intersection ${row.psi.intersection}, peak RSS ${row.psi.rssMB.join(' / ')} MB`,
      );
    if (row.helper)
      console.log(
        `  join, helper variant           ${s(row.helper.wallMs).padStart(9)} ${ratio(row.helper.wallMs)}${cpu(row.helper)} table ${row.helper.correct ? 'correct' : 'WRONG'}; peak RSS A ${row.helper.rssMB.groups} / B ${row.helper.rssMB.values} / helper ${row.helper.rssMB.helper} MB`,
      );
    if (row.twoParty)
      console.log(
        `  join, two-party (ElGamal)      ${s(row.twoParty.wallMs).padStart(9)} ${ratio(row.twoParty.wallMs)}${cpu(row.twoParty)} table ${row.twoParty.correct ? 'correct' : 'WRONG'}; peak RSS A ${row.twoParty.rssMB.groups} / B ${row.twoParty.rssMB.values} MB`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(JSON.stringify(results));
