#!/usr/bin/env node
/**
 * Aggregation benchmarks, measured, never asserted.
 *
 * 1. A whole round in one process, 1,000 input parties x 10,000 cells through 2
 *    aggregators and a collector (disclosure control included), over memory channels
 *    and over loopback TCP.
 * 2. Reports per second for vectors of length 100, against @divviup/prio3 Prio3SumVec
 *    (length 100, 8 bits, two aggregators in one process) in the same run. Prio3 also
 *    proves every input's validity with a FLP; koppel does not (semi-honest inputs).
 * 3. The sum of 10,000 values held by 3 input processes, with 2 aggregator and 1
 *    collector processes on loopback (the shape of the jiff-mpc comparison in
 *    docs/protocols/aggregate.md), timed to the result and to every process's exit; with the
 *    environment as given and, if NODE_EXTRA_CA_CERTS is set, again without it.
 *
 * Usage: node bench/aggregate.mjs [--parties 1000] [--cells 10000] [--quick] [--no-peer]
 *        [--only rounds|reports|processes] [--runs 5] [--values 10000]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { Aggregator, collect, connect, createMemoryChannelPair, listen, makeCodebook, submitInput } from '../dist/index.js';
import { basePort, numberFlag, runCli as run } from './lib.mjs';

const args = process.argv.slice(2);
const flag = (name, dflt) => numberFlag(args, name, dflt);
const quick = args.includes('--quick');
const PARTIES = flag('--parties', quick ? 30 : 1000);
const CELLS = flag('--cells', quick ? 400 : 10000);
const withPeer = !args.includes('--no-peer');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const part = (name) => only === undefined || only === name;
const here = fileURLToPath(new URL('.', import.meta.url));
const results = { bench: 'aggregate', quick, cpu: cpus()[0]?.model, rounds: [], reportsPerSecond: [], processes: [] };

function codebookOf(cells, values = 1) {
  const side = Math.ceil(Math.sqrt(cells));
  const other = Math.ceil(cells / side);
  return makeCodebook({
    id: `bench-${cells}`,
    dimensions: [
      { name: 'a', labels: Array.from({ length: side }, (_, i) => `a${i}`) },
      { name: 'b', labels: Array.from({ length: other }, (_, i) => `b${i}`) },
    ],
    values: Array.from({ length: values }, (_, i) => ({ name: `v${i}`, scale: 0, min: '0', max: '1000' })),
    maxInputs: 100000,
    maxRecordsPerInput: 1000000,
  });
}

/** A party's vector: a few records per cell (counts, key sums, values), no CSV parsing. */
function vectorOf(codebook, p) {
  const v = new BigUint64Array(codebook.length);
  for (let c = 0; c < codebook.cells; c++) {
    const base = c * codebook.width;
    v[base] = BigInt((p + c) % 5);
    v[base + 1] = BigInt(((p * 31 + c) % 5) * 100);
    for (let j = 2; j < codebook.width; j++) v[base + j] = BigInt(((p + c) % 5) * 7);
  }
  return v;
}

async function round(codebook, parties, transport) {
  const config = { round: `bench-${transport}`, codebook, aggregators: 2, minInputs: parties, deadline: Date.now() + 3_600_000 };
  const aggs = [new Aggregator(config, 0), new Aggregator(config, 1)];
  const vectors = Array.from({ length: parties }, (_, p) => vectorOf(codebook, p));
  const t0 = performance.now();
  if (transport === 'memory') {
    for (let p = 0; p < parties; p++) {
      const pairs = aggs.map(() => createMemoryChannelPair());
      const handled = aggs.map((a, j) => a.handleInput(pairs[j][1]));
      await submitInput(
        pairs.map(([c]) => c),
        config,
        `p${p}`,
        vectors[p],
      );
      await Promise.all(handled);
    }
  } else {
    const listeners = await Promise.all(aggs.map(() => listen({ host: '127.0.0.1', port: 0, security: { insecure: true } })));
    const serving = aggs.map(async (a, j) => {
      for (let p = 0; p < parties; p++) await a.handleInput(await listeners[j].accept(60_000));
    });
    for (let p = 0; p < parties; p++) {
      const chans = await Promise.all(listeners.map((l) => connect({ host: '127.0.0.1', port: l.port, security: { insecure: true } })));
      await submitInput(chans, config, `p${p}`, vectors[p]);
    }
    await Promise.all(serving);
    await Promise.all(listeners.map((l) => l.close()));
  }
  const tSubmitted = performance.now();
  const pairs = aggs.map(() => createMemoryChannelPair());
  const [result] = await Promise.all([
    collect(
      pairs.map(([, c]) => c),
      config,
      { threshold: 10 },
    ),
    ...aggs.map((a, j) => a.report(pairs[j][0])),
  ]);
  const t1 = performance.now();
  // The released grand total must equal the plain sum of all parties' counts.
  let expected = 0n;
  for (const v of vectors) for (let c = 0; c < codebook.cells; c++) expected += v[c * codebook.width];
  const grand = result.table.find((e) => e.labels.every((l) => l === '*'));
  const correct = grand?.count === expected;
  return {
    transport,
    parties,
    cells: codebook.cells,
    words: codebook.length,
    submitMs: Math.round(tSubmitted - t0),
    releaseMs: Math.round(t1 - tSubmitted),
    totalMs: Math.round(t1 - t0),
    inputs: result.inputs,
    correct,
  };
}

// --- 3. 3 input processes, 2 aggregators, 1 collector ------------------------------
// Measured first, while this process is small and idle: after the in-process rounds
// its large garbage heap is collected in the background, on the cores the measured
// processes need.
/** Resolves once every HOST:PORT accepts connections. */
async function waitForPorts(addrs) {
  const net = await import('node:net');
  for (const a of addrs) {
    const [host, port] = a.split(':');
    for (;;) {
      const ok = await new Promise((r) => {
        const s = net.connect(Number(port), host, () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * jiff-mpc 1.0.0: a JIFF server and 3 party processes, each sharing a third of the values;
 * by default every message between parties is encrypted and signed with libsodium,
 * `plain` turns that off (`sodium: false`). `resultMs`: until the last party has printed
 * the opened sum; `ms`: until every party process has exited (jiff-sum.cjs waits 100 ms
 * before exiting so its last messages flush, which is why the result time is the fair one).
 */
async function jiffSum(values, env, plain) {
  const mode = plain ? ['plain'] : [];
  const script = join(here, 'peers', 'jiff-sum.cjs');
  const port = basePort(1);
  const counts = [0, 1, 2].map((i) => Math.floor(values / 3) + (i < values % 3 ? 1 : 0));
  let expected = 0;
  counts.forEach((n, i) => {
    for (let k = 0; k < n; k++) expected += (i + 1 + 3 * k) % 1000;
  });
  const server = spawn(process.execPath, [script, 'server', String(port), ...mode], { stdio: ['ignore', 'pipe', 'ignore'], env });
  await new Promise((r) => server.stdout.once('data', r));
  const t0 = performance.now();
  let resultMs = 0;
  const outs = await Promise.all(
    counts.map(
      (n, i) =>
        new Promise((resolve, reject) => {
          const c = spawn(process.execPath, [script, 'party', String(port), String(i + 1), String(n), String(counts[0]), ...mode], {
            stdio: ['ignore', 'pipe', 'ignore'],
            env,
          });
          let out = '';
          c.stdout.setEncoding('utf8').on('data', (d) => {
            out += d;
            if (out.includes('\n')) resultMs = Math.max(resultMs, performance.now() - t0);
          });
          c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error('jiff party failed'))));
        }),
    ),
  );
  const ms = performance.now() - t0;
  server.kill();
  const sums = outs.map((o) => JSON.parse(o.trim().split('\n').pop()).sum);
  return { ms, resultMs, correct: sums.every((x) => x === expected) };
}

/**
 * One koppel run: 3 input processes, 2 aggregators and a collector as processes, over
 * mutual TLS when `tls` names the PEM files, else plain TCP (`--insecure`).
 * `resultMs`: until the collector reports the released table (written to its --out
 * file); `ms`: until every process has exited.
 */
async function koppelSum(dir, values, expected, env, tls) {
  const base = basePort(3);
  const addr = (i) => `127.0.0.1:${base + i}`;
  const security = tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca, '--peer', 'koppel-bench-party'] : ['--insecure'];
  const common = ['--round', join(dir, 'round.json'), ...security];
  let t0 = 0;
  let resultMs = 0;
  // Like jiff's server, the aggregators and the collector are services started first;
  // the clock runs from the start of the 3 input processes to the released table.
  const services = [
    run(
      ['aggregate', 'collect', ...common, '--listen', addr(0), '--out', join(dir, 'out.csv'), '--threshold', '1'],
      (err) => {
        if (resultMs === 0 && err.includes('koppel: collected round')) resultMs = performance.now() - t0;
      },
      env,
    ),
    ...[0, 1].map((j) =>
      run(
        [
          'aggregate',
          'aggregator',
          ...common,
          '--index',
          String(j),
          '--listen',
          addr(1 + j),
          '--collector',
          addr(0),
          '--expect',
          '3',
          ...(tls ? ['--collector-peer', 'koppel-bench-party'] : []),
        ],
        undefined,
        env,
      ),
    ),
  ];
  await waitForPorts([addr(0), addr(1), addr(2)]); // probes are skipped by aggregators and collector alike
  t0 = performance.now();
  let inputsMs = 0;
  const inputs = Promise.all(
    [0, 1, 2].map((p) =>
      run(['aggregate', 'input', ...common, '--party', `p${p}`, '--in', join(dir, `p${p}.csv`), '--aggregators', `${addr(1)},${addr(2)}`], undefined, env),
    ),
  ).then(() => (inputsMs = performance.now() - t0));
  await Promise.all([...services, inputs]);
  const ms = performance.now() - t0;
  const out = readFileSync(join(dir, 'out.csv'), 'utf8');
  const got = out
    .split('\n')
    .find((l) => l.startsWith('all,'))
    ?.split(',')[2];
  return { ms, resultMs, inputsMs, correct: got === String(expected) };
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/**
 * A throw-away PKI for the mutual-TLS runs, made with the openssl command line: a CA and
 * one P-256 certificate for 127.0.0.1 that every party uses as server and as client.
 * Undefined when openssl is not installed.
 */
function benchPki(dir) {
  const ssl = (a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  try {
    ssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=koppel-bench-ca',
    ]);
    ssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'party.key',
      '-out',
      'party.csr',
      '-subj',
      '/CN=koppel-bench-party',
    ]);
    writeFileSync(join(dir, 'party.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    ssl([
      'x509',
      '-req',
      '-in',
      'party.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      'party.crt',
      '-extfile',
      'party.ext',
    ]);
  } catch {
    return undefined;
  }
  return { cert: join(dir, 'party.crt'), key: join(dir, 'party.key'), ca: join(dir, 'ca.crt') };
}

if (part('processes')) {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-agg-bench-'));
  try {
    const values = flag('--values', quick ? 600 : 10000);
    const runs = flag('--runs', quick ? 1 : 5);
    const round3 = {
      round: 'bench-3proc',
      codebook: {
        id: 'sum',
        dimensions: [{ name: 'slot', labels: ['all'] }],
        values: [{ name: 'x', scale: 0, min: '0', max: '1000000' }],
        maxInputs: 10,
        maxRecordsPerInput: 100000,
      },
      aggregators: 2,
      minInputs: 3,
      deadline: new Date(Date.now() + 600_000).toISOString(),
    };
    writeFileSync(join(dir, 'round.json'), JSON.stringify(round3));
    let expected = 0;
    for (let p = 0; p < 3; p++) {
      const lines = ['slot,x'];
      for (let i = p; i < values; i += 3) {
        lines.push(`all,${i}`);
        expected += i;
      }
      writeFileSync(join(dir, `p${p}.csv`), lines.join('\n') + '\n');
    }
    // Every Node process loads the certificates NODE_EXTRA_CA_CERTS names before it runs
    // a line of JavaScript; on this machine it names the whole system bundle and costs
    // each process about 37 ms. Neither koppel nor jiff needs it on loopback, so both are
    // measured with the environment as given and, when it is set, without it.
    const envs = [{ name: 'environment as given', env: process.env }];
    if (process.env.NODE_EXTRA_CA_CERTS) {
      const { NODE_EXTRA_CA_CERTS: _, ...rest } = process.env;
      envs.push({ name: 'without NODE_EXTRA_CA_CERTS', env: rest });
    }
    const pki = benchPki(dir);
    // Like against like: koppel over mutual TLS against jiff with its libsodium message
    // encryption (its default, and the configuration measured in docs/protocols/aggregate.md);
    // koppel over plain TCP against jiff without encryption.
    const impls = [
      ...(pki ? [{ name: 'koppel, mutual TLS', pair: 'encrypted', run: (env) => koppelSum(dir, values, expected, env, pki) }] : []),
      ...(withPeer
        ? [{ name: 'jiff-mpc 1.0.0, libsodium encryption (default)', pair: 'encrypted', peer: true, run: (env) => jiffSum(values, env, false) }]
        : []),
      { name: 'koppel, plain TCP (--insecure)', pair: 'plain', run: (env) => koppelSum(dir, values, expected, env, undefined) },
      ...(withPeer ? [{ name: 'jiff-mpc 1.0.0, no encryption (sodium: false)', pair: 'plain', peer: true, run: (env) => jiffSum(values, env, true) }] : []),
    ];
    const summary = (impl, env, pair, xs) => ({
      impl,
      env,
      pair,
      values,
      runs,
      resultMs: Math.round(median(xs.map((x) => x.resultMs))),
      exitMs: Math.round(median(xs.map((x) => x.ms))),
      allResultMs: xs.map((x) => Math.round(x.resultMs)),
      correct: xs.every((x) => x.correct),
    });
    console.log(
      `\nSecure sum of ${values.toLocaleString('en-US')} values held by 3 processes on loopback, median of ${runs} runs, from starting the 3 input processes (koppel: 2 aggregators and a collector, jiff: its server, already running):`,
    );
    if (!pki) console.log('  (openssl not found: no mutual-TLS runs)');
    for (const { name, env } of envs) {
      // Runs interleave the implementations, so all see the same machine state.
      const times = impls.map(() => []);
      for (let r = 0; r < runs; r++) for (let i = 0; i < impls.length; i++) times[i].push(await impls[i].run(env));
      const rows = impls.map((im, i) => summary(im.name, name, im.pair, times[i]));
      results.processes.push(...rows);
      console.log(`  ${name.padEnd(52)} ${'result'.padStart(8)} ${'all exited'.padStart(11)}`);
      for (const r of rows)
        console.log(
          `  ${r.impl.padEnd(52)} ${(r.resultMs / 1000).toFixed(3).padStart(6)} s ${(r.exitMs / 1000).toFixed(3).padStart(9)} s  ${r.correct ? 'correct' : 'WRONG'}  (result, each run: ${r.allResultMs.join(', ')} ms)`,
        );
      for (const pair of ['encrypted', 'plain']) {
        const k = rows.find((r, i) => r.pair === pair && !impls[i].peer);
        const j = rows.find((r, i) => r.pair === pair && impls[i].peer);
        if (k && j)
          console.log(
            `  ${pair.padEnd(9)} jiff-mpc / koppel: ${(j.resultMs / k.resultMs).toFixed(1)}x to the result, ${(j.exitMs / k.exitMs).toFixed(1)}x to all exited`,
          );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
// --- 1. whole rounds in one process ---------------------------------------------
if (part('rounds')) {
  const big = codebookOf(CELLS);
  for (const transport of ['memory', 'tcp']) results.rounds.push(await round(big, PARTIES, transport));
  console.log(`Whole round, 2 aggregators + collector in one process (${results.cpu}):`);
  for (const r of results.rounds)
    console.log(
      `  ${r.transport.padEnd(7)} ${r.parties} parties x ${r.cells.toLocaleString('en-US')} cells (${r.words.toLocaleString('en-US')} words): submit ${r.submitMs} ms, agree+sum+release ${r.releaseMs} ms, total ${(r.totalMs / 1000).toFixed(2)} s, grand total ${r.correct ? 'correct' : 'WRONG'}`,
    );
}

// --- 2. reports per second, vectors of length 100 -------------------------------
if (part('reports')) {
  const len100 = makeCodebook({
    id: 'len100',
    dimensions: [{ name: 'a', labels: Array.from({ length: 50 }, (_, i) => `a${i}`) }],
    values: [],
    maxInputs: 100000,
    maxRecordsPerInput: 1000,
  });
  const n100 = quick ? 200 : 2000;
  const k100 = await round(len100, n100, 'memory');
  results.reportsPerSecond.push({
    impl: 'koppel (2 aggregators, semi-honest, no validity proofs)',
    length: len100.length,
    reports: n100,
    perSecond: Math.round((n100 / k100.totalMs) * 1000),
  });
  if (withPeer) {
    const peerDir = join(here, 'peers');
    if (!existsSync(join(peerDir, 'node_modules', '@divviup', 'prio3')))
      execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', peerDir], { stdio: 'inherit' });
    const { Prio3SumVec } = await import(pathToFileURL(join(peerDir, 'node_modules', '@divviup', 'prio3', 'dist', 'index.js')).href);
    // chunkLength ~ sqrt(length x bits) is the recommended (and here the fastest) setting.
    const vdaf = new Prio3SumVec({ shares: 2, length: 100, chunkLength: 28, bits: 8 });
    const m = quick ? 5 : 50;
    const measurements = Array.from({ length: m }, (_, i) => Array.from({ length: 100 }, (_, j) => (i + j) % 256));
    await vdaf.run({ aggregationParameter: null, measurements: measurements.slice(0, 2) }); // warm-up
    const t0 = performance.now();
    await vdaf.run({ aggregationParameter: null, measurements });
    const ms = performance.now() - t0;
    results.reportsPerSecond.push({
      impl: '@divviup/prio3 0.8.0 Prio3SumVec (2 aggregators, with validity proofs)',
      length: 100,
      reports: m,
      perSecond: Math.round((m / ms) * 1000),
    });
  }
  console.log('\nReports per second, vectors of length 100, whole flow in one process:');
  for (const r of results.reportsPerSecond) console.log(`  ${r.impl.padEnd(72)} ${String(r.perSecond).padStart(8)} reports/s (${r.reports} reports)`);
  if (results.reportsPerSecond.length === 2)
    console.log(`  koppel / prio3: ${(results.reportsPerSecond[0].perSecond / results.reportsPerSecond[1].perSecond).toFixed(0)}x`);
}

console.log(JSON.stringify(results));
