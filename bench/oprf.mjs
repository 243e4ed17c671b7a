/**
 * Blind pseudonymisation benchmark: server-side evaluations per second (batches of
 * 1,000) for koppel, @noble/curves' ristretto255_oprf and @cloudflare/voprf-ts (noble
 * provider) in the same run; the koppel service's throughput over HTTP; and end-to-end
 * rows per second of `koppel pseudonymise --oprf` against `koppel oprf serve`, both
 * on this machine as separate processes.
 *
 * Usage: node bench/oprf.mjs [--quick] [--no-peer] [--rows 50000] [--seconds 5]
 * Figures are printed and written as JSON on the last line; nothing is asserted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticBsn, SyntheticRandom } from '../dist/demo/synthetic.js';
import { FastOprf } from '../dist/oprf/fast.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../dist/oprf/key.js';
import { startOprfService } from '../dist/oprf/service.js';
import { toBase64Url } from '../dist/util/bytes.js';
import { basePort, CLI, numberFlag, runCli } from './lib.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withPeer = !args.includes('--no-peer') && !quick;
const ROWS = numberFlag(args, '--rows', quick ? 2000 : 50_000);
const SECONDS = numberFlag(args, '--seconds', quick ? 1 : 5);
const BATCH = quick ? 100 : 1000;
const here = fileURLToPath(new URL('.', import.meta.url));
const results = { bench: 'oprf', quick, cpu: cpus()[0]?.model, cores: cpus().length, evaluate: [], service: [], endToEnd: [] };
const enc = new TextEncoder();
const inputs = Array.from({ length: BATCH }, (_, i) => enc.encode(`id-${i}`));

/** Evaluations per second of `fn` (which evaluates `n` elements), over about `seconds`. */
async function rate(fn, n, seconds = quick ? 0.3 : 2) {
  await fn();
  let done = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await fn();
    done += n;
  }
  return Math.round((done / (performance.now() - t0)) * 1000);
}

// --- 1. server-side evaluation, one thread, batches of BATCH --------------------------
const key = importOprfKeyFile(generateOprfKeyFile());
for (const mode of ['oprf', 'voprf']) {
  const f = await FastOprf.load(mode);
  const { blinded } = f.blind(inputs);
  const sk = key[mode].secretKey;
  results.evaluate.push({
    impl: `koppel (libsodium WASM)`,
    mode,
    perSecond: await rate(() => (mode === 'voprf' ? f.prove(sk, blinded, f.evaluate(sk, blinded)) : f.evaluate(sk, blinded)), BATCH),
  });
}
if (withPeer) {
  const peerDir = join(here, 'peers');
  if (!existsSync(join(peerDir, 'node_modules', '@cloudflare', 'voprf-ts')))
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', peerDir], { stdio: 'inherit' });
  const { ristretto255_oprf } = await import('@noble/curves/ed25519.js');
  for (const mode of ['oprf', 'voprf']) {
    const noble = ristretto255_oprf[mode];
    const keys = noble.generateKeyPair();
    const blinded = inputs.map((x) => noble.blind(x).blinded);
    results.evaluate.push({
      impl: '@noble/curves 2.4.0 ristretto255_oprf',
      mode,
      perSecond: await rate(
        () =>
          mode === 'voprf' ? noble.blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded) : blinded.map((b) => noble.blindEvaluate(keys.secretKey, b)),
        BATCH,
      ),
    });
  }
  const req = createRequire(join(peerDir, 'package.json'));
  const v = await import(req.resolve('@cloudflare/voprf-ts'));
  const { CryptoNoble } = await import(req.resolve('@cloudflare/voprf-ts/crypto-noble'));
  const suite = v.Oprf.Suite.RISTRETTO255_SHA512;
  const sk = await v.randomPrivateKey(suite, CryptoNoble);
  const pk = v.generatePublicKey(suite, sk, CryptoNoble);
  for (const mode of ['oprf', 'voprf']) {
    const server = mode === 'oprf' ? new v.OPRFServer(suite, sk, CryptoNoble) : new v.VOPRFServer(suite, sk, CryptoNoble);
    const client = mode === 'oprf' ? new v.OPRFClient(suite, CryptoNoble) : new v.VOPRFClient(suite, pk, CryptoNoble);
    const [, evalReq] = await client.blind(inputs);
    results.evaluate.push({ impl: '@cloudflare/voprf-ts 1.0.0 (noble provider)', mode, perSecond: await rate(() => server.blindEvaluate(evalReq), BATCH) });
  }
}
console.log(`Server-side evaluations per second, one thread, batches of ${BATCH} (${results.cpu}, ${results.cores} cores):`);
for (const r of results.evaluate) console.log(`  ${r.impl.padEnd(46)} ${r.mode.padEnd(6)} ${r.perSecond.toLocaleString('en-US').padStart(8)} /s`);

// --- 2. the service over HTTP (worker threads), pre-blinded batches -------------------
for (const mode of ['oprf', 'voprf']) {
  const service = await startOprfService({ keys: [key.voprf, key.oprf], host: '127.0.0.1', port: 0, rate: 1e6, budget: 1e12 });
  const f = await FastOprf.load(mode);
  const { blinded } = f.blind(inputs);
  const body = JSON.stringify({ kid: key[mode].kid, elements: Array.from({ length: BATCH }, (_, i) => toBase64Url(blinded.subarray(i * 32, i * 32 + 32))) });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const post = () =>
    new Promise((resolve, reject) => {
      const r = request(
        {
          host: '127.0.0.1',
          port: service.port,
          path: '/v1/evaluate',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  await post();
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() - t0 < SECONDS * 1000) {
        await post();
        done += BATCH;
      }
    }),
  );
  const perSecond = Math.round((done / (performance.now() - t0)) * 1000);
  agent.destroy();
  await service.close();
  results.service.push({ mode, perSecond, threads: cpus().length });
}
console.log(`\nkoppel oprf service over HTTP, batches of ${BATCH}, 4 requests in flight, ${cpus().length} worker threads:`);
for (const r of results.service) console.log(`  ${r.mode.padEnd(6)} ${r.perSecond.toLocaleString('en-US').padStart(8)} evaluations/s`);

// --- 3. end to end: koppel pseudonymise --oprf against koppel oprf serve -------------
const dir = mkdtempSync(join(tmpdir(), 'koppel-oprf-bench-'));
try {
  const rng = new SyntheticRandom('oprf-bench');
  writeFileSync(join(dir, 'in.csv'), 'bsn,x\n' + Array.from({ length: ROWS }, (_, i) => `${syntheticBsn(rng)},${i % 7}`).join('\n') + '\n');
  writeFileSync(join(dir, 'oprf.key'), generateOprfKeyFile(), { mode: 0o600 });
  for (const mode of ['oprf', 'voprf']) {
    const port = basePort(1);
    const server = spawn(
      process.execPath,
      [CLI, 'oprf', 'serve', '--key', join(dir, 'oprf.key'), '--listen', `127.0.0.1:${port}`, '--insecure', '--rate', '100000'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    await new Promise((resolve, reject) => {
      server.stderr.setEncoding('utf8').on('data', (d) => d.includes('listening') && resolve());
      server.on('exit', () => reject(new Error('oprf serve exited')));
    });
    const t0 = performance.now();
    const err = await runCli([
      'pseudonymise',
      '--oprf',
      `http://127.0.0.1:${port}`,
      '--mode',
      mode,
      '--column',
      'bsn',
      '--id-type',
      'bsn',
      '--in',
      join(dir, 'in.csv'),
      '--out',
      join(dir, 'out.csv'),
      '--summary',
      'json',
      '--no-progress',
    ]);
    const wall = performance.now() - t0;
    server.kill('SIGTERM');
    const s = JSON.parse(err.trim().split('\n').pop());
    results.endToEnd.push({
      mode,
      rows: s.records,
      pseudonymised: s.pseudonymised,
      wallMs: Math.round(wall),
      rowsPerSecond: Math.round((s.records / wall) * 1000),
      clientPeakRssMB: Math.round(s.peakRssBytes / 2 ** 20),
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nEnd to end, koppel pseudonymise --oprf (client) and koppel oprf serve, separate processes on this machine (wall time incl. process start):`);
for (const r of results.endToEnd)
  console.log(
    `  ${r.mode.padEnd(6)} ${r.rows.toLocaleString('en-US')} rows in ${(r.wallMs / 1000).toFixed(1)} s: ${r.rowsPerSecond.toLocaleString('en-US')} rows/s (client peak RSS ${r.clientPeakRssMB} MB)`,
  );
const v = results.evaluate.find((r) => r.impl.startsWith('@cloudflare') && r.mode === 'voprf');
const svc = results.service.find((r) => r.mode === 'voprf');
if (v && svc)
  console.log(
    `\nkoppel's service (voprf) does ${(svc.perSecond / v.perSecond).toFixed(1)}x the evaluations per second of voprf-ts's server (voprf, one thread)`,
  );
console.log(JSON.stringify(results));
