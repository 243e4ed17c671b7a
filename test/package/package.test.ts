/**
 * What the published package promises its users: it runs nothing at install time, its
 * source maps resolve to files it ships, and a CommonJS program can `require('koppel')`
 * (Node >= 20.19 loads an ES module graph with `require()` when none of it uses
 * top-level await). Reads dist/, which `npm test` builds first.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runNode } from '../helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  files: string[];
  scripts: Record<string, string>;
  exports: Record<string, unknown>;
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('the published package', () => {
  it('has no script that npm runs when a user installs it', () => {
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[hook], hook).toBeUndefined();
  });

  it('ships every file its source maps and declaration maps point at', () => {
    const shipped = (p: string) => pkg.files.some((f) => p === f || p.startsWith(`${f}/`));
    const maps = filesUnder(join(root, 'dist')).filter((p) => p.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const unresolved: string[] = [];
    for (const map of maps) {
      const m = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[]; sourceRoot?: string; sourcesContent?: Array<string | null> };
      m.sources.forEach((s, i) => {
        if (m.sourcesContent?.[i]) return; // embedded: nothing to resolve
        const target = relative(root, resolve(dirname(map), m.sourceRoot ?? '', s))
          .split('\\')
          .join('/');
        if (!shipped(target) || !existsSync(join(root, target))) unresolved.push(`${relative(root, map)} -> ${s}`);
      });
    }
    expect(unresolved).toEqual([]);
  });

  it('loads by name from CommonJS, with require() and with import()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-cjs-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'koppel'), 'dir');
    const script = [
      "const k = require('koppel');",
      "if (typeof k.Pseudonymiser !== 'function' || typeof k.KoppelError !== 'function') throw new Error('require: exports missing');",
      "import('koppel').then((m) => { if (m.Pseudonymiser !== k.Pseudonymiser) throw new Error('import: another instance'); console.log('ok'); });",
    ].join('\n');
    try {
      const r = await runNode(['--input-type=commonjs', '-e', script], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
