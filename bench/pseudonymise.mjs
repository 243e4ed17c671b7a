#!/usr/bin/env node
/**
 * Pseudonymisation throughput, measured, never asserted.
 *
 * 1. Library, one core (tinybench): koppel's Pseudonymiser against a bare node:crypto
 *    HMAC-SHA256 loop over the same identifiers in the same run, plus @noble/hashes'
 *    HMAC for reference.
 * 2. Whole file through the CLI: `koppel pseudonymise` on a generated CSV as a separate
 *    process, inline (`--threads 0`), with 2 threads and with the default (all cores),
 *    wall time including process start, each with its ratio to the HMAC floor on as
 *    many cores (the bare loop's ids/s, the mean of 500 ms right before and right after
 *    each run, times min(threads, cores); 1 core inline).
 * 3. With `--memory`: peak RSS of the default run on 1M and on 4M rows (memory flat in
 *    file size); `--memory-rows A,B` takes other sizes.
 *
 * Wall-time ratios need the cores free; on a shared machine the CPU-time figures (rows
 * per CPU second of the whole CLI process, all threads, against the bare loop's ids per
 * CPU second) say what each row costs whatever the load.
 *
 * `--base PATH` runs a second CLI (e.g. another commit's dist/cli/bin.js) on the same
 * file, alternately with this one, `--rounds N` times (default 2 with --base, else 1):
 * on a shared machine only figures from one run compare.
 *
 * Usage: node bench/pseudonymise.mjs [--rows N] [--quick] [--base PATH] [--rounds N] [--memory] [--memory-rows A,B]
 * (npm run bench builds first.)
 */
import { spawnSync } from 'node:child_process';
import { createHmac, createSecretKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { cpuMeter } from './lib.mjs';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { generateKey, exportKey, Pseudonymiser } from '../dist/index.js';
import { SyntheticRandom, syntheticBsn } from '../dist/demo/synthetic.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const rowsArg = args.indexOf('--rows');
const ROWS = rowsArg >= 0 ? Number(args[rowsArg + 1]) : quick ? 20_000 : 1_000_000;
const BATCH = quick ? 2_000 : 20_000;
const CLI = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const baseArg = args.indexOf('--base');
const BASE = baseArg >= 0 ? args[baseArg + 1] : undefined;
const roundsArg = args.indexOf('--rounds');
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : BASE ? 2 : 1;
const memoryRowsArg = args.indexOf('--memory-rows');
const MEMORY_ROWS = memoryRowsArg >= 0 ? args[memoryRowsArg + 1].split(',').map(Number) : [1_000_000, 4_000_000];
const MEMORY = args.includes('--memory') || memoryRowsArg >= 0;

const rng = new SyntheticRandom('bench');
const ids = Array.from({ length: BATCH }, () => syntheticBsn(rng));
const key = generateKey();
const bareKey = createSecretKey(Buffer.alloc(32, 7).map((_, i) => i * 31 + 5));
const nobleKey = new Uint8Array(32).map((_, i) => i * 31 + 5);
const pBsn = new Pseudonymiser({ key, domain: 'bench', idType: 'bsn' });
const pRaw = new Pseudonymiser({ key, domain: 'bench', idType: 'raw' });
const enc = new TextEncoder();

let sink = 0;
const bench = new Bench({ time: quick ? 200 : 2000, warmupTime: quick ? 50 : 500 });
bench
  .add('bare node:crypto HMAC-SHA256 + base64url', () => {
    for (const id of ids) sink += createHmac('sha256', bareKey).update(id).digest('base64url').length;
  })
  .add('koppel Pseudonymiser, idType bsn (elfproef + HMAC + key id)', () => {
    for (const id of ids) sink += pBsn.pseudonymise(id).length;
  })
  .add('koppel Pseudonymiser, idType raw (NFC + HMAC + key id)', () => {
    for (const id of ids) sink += pRaw.pseudonymise(id).length;
  })
  .add('@noble/hashes HMAC-SHA256 (reference)', () => {
    for (const id of ids) sink += hmac(sha256, nobleKey, enc.encode(id)).length;
  });
await bench.run();

const perSec = (t) => (BATCH / t.result.latency.mean) * 1000;
const lib = bench.tasks.map((t) => ({ name: t.name, idsPerSecond: Math.round(perSec(t)) }));
const bare = lib[0].idsPerSecond;
console.log(`\nLibrary, one core (${BATCH} ids per iteration, ${cpus()[0]?.model ?? 'cpu'}):`);
for (const r of lib)
  console.log(
    `  ${r.name.padEnd(62)} ${r.idsPerSecond.toLocaleString('en-US').padStart(10)} ids/s  (${(bare / r.idsPerSecond).toFixed(2)}x the bare loop's time)`,
  );

// Whole file through the CLI.
const dir = mkdtempSync(join(tmpdir(), 'koppel-bench-'));
const keyFile = join(dir, 'k.key');
writeFileSync(keyFile, exportKey(key), { mode: 0o600 });
const regions = ['Groningen', 'Utrecht', 'Zuid-Holland', 'Noord-Brabant'];

/** Writes a CSV of `rows` rows; returns its path and size. */
function makeInput(name, rows) {
  const path = join(dir, name);
  let text = 'bsn,region,household_type,income_class\n';
  const parts = [];
  for (let i = 0; i < rows; i++) {
    text += `${syntheticBsn(rng)},${regions[i % 4]},"paar met kinderen",${i % 10}\n`;
    if (text.length > 1 << 20) {
      parts.push(text);
      text = '';
    }
  }
  parts.push(text);
  writeFileSync(path, parts.join(''));
  return { path, bytes: statSync(path).size };
}

/**
 * The bare HMAC loop on one core, measured now (the machine's load changes): ids per
 * second of wall time and per second of CPU time.
 */
function floor() {
  const end = performance.now() + (quick ? 100 : 500);
  let n = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() < end) {
    for (const id of ids) sink += createHmac('sha256', bareKey).update(id).digest('base64url').length;
    n += ids.length;
  }
  const c = process.cpuUsage(c0);
  return { wall: (n / (performance.now() - t0)) * 1000, cpu: n / ((c.user + c.system) / 1e6) };
}

// Each CLI run's CPU time (all threads), recorded at its exit.
const meter = cpuMeter();

/** One run of a CLI over `input`. */
function runCli(cli, input, threads) {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      ...meter.nodeArgs,
      cli,
      'pseudonymise',
      '--key',
      keyFile,
      '--domain',
      'bench',
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      input,
      '--out',
      join(dir, 'out.csv'),
      ...(threads === undefined ? [] : ['--threads', String(threads)]),
      '--summary',
      'json',
      '--no-progress',
    ],
    { encoding: 'utf8' },
  );
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
  const s = JSON.parse(r.stderr.trim().split('\n').pop());
  const cpuSeconds = meter.seconds();
  return {
    threads: s.threads,
    rows: s.records,
    wallMs: Math.round(wall),
    rowsPerSecond: Math.round((s.records / wall) * 1000),
    rowsPerCpuSecond: Math.round(s.records / cpuSeconds),
    peakRssMB: Math.round(s.peakRssBytes / 2 ** 20),
  };
}

const cores = availableParallelism();
const input = makeInput('in.csv', ROWS);
const clis = [['this', CLI], ...(BASE ? [['base', BASE]] : [])];
const cli = [];
// The floor right before and right after each run, and their mean: the loop's own figure
// moves by a third within seconds on a shared machine. Runs follow each other, so the
// measurement after one run is the one before the next.
let after = floor();
for (let round = 1; round <= ROUNDS; round++) {
  for (const threads of [0, 2, undefined]) {
    if (threads === 2 && cores === 2) continue; // the default is 2 threads here
    for (const [name, path] of clis) {
      const before = after;
      const r = runCli(path, input.path, threads);
      after = floor();
      const bareNow = { wall: (before.wall + after.wall) / 2, cpu: (before.cpu + after.cpu) / 2 };
      const onCores = Math.max(1, Math.min(r.threads, cores));
      cli.push({
        round,
        cli: name,
        ...r,
        floorBeforeAfter: [Math.round(before.wall), Math.round(after.wall)],
        floorIdsPerSecond: Math.round(bareNow.wall),
        floorIdsPerCpuSecond: Math.round(bareNow.cpu),
        floorCores: onCores,
        ratioToFloor: Number((r.rowsPerSecond / (onCores * bareNow.wall)).toFixed(3)),
        cpuRatioToFloor: Number((r.rowsPerCpuSecond / bareNow.cpu).toFixed(3)),
      });
    }
  }
}
console.log(`\nWhole file through the CLI (${ROWS.toLocaleString('en-US')} rows, ${(input.bytes / 1e6).toFixed(1)} MB, wall time including process start):`);
for (const r of cli)
  console.log(
    `  round ${r.round} ${r.cli.padEnd(4)} threads ${String(r.threads).padEnd(3)} ${r.wallMs.toString().padStart(7)} ms  ${r.rowsPerSecond.toLocaleString('en-US').padStart(10)} rows/s  ${r.ratioToFloor.toFixed(2)}x the ${r.floorCores}-core HMAC floor (${r.floorIdsPerSecond.toLocaleString('en-US')} ids/s per core; ${r.floorBeforeAfter[0].toLocaleString('en-US')} before / ${r.floorBeforeAfter[1].toLocaleString('en-US')} after)  per CPU second ${r.rowsPerCpuSecond.toLocaleString('en-US')} rows, ${r.cpuRatioToFloor.toFixed(2)}x the floor's ${r.floorIdsPerCpuSecond.toLocaleString('en-US')}  peak RSS ${r.peakRssMB} MB`,
  );

const memory = [];
if (MEMORY) {
  for (const rows of MEMORY_ROWS) {
    const m = makeInput(`mem-${rows}.csv`, rows);
    for (const [name, path] of clis) memory.push({ cli: name, ...runCli(path, m.path, undefined) });
    rmSync(m.path, { force: true });
  }
  console.log(`\nPeak RSS, default threads, ${MEMORY_ROWS.map((n) => n.toLocaleString('en-US')).join(' against ')} rows (memory flat in file size):`);
  for (const r of memory)
    console.log(
      `  ${r.cli.padEnd(4)} ${r.rows.toLocaleString('en-US').padStart(10)} rows  peak RSS ${r.peakRssMB} MB  (${r.rowsPerSecond.toLocaleString('en-US')} rows/s)`,
    );
}
rmSync(dir, { recursive: true, force: true });
meter.remove();
if (sink === 0) console.log('');
console.log(JSON.stringify({ bench: 'pseudonymise', quick, library: lib, cli, memory }));
