/**
 * `join groups --max-value N`: a value holder declaring a larger `--max-value` is refused
 * with the HELLO, on both sides, with the field named (issue 16, bounded discrete logarithm).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKoppel as koppel, startKoppel } from '../helpers.js';

describe('join groups --max-value', () => {
  it('refuses a value holder that declares more: LIMIT_EXCEEDED naming maxValue on both sides, no table written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-maxvalue-'));
    const f = (n: string) => join(dir, n);
    writeFileSync(f('a.csv'), 'id,g\n' + Array.from({ length: 50 }, (_, i) => `id-${i},g${i % 2}`).join('\n') + '\n');
    writeFileSync(f('b.csv'), 'id,v\n' + Array.from({ length: 50 }, (_, i) => `id-${i},${i}`).join('\n') + '\n');
    const net = ['--insecure', '--timeout', '20', '--idle-timeout', '20', '--threads', '0'];
    const groups = startKoppel([
      'join',
      'groups',
      '--listen',
      '127.0.0.1:0',
      '--in',
      f('a.csv'),
      '--id-column',
      'id',
      '--group-columns',
      'g',
      '--max-value',
      '100',
      '--out',
      f('t.csv'),
      ...net,
    ]);
    const port = (await groups.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1] as string;
    const values = await koppel([
      'join',
      'values',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      f('b.csv'),
      '--id-column',
      'id',
      '--value-columns',
      'v',
      '--max-value',
      '1000',
      ...net,
    ]);
    const a = await groups.done;
    expect(a.code, a.stderr).toBe(1);
    expect(a.stderr).toMatch(/koppel: LIMIT_EXCEEDED: The value holder declares a maximum value of 1000, above the 100/);
    expect(existsSync(f('t.csv'))).toBe(false);
    expect(values.code, values.stderr).toBe(1);
    expect(values.stderr).toMatch(/koppel: LIMIT_EXCEEDED: .*maxValue: the peer accepts at most "100", this side has "1000"/);
  }, 60_000);
});
