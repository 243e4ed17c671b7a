#!/usr/bin/env node
/**
 * PSI benchmarks, measured, never asserted.
 *
 * 1. Primitives (tinybench): koppel's x25519 scalar multiplication against a bare
 *    node:crypto X25519 loop on the same points in the same run; hash to group for both
 *    suites; ristretto255 multiplication.
 * 2. Full PSI in one process (memory channel), koppel against @openmined/psi.js on the
 *    same sets (full flow, revealed intersection, Raw data structure).
 * 3. koppel psi serve / connect as two processes over loopback TCP: wall time and each
 *    party's peak RSS.
 *
 * Usage: node bench/psi.mjs [--n 50000] [--tcp-n N[,N...]] [--quick] [--no-peer] [--primitives]
 *   --quick: small sizes, for the smoke test in npm test.
 *   --primitives: part 1 only (the per-element costs), a few seconds.
 *   --tcp-n 1000000: the national-scale run (about two minutes here); several sizes,
 *   comma-separated (e.g. 500000,2000000 for the slope of each party's peak RSS per
 *   element), run one after the other.
 *   --floor-n 1000000: the TCP run timed against its floor. The floor's two primitives
 *   (bare X25519, hash to group) are measured again right before and right after that
 *   run, and the run records both: on this shared machine the same loop's time per
 *   operation moves by up to a fifth within minutes, so a floor measured once, minutes
 *   away from the run, says as much about the moment as about the code. Beside them it
 *   records the bare loop in one child process and in two at once (both cores busy, as in
 *   the PSI run): information on the floor's conditions, not part of its figure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { basePort, numberFlag, runCli as run } from './lib.mjs';
import { bareX25519, x25519PrivateKey } from './x25519-loop.mjs';
import { createMemoryChannelPair, psiClient, psiServer } from '../dist/index.js';
import { getSuite } from '../dist/group/suite.js';
import { SyntheticRandom, syntheticBsn } from '../dist/demo/synthetic.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => numberFlag(args, name, dflt);
const quick = args.includes('--quick');
const N = flag('--n', quick ? 2000 : 50000);
const TCP_SIZES = args.includes('--tcp-n') ? args[args.indexOf('--tcp-n') + 1].split(',').map(Number) : [quick ? 2000 : 50000];
const FLOOR_N = flag('--floor-n', 0);
if (FLOOR_N !== 0 && !TCP_SIZES.includes(FLOOR_N)) {
  console.error(`bench/psi.mjs: --floor-n ${FLOOR_N} is not one of the --tcp-n sizes (${TCP_SIZES.join(',')}); the floor run would not be timed.`);
  process.exit(2);
}
const withPeer = !args.includes('--no-peer');
const primitivesOnly = args.includes('--primitives');
const here = fileURLToPath(new URL('.', import.meta.url));
const results = { bench: 'psi', quick, cpu: cpus()[0]?.model, primitives: [], inProcess: [], tcp: [] };

// --- 1. primitives ---------------------------------------------------------------
const x = getSuite('x25519');
const r = getSuite('ristretto255');
const dst = new TextEncoder().encode('koppel-bench');
const ids = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
const points = x.hashToGroup(ids, dst);
const { scalar } = x.randomScalar();
const priv = x25519PrivateKey(scalar);
const b64 = Array.from({ length: 1000 }, (_, i) => Buffer.from(points.subarray(i * 32, i * 32 + 32)).toString('base64url'));
const rPoints = r.hashToGroup(ids.slice(0, 20), dst);
const rScalar = r.randomScalar().scalar;
/** The same tinybench settings for part 1 and for the floor's primitives beside the floor run. */
const BENCH_OPTIONS = { time: quick ? 100 : 1500, warmupTime: quick ? 20 : 300 };
const BARE = 'bare node:crypto X25519 (JWK import + diffieHellman), 1000 points';
const H2G = 'koppel x25519 hash to group (RFC 9380 + Elligator 2), 1000 ids';
const bareLoop = () => bareX25519(priv, b64);
const per = {
  [BARE]: 1000,
  'koppel x25519 multiply (validated), 1000 points': 1000,
  [H2G]: 1000,
};
/** The tasks' figures: ops/s and us per op (per point or id, not per batch). */
const figures = (tasks) =>
  tasks.map((t) => {
    const n = per[t.name] ?? 20;
    return { name: t.name, opsPerSecond: Math.round((n / t.result.latency.mean) * 1000), usPerOp: +((t.result.latency.mean * 1000) / n).toFixed(2) };
  });
/**
 * The bare X25519 loop (bench/x25519-loop.mjs, as {@link bareLoop}, on random canonical points) in
 * `k` processes at once, each for `ms`: their microseconds per operation. The floor's
 * figure is the loop measured alone, with the second core idle; run on both cores at once,
 * as the two parties of a PSI run are, the same loop can be slower per operation (shared
 * caches, the host's scheduling). Recorded beside the floor, never used for its verdict.
 */
const LOOP_SCRIPT = fileURLToPath(new URL('./x25519-loop.mjs', import.meta.url));
const bareInProcesses = (k, ms) =>
  Promise.all(
    Array.from(
      { length: k },
      () =>
        new Promise((resolve, reject) =>
          execFile(process.execPath, [LOOP_SCRIPT, String(ms)], (err, out) => (err ? reject(err) : resolve(+Number(out).toFixed(2)))),
        ),
    ),
  );
/**
 * The floor's primitives alone (bare X25519, hash to group), as in part 1, and the bare
 * loop in one process and in two at once: { bareUs, h2gUs, bareAloneUs, bareTwoAtOnceUs }.
 */
async function floorPrimitives() {
  const b = new Bench(BENCH_OPTIONS);
  b.add(BARE, bareLoop).add(H2G, () => x.hashToGroup(ids, dst));
  await b.run();
  const [bare, h2g] = figures(b.tasks);
  const ms = quick ? 200 : 3000;
  const [bareAloneUs] = await bareInProcesses(1, ms);
  const bareTwoAtOnceUs = await bareInProcesses(2, ms);
  return { bareUs: bare.usPerOp, h2gUs: h2g.usPerOp, bareAloneUs, bareTwoAtOnceUs };
}
const bench = new Bench(BENCH_OPTIONS);
bench
  .add(BARE, bareLoop)
  .add('koppel x25519 multiply (validated), 1000 points', () => x.multiply(scalar, points))
  .add(H2G, () => x.hashToGroup(ids, dst))
  .add('koppel ristretto255 hash to group, 20 ids', () => r.hashToGroup(ids.slice(0, 20), dst))
  .add('koppel ristretto255 multiply, 20 points', () => r.multiply(rScalar, rPoints));
await bench.run();
results.primitives.push(...figures(bench.tasks));
console.log(`Primitives (${results.cpu}):`);
for (const p of results.primitives)
  console.log(`  ${p.name.padEnd(72)} ${String(p.usPerOp).padStart(8)} us/op ${p.opsPerSecond.toLocaleString('en-US').padStart(9)} ops/s`);
const [bare, mine] = results.primitives;
console.log(`  koppel x25519 multiply takes ${(mine.usPerOp / bare.usPerOp).toFixed(2)}x the bare loop's time per point`);
if (primitivesOnly) {
  console.log(JSON.stringify(results));
  process.exit(0);
}

// --- 2. full PSI in one process -------------------------------------------------
/** Two sets of n distinct valid BSNs overlapping in exactly n/2. */
function sets(n, seed) {
  const rng = new SyntheticRandom(seed);
  const all = new Set();
  while (all.size < Math.round(n * 1.5)) all.add(syntheticBsn(rng));
  const list = [...all];
  return { X: list.slice(0, n), Y: list.slice(n / 2, n / 2 + n) };
}

async function koppelInProcess(n, suite) {
  const { X, Y } = sets(n, `bench-${n}`);
  const [a, b] = createMemoryChannelPair();
  const t0 = performance.now();
  const [c] = await Promise.all([psiClient(a, X, { suite }), psiServer(b, Y, { suite })]);
  const ms = performance.now() - t0;
  return { impl: `koppel ${suite}`, n, ms: Math.round(ms), intersection: c.intersection.length };
}

async function psiJs(n) {
  const peerDir = join(here, 'peers');
  if (!existsSync(join(peerDir, 'node_modules', '@openmined', 'psi.js'))) {
    // Peers download nothing at install time with --ignore-scripts; they never enter koppel's own dependencies.
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', peerDir], { stdio: 'inherit' });
  }
  const PSI = createRequire(join(peerDir, 'package.json'))('@openmined/psi.js');
  const psi = await PSI();
  const { X, Y } = sets(n, `bench-${n}`);
  const t0 = performance.now();
  const server = psi.server.createWithNewKey(true);
  const client = psi.client.createWithNewKey(true);
  const setup = server.createSetupMessage(0.000001, X.length, Y, psi.dataStructure.Raw).serializeBinary();
  const request = client.createRequest(X).serializeBinary();
  const response = server.processRequest(psi.request.deserializeBinary(request)).serializeBinary();
  const inter = client.getIntersection(psi.serverSetup.deserializeBinary(setup), psi.response.deserializeBinary(response));
  const ms = performance.now() - t0;
  server.delete?.();
  client.delete?.();
  return { impl: '@openmined/psi.js 2.0.6 (P-256, WASM)', n, ms: Math.round(ms), intersection: inter.length };
}

results.inProcess.push(await koppelInProcess(N, 'x25519'));
results.inProcess.push(await koppelInProcess(quick ? 200 : 2000, 'ristretto255'));
if (withPeer) results.inProcess.push(await psiJs(N));
console.log('\nFull PSI in one process (both parties, revealed intersection):');
for (const p of results.inProcess)
  console.log(
    `  ${p.impl.padEnd(40)} ${p.n.toLocaleString('en-US').padStart(9)} x ${p.n.toLocaleString('en-US').padEnd(9)} ${String(p.ms).padStart(8)} ms  intersection ${p.intersection} (${p.intersection === p.n / 2 ? 'correct' : 'WRONG'})`,
  );
const peer = results.inProcess.find((p) => p.impl.startsWith('@openmined'));
if (peer)
  console.log(
    `  koppel x25519 is ${(peer.ms / results.inProcess[0].ms).toFixed(1)}x faster than @openmined/psi.js at ${N.toLocaleString('en-US')} x ${N.toLocaleString('en-US')}`,
  );

// --- 3. two processes over loopback TCP ------------------------------------------

/** One `psi serve` / `psi connect` run on two sets of `n`, each its own process. */
async function tcpRun(n) {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-psi-bench-'));
  try {
    const { X, Y } = sets(n, `tcp-${n}`);
    writeFileSync(join(dir, 'client.csv'), 'bsn\n' + X.join('\n') + '\n');
    writeFileSync(join(dir, 'server.csv'), 'bsn\n' + Y.join('\n') + '\n');
    const port = basePort(1);
    const common = ['--column', 'bsn', '--id-type', 'bsn', '--insecure', '--summary', 'json', '--no-progress'];
    const floorBefore = n === FLOOR_N ? await floorPrimitives() : undefined;
    const t0 = performance.now();
    const json = (p) => p.then((err) => JSON.parse(err.trim().split('\n').pop()));
    const [s, c] = await Promise.all([
      json(run(['psi', 'serve', '--listen', `127.0.0.1:${port}`, '--in', join(dir, 'server.csv'), ...common])),
      json(run(['psi', 'connect', '--connect', `127.0.0.1:${port}`, '--in', join(dir, 'client.csv'), '--out', join(dir, 'out.csv'), ...common])),
    ]);
    const wall = performance.now() - t0;
    const floorAfter = floorBefore ? await floorPrimitives() : undefined;
    results.tcp.push({
      n,
      wallMs: Math.round(wall),
      intersection: c.intersectionSize,
      serverPeakRssMB: Math.round(s.peakRssBytes / 2 ** 20),
      clientPeakRssMB: Math.round(c.peakRssBytes / 2 ** 20),
      serverPeakRssBytes: s.peakRssBytes,
      clientPeakRssBytes: c.peakRssBytes,
      ...(floorBefore ? { floorPrimitives: { before: floorBefore, after: floorAfter } } : {}),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const n of TCP_SIZES) await tcpRun(n);
console.log(`\nkoppel psi serve / connect, two processes over loopback TCP (x25519, intersection, wall time incl. process start):`);
for (const t of results.tcp)
  console.log(
    `  ${t.n.toLocaleString('en-US')} x ${t.n.toLocaleString('en-US')}: ${(t.wallMs / 1000).toFixed(1)} s, intersection ${t.intersection}, peak RSS server ${t.serverPeakRssMB} MB, client ${t.clientPeakRssMB} MB` +
      (t.floorPrimitives
        ? `; floor primitives before / after: X25519 ${t.floorPrimitives.before.bareUs} / ${t.floorPrimitives.after.bareUs} us, hash to group ${t.floorPrimitives.before.h2gUs} / ${t.floorPrimitives.after.h2gUs} us` +
          `; the bare X25519 loop in one process / two at once, before: ${t.floorPrimitives.before.bareAloneUs} / ${t.floorPrimitives.before.bareTwoAtOnceUs.join(', ')} us, after: ${t.floorPrimitives.after.bareAloneUs} / ${t.floorPrimitives.after.bareTwoAtOnceUs.join(', ')} us`
        : ''),
  );
console.log(JSON.stringify(results));
