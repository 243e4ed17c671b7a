/**
 * The task pool's per-worker initialisation, inline: the init operation runs once, its
 * result is the context every later operation receives, an async init is awaited, and
 * a failing init is the pool's failure. (Threaded, the same is exercised by the CSV
 * pseudonymisation worker test against the compiled package.)
 */
import { describe, expect, it } from 'vitest';
import { TaskPool } from '../../src/util/pool.js';
import { KoppelError } from '../../src/errors/index.js';

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

  it('refuses a perWorker outside 1 to 64', () => {
    const ops = { id: (x: number) => x };
    for (const perWorker of [0, 1.5, 65]) expect(() => new TaskPool(ops, URL_UNUSED, 0, { perWorker })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(new TaskPool(ops, URL_UNUSED, 0, { perWorker: 2 }).size).toBe(0);
  });
});
