/**
 * Benchmarks must not rot: each runs once at a small size. The figures are printed,
 * not asserted (a benchmark measures; it never passes or fails on time).
 */
import { spawnSync } from 'node:child_process';
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
    'runs and reports primitives, in-process PSI and the two-process TCP run',
    () => {
      const script = fileURLToPath(new URL('../../bench/psi.mjs', import.meta.url));
      const r = spawnSync(process.execPath, [script, '--quick', '--no-peer'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as {
        primitives: unknown[];
        inProcess: Array<{ intersection: number; n: number }>;
        tcp: Array<{ intersection: number }>;
      };
      expect(last.primitives).toHaveLength(5);
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
