#!/usr/bin/env node
/**
 * Bundles the koppel CLI (dist/cli/main.js with every koppel module and package its
 * commands use) into dist/cli/bundle/: the entry main.cjs and one chunk per command
 * (main.ts loads each command with a dynamic import(), which becomes a chunk), plus
 * chunks of the code several commands share, then writes each chunk's V8 code cache
 * beside it (x.cjs.v8cache). dist/cli/bin.js runs the bundle through
 * dist/cli/bundle-loader.js, which hands V8 those caches. Runs after `tsc` (npm run build).
 *
 * The bundle is CommonJS, though koppel is ES modules, for the code cache alone: Node 20
 * can give V8 a cache for a script (vm.Script) but not for an ES module. Its code is still
 * strict mode (each chunk starts with "use strict", and the build checks it). A chunk holds
 * no import() (a script compiled from a V8 code cache, in Node 20, cannot import()): one
 * chunk loads another with require, and koppel loads Node's modules with import or
 * require, never import(); the build fails on any import() but a chunk's.
 *
 * Two rewrites of the tsc output, in bundled modules only:
 * - koppel loads its CommonJS packages as `createRequire(import.meta.url)(name)` (see
 *   src/util/cjs.ts); those calls become plain `require(name)`, which the bundler follows.
 * - `new URL('<relative path>', import.meta.url)` (a worker thread's module, the bin)
 *   would point next to the chunk; it is rewritten to point from dist/cli/bundle/ at the
 *   unbundled file in dist/, which must exist. Workers therefore run the same dist/ files
 *   as the library.
 * The build then checks that the bundle loads nothing at run time but Node's own
 * modules, its own chunks and those files. The charting library of the report (vega,
 * vega-lite) is reached only through the report's dynamic import(), so it stays in chunks
 * of its own that no other command loads. Its vega-canvas package is taken in its
 * browser build, which looks for no `canvas` package (node-canvas, a native addon koppel
 * does not install; its Node build looks with a top-level await, which CommonJS cannot
 * hold): in Node both builds find no canvas, and vega renders SVG without one.
 */
import { spawnSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';
import { CODE_CACHE_SUFFIX } from '../dist/cli/bundle-loader.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist${sep}`;
const outDir = `${dist}cli${sep}bundle`;
const LOAD = 'createRequire(import.meta.url)(';
const VEGA_CANVAS_NODE = fileURLToPath(import.meta.resolve('vega-canvas'));
const VEGA_CANVAS_BROWSER = resolve(dirname(VEGA_CANVAS_NODE), 'vega-canvas.browser.js');
const URL_OF = /new URL\((['"])(\.\.?\/[^'"]+)\1, import\.meta\.url\)/g;
const fail = (why) => {
  console.error(`bundle-cli: ${why}`);
  process.exit(1);
};

/** A test of a module id: one of `paths` (under dist/, without .js), or any file of one of `packages`. */
const modules = (paths, packages = []) => {
  const posix = (p) => p.split(sep).join('/');
  const distPosix = posix(dist);
  const files = new Set(paths.map((p) => `${distPosix}${p}.js`));
  return (id) => files.has(posix(id)) || packages.some((p) => posix(id).includes(`/node_modules/${p}/`));
};

/**
 * Chunks of code every command, or most, need. Left to itself the bundler makes a chunk
 * for each set of commands that share a module, and `aggregate input` loaded 19 files,
 * most of a few kB: in Node 20 each ES module file costs the loader about 1 ms (resolve,
 * read, link), more than compiling the code of several. So:
 * - `core`: what main.js itself needs (the program, commander, logging, signals,
 *   errors, version), one chunk beside main.js for every command;
 * - `shared`: the network and file plumbing of the commands that talk to peers (io-ts,
 *   papaparse, the wire codecs and frames, transport, session layer, CSV reading,
 *   agreements and receipts, the CLI's io and common helpers). A command that needs only
 *   part of it (keygen, report) compiles a little more, but loads fewer files.
 * No protocol of one command (psi/, join/, oprf/, aggregate/) and no group suite is in
 * them: those stay in their commands' chunks (test/cli/bundle.test.ts checks it).
 */
const CHUNK_GROUPS = [
  {
    name: 'core',
    priority: 20,
    test: modules(['cli/program', 'cli/commander', 'cli/log', 'cli/signals', 'errors/index', 'version'], ['commander']),
  },
  {
    name: 'shared',
    priority: 10,
    test: modules(
      [
        'util/bytes',
        'util/cjs',
        'util/hash',
        'util/prg',
        'util/pool',
        'util/pipeline',
        'util/timer',
        'wire/codec',
        'wire/frame',
        'transport/channel',
        'transport/net',
        'transport/peer',
        'transport/resumable',
        'session/hello',
        'session/link',
        'session/session',
        'session/transcript',
        'csv/chunker',
        'csv/policy',
        'csv/reader',
        'csv/records',
        'pseudonymise/normalise',
        'agreement/agreement',
        'agreement/receipt',
        'agreement/signature',
        'agreement/verify',
        'report/table',
        'cli/agreement',
        'cli/common',
        'cli/io',
        'cli/receipt',
      ],
      ['fp-ts', 'io-ts', 'papaparse'],
    ),
  },
];

const bundle = await rolldown({
  input: { main: `${dist}cli${sep}main.js` },
  platform: 'node',
  logLevel: 'warn',
  plugins: [
    {
      // The report's charts render to SVG with vega's headless View, without a canvas:
      // vega-canvas in its browser build (see the top of this file).
      name: 'koppel-vega-canvas',
      resolveId(source) {
        if (source !== 'vega-canvas') return null;
        if (!existsSync(VEGA_CANVAS_BROWSER)) fail(`vega-canvas has no browser build at ${relative(root, VEGA_CANVAS_BROWSER)}`);
        return VEGA_CANVAS_BROWSER;
      },
    },
    {
      name: 'koppel-dist-rewrites',
      transform(code, id) {
        if (!id.startsWith(dist)) return null;
        let out = code.split(LOAD).join('require(');
        out = out.replace(URL_OF, (_, q, rel) => {
          const target = resolve(dirname(id), rel);
          if (!existsSync(target)) fail(`${relative(root, id)} refers to ${rel}, which the build did not produce`);
          const fromBundle = relative(outDir, target).split(sep).join('/');
          return `new URL(${q}${fromBundle.startsWith('.') ? '' : './'}${fromBundle}${q}, import.meta.url)`;
        });
        return out === code ? null : { code: out, map: null };
      },
    },
  ],
});
const { output } = await bundle.write({
  dir: outDir,
  format: 'cjs',
  sourcemap: true,
  entryFileNames: '[name].cjs',
  chunkFileNames: '[name]-[hash].cjs',
  codeSplitting: { groups: CHUNK_GROUPS },
  // ES modules are strict mode code; the CommonJS chunks say so on their first line.
  banner: "'use strict';\n// Generated by scripts/bundle-cli.mjs from dist/cli/main.js: do not edit.",
});
await bundle.close();

// What the bundle loads at run time: its chunks' requires (in CommonJS, a chunk loads
// another with `require("./<chunk>")`, a package or a module of Node with `require(name)`),
// and the files named by `new URL(...)`.
const URL_OUT = /new URL\((['"])(\.\.?\/[^'"]+)\1, require\("url"\)\.pathToFileURL\(__filename\)\.href\)/g;
const chunks = output.filter((o) => o.type === 'chunk');
const own = new Set(chunks.map((c) => c.fileName));
const loads = new Set();
const files = new Set();
for (const c of chunks) {
  const text = readFileSync(resolve(outDir, c.fileName), 'utf8');
  if (!/^(['"])use strict\1;\n/.test(text)) fail(`${c.fileName} does not start with "use strict"`);
  if (text.includes('import.meta')) fail(`${c.fileName} still uses import.meta (a createRequire or new URL the rewrites missed)`);
  // (import() from the chunk's metadata: the text has some in comments, commander's JSDoc.)
  for (const s of c.dynamicImports)
    if (!own.has(s)) fail(`${c.fileName} has an import() of ${s}: the bundle's loader runs chunks as scripts, which can import() nothing`);
  for (const [, s] of text.matchAll(/\brequire\("([^"]+)"\)/g)) {
    if (own.has(s.startsWith('./') ? s.slice(2) : s)) continue;
    if (!isBuiltin(s)) fail(`${c.fileName} loads ${s} at run time, which is neither a module of Node nor a chunk of the bundle`);
    loads.add(s);
  }
  for (const m of text.matchAll(URL_OUT)) {
    const target = resolve(outDir, m[2]);
    if (!existsSync(target)) fail(`${c.fileName} refers to ${m[2]}, which does not exist`);
    files.add(relative(root, target).split(sep).join('/'));
  }
}
if (files.size === 0) fail('found no worker module named by the bundle: the rewrite of new URL(..., import.meta.url) no longer matches');

// The code cache: written by one process, then checked by another, both started with no
// V8 flags (NODE_OPTIONS unset): V8 refuses a cache made under other flags.
const loaderUrl = new URL('../dist/cli/bundle-loader.js', import.meta.url).href;
const { NODE_OPTIONS: _, ...env } = process.env;
const chunkCaches = (write) => {
  const script = `import { loadEveryChunk } from ${JSON.stringify(loaderUrl)}; process.stdout.write(JSON.stringify([...loadEveryChunk(${JSON.stringify(outDir)}, ${write})])); process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) fail(`${write ? 'writing' : 'checking'} the code cache failed (exit status ${r.status})`);
  return new Map(JSON.parse(r.stdout));
};
chunkCaches(true);
const unused = [...chunkCaches(false)].filter(([, use]) => use !== 'used');
if (unused.length > 0) fail(`the code cache of ${unused.map(([c, use]) => `${c} (${use})`).join(', ')} was not used by a fresh process`);
const cacheKB = Math.round(chunks.reduce((n, c) => n + statSync(resolve(outDir, c.fileName + CODE_CACHE_SUFFIX)).size, 0) / 1024);

const kB = Math.round(chunks.reduce((n, c) => n + c.code.length, 0) / 1024);
console.log(
  `bundle-cli: ${relative(root, outDir)}/ (${chunks.length} chunks, ${kB} kB, code cache ${cacheKB} kB); at run time it loads only ${[...loads].sort().join(', ')}, and ${[...files].sort().join(', ')}`,
);
