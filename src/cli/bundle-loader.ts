/**
 * Loads the CLI's bundle, `dist/cli/bundle/*.cjs`, with V8's code cache.
 *
 * A short-lived `koppel` process (an aggregation input, one PSI per batch) spends a good
 * part of its CPU compiling the bundle's code before it does any work. The build
 * (`scripts/bundle-cli.mjs`) therefore writes, beside each chunk `x.cjs`, the code V8
 * compiled for it, `x.cjs.v8cache`, and this loader hands it back to V8 when it compiles
 * the chunk (`vm.Script`'s `cachedData`), so V8 deserialises instead of parsing.
 *
 * Node 20 has no code cache for ES modules (`module.enableCompileCache()` came in Node
 * 22), so the bundle is CommonJS and this loader does what `require` would do for it: each
 * chunk runs once, wrapped as a CommonJS module, in the main context, and a chunk's
 * `require('./other.cjs')` loads another chunk of the same directory through this loader;
 * every other `require` (the bundle makes them for Node's own modules only) goes to Node's.
 * The chunks hold no `import()` (the build checks it): in Node 20 a script compiled from a
 * code cache cannot import, whatever `importModuleDynamically` says.
 *
 * A cache is used only when it was made from the chunk as it is: each cache file starts
 * with the SHA-256 digest of the chunk's text, checked before V8 sees the rest (V8's own
 * check compares only the text's length). V8 itself refuses a cache made by another
 * version of V8 or with other V8 flags (`--max-old-space-size`, for instance). A cache
 * that is missing, stale or refused costs only its speed: the chunk is compiled from its
 * text, as without a cache. `NODE_DEBUG=koppel` prints, for each chunk, whether its cache
 * was used.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { debuglog } from 'node:util';
import vm from 'node:vm';

/** What a chunk's code cache file is called: the chunk's file name and this. */
export const CODE_CACHE_SUFFIX = '.v8cache';
const DIGEST_BYTES = 32;
// The same wrapper as Node's CommonJS loader, on the chunk's first line, so line numbers in
// stack traces are the file's.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n});';
const trace = debuglog('koppel');

/** Whether a chunk's cache was used: `used`, `missing`, `stale` (made from other text, or cut short), `refused` (by V8); `written` when the build makes it. */
export type CacheUse = 'used' | 'missing' | 'stale' | 'refused' | 'written';

type Module = { exports: unknown };

/** The file's bytes, or undefined if there is no such file. */
function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * A loader of the chunks in one directory. `load(file)` runs the chunk once (later calls
 * return its exports). With `writeCache`, each chunk's code cache is written right after
 * the chunk has run, so it holds the functions its top level compiled as well.
 */
class BundleLoader {
  readonly #dir: string;
  readonly #modules = new Map<string, Module>();
  readonly #node: NodeJS.Require;
  readonly #writeCache: boolean;
  /** How each loaded chunk's cache was used, by file name. */
  readonly uses = new Map<string, CacheUse>();

  constructor(dir: string, writeCache: boolean) {
    this.#dir = dir;
    this.#writeCache = writeCache;
    this.#node = createRequire(join(dir, 'main.cjs'));
  }

  load(name: string): unknown {
    const loaded = this.#modules.get(name);
    if (loaded) return loaded.exports;
    const file = join(this.#dir, name);
    const module: Module = { exports: {} };
    this.#modules.set(name, module);
    const text = readFileSync(file);
    const digest = createHash('sha256').update(text).digest();
    let use: CacheUse = 'missing';
    let cachedData: Buffer | undefined;
    const cacheFile = file + CODE_CACHE_SUFFIX;
    const cache = this.#writeCache ? undefined : readIfThere(cacheFile);
    if (cache) {
      if (cache.length > DIGEST_BYTES && cache.subarray(0, DIGEST_BYTES).equals(digest)) cachedData = cache.subarray(DIGEST_BYTES);
      else use = 'stale';
    }
    const script = new vm.Script(WRAP_HEAD + text.toString('utf8') + WRAP_TAIL, {
      filename: file,
      ...(cachedData ? { cachedData } : {}),
    });
    if (cachedData) use = script.cachedDataRejected ? 'refused' : 'used';
    const fn = script.runInThisContext() as (exports: unknown, require: (s: string) => unknown, module: Module, filename: string, dir: string) => void;
    fn.call(module.exports, module.exports, (s) => this.#require(s), module, file, this.#dir);
    if (this.#writeCache) {
      writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()]));
      use = 'written';
    }
    this.uses.set(name, use);
    trace('chunk %s: code cache %s', name, use);
    return module.exports;
  }

  #require(specifier: string): unknown {
    // The bundle names its own chunks './<name>.cjs', always in its own directory.
    if (specifier.startsWith('./') && !specifier.includes('/', 2)) return this.load(specifier.slice(2));
    return this.#node(specifier);
  }
}

/**
 * Runs the bundle whose entry is `entry` (`dist/cli/bundle/main.cjs`) and returns the
 * entry's exports. Throws what the entry's top level throws; a file of the bundle that is
 * missing is Node's `ENOENT` error.
 */
export function loadBundle(entry: string): unknown {
  return new BundleLoader(dirname(entry), false).load(basename(entry));
}

/**
 * Runs every chunk in `dir`, each chunk's top level as a command would, and returns how
 * each one's cache was used. With `writeCache` it writes the caches instead (the build
 * does this, in a process of its own started with no V8 flags, so the cache fits a
 * `koppel` process started the same way; then it checks, in another such process, that
 * every cache is used).
 */
export function loadEveryChunk(dir: string, writeCache = false): Map<string, CacheUse> {
  const loader = new BundleLoader(dir, writeCache);
  for (const c of readdirSync(dir)
    .filter((f) => f.endsWith('.cjs'))
    .sort())
    loader.load(c);
  return loader.uses;
}
