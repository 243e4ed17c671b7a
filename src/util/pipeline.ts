/**
 * Pipelining for streaming protocols and file processing: {@link FailFast} makes the
 * first failure of a run visible everywhere at once, {@link OrderedPipeline} keeps a
 * bounded number of asynchronous results in flight and hands them on in order.
 *
 * @packageDocumentation
 */

/**
 * The first failure of a run, made visible at once to every part of it: a failed
 * background task must stop a loop that is waiting for the peer, not be noticed only
 * when the peer's next message (which may never come) arrives.
 */
export class FailFast {
  #reject: (e: unknown) => void = () => undefined;
  readonly #failed: Promise<never>;
  /** The races still waiting: told of the failure, and forgotten when they settle. */
  readonly #waiting = new Set<(e: unknown) => void>();
  /** The first failure, if any. */
  error: unknown;

  constructor() {
    this.#failed = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#failed.catch(() => undefined);
  }

  /** Records a failure (the first one wins). */
  fail(e: unknown): void {
    if (this.error !== undefined) return;
    this.error = e;
    this.#reject(e);
    for (const w of this.#waiting) w(e);
    this.#waiting.clear();
  }

  /**
   * `p`, unless the run fails first. A race that settles leaves nothing behind (a
   * `Promise.race` against the pending failure would keep every result of a run
   * reachable until the run ends: every chunk of a long stream).
   */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.error !== undefined) return Promise.race([p, this.#failed]);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject);
      p.then(
        (v) => {
          this.#waiting.delete(reject);
          resolve(v);
        },
        (e: unknown) => {
          this.#waiting.delete(reject);
          reject(e);
        },
      );
    });
  }
}

/**
 * Keeps at most `depth` asynchronous results in flight and hands them to `sink` in
 * submission order: the pipelining behind every streaming step. A failed result is
 * reported to `failFast` at once, not when its turn comes.
 */
export class OrderedPipeline<T> {
  readonly #queue: Array<Promise<T>> = [];
  readonly #depth: number;
  readonly #sink: (value: T) => Promise<void> | void;
  readonly #failFast: FailFast;

  constructor(depth: number, failFast: FailFast, sink: (value: T) => Promise<void> | void) {
    this.#depth = depth;
    this.#sink = sink;
    this.#failFast = failFast;
  }

  /** Adds a result; waits while `depth` results are in flight. */
  async push(p: Promise<T>): Promise<void> {
    p.catch((e: unknown) => this.#failFast.fail(e));
    this.#queue.push(p);
    while (this.#queue.length >= this.#depth) await this.#drainOne();
  }

  /** Waits for and sinks every result in flight. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0) await this.#drainOne();
  }

  async #drainOne(): Promise<void> {
    const v = await this.#failFast.race(this.#queue.shift() as Promise<T>);
    await this.#sink(v);
  }
}

/**
 * How many results a pipeline feeding a worker pool keeps in flight: two per worker (one
 * running, one waiting), at least two.
 */
export function pipelineDepth(pool: { readonly size: number }): number {
  return Math.max(2, 2 * pool.size);
}
