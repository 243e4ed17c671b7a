/**
 * A small worker-thread pool for CPU-bound batch operations, with two priority
 * levels and an inline mode.
 *
 * Tasks name an operation of one registry module (the same module runs on the main
 * thread inline and inside each worker), so the inline and threaded paths execute the
 * same code. Each worker runs one task at a time; tasks wait in the main thread, high
 * priority first, so latency-critical work overtakes bulk work.
 *
 * A pool can start every worker with an initialisation operation ({@link PoolOptions.init}),
 * run once per worker before any task: its result is the worker's context, handed to
 * every operation it runs as the second argument. That is how a secret needed by every
 * task (a derived domain key, say) crosses the thread boundary once per worker, not once
 * per task. Inline, the same operation runs once on the calling thread.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as WorkerThreads from 'node:worker_threads';
import type { MessagePort, Worker } from 'node:worker_threads';
import { KoppelError } from '../errors/index.js';

/**
 * A registry of operations: name to function of one structured-cloneable argument and,
 * for pools with an {@link PoolOptions.init} operation, the worker's context.
 */
export type OpRegistry = Record<string, (arg: never, context: never) => unknown>;

/** Options of a {@link TaskPool}. */
export interface PoolOptions<R extends OpRegistry> {
  /**
   * Runs once in every worker (inline: once on the calling thread) before any task; its
   * result (awaited) is the context passed to every later operation of that worker. The
   * argument is copied to each worker when the pool is constructed, so the caller may
   * wipe secrets in it as soon as the constructor returns. A failure fails the pool.
   */
  readonly init?: { readonly [K in keyof R & string]: { readonly op: K; readonly arg: Parameters<R[K]>[0] } }[keyof R & string];
  /**
   * Tasks handed to each worker ahead of its answers (default 1). A worker runs its
   * tasks one at a time, in order; with 2, the next task is already waiting in the
   * worker when one finishes, so a busy calling thread never leaves a worker idle
   * (for streams of large tasks). Tasks handed over can no longer be overtaken by
   * high-priority ones, so keep 1 where priorities matter.
   */
  readonly perWorker?: number;
  /**
   * Runs in every worker (inline: on the calling thread) when the pool is closed, with
   * that worker's context, after the tasks it had started: for wiping what the init
   * operation made (a key's midstates). Best effort: each live worker gets
   * {@link DISPOSE_DEADLINE_MS} for its started tasks and the dispose, and is stopped
   * after either way; a worker that has exited has nothing left to wipe. Inline, it runs
   * once the context is ready; an asynchronous inline task still running is not waited
   * for. The operation takes no argument (`undefined`).
   */
  readonly dispose?: DisposeOp<R>;
}

/** How long {@link TaskPool.close} waits for each worker's {@link PoolOptions.dispose}. */
export const DISPOSE_DEADLINE_MS = 1000;

/** The names of the operations of `R` that take no argument: those a pool can run as its dispose. */
export type DisposeOp<R extends OpRegistry> = { [K in keyof R & string]: R[K] extends (arg: undefined, context: never) => unknown ? K : never }[keyof R &
  string];

/** Task priority. */
export type Priority = 'high' | 'low';

interface Task {
  /** The lease that submitted it, if any: {@link TaskPool.cancelQueued} drops a lease's queued tasks. */
  readonly owner?: object;
  readonly op: string;
  readonly arg: unknown;
  readonly transfer: ArrayBuffer[];
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The parent's Node flags that a worker takes, found when the first worker starts:
 * without `--input-type` (a script run with `node --input-type=module -e ...` would make
 * every worker fail to start), and without the V8 and process-wide flags Node refuses in
 * a worker (`--max-old-space-size=8192`, `--single-threaded-gc`, `--stack-size=...`). V8
 * applies its heap flags to the workers' heaps anyway; a worker's stack is its own
 * (`resourceLimits.stackSizeMb`). Node lists the refused flags in its error; exactly those
 * are dropped (with a value given as the next argument) and the start retried. If Node
 * still refuses, the workers start without flags, and a warning says so once.
 */
let workerArgv: string[] | undefined;

/** The flags Node's `ERR_WORKER_INVALID_EXEC_ARGV` message lists ("...flags: --a, --b"). */
export function refusedFlags(message: string): string[] {
  const at = message.indexOf('flags: ');
  return at < 0
    ? []
    : message
        .slice(at + 'flags: '.length)
        .split(', ')
        .map((f) => f.trim())
        .filter((f) => f.length > 0);
}

/** `argv` without the `refused` flags; a refused flag without `=` takes a value that follows it (not starting with `-`) along. */
export function withoutRefused(argv: readonly string[], refused: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!refused.includes(a)) {
      out.push(a);
      continue;
    }
    const next = argv[i + 1];
    if (!a.includes('=') && next !== undefined && !next.startsWith('-')) i++;
  }
  return out;
}

function startWorker(workerUrl: URL): Worker {
  const { Worker: WorkerClass } = workerModule();
  let argv = workerArgv ?? process.execArgv.filter((a) => !a.startsWith('--input-type'));
  for (let attempt = 0; ; attempt++) {
    try {
      const w = new WorkerClass(workerUrl, { execArgv: argv });
      workerArgv = argv;
      return w;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || argv.length === 0) throw e;
      const kept = withoutRefused(argv, refusedFlags(String((e as Error).message)));
      if (attempt === 0 && kept.length < argv.length) argv = kept;
      else {
        process.emitWarning('Worker threads start without the Node flags this process was given: Node refused them in a worker.', {
          code: 'KOPPEL_WORKER_FLAGS',
        });
        argv = [];
      }
    }
  }
}

/**
 * node:worker_threads, loaded when the first pool with threads starts: a process that never
 * starts a worker (an aggregation party, a run with 0 threads) does not load it and the
 * five internal modules it brings (about 0.5 ms of every CLI start).
 */
let workerThreads: typeof WorkerThreads | undefined;
const workerModule = (): typeof WorkerThreads => (workerThreads ??= process.getBuiltinModule('node:worker_threads'));

/** A pool running the operations of one registry. */
export class TaskPool<R extends OpRegistry> {
  readonly #ops: R;
  readonly #workers: Worker[] = [];
  /** Per worker, the tasks handed to it, in the order it answers them. */
  readonly #running = new Map<Worker, Task[]>();
  readonly #perWorker: number;
  readonly #high: Task[] = [];
  readonly #low: Task[] = [];
  #failure: KoppelError | undefined;
  #closed = false;
  /** Inline mode: the context made by the init operation (a promise if it was async). */
  #context: unknown;
  #contextPending = false;
  readonly #dispose: (keyof R & string) | undefined;
  /** Per worker, the messages it has not answered yet (tasks, init, dispose), counted apart from the task queues, which a failure empties. */
  readonly #unanswered = new Map<Worker, number>();
  /** Workers whose thread has ended. */
  readonly #exited = new Set<Worker>();

  /**
   * @param ops - the registry, for inline execution
   * @param workerUrl - the compiled worker entry that serves the same registry
   * @param size - worker threads; 0 runs every task inline on the calling thread
   * @param options - per-worker initialisation
   * @throws KoppelError `WORKER_FAILED` for threads without the compiled package; inline,
   *   whatever the init operation throws
   */
  constructor(ops: R, workerUrl: URL, size: number, options: PoolOptions<R> = {}) {
    this.#ops = ops;
    this.#perWorker = options.perWorker ?? 1;
    this.#dispose = options.dispose;
    if (!Number.isInteger(this.#perWorker) || this.#perWorker < 1 || this.#perWorker > 64)
      throw new KoppelError('INVALID_ARGUMENT', 'perWorker must be an integer from 1 to 64.');
    if (size > 0 && !(workerUrl.protocol === 'file:' && existsSync(fileURLToPath(workerUrl)))) {
      throw new KoppelError('WORKER_FAILED', 'Worker threads need the compiled package (dist/); run `npm run build`, or use 0 threads.');
    }
    const init = options.init;
    if (size === 0 && init) {
      const c = (ops[init.op] as (a: unknown) => unknown)(init.arg);
      this.#contextPending = c instanceof Promise;
      if (c instanceof Promise) c.catch(() => undefined);
      this.#context = c;
    }
    for (let i = 0; i < size; i++) {
      const w = startWorker(workerUrl);
      w.unref();
      w.on('message', (m: { ok: true; value: unknown } | { ok: false; code: string; message: string; details: Record<string, unknown> }) => {
        this.#unanswered.set(w, (this.#unanswered.get(w) ?? 1) - 1);
        const t = this.#running.get(w)?.shift();
        if (t) {
          if (m.ok) t.resolve(m.value);
          else t.reject(new KoppelError(m.code as KoppelError['code'], m.message, { details: m.details as KoppelError['details'] }));
        }
        this.#pump();
      });
      w.on('error', () =>
        this.#fail(new KoppelError('WORKER_FAILED', 'A worker thread failed; rerun with 0 threads to compute on the main thread, and report this.')),
      );
      w.on('exit', (code) => {
        this.#exited.add(w);
        if (code !== 0 && !this.#closed) this.#fail(new KoppelError('WORKER_FAILED', 'A worker thread exited unexpectedly (out of memory?).'));
      });
      this.#workers.push(w);
      const queue: Task[] = [];
      this.#running.set(w, queue);
      if (init) {
        // The worker's first task (it answers in order); a failure fails the pool.
        queue.push({
          op: init.op,
          arg: undefined,
          transfer: [],
          resolve: () => undefined,
          reject: (e) => this.#fail(e instanceof KoppelError ? e : new KoppelError('WORKER_FAILED', 'A worker thread failed to start.')),
        });
        this.#post(w, { op: init.op, arg: init.arg, init: true });
      }
    }
  }

  /** Number of worker threads (0: inline). */
  get size(): number {
    return this.#workers.length;
  }

  /** Runs `op` with `arg`; `transfer` lists buffers moved (not copied) to the worker. */
  run<K extends keyof R & string>(
    op: K,
    arg: Parameters<R[K]>[0],
    options: { priority?: Priority; transfer?: ArrayBuffer[]; owner?: object } = {},
  ): Promise<Awaited<ReturnType<R[K]>>> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new KoppelError('INTERNAL', 'The task pool is closed.'));
    if (this.#workers.length === 0) {
      const f = this.#ops[op] as (a: unknown, c: unknown) => Awaited<ReturnType<R[K]>>;
      if (this.#contextPending) return (this.#context as Promise<unknown>).then((c) => f(arg, c));
      try {
        return Promise.resolve(f(arg, this.#context));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      const t: Task = { op, arg, transfer: options.transfer ?? [], resolve: resolve as (v: unknown) => void, reject, owner: options.owner };
      (options.priority === 'low' ? this.#low : this.#high).push(t);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#high.length > 0 || this.#low.length > 0) {
      // The least loaded worker with room (an init counts as a task).
      let w: Worker | undefined;
      let load = this.#perWorker;
      for (const [x, q] of this.#running) {
        if (q.length < load) {
          w = x;
          load = q.length;
        }
      }
      if (!w) return;
      const t = (this.#high.shift() ?? this.#low.shift()) as Task;
      (this.#running.get(w) as Task[]).push(t);
      this.#post(w, { op: t.op, arg: t.arg }, t.transfer);
    }
  }

  /** The pool has failed (a worker died): every later task is rejected. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Rejects with `error` the tasks `owner` submitted that no worker has started yet. */
  cancelQueued(owner: object, error: KoppelError): void {
    for (const queue of [this.#high, this.#low]) {
      for (let i = queue.length - 1; i >= 0; i--) {
        const t = queue[i] as Task;
        if (t.owner === owner) {
          queue.splice(i, 1);
          t.reject(error);
        }
      }
    }
  }

  #fail(e: KoppelError): void {
    if (this.#failure) return;
    this.#failure = e;
    const running = [...this.#running.values()].flatMap((q) => q.splice(0));
    for (const t of [...this.#high.splice(0), ...this.#low.splice(0), ...running]) t.reject(e);
  }

  /** Hands a message to worker `w`, counting it until `w` answers. */
  #post(w: Worker, message: unknown, transfer: ArrayBuffer[] = []): void {
    this.#unanswered.set(w, (this.#unanswered.get(w) ?? 0) + 1);
    w.postMessage(message, transfer);
  }

  /** Stops the workers, after {@link PoolOptions.dispose} if given. Pending tasks are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new KoppelError('ABORTED', 'The task pool was closed.'));
    const op = this.#dispose;
    if (op !== undefined && this.#workers.length === 0) {
      try {
        const c = this.#contextPending ? await (this.#context as Promise<unknown>) : this.#context;
        await (this.#ops[op] as (a: unknown, c: unknown) => unknown)(undefined, c);
      } catch {
        // An init that failed made nothing to wipe; a failing dispose has nothing more to do.
      }
    } else if (op !== undefined) {
      await Promise.all(this.#workers.filter((w) => !this.#exited.has(w)).map((w) => this.#disposeIn(w, op)));
    }
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  /**
   * Runs `op` in worker `w` after the messages it is still answering (a worker answers in
   * order); resolves when it has, when the thread ends, or at the deadline.
   */
  #disposeIn(w: Worker, op: string): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        w.off('exit', done);
        resolve();
      };
      const timer = setTimeout(done, DISPOSE_DEADLINE_MS);
      timer.unref();
      w.once('exit', done);
      // The queue was emptied by the close (or an earlier failure); the answers still to come are counted apart.
      const queue = this.#running.get(w) as Task[];
      const ignore: Task = { op, arg: undefined, transfer: [], resolve: () => undefined, reject: () => undefined };
      queue.length = 0;
      for (let i = 0; i < (this.#unanswered.get(w) ?? 0); i++) queue.push(ignore);
      queue.push({ op, arg: undefined, transfer: [], resolve: done, reject: done });
      this.#post(w, { op, arg: undefined });
    });
  }
}

/** The part of a pool a run uses: {@link TaskPool} itself, or a {@link PoolLease} of a shared one. */
export interface TaskRunner<R extends OpRegistry> {
  /** Number of worker threads (0: inline). */
  readonly size: number;
  /** Runs `op` with `arg` (see {@link TaskPool.run}). */
  run<K extends keyof R & string>(
    op: K,
    arg: Parameters<R[K]>[0],
    options?: { priority?: Priority; transfer?: ArrayBuffer[] },
  ): Promise<Awaited<ReturnType<R[K]>>>;
  /** Releases the pool (a lease: gives it back). */
  close(): Promise<void>;
}

interface SharedEntry {
  readonly pool: TaskPool<OpRegistry>;
  users: number;
}

/** Pools without per-worker state, shared by the runs of one process that are open at once. */
const sharedPools = new Map<string, SharedEntry>();

/**
 * A run's use of a pool shared with the other runs of this process that are open at the
 * same time (both parties of an in-process run, a server's concurrent sessions): one set
 * of workers per worker entry and size instead of one per run, so concurrent runs do not
 * start (and warm up) more threads than the machine has cores. Only for registries whose
 * workers keep nothing between tasks (no {@link PoolOptions.init}): every secret a task
 * needs travels with the task.
 *
 * Closing the lease cancels its tasks that have not started (`ABORTED`); the workers stop
 * when the last lease is closed. A pool that fails (a worker died) fails its open leases'
 * tasks, and the next lease gets a new pool.
 */
export class PoolLease<R extends OpRegistry> implements TaskRunner<R> {
  readonly #entry: SharedEntry;
  readonly #key: string;
  #closed = false;

  /**
   * @param ops - the registry, for inline execution
   * @param workerUrl - the compiled worker entry that serves the same registry
   * @param size - worker threads; 0 runs every task inline (nothing is shared)
   * @throws KoppelError `WORKER_FAILED` for threads without the compiled package
   */
  constructor(ops: R, workerUrl: URL, size: number) {
    this.#key = `${size}:${workerUrl.href}`;
    let entry = sharedPools.get(this.#key);
    if (!entry || entry.pool.failed || size === 0) {
      entry = { pool: new TaskPool(ops, workerUrl, size) as unknown as TaskPool<OpRegistry>, users: 0 };
      if (size > 0) sharedPools.set(this.#key, entry);
    }
    entry.users++;
    this.#entry = entry;
  }

  /** Number of worker threads (0: inline). */
  get size(): number {
    return this.#entry.pool.size;
  }

  /** How many open leases use this lease's workers (itself included). */
  get users(): number {
    return this.#entry.users;
  }

  /** Runs `op` with `arg` on the shared workers (see {@link TaskPool.run}). */
  run<K extends keyof R & string>(
    op: K,
    arg: Parameters<R[K]>[0],
    options: { priority?: Priority; transfer?: ArrayBuffer[] } = {},
  ): Promise<Awaited<ReturnType<R[K]>>> {
    if (this.#closed) return Promise.reject(new KoppelError('INTERNAL', 'The task pool is closed.'));
    return (this.#entry.pool as unknown as TaskPool<R>).run(op, arg, { ...options, owner: this });
  }

  /** Gives the pool back: this lease's queued tasks are cancelled; the last lease stops the workers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const e = this.#entry;
    e.pool.cancelQueued(this, new KoppelError('ABORTED', 'The task pool was closed.'));
    if (--e.users > 0) return;
    if (sharedPools.get(this.#key) === e) sharedPools.delete(this.#key);
    await e.pool.close();
  }
}

/**
 * The body of a worker entry: answers `{ op, arg }` messages with the registry's
 * results, and typed failures with their code. The pool's initialisation message
 * (`init: true`) makes the worker's context, passed to every later operation.
 */
export function serveRegistry(ops: OpRegistry, port: MessagePort): void {
  let context: unknown;
  // One task at a time, answered in the order received (the pool relies on it).
  let previous: Promise<void> = Promise.resolve();
  const serve = (m: { op: string; arg: unknown; init?: true }): Promise<void> => {
    const f = ops[m.op] as ((a: unknown, c: unknown) => unknown) | undefined;
    const fail = (e: unknown) => {
      const k = e instanceof KoppelError ? e : new KoppelError('INTERNAL', 'Unexpected error in a worker thread; please report this.');
      port.postMessage({ ok: false, code: k.code, message: k.message, details: { ...k.details } });
    };
    try {
      if (!f) throw new KoppelError('INTERNAL', 'Unknown pool operation.');
      if (m.init) {
        return Promise.resolve(f(m.arg, undefined)).then((c) => {
          context = c;
          port.postMessage({ ok: true, value: undefined });
        }, fail);
      }
      const value = f(m.arg, context);
      if (!(value instanceof Promise)) {
        port.postMessage({ ok: true, value }, collectTransfer(value));
        return Promise.resolve();
      }
      return value.then((v: unknown) => port.postMessage({ ok: true, value: v }, collectTransfer(v)), fail);
    } catch (e) {
      fail(e);
      return Promise.resolve();
    }
  };
  port.on('message', (m: { op: string; arg: unknown; init?: true }) => {
    previous = previous.then(() => serve(m));
  });
}

/** Buffers inside a result that can be moved rather than copied back. */
function collectTransfer(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const visit = (v: unknown) => {
    if (v instanceof Uint8Array) {
      if (v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
    } else if (v && typeof v === 'object') {
      for (const x of Object.values(v)) visit(x);
    }
  };
  visit(value);
  return [...out];
}
