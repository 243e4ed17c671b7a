/**
 * Benchmark: a PSI between two processes whose connection is cut during the run
 * (issue 16, "Reconnect within a session"), against the same run uncut.
 *
 * `koppel psi serve` and `koppel psi connect` (x25519, intersection, plain TCP on
 * loopback) talk through a TCP proxy in this process. The uncut run goes through the
 * same proxy; the cut run's proxy ends every connection when the bytes it forwarded pass
 * 25%, 50% and 75% of the uncut run's total (the chunk in flight is lost), and the CLI
 * resumes within --reconnect-window. Reports wall times, their ratio, and whether both
 * outputs are byte-identical. Measures; asserts nothing about time.
 *
 * Usage: node bench/reconnect.mjs [--n 1000000] [--rounds 1]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberFlag, runCli } from './lib.mjs';

const args = process.argv.slice(2);
const N = numberFlag(args, '--n', 100_000);
const ROUNDS = numberFlag(args, '--rounds', 1);

/** A proxy to `target` that cuts all its connections when the bytes received pass each threshold. */
async function proxy(target, thresholds) {
  const left = [...thresholds];
  const pairs = new Set();
  let bytes = 0;
  let cuts = 0;
  let connections = 0;
  const cut = () => {
    cuts++;
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  const crosses = (n) => {
    bytes += n;
    if (left.length === 0 || bytes < left[0]) return false;
    left.shift();
    return true;
  };
  const server = net.createServer((client) => {
    connections++;
    const up = net.connect(target, '127.0.0.1');
    const pair = [client, up];
    pairs.add(pair);
    const end = () => {
      client.destroy();
      up.destroy();
      pairs.delete(pair);
    };
    const pipe = (from, to) => {
      from.on('data', (d) => {
        if (crosses(d.length)) return cut();
        if (!to.write(d)) from.pause();
      });
      to.on('drain', () => from.resume());
      from.on('error', end).on('close', end);
    };
    pipe(client, up);
    pipe(up, client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    stats: () => ({ bytes, cuts, connections }),
    close: () => new Promise((r) => server.close(r)),
  };
}

function ids(n, seed) {
  // Distinct synthetic identifiers; half of the client's are in the server's set.
  const out = [];
  for (let i = 0; i < n; i++) out.push(`${seed}-${i.toString(36)}`);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'koppel-bench-reconnect-'));
try {
  const server = ids(N, 's');
  const client = [...ids(N / 2, 's'), ...ids(N / 2, 'c')];
  writeFileSync(join(dir, 'server.csv'), 'id\n' + server.join('\n') + '\n');
  writeFileSync(join(dir, 'client.csv'), 'id\n' + client.join('\n') + '\n');
  const common = [
    '--column',
    'id',
    '--insecure',
    '--summary',
    'json',
    '--no-progress',
    '--idle-timeout',
    '600',
    '--timeout',
    '60',
    '--reconnect-window',
    '120',
  ];

  async function run(label, thresholds) {
    const out = join(dir, `${label}.csv`);
    let port;
    const serve = runCli(['psi', 'serve', '--listen', '127.0.0.1:0', '--in', join(dir, 'server.csv'), ...common], (text) => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m && port === undefined) port = Number(m[1]);
    });
    while (port === undefined) await new Promise((r) => setTimeout(r, 20));
    const p = await proxy(port, thresholds);
    const t0 = performance.now();
    const [se, ce] = await Promise.all([
      serve,
      runCli(['psi', 'connect', '--connect', `127.0.0.1:${p.port}`, '--in', join(dir, 'client.csv'), '--out', out, ...common]),
    ]);
    const wallMs = performance.now() - t0;
    await p.close();
    const summary = (t) => JSON.parse(t.trim().split('\n').pop());
    const resumed = (ce.match(/the connection came back/g) ?? []).length;
    return {
      label,
      wallMs: Math.round(wallMs),
      ...p.stats(),
      resumed,
      intersection: summary(ce).intersectionSize,
      clientPeakRssMB: Math.round(summary(ce).peakRssBytes / 2 ** 20),
      serverPeakRssMB: Math.round(summary(se).peakRssBytes / 2 ** 20),
      sha256: createHash('sha256').update(readFileSync(out)).digest('hex'),
    };
  }

  const results = [];
  for (let round = 0; round < ROUNDS; round++) {
    const uncut = await run(`uncut-${round}`, []);
    const t = uncut.bytes;
    const cut = await run(
      `cut-${round}`,
      [0.25, 0.5, 0.75].map((f) => Math.floor(t * f)),
    );
    results.push({ uncut, cut, ratio: +(cut.wallMs / uncut.wallMs).toFixed(3), sameOutput: cut.sha256 === uncut.sha256 });
    console.log(
      `round ${round + 1}: ${N.toLocaleString('en-US')} x ${N.toLocaleString('en-US')} PSI over loopback TCP through a proxy (${cpus()[0]?.model}):\n` +
        `  uncut: ${(uncut.wallMs / 1000).toFixed(1)} s, ${uncut.connections} connection(s), ${(uncut.bytes / 2 ** 20).toFixed(1)} MiB, intersection ${uncut.intersection}\n` +
        `  cut ${cut.cuts} times: ${(cut.wallMs / 1000).toFixed(1)} s (${results.at(-1).ratio}x uncut), ${cut.connections} connections, ${cut.resumed} resumptions, ` +
        `${(cut.bytes / 2 ** 20).toFixed(1)} MiB, intersection ${cut.intersection}; output ${results.at(-1).sameOutput ? 'byte-identical' : 'DIFFERENT'}\n` +
        `  peak RSS client ${uncut.clientPeakRssMB} / ${cut.clientPeakRssMB} MB, server ${uncut.serverPeakRssMB} / ${cut.serverPeakRssMB} MB (uncut / cut)`,
    );
  }
  console.log(JSON.stringify({ bench: 'reconnect', n: N, results }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
