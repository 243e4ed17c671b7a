/**
 * `koppel aggregate` runs from one bundled file (dist/cli/bundle/aggregate.js, made by
 * scripts/bundle-cli.mjs): these tests check that the command really loads that file and
 * nothing else of koppel or of node_modules, and that the file works on its own.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, runNode } from '../helpers.js';

const BUNDLE = fileURLToPath(new URL('../../dist/cli/bundle/aggregate.js', import.meta.url));

// NODE_DEBUG=module: the CommonJS loader reports every module it loads (on stderr).
const node = (args: string[], cwd?: string) => runNode(args, { env: { ...process.env, NODE_DEBUG: 'module' }, ...(cwd ? { cwd } : {}) });

// A module resolve hook that reports every file the process loads (on stderr).
const hook = `export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process._rawDebug('LOADED ' + r.url); return r; }`;
const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
const traced = ['--import', 'data:text/javascript,' + encodeURIComponent(register)];

describe('the aggregate command bundle', () => {
  it('koppel aggregate loads the bin and the bundle only: no other koppel module, no package from node_modules', async () => {
    const r = await node([...traced, CLI, 'aggregate', 'input', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Input party');
    const loaded = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => fileURLToPath(l.slice(7)));
    expect(loaded).toEqual([CLI, BUNDLE]);
    // Nor does anything in it require() a package: the CommonJS loader loads built-ins only.
    const builtin = (l: string) => /load built-in module/.test(l) || isBuiltin(/Module\._load REQUEST (\S+)/.exec(l)?.[1] ?? '');
    const required = r.stderr.split('\n').filter((l) => l.startsWith('MODULE ') && !builtin(l));
    expect(required).toEqual([]);
    expect(r.stderr).toContain('load built-in module node:crypto');
  });

  it('another command does not load the bundle (the hook sees its modules)', async () => {
    const r = await node([...traced, CLI, 'keygen', '--help']);
    expect(r.code).toBe(0);
    const loaded = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => fileURLToPath(l.slice(7)));
    expect(loaded).toContain(CLI);
    expect(loaded.some((f) => f.endsWith(join('dist', 'cli', 'main.js')))).toBe(true);
    expect(loaded).not.toContain(BUNDLE);
    expect(r.stderr).toMatch(/node_modules[\\/]commander/);
  });

  it('works copied alone into an empty directory (it needs nothing but Node)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bundle-'));
    copyFileSync(BUNDLE, join(dir, 'aggregate.mjs'));
    const help = await node(
      ['--input-type=module', '-e', "const { run } = await import('./aggregate.mjs'); process.exitCode = await run(['aggregate', 'collect', '--help']);"],
      dir,
    );
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--threshold');
    // A typed error comes out as the full CLI prints it, with the usage exit status.
    const bad = await node(
      [
        '--input-type=module',
        '-e',
        "const { run } = await import('./aggregate.mjs'); process.exitCode = await run(['aggregate', 'input', '--round', 'nope.json', '--insecure', '--party', 'p', '--aggregators', '127.0.0.1:1,127.0.0.1:2']);",
      ],
      dir,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^koppel: INVALID_ARGUMENT: Cannot read the round file/m);
  });
});
