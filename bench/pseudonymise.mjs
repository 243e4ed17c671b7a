#!/usr/bin/env node
/**
 * Pseudonymisation throughput, measured, never asserted.
 *
 * 1. Library, one core (tinybench): koppel's Pseudonymiser against a bare node:crypto
 *    HMAC-SHA256 loop over the same identifiers in the same run, plus @noble/hashes'
 *    HMAC for reference.
 * 2. Whole file through the CLI: `koppel pseudonymise` on a generated CSV as a separate
 *    process, single-threaded and on all cores, wall time including process start.
 *
 * Usage: node bench/pseudonymise.mjs [--rows N] [--quick]
 * (npm run bench builds first.)
 */
import { spawnSync } from 'node:child_process';
import { createHmac, createSecretKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
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
const input = join(dir, 'in.csv');
const keyFile = join(dir, 'k.key');
writeFileSync(keyFile, exportKey(key), { mode: 0o600 });
const regions = ['Groningen', 'Utrecht', 'Zuid-Holland', 'Noord-Brabant'];
let text = 'bsn,region,household_type,income_class\n';
const parts = [];
for (let i = 0; i < ROWS; i++) {
  text += `${syntheticBsn(rng)},${regions[i % 4]},"paar met kinderen",${i % 10}\n`;
  if (text.length > 1 << 20) {
    parts.push(text);
    text = '';
  }
}
parts.push(text);
writeFileSync(input, parts.join(''));
const bytes = statSync(input).size;
const cli = [];
for (const threads of [0, availableParallelism()]) {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      CLI,
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
      '--threads',
      String(threads),
      '--summary',
      'json',
      '--no-progress',
    ],
    { encoding: 'utf8' },
  );
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
  const s = JSON.parse(r.stderr.trim().split('\n').pop());
  cli.push({
    threads,
    rows: s.records,
    wallMs: Math.round(wall),
    rowsPerSecond: Math.round((s.records / wall) * 1000),
    peakRssMB: Math.round(s.peakRssBytes / 2 ** 20),
  });
}
rmSync(dir, { recursive: true, force: true });
console.log(`\nWhole file through the CLI (${ROWS.toLocaleString('en-US')} rows, ${(bytes / 1e6).toFixed(1)} MB, wall time including process start):`);
for (const r of cli)
  console.log(
    `  threads ${String(r.threads).padEnd(3)} ${r.wallMs.toString().padStart(7)} ms  ${r.rowsPerSecond.toLocaleString('en-US').padStart(10)} rows/s  peak RSS ${r.peakRssMB} MB`,
  );
if (sink === 0) console.log('');
console.log(JSON.stringify({ bench: 'pseudonymise', quick, library: lib, cli }));
