/**
 * The task pool's per-worker initialisation, inline: the init operation runs once, its
 * result is the context every later operation receives, an async init is awaited, and
 * a failing init is the pool's failure. Threaded (compiled package): the same, and
 * tasks handed ahead (`perWorker`) are answered in order.
 */
import { describe, expect, it } from 'vitest';
import { refusedFlags, TaskPool, withoutRefused } from '../../src/util/pool.js';
import type * as PoolModule from '../../src/util/pool.js';
import type * as CsvChunkModule from '../../src/pseudonymise/csv-chunk.js';
import type * as PsiOpsModule from '../../src/psi/ops.js';
import type * as SuiteModule from '../../src/group/suite.js';
import { generateKey, deriveDomainKey } from '../../src/pseudonymise/key.js';
import { Pseudonymiser } from '../../src/pseudonymise/pseudonymiser.js';
import { KoppelError } from '../../src/errors/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runNode } from '../helpers.js';

const URL_UNUSED = new URL('file:///nonexistent-worker.js');

describe('TaskPool init (inline)', () => {
  it('runs init once and hands its result to every operation', async () => {
    let inits = 0;
    const ops = {
      init: (arg: { base: number }) => {
        inits++;
        return { base: arg.base };
      },
      add: (x: number, c: { base: number }) => x + c.base,
    };
    const pool = new TaskPool(ops, URL_UNUSED, 0, { init: { op: 'init', arg: { base: 40 } } });
    expect(await Promise.all([pool.run('add', 1), pool.run('add', 2)])).toEqual([41, 42]);
    expect(inits).toBe(1);
    await pool.close();
  });

  it('awaits an async init, and without init passes no context', async () => {
    const ops = {
      init: async (arg: string) => arg.toUpperCase(),
      tag: (x: string, c: string | undefined) => `${c ?? 'none'}:${x}`,
    };
    const pool = new TaskPool(ops, URL_UNUSED, 0, { init: { op: 'init', arg: 'ctx' } });
    expect(await pool.run('tag', 'a')).toBe('CTX:a');
    const bare = new TaskPool(ops, URL_UNUSED, 0);
    expect(await bare.run('tag', 'a')).toBe('none:a');
  });

  it('a failing init fails the construction (sync) or every task (async)', async () => {
    const ops = {
      bad: (): never => {
        throw new KoppelError('INVALID_KEY', 'no');
      },
      badAsync: async (): Promise<never> => {
        throw new KoppelError('INVALID_KEY', 'no');
      },
      id: (x: number) => x,
    };
    expect(() => new TaskPool(ops, URL_UNUSED, 0, { init: { op: 'bad', arg: undefined as never } })).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
    const pool = new TaskPool(ops, URL_UNUSED, 0, { init: { op: 'badAsync', arg: undefined as never } });
    await expect(pool.run('id', 1)).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });

  it('close() runs the dispose operation inline on the context, and the pseudonymisation pool destroys its key with it', async () => {
    let disposed: unknown;
    const ops = {
      init: () => ({ secret: new Uint8Array([1, 2, 3]) }),
      dispose: (_: undefined, c: { secret: Uint8Array }) => void (disposed = c.secret.fill(0)),
    };
    const pool = new TaskPool(ops, URL_UNUSED, 0, { init: { op: 'init', arg: undefined }, dispose: 'dispose' });
    await pool.close();
    expect(disposed).toEqual(new Uint8Array(3));
    // Only an operation without an argument can be the dispose (checked by the compiler).
    // @ts-expect-error: 'count' takes a number
    expect(new TaskPool({ ...ops, count: (n: number) => n }, URL_UNUSED, 0, { dispose: 'count' }).size).toBe(0);
    // csvChunkOps.dispose: the worker's pseudonymiser refuses to work afterwards.
    const { csvChunkOps } = await import('../../src/pseudonymise/csv-chunk.js');
    const key = generateKey();
    const domainKey = deriveDomainKey(key, 'pool');
    const layout = { column: 0, fields: 1, delimiter: ',' as const, newline: '\n' as const, policy: 'skip' as const };
    const c = csvChunkOps.init({ kid: key.kid, domain: 'pool', domainKey, idType: 'raw', layout });
    expect(c.p.pseudonymise('a')).toMatch(/./);
    csvChunkOps.dispose(undefined, c);
    expect(() => c.p.pseudonymise('a')).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
  });

  it('refuses a perWorker outside 1 to 64', () => {
    const ops = { id: (x: number) => x };
    for (const perWorker of [0, 1.5, 65])
      expect(() => new TaskPool(ops, URL_UNUSED, 0, { perWorker })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(new TaskPool(ops, URL_UNUSED, 0, { perWorker: 2 }).size).toBe(0);
  });
});

describe("the flags a worker takes: exactly those Node's error names are dropped", () => {
  it('reads the refused flags from the message and drops them, with a value given as the next argument', () => {
    const msg = 'Initiated Worker with invalid execArgv flags: --max-old-space-size=512, --stack-size=900';
    expect(refusedFlags(msg)).toEqual(['--max-old-space-size=512', '--stack-size=900']);
    expect(refusedFlags('something else')).toEqual([]);
    const argv = ['--conditions', 'x', '--max-old-space-size=512', '--import', 'file:///a.mjs', '--stack-size=900'];
    expect(withoutRefused(argv, refusedFlags(msg))).toEqual(['--conditions', 'x', '--import', 'file:///a.mjs']);
    // A value that happens to occur in the message text is not a refused flag.
    expect(withoutRefused(['--conditions', 'flags', '-C', 'e'], refusedFlags(msg))).toEqual(['--conditions', 'flags', '-C', 'e']);
    expect(withoutRefused(['--title', 'koppel', '--no-warnings'], ['--title'])).toEqual(['--no-warnings']);
  });
});

describe('TaskPool init and perWorker (worker threads, compiled package)', () => {
  const dist = (path: string) => new URL(`../../dist/${path}`, import.meta.url);
  const layout = { column: 0, fields: 2, delimiter: ',' as const, newline: '\n' as const, policy: 'skip' as const };
  const key = generateKey();

  it('workers initialised with the domain key pseudonymise as the main thread does; chunks handed ahead come back in order', async () => {
    const { TaskPool: DistPool } = (await import(dist('util/pool.js').href)) as typeof PoolModule;
    const { csvChunkOps } = (await import(dist('pseudonymise/csv-chunk.js').href)) as typeof CsvChunkModule;
    const domainKey = deriveDomainKey(key, 'pool');
    const pool = new DistPool(csvChunkOps, dist('pseudonymise/csv-worker.js'), 2, {
      init: { op: 'init', arg: { kid: key.kid, domain: 'pool', domainKey, idType: 'raw', layout } },
      perWorker: 3,
    });
    domainKey.fill(0); // each worker has its own copy already
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const outs = await Promise.all(Array.from({ length: 12 }, (_, i) => pool.run('chunk', enc.encode(`id${i},${i}\n`))));
    expect(outs.map((o) => dec.decode(o.bytes).split(',')[1])).toEqual(Array.from({ length: 12 }, (_, i) => `${i}\n`));
    const p = new Pseudonymiser({ key, domain: 'pool', idType: 'raw' });
    expect(outs.map((o) => dec.decode(o.bytes).split(',')[0])).toEqual(Array.from({ length: 12 }, (_, i) => p.pseudonymise(`id${i}`)));
    await pool.close();
  });

  it('a process started with V8 or process-wide flags still starts its workers, which keep the Node flags they can take', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-pool-flags-'));
    try {
      // A preload that announces itself from every worker thread it runs in.
      const preload = join(dir, 'preload.mjs');
      writeFileSync(preload, `import { isMainThread } from 'node:worker_threads';\nif (!isMainThread) process.stderr.write('preloaded-in-worker\\n');\n`);
      const script = `
        const { TaskPool } = await import(${JSON.stringify(dist('util/pool.js').href)});
        const { psiOps } = await import(${JSON.stringify(dist('psi/ops.js').href)});
        const { getSuite } = await import(${JSON.stringify(dist('group/suite.js').href)});
        const pool = new TaskPool(psiOps, new URL(${JSON.stringify(dist('psi/worker.js').href)}), 2);
        // Two tasks at once, one for each worker (one task per worker at a time): both have
        // started, run the preload and answered before the pool closes. With one task the
        // second worker could be terminated while still starting.
        const task = () => pool.run('hashMultiply', { suite: 'x25519', items: ['a', 'b'], scalar: getSuite('x25519').randomScalar().scalar });
        const [packed] = await Promise.all([task(), task()]);
        await pool.close();
        process.stdout.write(String(packed.length));`;
      // A flag workers take, given with its value as the next argument, beside refused ones.
      for (const flags of [
        ['--max-old-space-size=512'],
        ['--single-threaded-gc', '--stack-size=900'],
        ['--conditions', 'koppel-test', '--max-old-space-size=512'],
      ]) {
        const r = await runNode([...flags, '--import', pathToFileURL(preload).href, '--input-type=module', '-e', script]);
        expect(r.stderr.replaceAll('preloaded-in-worker\n', ''), flags.join(' ')).toBe('');
        expect(r.stdout, flags.join(' ')).toBe('64');
        // Both workers ran the preload: only the refused flags were dropped.
        expect(r.stderr.split('preloaded-in-worker').length - 1, flags.join(' ')).toBe(2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * A registry over shared flags (Int32Array slots): init takes the next worker index
   * (slot 2 counts them) and, in worker 0 with `failFirst`, waits for slot 6 and then
   * fails; slow counts its start in slot 5, waits for slot 4, and counts in slot 3 if its
   * worker had not disposed yet; dispose sets the worker's own slot (0 or 1) after 100 ms.
   */
  const gatedWorker = (dir: string): URL => {
    const file = join(dir, 'worker.mjs');
    writeFileSync(
      file,
      `import { parentPort } from 'node:worker_threads';
       import { serveRegistry } from ${JSON.stringify(dist('util/pool.js').href)};
       const until = async (f, slot) => { while (Atomics.load(f, slot) === 0) await new Promise((r) => setTimeout(r, 2)); };
       const ops = {
         init: async (a) => {
           const flags = new Int32Array(a.flags);
           const at = Atomics.add(flags, 2, 1);
           if (a.failFirst && at === 0) { await until(flags, 6); throw new Error('init failed'); }
           return { flags, at };
         },
         slow: async (_, c) => { Atomics.add(c.flags, 5, 1); await until(c.flags, 4); if (Atomics.load(c.flags, c.at) === 0) Atomics.add(c.flags, 3, 1); },
         // Takes a while, so that a pool that stopped the worker at the wrong answer would stop it before the flag is set.
         dispose: async (_, c) => { await new Promise((r) => setTimeout(r, 100)); Atomics.store(c.flags, c.at, 1); },
       };
       serveRegistry(ops, parentPort);`,
    );
    return pathToFileURL(file);
  };
  type GatedOps = { init: (a: { flags: SharedArrayBuffer; failFirst: boolean }) => unknown; slow: (x: number) => void; dispose: () => void };
  const until = async (f: () => boolean): Promise<void> => {
    for (const end = Date.now() + 10_000; !f(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() > end) throw new Error('timed out');
  };

  /** Runs `body` with a 2-worker pool of the gated registry over fresh flags (`failFirst`, `perWorker` as given) and its flags' view. */
  const withGatedPool = async (
    options: { failFirst: boolean; perWorker?: number },
    body: (pool: PoolModule.TaskPool<GatedOps>, view: Int32Array) => Promise<void>,
  ): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-pool-dispose-'));
    try {
      const { TaskPool: DistPool } = (await import(dist('util/pool.js').href)) as typeof PoolModule;
      const flags = new SharedArrayBuffer(32);
      const init = { op: 'init' as const, arg: { flags, failFirst: options.failFirst } };
      const pool = new DistPool<GatedOps>({} as GatedOps, gatedWorker(dir), 2, { init, dispose: 'dispose', perWorker: options.perWorker ?? 1 });
      await body(pool, new Int32Array(flags));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('close() runs the dispose operation in every worker, on the context its init made, after the tasks it had started', () =>
    withGatedPool({ failFirst: false }, async (pool, view) => {
      // One slow task running in each worker, a third queued; close while they run, then let them finish.
      const running = [0, 1, 2].map((x) => pool.run('slow', x).catch((e: KoppelError) => e.code));
      await until(() => view[5] === 2);
      const closing = pool.close();
      Atomics.store(view, 4, 1);
      await closing;
      expect(await Promise.all(running)).toEqual(['ABORTED', 'ABORTED', 'ABORTED']);
      expect([view[0], view[1]]).toEqual([1, 1]);
      // The two started tasks ran to their end before their worker's dispose; the queued one never started.
      expect(view[3]).toBe(2);
      expect(view[5]).toBe(2);
    }));

  it('close() after a worker failed still disposes in the surviving worker, after the task it is still running', () =>
    withGatedPool({ failFirst: true, perWorker: 2 }, async (pool, view) => {
      const running = [0, 1].map((x) => pool.run('slow', x).catch((e: KoppelError) => e.code));
      await until(() => view[5] === 1); // the surviving worker's task runs
      Atomics.store(view, 6, 1); // worker 0's init fails: the pool fails, its tasks are rejected
      await until(() => pool.failed);
      const closing = pool.close();
      Atomics.store(view, 4, 1);
      await closing;
      await Promise.all(running);
      expect(view[1]).toBe(1);
      expect(view[3]).toBe(1);
    }));

  it('a failing init in a worker fails the pool with its code', async () => {
    const { TaskPool: DistPool } = (await import(dist('util/pool.js').href)) as typeof PoolModule;
    const { csvChunkOps } = (await import(dist('pseudonymise/csv-chunk.js').href)) as typeof CsvChunkModule;
    const pool = new DistPool(csvChunkOps, dist('pseudonymise/csv-worker.js'), 1, {
      init: { op: 'init', arg: { kid: key.kid, domain: 'pool', domainKey: new Uint8Array(32), idType: 'nope' as 'raw', layout } },
    });
    await expect(pool.run('chunk', new Uint8Array(0))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await pool.close();
  });
});

describe('PoolLease: runs open at once in one process share one set of workers', () => {
  const dist = (path: string) => new URL(`../../dist/${path}`, import.meta.url);
  const load = async () => {
    const { PoolLease } = (await import(dist('util/pool.js').href)) as typeof PoolModule;
    const { psiOps } = (await import(dist('psi/ops.js').href)) as typeof PsiOpsModule;
    const { getSuite } = (await import(dist('group/suite.js').href)) as typeof SuiteModule;
    const suite = getSuite('x25519');
    const points = suite.hashToGroup(['a', 'b', 'c'], new TextEncoder().encode('lease-test'));
    return { PoolLease, psiOps, suite, points, url: dist('psi/worker.js') };
  };

  it('two leases of the same entry and size use the same workers and both get correct answers; inline leases never share', async () => {
    const { PoolLease, psiOps, suite, points, url } = await load();
    const a = new PoolLease(psiOps, url, 2);
    const b = new PoolLease(psiOps, url, 2);
    const other = new PoolLease(psiOps, url, 1);
    expect([a.users, b.users, other.users]).toEqual([2, 2, 1]);
    const k1 = suite.randomScalar().scalar;
    const k2 = suite.randomScalar().scalar;
    const [r1, r2] = await Promise.all([
      a.run('multiply', { suite: 'x25519', scalar: k1, packed: points }),
      b.run('multiply', { suite: 'x25519', scalar: k2, packed: points }),
    ]);
    expect(r1).toEqual(suite.multiply(k1, points));
    expect(r2).toEqual(suite.multiply(k2, points));
    await Promise.all([a.close(), b.close(), other.close()]);
    const inline = [new PoolLease(psiOps, url, 0), new PoolLease(psiOps, url, 0)];
    expect(inline.map((l) => [l.size, l.users])).toEqual([
      [0, 1],
      [0, 1],
    ]);
  });

  it('closing one lease cancels only its queued tasks; the other run finishes; after the last lease a new one starts fresh workers', async () => {
    const { PoolLease, psiOps, suite, points, url } = await load();
    const a = new PoolLease(psiOps, url, 1);
    const b = new PoolLease(psiOps, url, 1);
    const k = suite.randomScalar().scalar;
    const big = suite.hashToGroup(
      Array.from({ length: 400 }, (_, i) => `x${i}`),
      new TextEncoder().encode('lease-test'),
    );
    const mineA = Array.from({ length: 6 }, () => a.run('multiply', { suite: 'x25519', scalar: k, packed: big }));
    const mineB = Array.from({ length: 3 }, () => b.run('multiply', { suite: 'x25519', scalar: k, packed: points }));
    const settledA = Promise.allSettled(mineA);
    await a.close();
    expect(b.users).toBe(1);
    const outsB = await Promise.all(mineB);
    for (const o of outsB) expect(o).toEqual(suite.multiply(k, points));
    const codes = (await settledA).map((r) => (r.status === 'rejected' ? (r.reason as KoppelError).code : 'done'));
    expect(codes.filter((c) => c === 'ABORTED').length).toBeGreaterThanOrEqual(4); // at most the started one(s) finish
    await expect(a.run('multiply', { suite: 'x25519', scalar: k, packed: points })).rejects.toMatchObject({ code: 'INTERNAL' });
    await b.close();
    const c = new PoolLease(psiOps, url, 1);
    expect(c.users).toBe(1);
    expect(await c.run('multiply', { suite: 'x25519', scalar: k, packed: points })).toEqual(suite.multiply(k, points));
    await c.close();
  });
});
