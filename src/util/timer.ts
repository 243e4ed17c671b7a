/**
 * Timers for any duration. Node's `setTimeout` holds at most 2^31 - 1 ms (about 24.8
 * days) and fires after 1 ms when given more, with only a warning; a round deadline
 * months away would then time out at once. {@link startTimer} waits in steps instead.
 *
 * @packageDocumentation
 */

/** The longest delay one `setTimeout` holds, in ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A running timer. */
export interface Timer {
  /** Stops the timer; the callback will not run. */
  clear(): void;
}

/**
 * Runs `fn` once after `ms` milliseconds, however long that is. With `unref`, the timer
 * does not keep the process alive.
 */
export function startTimer(fn: () => void, ms: number, unref = false): Timer {
  let left = Math.max(0, ms);
  let handle: NodeJS.Timeout | undefined;
  const step = (): void => {
    const wait = Math.min(left, MAX_TIMER_MS);
    left -= wait;
    handle = setTimeout(() => (left > 0 ? step() : fn()), wait);
    if (unref) handle.unref();
  };
  step();
  return { clear: () => clearTimeout(handle) };
}
