#!/usr/bin/env node
/**
 * Disclosure control: time and secondary suppressions of `protectTable` on random
 * tables, measured, never asserted. Each table has 20% small cells (1-9 contributors),
 * 10% zeros and 70% cells of 10-99 (a deterministic generator, so every run sees the
 * same tables); one value column (3 per record). Median of --runs runs per table, with
 * the default protection and again with value protection of --value-protection percent
 * (every small cell's value sum must look able to be that share away).
 *
 * Usage: node bench/disclosure.mjs [--quick] [--runs 3] [--shapes 30x20,30x20x10] [--value-protection 15]
 */
import { makeCodebook, protectTable } from '../dist/index.js';
import { numberFlag } from './lib.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const runs = numberFlag(args, '--runs', quick ? 1 : 3);
const shapesFlag = args.includes('--shapes') ? args[args.indexOf('--shapes') + 1] : undefined;
const valueProtection = numberFlag(args, '--value-protection', 15);
const shapes = (shapesFlag ?? (quick ? '10x10,8x6x4' : '10x10,30x20,200x100,30x20x10,60x40x10,12x12x12x4,20x20x10x5,100x20x2x6')).split(',');

/** A table of the given shape from a linear congruential generator seeded with 1. */
function tableOf(dims) {
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const codebook = makeCodebook({
    id: `bench-${dims.join('x')}`,
    dimensions: dims.map((n, i) => ({ name: `d${i}`, labels: Array.from({ length: n }, (_, j) => `l${j}`) })),
    values: [{ name: 'v', scale: 0, min: '0', max: '100' }],
    maxInputs: 10,
    maxRecordsPerInput: 1e7,
  });
  const vector = new BigUint64Array(codebook.length);
  for (let c = 0; c < codebook.cells; c++) {
    const r = rnd();
    const n = r < 0.2 ? 1 + Math.floor(rnd() * 9) : r < 0.3 ? 0 : 10 + Math.floor(rnd() * 90);
    vector[c * codebook.width] = BigInt(n);
    vector[c * codebook.width + 2] = BigInt(n * 3);
  }
  return { codebook, vector };
}

const results = { bench: 'disclosure', quick, tables: [] };
/** Median time of `runs` runs and the last table (or the refusal's code). */
function measure(codebook, vector, options) {
  const times = [];
  let table;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    try {
      table = protectTable(codebook, vector, options);
    } catch (e) {
      if (e.code !== 'DISCLOSURE_RISK') throw e;
      table = e.code;
    }
    times.push(performance.now() - t0);
  }
  return { table, ms: [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] };
}
const time = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const secondaryOf = (table) => (typeof table === 'string' ? table : table.filter((e) => e.rule === 'secondary').length);

console.log(`protectTable (threshold 10, secondary suppression), median of ${runs}; then with value protection ${valueProtection}%:`);
console.log(
  `  ${'table'.padEnd(18)} ${'entries'.padStart(8)} ${'threshold'.padStart(10)} ${'secondary'.padStart(10)} ${'time'.padStart(10)} ${`secondary ${valueProtection}%`.padStart(16)} ${'time'.padStart(10)}`,
);
for (const shape of shapes) {
  const dims = shape.split('x').map(Number);
  const { codebook, vector } = tableOf(dims);
  const plain = measure(codebook, vector, {});
  const valued = measure(codebook, vector, { valueProtection });
  const row = {
    table: shape,
    entries: plain.table.length,
    threshold: plain.table.filter((e) => e.rule === 'threshold').length,
    secondary: secondaryOf(plain.table),
    ms: Math.round(plain.ms),
    valueProtection,
    secondaryValued: secondaryOf(valued.table),
    msValued: Math.round(valued.ms),
  };
  results.tables.push(row);
  console.log(
    `  ${shape.padEnd(18)} ${String(row.entries).padStart(8)} ${String(row.threshold).padStart(10)} ${String(row.secondary).padStart(10)} ${time(plain.ms).padStart(10)} ${String(row.secondaryValued).padStart(16)} ${time(valued.ms).padStart(10)}`,
  );
}
console.log(JSON.stringify(results));
