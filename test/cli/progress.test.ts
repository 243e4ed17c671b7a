/**
 * What a progress line says about the input: the share of its bytes read and the time
 * left at the rate so far, nothing when the size is unknown (stdin), and durations a
 * person reads at a glance.
 */
import { describe, expect, it } from 'vitest';
import { formatDuration, inputProgress } from '../../src/cli/common.js';

describe('progress of the input', () => {
  it('the share read and the time left at the overall rate so far', () => {
    // 10 MB of 40 MB in 20 s: 30 MB to go at 0.5 MB/s is 60 s.
    expect(inputProgress({ bytesRead: 10e6, totalBytes: 40e6 }, 20)).toEqual({
      text: 'input 25% of 40.0 MB, about 60 s left',
      fields: { bytesRead: 10e6, totalBytes: 40e6, percent: 25, secondsLeft: 60 },
    });
  });

  it('no time left before the first byte; read once everything is; nothing for stdin', () => {
    expect(inputProgress({ bytesRead: 0, totalBytes: 1000 }, 0.2)?.text).toBe('input 0% of 1.0 kB');
    expect(inputProgress({ bytesRead: 1000, totalBytes: 1000 }, 3)).toEqual({
      text: 'input read (1.0 kB)',
      fields: { bytesRead: 1000, totalBytes: 1000, percent: 100 },
    });
    expect(inputProgress({ bytesRead: 5, totalBytes: undefined }, 1)).toBeUndefined();
  });

  it('durations in seconds, minutes, then hours and minutes', () => {
    expect([formatDuration(0.4), formatDuration(89), formatDuration(600), formatDuration(7500)]).toEqual(['0 s', '89 s', '10 min', '2 h 05 min']);
  });
});
