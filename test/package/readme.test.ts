/**
 * The README's library quick starts run as written (issue 19): every ```ts block is run as
 * an ES module in a directory where `koppel` resolves to this checkout, next to the files
 * the snippets name (a key from `koppel keygen`, a persons file with some invalid BSNs).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { runKoppel, runNode } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const dir = mkdtempSync(join(tmpdir(), 'koppel-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README library snippets', () => {
  it('there are snippets to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  it.each(blocks.map((b, i) => [i + 1, b] as const))('snippet %i runs as written, on a realistic file with some invalid BSNs', async (_i, code) => {
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    try {
      symlinkSync(root, join(dir, 'node_modules', 'koppel'), 'dir');
    } catch {
      // made by an earlier snippet
    }
    const key = await runKoppel(['keygen', '--out', join(dir, 'cbs-pseudonym.key')]);
    if (key.code !== 0 && !key.stderr.includes('exists')) expect(key.code, key.stderr).toBe(0);
    const rng = new SyntheticRandom('readme');
    const rows = Array.from({ length: 2000 }, (_, i) => (i % 97 === 5 ? '123456789' : syntheticBsn(rng)));
    writeFileSync(join(dir, 'persons.csv'), 'bsn,province\n' + rows.map((b, i) => `${b},p${i % 5}`).join('\n') + '\n');
    const r = await runNode(['--input-type=module', '-e', code], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
  });
});
