/**
 * Benchmarks must not rot: each runs once at a small size. The figures are printed,
 * not asserted (a benchmark measures; it never passes or fails on time).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Each benchmark runs once at a small size; on a loaded 2-core machine that can take minutes (they measure, never assert time). */
const BENCH_TIMEOUT = 240_000;

describe('bench/pseudonymise.mjs --quick', () => {
  it(
    'runs and reports library and CLI figures for every configuration',
    () => {
      const script = fileURLToPath(new URL('../../bench/pseudonymise.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { library: Array<{ idsPerSecond: number }>; cli: Array<{ rows: number }> };
      expect(last.library).toHaveLength(4);
      expect(last.library.every((x) => x.idsPerSecond > 0)).toBe(true);
      expect(last.cli.map((c) => c.rows)).toEqual([20_000, 20_000]);
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/psi.mjs --quick --no-peer', () => {
  it(
    'runs and reports primitives, in-process PSI and the two-process TCP run with its floor primitives (alone and two at once)',
    () => {
      const script = fileURLToPath(new URL('../../bench/psi.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick', '--no-peer', '--floor-n', '2000'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
        primitives: unknown[];
        inProcess: Array<{ intersection: number; n: number }>;
        tcp: Array<{
          intersection: number;
          floorPrimitives?: Record<'before' | 'after', { bareUs: number; h2gUs: number; bareAloneUs: number; bareTwoAtOnceUs: number[] }>;
        }>;
      };
      expect(last.primitives).toHaveLength(5);
      // The floor run carries its primitives, measured right before and right after it.
      for (const at of ['before', 'after'] as const) {
        expect(last.tcp[0]?.floorPrimitives?.[at].bareUs).toBeGreaterThan(0);
        expect(last.tcp[0]?.floorPrimitives?.[at].h2gUs).toBeGreaterThan(0);
        // Beside them, the bare loop in one process and in two at once.
        expect(last.tcp[0]?.floorPrimitives?.[at].bareAloneUs).toBeGreaterThan(0);
        expect(last.tcp[0]?.floorPrimitives?.[at].bareTwoAtOnceUs).toHaveLength(2);
        for (const us of last.tcp[0]?.floorPrimitives?.[at].bareTwoAtOnceUs ?? []) expect(us).toBeGreaterThan(0);
      }
      // Half of each synthetic set overlaps: the runs must have computed the right answer.
      expect(last.inProcess.map((p) => p.intersection)).toEqual(last.inProcess.map((p) => p.n / 2));
      expect(last.tcp[0]?.intersection).toBe(1000);
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/aggregate.mjs --quick --no-peer', () => {
  it(
    'runs every part and computes correct totals',
    () => {
      const script = fileURLToPath(new URL('../../bench/aggregate.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick', '--no-peer'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
        rounds: Array<{ correct: boolean }>;
        processes: Array<{ impl: string; correct: boolean; resultMs: number; exitMs: number }>;
      };
      expect(last.rounds.map((x) => x.correct)).toEqual([true, true]);
      // A plain-TCP and a mutual-TLS koppel row per environment (two environments when
      // NODE_EXTRA_CA_CERTS is set); the TLS tests need openssl anyway (test/tls.ts).
      const environments = process.env['NODE_EXTRA_CA_CERTS'] ? 2 : 1;
      expect(last.processes.filter((p) => p.impl.includes('plain TCP')).length).toBe(environments);
      expect(last.processes.filter((p) => p.impl.includes('mutual TLS')).length).toBe(environments);
      for (const p of last.processes) {
        expect(p.correct).toBe(true);
        // The result line was seen, and not after every process had exited.
        expect(p.resultMs).toBeGreaterThan(0);
        expect(p.resultMs).toBeLessThanOrEqual(p.exitMs);
      }
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/join.mjs --quick', () => {
  it(
    'runs plain PSI and both join variants on the same sets and checks the tables',
    () => {
      const script = fileURLToPath(new URL('../../bench/join.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
        runs: Array<{ psi: { intersection: number }; helper: { correct: boolean }; twoParty: { correct: boolean } }>;
      };
      expect(last.runs[0]?.psi.intersection).toBe(1000);
      expect(last.runs[0]?.helper.correct).toBe(true);
      expect(last.runs[0]?.twoParty.correct).toBe(true);
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/oprf.mjs --quick', () => {
  it(
    'measures evaluation, the service and the end-to-end client in both modes',
    () => {
      const script = fileURLToPath(new URL('../../bench/oprf.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
        evaluate: unknown[];
        service: Array<{ perSecond: number }>;
        endToEnd: Array<{ rows: number; pseudonymised: number }>;
      };
      expect(last.evaluate).toHaveLength(2);
      expect(last.service.every((s) => s.perSecond > 0)).toBe(true);
      expect(last.endToEnd.map((e) => e.pseudonymised)).toEqual([2000, 2000]);
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/disclosure.mjs --quick', () => {
  it(
    'runs and reports every table',
    () => {
      const script = fileURLToPath(new URL('../../bench/disclosure.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { tables: Array<{ table: string; entries: number; threshold: number }> };
      expect(last.tables.map((t) => [t.table, t.entries])).toEqual([
        ['10x10', 121],
        ['8x6x4', 315],
      ]);
      expect(last.tables.every((t) => t.threshold > 0)).toBe(true);
    },
    BENCH_TIMEOUT,
  );
});

/** The Markdown table of `node bench/all.mjs ... --markdown`, by measurement: [figure, ratio, target, met]. */
function markdownRows(stdout: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length === 8 && cells[1] !== 'area' && !cells[1]?.startsWith('-')) rows.set(cells[2] as string, cells.slice(3, 7));
  }
  return rows;
}

describe('bench/all.mjs --quick --only oprf,disclosure', () => {
  it(
    'runs the scripts named, keeps their JSON in the results file and ends with the table, quick sizes not compared with the baseline',
    () => {
      const script = fileURLToPath(new URL('../../bench/all.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick', '--only', 'oprf,disclosure', '--markdown'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const file = /All figures: (\S+\.json)/.exec(r.stderr)?.[1] as string;
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        results: Record<string, unknown>;
        table: Array<{ area: string; ratio: number | null; met: boolean | null }>;
      };
      rmSync(file);
      expect(Object.keys(saved.results).sort()).toEqual(['disclosure', 'oprf']);
      const oprf = saved.table.filter((t) => t.area === 'oprf');
      expect(oprf).toHaveLength(6);
      // The baseline was measured at the full sizes: nothing of a quick run is compared with it.
      expect(oprf.every((t) => t.ratio === null && t.met === null)).toBe(true);
      const rows = markdownRows(r.stdout);
      expect(rows.get('OPRF service over HTTP (oprf), evaluations/s')?.[0]).toMatch(/^[\d,]+ \(baseline at other sizes\)$/);
      expect(rows.get('PSI 1,000 x 1,000, two processes on loopback / 1 s')?.[0]).toBe('not run');
    },
    BENCH_TIMEOUT,
  );
});

describe('bench/all.mjs --from', () => {
  it('computes each ratio from the figures of the run and says met or not met against each target', () => {
    const baseline = JSON.parse(readFileSync(fileURLToPath(new URL('../../bench/baseline.json', import.meta.url)), 'utf8')) as {
      oprf: { args: string[]; figures: Record<string, number> };
    };
    const mb = 2 ** 20;
    const run = {
      bench: 'all',
      quick: false,
      commit: 'fixture',
      cpu: 'fixture',
      cores: 2,
      date: 'fixture',
      load: { start: '0', end: '0' },
      sizes: { pseudRows: [1000], memoryRows: [1000, 4000], psiInProcess: [100], psiSmall: [10], psiFloor: [1000], psiSlope: [1000, 4000], joinN: [1000] },
      args: { oprf: baseline.oprf.args, aggregate: ['--quick'] },
      results: {
        join: {
          runs: [
            {
              n: 1000,
              psi: { wallMs: 10_000 },
              helper: { wallMs: 11_000, correct: true },
              twoParty: { wallMs: 15_000, correct: true, rssMB: { groups: 100, values: 100 } },
            },
          ],
        },
        pseudonymise: {
          cli: [
            {
              cli: 'this',
              threads: 2,
              floorCores: 2,
              rowsPerSecond: 600,
              floorIdsPerSecond: 1000,
              ratioToFloor: 0.3,
              rowsPerCpuSecond: 800,
              floorIdsPerCpuSecond: 1000,
              cpuRatioToFloor: 0.8,
            },
          ],
          memory: [
            { cli: 'this', rows: 1000, peakRssMB: 100 },
            { cli: 'this', rows: 4000, peakRssMB: 130 },
          ],
        },
        psi: {
          primitives: [
            // Part 1's figure, minutes before the floor run: not the one its floor uses.
            { name: 'bare node:crypto X25519 (JWK import + diffieHellman), 1000 points', usPerOp: 50 },
            { name: 'koppel x25519 hash to group (RFC 9380 + Elligator 2), 1000 ids', usPerOp: 10 },
          ],
          tcp: [
            { n: 10, wallMs: 900, intersection: 5 },
            {
              n: 1000,
              wallMs: 84,
              intersection: 500,
              clientPeakRssBytes: 100 * mb,
              serverPeakRssBytes: 100 * mb,
              floorPrimitives: { before: { bareUs: 28, h2gUs: 9 }, after: { bareUs: 32, h2gUs: 11 } },
            },
            { n: 4000, wallMs: 300, intersection: 2000, clientPeakRssBytes: 100 * mb + 3000 * 100, serverPeakRssBytes: 100 * mb + 3000 * 90 },
          ],
          inProcess: [
            { impl: 'koppel x25519', n: 100, ms: 100, intersection: 50 },
            { impl: '@openmined/psi.js 2.0.6 (P-256, WASM)', n: 100, ms: 3000, intersection: 50 },
          ],
        },
        // Every OPRF figure exactly the baseline's, the aggregation run at other sizes.
        oprf: {
          evaluate: ['oprf', 'voprf'].map((mode) => ({
            impl: 'koppel (libsodium WASM)',
            mode,
            perSecond: baseline.oprf.figures[`OPRF evaluation, one thread (${mode}), /s`],
          })),
          service: ['oprf', 'voprf'].map((mode) => ({ mode, perSecond: baseline.oprf.figures[`OPRF service over HTTP (${mode}), evaluations/s`] })),
          endToEnd: ['oprf', 'voprf'].map((mode) => ({ mode, rowsPerSecond: baseline.oprf.figures[`pseudonymise --oprf end to end (${mode}), rows/s`] })),
        },
        aggregate: { rounds: [{ transport: 'memory', totalMs: 1000 }], reportsPerSecond: [], processes: [] },
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bench-all-'));
    try {
      writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
      const script = fileURLToPath(new URL('../../bench/all.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--from', join(dir, 'run.json'), '--markdown'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const rows = markdownRows(r.stdout);
      const at = (what: string) => rows.get(what)?.slice(1);
      expect(at('two-party join / plain PSI, 1,000 x 1,000')).toEqual(['1.50x', '<= 1.6x', 'met']);
      expect(at('helper join / plain PSI, 1,000 x 1,000')).toEqual(['1.10x', '-', '-']);
      // The fixture's join ran at 1,000, the baseline's memory at another size: not compared.
      expect(at('two-party join peak RSS A (groups), 1,000 x 1,000')?.[0]).toBe('-');
      expect(at('koppel pseudonymise, 1,000 rows, 2 threads / 2-core HMAC floor')).toEqual(['0.30x', '>= 0.5x', 'NOT MET']);
      expect(at('pseudonymise peak RSS, 4,000 / 1,000 rows')).toEqual(['1.30x', '<= 1.25x (flat)', 'NOT MET']);
      // Floor, from the primitives measured right before and after the run (means 30 and 10 us):
      // 1,000 pairs x (4 x 30 us + 2 x 10 us) on 2 cores = 70 ms; 84 ms is 1.2x.
      expect(at('PSI 1,000 x 1,000, two processes / floor')).toEqual(['1.20x', '<= 1.1x', 'NOT MET']);
      expect(at('x25519 hash to group per identifier / 8 us')).toEqual(['1.25x', '<= 1.00x (8 us)', 'NOT MET']);
      expect(at('PSI client peak RSS per element, slope 1,000 to 4,000 / 120 B')).toEqual(['0.83x', '<= 1.00x (120 B)', 'met']);
      expect(at('PSI server peak RSS per element, slope 1,000 to 4,000 / 60 B')).toEqual(['1.50x', '<= 1.00x (60 B)', 'NOT MET']);
      expect(at('PSI 100 x 100 in one process, @openmined/psi.js / koppel')).toEqual(['30.00x', '>= 25x', 'met']);
      expect(at('PSI 10 x 10, two processes on loopback / 1 s')).toEqual(['0.90x', '< 1.00x (1 s)', 'met']);
      expect(at('OPRF service over HTTP (voprf), evaluations/s')).toEqual(['1.00x', '>= 0.95x', 'met']);
      expect(at('aggregation round, memory channels, ms')).toEqual(['-', '<= 1.05x', '-']);
      expect(at('aggregation round, loopback TCP, ms')?.[0]).toBe('-');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
