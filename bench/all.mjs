#!/usr/bin/env node
/**
 * Every figure of issue 18 in one run, each with its ratio and target. Runs the benchmark
 * scripts one after the other as child processes, at the sizes the targets name, reads the
 * JSON last line of each and ends with one table: the figure measured in this run, its
 * ratio, the target, met or not met. Every ratio is computed from figures of this run.
 * The OPRF and aggregation rows ("no regression") compare with the issue's commit
 * (bench/baseline.json names it) measured side by side in this run: that commit is built
 * from git into a temporary directory, and its bench/oprf.mjs and bench/aggregate.mjs run
 * alternately with this checkout's (both without the peers), BASE_ROUNDS times each, after
 * this checkout's run with the peers; each row compares the medians of the alternating runs.
 * Without git (or with --no-base) those rows fall back to the figures recorded in
 * bench/baseline.json. The join's memory compares with the issue's recorded figures.
 * Nothing is asserted: a benchmark measures, it never fails.
 *
 * Usage: node bench/all.mjs [--quick] [--markdown] [--only NAMES] [--set KEY=VALUE]... [--from FILE] [--no-base]
 *   --quick: small sizes, about two minutes; the ratios are then not at the targets' sizes
 *     (and the baseline rows are not compared).
 *   --markdown: the table in Markdown on stdout; the scripts' own output goes to stderr.
 *   --only psi,join: only these scripts (pseudonymise, psi, aggregate, join, oprf, disclosure).
 *   --set psiFloor=200000 (or psiSlope=100000,400000): one size changed, names in SIZES below.
 *   --from FILE: runs nothing; the table from the results file of an earlier run.
 *   --no-base: do not build the issue's commit; the OPRF and aggregation rows compare with
 *     bench/baseline.json (also what --quick does).
 * Every run writes bench/results/all-<time>.json: the sizes, each script's JSON and the table.
 * Run it alone on the machine: each script's wall times need the cores (npm run bench
 * builds first and runs the full sizes, which take about half an hour on 2 cores).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const markdown = args.includes('--markdown');
const valueOf = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const from = valueOf('--from');
const SCRIPTS = ['pseudonymise', 'psi', 'aggregate', 'join', 'oprf', 'disclosure'];
const only = valueOf('--only')?.split(',') ?? SCRIPTS;
for (const s of only) if (!SCRIPTS.includes(s)) throw new Error(`--only: no script ${s} (one of ${SCRIPTS.join(', ')})`);

/**
 * The sizes the targets name (full) and small ones for --quick. psiFloor: the PSI run timed
 * against its floor; psiSlope: the two sizes whose peak RSS gives the memory per element;
 * psiSmall: the two-process run that should take under a second; psiInProcess: the one-process
 * run against @openmined/psi.js; memoryRows: the two file sizes of pseudonymisation's memory.
 */
const SIZES = {
  full: {
    pseudRows: [1_000_000],
    memoryRows: [1_000_000, 4_000_000],
    psiInProcess: [5000],
    psiSmall: [1000],
    psiFloor: [1_000_000],
    psiSlope: [500_000, 2_000_000],
    joinN: [1_000_000],
  },
  quick: {
    pseudRows: [20_000],
    memoryRows: [50_000, 200_000],
    psiInProcess: [5000],
    psiSmall: [1000],
    psiFloor: [20_000],
    psiSlope: [10_000, 40_000],
    joinN: [2000],
  },
};

/** What each script is run with, from the sizes. */
function scriptArgs(sizes) {
  const q = quick ? ['--quick'] : [];
  const tcp = [...new Set([...sizes.psiSmall, ...sizes.psiFloor, ...sizes.psiSlope])].sort((a, b) => a - b);
  return {
    // Three rounds, each run divided by the floor measured beside it: one run of a
    // 1.5-second command, and the floor's own loop, move with the moment.
    pseudonymise: [...q, '--rows', String(sizes.pseudRows[0]), '--rounds', '3', '--memory-rows', sizes.memoryRows.join(',')],
    psi: [...q, '--n', String(sizes.psiInProcess[0]), '--tcp-n', tcp.join(','), '--floor-n', String(sizes.psiFloor[0])],
    aggregate: q,
    join: [...q, '--n', String(sizes.joinN[0])],
    oprf: q,
    disclosure: q,
  };
}

/** Runs one script (of this checkout, or of `benchDir`); resolves with its JSON last line. Its output is shown as it comes. */
function runScript(name, scriptArgv, benchDir = here) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(benchDir, `${name}.mjs`), ...scriptArgv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      (markdown ? process.stderr : process.stdout).write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench/${name}.mjs exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        reject(new Error(`bench/${name}.mjs: no JSON on its last line`));
      }
    });
  });
}

// --- the table ---------------------------------------------------------------------
const int = (x) => Math.round(x).toLocaleString('en-US');
const sec = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const nxn = (n) => `${int(n)} x ${int(n)}`;

/**
 * One table row. `ratio` is a number (shown with its unit `unit`), `met` true, false or
 * null (no target, or not comparable).
 */
function row(area, what, figure, ratio, target, met, unit = 'x') {
  return { area, what, figure, ratio: ratio === null || !Number.isFinite(ratio) ? null : Number(ratio.toFixed(3)), unit, target, met };
}
const notRun = (area, what, target, why = 'not run') => row(area, what, why, null, target, null);

function joinRows(res, sizes, baseline) {
  const area = 'join';
  const n = sizes.joinN[0];
  const r = res?.runs.find((x) => x.n === n);
  if (!r)
    return [
      notRun(area, `two-party join / plain PSI, ${nxn(n)}`, '<= 1.6x'),
      notRun(area, `helper join / plain PSI, ${nxn(n)}`, '-'),
      notRun(area, `two-party join peak RSS A (groups), ${nxn(n)}`, 'not above 80b18a1'),
      notRun(area, `two-party join peak RSS B (values), ${nxn(n)}`, 'not above 80b18a1'),
    ];
  const rows = [];
  const wrong = (v) => (v.correct ? '' : ', table WRONG');
  const psi = `plain PSI ${sec(r.psi.wallMs)}`;
  if (r.twoParty) {
    const q = r.twoParty.wallMs / r.psi.wallMs;
    rows.push(row(area, `two-party join / plain PSI, ${nxn(n)}`, `${sec(r.twoParty.wallMs)} / ${psi}${wrong(r.twoParty)}`, q, '<= 1.6x', q <= 1.6));
  } else rows.push(notRun(area, `two-party join / plain PSI, ${nxn(n)}`, '<= 1.6x'));
  // CPU time of all the processes, a figure less sensitive to other load than wall time.
  if (r.twoParty?.cpuS && r.psi.cpuS)
    rows.push(
      row(
        area,
        `two-party join / plain PSI, CPU time of all processes, ${nxn(n)}`,
        `${r.twoParty.cpuS.toFixed(1)} s / ${r.psi.cpuS.toFixed(1)} s`,
        r.twoParty.cpuS / r.psi.cpuS,
        '-',
        null,
      ),
    );
  const h = r.helper.wallMs / r.psi.wallMs;
  rows.push(row(area, `helper join / plain PSI, ${nxn(n)}`, `${sec(r.helper.wallMs)} / ${psi}${wrong(r.helper)}`, h, '-', null));
  const base = baseline?.join;
  for (const [party, key] of [
    ['A (groups)', 'groups'],
    ['B (values)', 'values'],
  ]) {
    const what = `two-party join peak RSS ${party}, ${nxn(n)}`;
    if (!r.twoParty) {
      rows.push(notRun(area, what, 'not above 80b18a1'));
      continue;
    }
    const mb = r.twoParty.rssMB[key];
    const b = base && base.n === n ? base.twoPartyPeakRssMB[key] : undefined;
    rows.push(
      b === undefined
        ? row(area, what, `${mb} MB (no baseline at this size)`, null, 'not above 80b18a1', null)
        : row(area, what, `${mb} MB / ${b} MB at ${baseline.commit}`, mb / b, '<= 1.00x', mb <= b),
    );
  }
  return rows;
}

function pseudonymiseRows(res, sizes) {
  const area = 'pseudonymise';
  const rows = [];
  // Every round's 2-thread run (each against the floor measured right before and after it):
  // the row is the round with the median ratio, and names the others.
  const runs = res?.cli.filter((c) => c.cli === 'this' && c.threads === 2 && c.floorCores === 2) ?? [];
  const what = `koppel pseudonymise, ${int(sizes.pseudRows[0])} rows, 2 threads / 2-core HMAC floor`;
  if (runs.length === 0) {
    const why = res ? 'no 2-thread run on 2 cores' : 'not run';
    rows.push(notRun(area, what, '>= 0.5x', why), notRun(area, 'the same per CPU second / the floor per CPU second', '-', why));
  } else {
    // Both rows are of the round with the median wall-time ratio.
    const r = medianRun(runs, (c) => c.ratioToFloor);
    const each = (key) => runs.map((x) => `${x[key].toFixed(2)}x`).join(', ');
    const many = runs.length > 1;
    const wallRounds = many ? ` (median of ${runs.length} rounds: ${each('ratioToFloor')})` : '';
    const cpuRounds = many ? ` (of that round; the ${runs.length} rounds: ${each('cpuRatioToFloor')})` : '';
    rows.push(
      row(
        area,
        what,
        `${int(r.rowsPerSecond)} rows/s / 2 x ${int(r.floorIdsPerSecond)} ids/s${r.floorBeforeAfter ? ` (mean of ${r.floorBeforeAfter.map(int).join(' / ')} right before / after)` : ''}${wallRounds}`,
        r.ratioToFloor,
        '>= 0.5x',
        r.ratioToFloor >= 0.5,
      ),
      row(
        area,
        'the same per CPU second / the floor per CPU second',
        `${int(r.rowsPerCpuSecond)} rows / ${int(r.floorIdsPerCpuSecond)} ids per CPU s${cpuRounds}`,
        r.cpuRatioToFloor,
        '-',
        null,
      ),
    );
  }
  const [small, large] = sizes.memoryRows.map((n) => res?.memory.find((m) => m.cli === 'this' && m.rows === n));
  const memWhat = `pseudonymise peak RSS, ${int(sizes.memoryRows[1])} / ${int(sizes.memoryRows[0])} rows`;
  if (!small || !large) rows.push(notRun(area, memWhat, '<= 1.25x (flat)'));
  else {
    const q = large.peakRssMB / small.peakRssMB;
    rows.push(row(area, memWhat, `${large.peakRssMB} MB / ${small.peakRssMB} MB`, q, '<= 1.25x (flat)', q <= 1.25));
  }
  return rows;
}

/**
 * The floor's primitives for the floor run `t`: the mean of the figures measured right
 * before and right after it (bench/psi.mjs --floor-n), or, in a result file without
 * them, the primitives of part 1. { bareUs, h2gUs, how } or undefined.
 */
function floorPrimitivesOf(t, bare, h2g) {
  const f = t?.floorPrimitives;
  if (f) {
    const mean = (k) => +((f.before[k] + f.after[k]) / 2).toFixed(2);
    return {
      bareUs: mean('bareUs'),
      h2gUs: mean('h2gUs'),
      how: `; means of ${f.before.bareUs} / ${f.after.bareUs} and ${f.before.h2gUs} / ${f.after.h2gUs} us, measured right before / after the run`,
    };
  }
  return bare && h2g ? { bareUs: bare.usPerOp, h2gUs: h2g.usPerOp, how: '' } : undefined;
}

function psiRows(res, sizes, cores) {
  const area = 'psi';
  res ??= { primitives: [], tcp: [], inProcess: [] };
  const rows = [];
  const bare = res.primitives.find((p) => p.name.startsWith('bare node:crypto X25519'));
  const h2g = res.primitives.find((p) => p.name.startsWith('koppel x25519 hash to group'));
  const tcp = (n) => res.tcp.find((t) => t.n === n);
  const wrong = (t) => (t.intersection === t.n / 2 ? '' : ', intersection WRONG');

  const nf = sizes.psiFloor[0];
  const t = tcp(nf);
  const floorWhat = `PSI ${nxn(nf)}, two processes / floor`;
  const fp = floorPrimitivesOf(t, bare, h2g);
  if (!t || !fp) rows.push(notRun(area, floorWhat, '<= 1.1x'));
  else {
    // Per pair: 4 X25519 multiplications (bare node:crypto, this run) and 2 hashes to group, on all cores.
    const floorMs = (nf * (4 * fp.bareUs + 2 * fp.h2gUs)) / cores / 1000;
    const q = t.wallMs / floorMs;
    rows.push(
      row(
        area,
        floorWhat,
        `${sec(t.wallMs)} / ${sec(floorMs)} (4 x ${fp.bareUs} + 2 x ${fp.h2gUs} us per pair${fp.how}, ${cores} cores)${wrong(t)}`,
        q,
        '<= 1.1x',
        q <= 1.1,
      ),
    );
  }
  const h2gWhat = 'x25519 hash to group per identifier / 8 us';
  if (!h2g) rows.push(notRun(area, h2gWhat, '<= 1.00x (8 us)'));
  else rows.push(row(area, h2gWhat, `${h2g.usPerOp} us`, h2g.usPerOp / 8, '<= 1.00x (8 us)', h2g.usPerOp <= 8));

  const [n1, n2] = sizes.psiSlope;
  const [a, b] = [tcp(n1), tcp(n2)];
  for (const [party, key, limit] of [
    ['client', 'clientPeakRssBytes', 120],
    ['server', 'serverPeakRssBytes', 60],
  ]) {
    const what = `PSI ${party} peak RSS per element, slope ${int(n1)} to ${int(n2)} / ${limit} B`;
    if (!a || !b) rows.push(notRun(area, what, `<= 1.00x (${limit} B)`));
    else {
      const slope = (b[key] - a[key]) / (n2 - n1);
      rows.push(
        row(
          area,
          what,
          `${slope.toFixed(0)} B (${int(a[key] / 2 ** 20)} MB to ${int(b[key] / 2 ** 20)} MB)`,
          slope / limit,
          `<= 1.00x (${limit} B)`,
          slope <= limit,
        ),
      );
    }
  }

  const ni = sizes.psiInProcess[0];
  const k = res.inProcess.find((p) => p.impl === 'koppel x25519' && p.n === ni);
  const peer = res.inProcess.find((p) => p.impl.startsWith('@openmined') && p.n === ni);
  const smallWhat = `PSI ${nxn(ni)} in one process, @openmined/psi.js / koppel`;
  if (!k || !peer) rows.push(notRun(area, smallWhat, '>= 25x'));
  else {
    const q = peer.ms / k.ms;
    rows.push(row(area, smallWhat, `${sec(peer.ms)} / ${sec(k.ms)}${k.intersection === ni / 2 ? '' : ', intersection WRONG'}`, q, '>= 25x', q >= 25));
  }
  const ns = sizes.psiSmall[0];
  const s = tcp(ns);
  const sWhat = `PSI ${nxn(ns)}, two processes on loopback / 1 s`;
  if (!s) rows.push(notRun(area, sWhat, '< 1.00x (1 s)'));
  else rows.push(row(area, sWhat, `${sec(s.wallMs)}${wrong(s)}`, s.wallMs / 1000, '< 1.00x (1 s)', s.wallMs < 1000));
  return rows;
}

/**
 * The figures of bench/oprf.mjs and bench/aggregate.mjs compared with the baseline: name,
 * value, whether more is better. The same functions read the baseline's recorded outputs.
 */
function oprfFigures(res) {
  const ev = (mode) => res?.evaluate.find((e) => e.impl.startsWith('koppel') && e.mode === mode)?.perSecond;
  const sv = (mode) => res?.service.find((e) => e.mode === mode)?.perSecond;
  const e2e = (mode) => res?.endToEnd.find((e) => e.mode === mode)?.rowsPerSecond;
  return [
    ['OPRF evaluation, one thread (oprf), /s', ev('oprf'), true],
    ['OPRF evaluation, one thread (voprf), /s', ev('voprf'), true],
    ['OPRF service over HTTP (oprf), evaluations/s', sv('oprf'), true],
    ['OPRF service over HTTP (voprf), evaluations/s', sv('voprf'), true],
    ['pseudonymise --oprf end to end (oprf), rows/s', e2e('oprf'), true],
    ['pseudonymise --oprf end to end (voprf), rows/s', e2e('voprf'), true],
  ];
}

/** See oprfFigures. */
function aggregateFigures(res) {
  const round = (t) => res?.rounds.find((r) => r.transport === t)?.totalMs;
  const proc = (prefix) => res?.processes.find((p) => p.impl.startsWith(prefix) && p.env === 'environment as given')?.resultMs;
  return [
    ['aggregation round, memory channels, ms', round('memory'), false],
    ['aggregation round, loopback TCP, ms', round('tcp'), false],
    ['aggregation reports/s, length 100', res?.reportsPerSecond.find((r) => r.impl.startsWith('koppel'))?.perSecond, true],
    ['sum of 3 processes, mutual TLS, to the result, ms', proc('koppel, mutual TLS'), false],
    ['sum of 3 processes, plain TCP, to the result, ms', proc('koppel, plain TCP'), false],
  ];
}

/** The arguments that decide the sizes (the peers, measured or not, do not). */
const sizeArgs = (a) => a.filter((x) => x !== '--no-peer').join(' ');

const median = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** Of an odd number of runs, the one whose `key` is the median (the lower middle of an even number). */
const medianRun = (runs, key) => [...runs].sort((a, b) => key(a) - key(b))[(runs.length - 1) >> 1];

/** The "no regression" target of a figure (more is better or not): within 5% of the base. */
const noRegression = (more) => (more ? '>= 0.95x' : '<= 1.05x');
/** Whether the ratio to the base meets {@link noRegression}. */
const withinFivePercent = (more, q) => (more ? q >= 0.95 : q <= 1.05);

/**
 * The rows of one area against the issue's commit run side by side in this run (`side`:
 * this checkout's and the base's results, alternating): medians of each.
 */
function sideBySideRows(area, side, figures) {
  const ours = side.ours.map((r) => figures(r));
  const base = side.base.map((r) => figures(r));
  return figures(undefined).map(([what, , more], i) => {
    const target = noRegression(more);
    const v = median(ours.map((f) => f[i][1]));
    const b = median(base.map((f) => f[i][1]));
    if (v === undefined || b === undefined) return notRun(area, what, target);
    const q = v / b;
    const each = (fs) => fs.map((f) => (f[i][1] === undefined ? '-' : int(f[i][1]))).join(', ');
    return row(
      area,
      what,
      `${int(v)} / ${int(b)} at ${side.commit}, side by side (medians; this ${each(ours)}; base ${each(base)})`,
      q,
      target,
      withinFivePercent(more, q),
    );
  });
}

function baselineRows(area, res, ranArgs, figures, base, side) {
  if (side && side.ours.length > 0 && side.base.length > 0) return sideBySideRows(area, side, figures);
  if (!res) return figures(undefined).map(([what, , more]) => notRun(area, what, noRegression(more)));
  const comparable = base && sizeArgs(base.args) === sizeArgs(ranArgs);
  return figures(res).map(([what, value, more]) => {
    const target = noRegression(more);
    const b = comparable ? base.figures[what] : undefined;
    if (value === undefined) return notRun(area, what, target);
    if (b === undefined) return row(area, what, `${int(value)} (${comparable ? 'no baseline figure' : 'baseline at other sizes'})`, null, target, null);
    const q = value / b;
    return row(area, what, `${int(value)} / ${int(b)} at ${base.commit}`, q, target, withinFivePercent(more, q));
  });
}

/** Every row of the table from one run's results. */
function table(run, baseline) {
  const { sizes, results, args: ranArgs, cores } = run;
  return [
    ...joinRows(results.join, sizes, baseline),
    ...pseudonymiseRows(results.pseudonymise, sizes),
    ...psiRows(results.psi, sizes, cores),
    ...baselineRows('oprf', results.oprf, ranArgs.oprf, oprfFigures, baseline?.oprf && { ...baseline.oprf, commit: baseline.commit }, run.side?.oprf),
    ...baselineRows(
      'aggregate',
      results.aggregate,
      ranArgs.aggregate,
      aggregateFigures,
      baseline?.aggregate && { ...baseline.aggregate, commit: baseline.commit },
      run.side?.aggregate,
    ),
  ];
}

const metText = (m) => (m === null ? '-' : m ? 'met' : 'NOT MET');
const ratioText = (r) => (r.ratio === null ? '-' : `${r.ratio.toFixed(2)}${r.unit}`);

function printTable(run, rows) {
  const head = `${run.quick ? 'QUICK sizes (not those of the targets): ' : ''}issue 18 targets, ${run.commit}, ${run.cpu}, ${run.cores} cores, ${run.date}, load ${run.load.start} at the start, ${run.load.end} at the end`;
  if (markdown) {
    console.log(`${head}\n`);
    console.log('| area | measurement | figure (this run) | ratio | target | met |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.area} | ${r.what} | ${r.figure} | ${ratioText(r)} | ${r.target} | ${metText(r.met)} |`);
    return;
  }
  const cols = [
    ['area', (r) => r.area],
    ['measurement', (r) => r.what],
    ['figure (this run)', (r) => r.figure],
    ['ratio', ratioText],
    ['target', (r) => r.target],
    ['met', (r) => metText(r.met)],
  ];
  const width = cols.map(([h, f]) => Math.max(h.length, ...rows.map((r) => f(r).length)));
  const line = (cells) => cells.map((c, i) => (i === 3 ? c.padStart(width[i]) : c.padEnd(width[i]))).join('  ');
  console.log(`\n${head}`);
  console.log(line(cols.map(([h]) => h)));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map(([, f]) => f(r))));
  const judged = rows.filter((r) => r.met !== null);
  console.log(`${judged.filter((r) => r.met).length} of ${judged.length} targets met (nothing is asserted).`);
}

// --- the base, side by side ---------------------------------------------------------------
/** The scripts whose rows compare with the issue's commit, and how many runs each build gets. */
const SIDE_BY_SIDE = ['aggregate', 'oprf'];
const BASE_ROUNDS = 3;

/**
 * Builds `commit` from this repository's git history in a temporary directory (its sources,
 * this checkout's node_modules, compiled with this checkout's TypeScript); undefined, with
 * the reason shown, when that is not possible (no git, a shallow clone without the commit).
 */
function buildBase(commit, say) {
  const repo = join(here, '..');
  const dir = mkdtempSync(join(tmpdir(), `koppel-base-${commit}-`));
  try {
    const tar = join(dir, 'src.tar');
    execFileSync('git', ['-C', repo, 'archive', '--format=tar', '-o', tar, commit], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    rmSync(tar);
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
    say(`\n=== building ${commit} in ${dir} for the side-by-side rows\n`);
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
    if (existsSync(join(dir, 'scripts', 'bundle-cli.mjs')))
      execFileSync(process.execPath, [join(dir, 'scripts', 'bundle-cli.mjs')], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    return dir;
  } catch (e) {
    say(
      `\n(no side-by-side base: ${commit} could not be built here (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); the OPRF and aggregation rows use bench/baseline.json)\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

// --- the run -------------------------------------------------------------------------
const baselinePath = join(here, 'baseline.json');
const baseline = JSON.parse(readFileSync(baselinePath, 'utf8'));
let run;
if (from) run = JSON.parse(readFileSync(from, 'utf8'));
else {
  const sizes = { ...SIZES[quick ? 'quick' : 'full'] };
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--set') continue;
    const [key, value] = args[i + 1].split('=');
    if (!(key in sizes)) throw new Error(`--set: no size ${key} (one of ${Object.keys(sizes).join(', ')})`);
    sizes[key] = value.split(',').map(Number);
  }
  let commit = 'unknown commit';
  try {
    const git = (...a) => execFileSync('git', ['-C', join(here, '..'), ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    commit = git('rev-parse', '--short', 'HEAD');
    // Uncommitted changes to what the run measures (sources or benchmarks) are part of its name.
    const changed = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench', 'scripts', 'package.json');
    if (changed) commit += ' with uncommitted changes';
  } catch {
    // Not a git checkout: the table says so.
  }
  const ranArgs = scriptArgs(sizes);
  run = {
    bench: 'all',
    quick,
    commit,
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    load: { start: loadavg()[0].toFixed(2) },
    sizes,
    args: ranArgs,
    results: {},
  };
  const say = (text) => (markdown ? process.stderr : process.stdout).write(text);
  const sideBySide = SIDE_BY_SIDE.filter((n) => only.includes(n));
  const baseDir = !quick && !args.includes('--no-base') && sideBySide.length > 0 ? buildBase(baseline.commit, say) : undefined;
  if (baseDir) run.side = {};
  try {
    for (const name of SCRIPTS) {
      if (!only.includes(name)) continue;
      say(`\n=== node bench/${name}.mjs ${ranArgs[name].join(' ')}\n`);
      try {
        run.results[name] = await runScript(name, ranArgs[name]);
      } catch (e) {
        // One script failing must not lose the others' figures: its rows say "not run".
        process.stderr.write(`\n${e instanceof Error ? e.message : String(e)}\n`);
        (run.failed ??= []).push(name);
        continue;
      }
      if (!baseDir || !sideBySide.includes(name)) continue;
      // The base and this checkout alternately, both without the peers (the run above, with
      // the peers and right after the previous script, is shown but not compared: in the
      // first full run it was the slowest of this checkout's runs in every aggregation row).
      const side = (run.side[name] = { commit: baseline.commit, ours: [], base: [] });
      const quiet = [...ranArgs[name], '--no-peer'];
      try {
        for (let round = 1; round <= BASE_ROUNDS; round++) {
          say(`\n=== ${baseline.commit}: node bench/${name}.mjs ${quiet.join(' ')} (round ${round} of ${BASE_ROUNDS})\n`);
          side.base.push(await runScript(name, quiet, join(baseDir, 'bench')));
          say(`\n=== this checkout: node bench/${name}.mjs ${quiet.join(' ')} (round ${round} of ${BASE_ROUNDS})\n`);
          side.ours.push(await runScript(name, quiet));
        }
      } catch (e) {
        process.stderr.write(`\nside by side with ${baseline.commit}: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  } finally {
    if (baseDir) rmSync(baseDir, { recursive: true, force: true });
  }
  run.load.end = loadavg()[0].toFixed(2);
}
const rows = table(run, baseline);
if (!from) {
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `all-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ ...run, table: rows }, null, 1) + '\n');
  (markdown ? process.stderr : process.stdout).write(`\nAll figures: ${file} (node bench/all.mjs --from FILE [--markdown] prints this table again)\n`);
}
printTable(run, rows);
if (run.failed) {
  console.log(`Failed (rows "not run"): ${run.failed.map((n) => `bench/${n}.mjs`).join(', ')}.`);
  process.exitCode = 1;
}
