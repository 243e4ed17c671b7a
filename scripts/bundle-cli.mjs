#!/usr/bin/env node
/**
 * Bundles the koppel CLI (dist/cli/main.js with every koppel module and package its
 * commands use) into dist/cli/bundle/: the entry main.js and one chunk per command
 * (main.ts loads each command with a dynamic import(), which becomes a chunk), plus
 * chunks of the code several commands share. dist/cli/bin.js runs it. Runs after `tsc`
 * (npm run build).
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
 * of its own that no other command loads; its optional `canvas` import is an empty module.
 */
import { isBuiltin } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist${sep}`;
const outDir = `${dist}cli${sep}bundle`;
const LOAD = 'createRequire(import.meta.url)(';
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
      // The report's charts render to SVG with vega's headless View, without a canvas.
      // vega-canvas tries `import('canvas')` (node-canvas, a native addon koppel does not
      // install); in the bundle that import is an empty module, so vega never looks for one.
      name: 'koppel-no-canvas',
      resolveId(source) {
        return source === 'canvas' ? '\0koppel-no-canvas' : null;
      },
      load(id) {
        return id === '\0koppel-no-canvas' ? 'export {};' : null;
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
  format: 'esm',
  sourcemap: true,
  entryFileNames: '[name].js',
  chunkFileNames: '[name]-[hash].js',
  codeSplitting: { groups: CHUNK_GROUPS },
  banner: '// Generated by scripts/bundle-cli.mjs from dist/cli/main.js: do not edit.',
});
await bundle.close();

// What the bundle loads at run time: its chunks' static and dynamic imports, the
// requires of the CommonJS code in them (`__require`), and the files named by
// `new URL(..., import.meta.url)`.
const chunks = output.filter((o) => o.type === 'chunk');
const own = new Set(chunks.map((c) => c.fileName));
const loads = new Set();
const files = new Set();
for (const c of chunks) {
  const text = readFileSync(resolve(outDir, c.fileName), 'utf8');
  if (text.includes(LOAD)) fail(`${c.fileName} still loads a package through createRequire`);
  for (const s of [...c.imports, ...c.dynamicImports, ...[...text.matchAll(/\b__require\("([^"]+)"\)/g)].map((m) => m[1])]) {
    if (own.has(s)) continue;
    if (!isBuiltin(s)) fail(`${c.fileName} loads ${s} at run time, which is neither a module of Node nor a chunk of the bundle`);
    loads.add(s);
  }
  for (const m of text.matchAll(URL_OF)) {
    const target = resolve(outDir, m[2]);
    if (!existsSync(target)) fail(`${c.fileName} refers to ${m[2]}, which does not exist`);
    files.add(relative(root, target).split(sep).join('/'));
  }
}
const kB = Math.round(chunks.reduce((n, c) => n + c.code.length, 0) / 1024);
console.log(
  `bundle-cli: ${relative(root, outDir)}/ (${chunks.length} chunks, ${kB} kB); at run time it loads only ${[...loads].sort().join(', ')}, and ${[...files].sort().join(', ')}`,
);
