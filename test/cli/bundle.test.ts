/**
 * Every command runs from the CLI's bundle (dist/cli/bundle/, made by
 * scripts/bundle-cli.mjs from dist/cli/main.js, one chunk per command, with V8's code cache
 * of each chunk): these tests check which files a command loads (the bin, its loader and
 * chunks of the bundle only, with that command's code and not another's; nothing from
 * node_modules), that the chunks run from the build's code cache and from their text when
 * a cache is missing, stale or refused, that worker threads still start from the bundle,
 * and that the bundle runs with dist/ copied elsewhere.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CODE_CACHE_SUFFIX } from '../../src/cli/bundle-loader.js';
import { CLI, runNode } from '../helpers.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const BUNDLE = join(DIST, 'cli', 'bundle');

// NODE_DEBUG=module: the CommonJS loader reports every module it loads (on stderr);
// NODE_DEBUG=koppel: the bundle's loader reports every chunk it runs, and whether V8 had
// its code cache. NODE_OPTIONS unset: V8 refuses a cache made under other V8 flags.
const { NODE_OPTIONS: _, ...baseEnv } = process.env;
const node = (args: string[], options: { cwd?: string; stdin?: string } = {}) =>
  runNode(args, { env: { ...baseEnv, NODE_DEBUG: 'module,koppel' }, ...options });

// A module resolve hook that reports every file the process loads (on stderr).
const hook = `export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process._rawDebug('LOADED ' + r.url); return r; }`;
const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
const traced = ['--import', 'data:text/javascript,' + encodeURIComponent(register)];

const CHUNK = /^KOPPEL \d+: chunk (\S+): code cache (\S+)$/;
/** The chunks the bundle's loader ran (in the order they ran), each with its cache's use. */
const chunkLines = (stderr: string) =>
  stderr
    .split('\n')
    .map((l) => CHUNK.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ chunk: m[1]!, cache: m[2]! }));

/** The ES modules the process loaded (the bin, its loader, workers), then the chunks of the bundle. */
const loadedFiles = (stderr: string) => [
  ...stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => fileURLToPath(l.slice(7))),
  ...chunkLines(stderr).map((c) => join(BUNDLE, c.chunk)),
];
const LOADER = join(DIST, 'cli', 'bundle-loader.js');

/** The modules bundled into the given chunks (from their source maps), as paths relative to dist/ or the package root. */
function sourcesOf(chunks: string[]): Set<string> {
  const out = new Set<string>();
  for (const c of chunks) {
    if (!existsSync(`${c}.map`)) continue; // rolldown's own runtime chunk has no source map
    const map = JSON.parse(readFileSync(`${c}.map`, 'utf8')) as { sources: string[] };
    for (const s of map.sources)
      out.add(
        relative(DIST, resolve(dirname(c), s))
          .split(sep)
          .join('/'),
      );
  }
  return out;
}

/** Runs a traced `koppel ...args`; returns the files it loaded and the modules in the chunks among them. */
async function trace(args: string[]) {
  const r = await node([...traced, CLI, ...args]);
  expect(r.code, r.stderr).toBe(0);
  const loaded = loadedFiles(r.stderr);
  return { r, loaded, sources: sourcesOf(loaded.filter((f) => f.startsWith(BUNDLE + sep))) };
}

/** Each command's own module (shared code, such as csv/ or pseudonymise/normalise.js, may be in several commands' chunks). */
const COMMAND_CODE: Record<string, RegExp> = {
  aggregate: /^cli\/aggregate\.js$/,
  psi: /^cli\/psi\.js$/,
  join: /^cli\/join\.js$/,
  oprf: /^cli\/oprf\.js$/,
  pseudonymise: /^cli\/pseudonymise\.js$/,
  demo: /^cli\/demo\.js$/,
};
const commandsIn = (sources: Set<string>) => Object.keys(COMMAND_CODE).filter((c) => [...sources].some((s) => COMMAND_CODE[c]!.test(s)));

describe('the CLI bundle', () => {
  it('koppel aggregate loads the bin and chunks of the bundle only, with its own code and no package from node_modules', async () => {
    const { r, loaded, sources } = await trace(['aggregate', 'input', '--help']);
    expect(r.stdout).toContain('Input party');
    expect(loaded[0]).toBe(CLI);
    expect(loaded).toContain(join(BUNDLE, 'main.cjs'));
    expect(loaded.slice(1).filter((f) => !f.startsWith(BUNDLE + sep))).toEqual([LOADER]);
    expect(commandsIn(sources)).toEqual(['aggregate']);
    expect(sources).toContain('cli/aggregate.js');
    // Nor the protocols of other commands, nor libsodium (which psi, join and oprf use).
    expect([...sources].filter((s) => /^(psi|join|oprf)\/|node_modules\/libsodium/.test(s))).toEqual([]);
    // The packages are in the bundle: the CommonJS loader loads built-ins only.
    expect([...sources].some((s) => s.includes('node_modules/commander/'))).toBe(true);
    const builtin = (l: string) => /load built-in module/.test(l) || isBuiltin(/Module\._load REQUEST (\S+)/.exec(l)?.[1] ?? '');
    const required = r.stderr.split('\n').filter((l) => l.startsWith('MODULE ') && !builtin(l));
    expect(required).toEqual([]);
    expect(r.stderr).toContain('load built-in module node:crypto');
  });

  it('each command loads its own chunks and not another command’s; --version loads none', async () => {
    expect(commandsIn((await trace(['psi', 'connect', '--help'])).sources)).toEqual(['psi']);
    expect(commandsIn((await trace(['keygen', '--help'])).sources)).toEqual(['pseudonymise']);
    expect(commandsIn((await trace(['--version'])).sources)).toEqual([]);
    // Help for the whole program lists every command, so it loads them all.
    expect(commandsIn((await trace(['--help'])).sources).sort()).toEqual(Object.keys(COMMAND_CODE).sort());
  });

  it('the charting library (vega, vega-lite) is loaded only when a report is written: not by psi, join, aggregate or demo, nor by koppel report --help', async () => {
    const charting = (sources: Set<string>) =>
      [...sources].filter((s) => /node_modules\/(vega(-[a-z]+)*|d3-[a-z-]+)\/|(^|\/)report\/(index|chart)\.js$/.test(s));
    for (const args of [
      ['psi', 'connect', '--help'],
      ['join', 'groups', '--help'],
      ['aggregate', 'collect', '--help'],
      ['demo', '--help'],
      ['report', '--help'],
    ]) {
      expect(charting((await trace(args)).sources), args.join(' ')).toEqual([]);
    }
    // Writing a report loads it.
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bundle-'));
    const table = join(dir, 't.csv');
    writeFileSync(table, 'region,count,suppressed,rule\nnorth,12,false,published\nsouth,,true,threshold\n');
    const { sources } = await trace(['report', table, '--out', join(dir, 'r.html')]);
    expect(charting(sources).some((s) => s.includes('node_modules/vega/'))).toBe(true);
    expect(charting(sources).some((s) => s.includes('node_modules/vega-lite/'))).toBe(true);
  });

  it('every chunk a command loads runs from the code cache the build made for it', async () => {
    for (const args of [['aggregate', 'input', '--help'], ['psi', 'connect', '--help'], ['--version']]) {
      const r = await node([CLI, ...args]);
      expect(r.code, r.stderr).toBe(0);
      const chunks = chunkLines(r.stderr);
      expect(chunks.map((c) => c.chunk)).toContain('main.cjs');
      expect(
        chunks.filter((c) => c.cache !== 'used'),
        args.join(' '),
      ).toEqual([]);
    }
    // The build wrote one cache for each chunk.
    const files = readdirSync(BUNDLE);
    expect(files.filter((f) => f.endsWith('.cjs') && !files.includes(f + CODE_CACHE_SUFFIX))).toEqual([]);
  });

  it('a cache that is missing, made from other text, or refused by V8 is not used: the chunk runs from its text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bundle-'));
    cpSync(DIST, join(dir, 'dist'), { recursive: true });
    const bundle = join(dir, 'dist', 'cli', 'bundle');
    const bin = join(dir, 'dist', 'cli', 'bin.js');
    const cacheOf = (stderr: string, chunk: string) => chunkLines(stderr).find((c) => c.chunk === chunk)?.cache;
    // Stale: the version in the chunk that holds it, changed to another of the same length
    // (the one case V8's own check, which compares lengths, would let through).
    const version = (JSON.parse(readFileSync(join(DIST, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const other = version.replace(/\d/g, (d) => String((Number(d) + 1) % 10));
    const holder = readdirSync(bundle).find((f) => f.endsWith('.cjs') && readFileSync(join(bundle, f), 'utf8').includes(`VERSION = "${version}"`));
    expect(holder).toBeDefined();
    const text = readFileSync(join(bundle, holder!), 'utf8');
    writeFileSync(join(bundle, holder!), text.replace(`VERSION = "${version}"`, `VERSION = "${other}"`));
    expect(readFileSync(join(bundle, holder!), 'utf8').length).toBe(text.length);
    // Missing: the entry's cache deleted.
    rmSync(join(bundle, 'main.cjs' + CODE_CACHE_SUFFIX));
    const edited = await node([bin, '--version'], { cwd: dir });
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stdout.trim()).toBe(other);
    expect(cacheOf(edited.stderr, holder!)).toBe('stale');
    expect(cacheOf(edited.stderr, 'main.cjs')).toBe('missing');
    // Refused: V8 takes no cache made under other V8 flags; the command still runs.
    const refused = await node(['--max-old-space-size=1000', CLI, 'aggregate', 'collect', '--help']);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stdout).toContain('--threshold');
    const uses = chunkLines(refused.stderr);
    expect(uses.length).toBeGreaterThan(2);
    expect(uses.filter((c) => c.cache !== 'refused')).toEqual([]);
  });

  it('a multi-threaded command starts its workers from the bundle (pseudonymise --threads 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bundle-'));
    const keyFile = join(dir, 'k.json');
    expect((await node([CLI, 'keygen', '--out', keyFile])).code).toBe(0);
    const csv = 'bsn\n' + Array.from({ length: 2000 }, (_, i) => String(100000000 + i * 11)).join('\n') + '\n';
    const args = ['pseudonymise', '--key', keyFile, '--domain', 'd/1', '--column', 'bsn', '--id-type', 'raw'];
    const one = await node([CLI, ...args, '--threads', '0'], { stdin: csv });
    const two = await node([...traced, CLI, ...args, '--threads', '2'], { stdin: csv });
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/, 2 threads/);
    expect(loadedFiles(two.stderr)).toContain(join(DIST, 'pseudonymise', 'csv-worker.js'));
    expect(two.stdout).toBe(one.stdout);
  });

  it('works with dist/ copied elsewhere, without node_modules (koppel aggregate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-bundle-'));
    cpSync(DIST, join(dir, 'dist'), { recursive: true });
    const bin = join(dir, 'dist', 'cli', 'bin.js');
    const help = await node([bin, 'aggregate', 'collect', '--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--threshold');
    // A typed error comes out as the CLI prints it, with the usage exit status.
    const bad = await node([bin, 'aggregate', 'input', '--round', 'nope.json', '--insecure', '--party', 'p', '--aggregators', '127.0.0.1:1,127.0.0.1:2'], {
      cwd: dir,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^koppel: INVALID_ARGUMENT: Cannot read the round file/m);
  });
});
