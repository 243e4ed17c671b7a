/**
 * Small inputs compute on the main thread by default (issue 18, small sets): starting a
 * worker pool costs more than a small run's work. `--threads` always wins.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SMALL_INPUT_BYTES, threadsFor } from '../../src/cli/common.js';

describe('the default number of worker threads of a CLI run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'koppel-threads-'));
  const small = join(dir, 'small.csv');
  const large = join(dir, 'large.csv');
  writeFileSync(small, 'bsn\n111222333\n');
  writeFileSync(large, Buffer.alloc(SMALL_INPUT_BYTES + 1, 0x31));

  it('a small input file: none (main thread); a large one, stdin or a missing file: the library default', () => {
    expect(threadsFor({ in: small })).toEqual({ threads: 0 });
    expect(threadsFor({ in: large })).toEqual({});
    expect(threadsFor({ in: '-' })).toEqual({});
    expect(threadsFor({})).toEqual({});
    expect(threadsFor({ in: join(dir, 'missing.csv') })).toEqual({});
  });

  it('--threads wins either way', () => {
    expect(threadsFor({ in: small, threads: 2 })).toEqual({ threads: 2 });
    expect(threadsFor({ in: large, threads: 0 })).toEqual({ threads: 0 });
  });
});
