import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { listen } from '../../src/transport/net.js';
import { MAX_TIMER_MS, startTimer } from '../../src/util/timer.js';

const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;

describe('startTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires after a delay longer than one setTimeout can hold, not before', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    startTimer(fn, MAX_TIMER_MS + 5);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('fires after a short delay, once', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    startTimer(fn, 10);
    vi.advanceTimersByTime(9);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not fire once cleared, also after a step of a long delay', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const t = startTimer(fn, 3 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1);
    t.clear();
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(fn).not.toHaveBeenCalled();
  });
});

// Regression: Node's setTimeout fires after 1 ms for delays beyond 2^31 - 1 ms, so a
// round whose deadline was more than 24.8 days away timed out at once.
describe('timeouts beyond 24.8 days on real timers', () => {
  it('a listener waiting 30 days for a peer is still waiting after 100 ms', async () => {
    const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true } });
    let settled = false;
    const waiting = l.accept(THIRTY_DAYS_MS).then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await l.close();
    await waiting;
  });

  it('a receive with a 30-day idle timeout is still waiting after 100 ms', async () => {
    const [a, b] = createMemoryChannelPair({ idleTimeoutMs: THIRTY_DAYS_MS });
    let settled = false;
    const waiting = b.receive().then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await a.send(new Uint8Array([1]));
    await waiting;
    await a.close();
    await b.close();
  });
});
