#!/usr/bin/env node
/**
 * Executable entry of the `koppel` command (package.json `bin`). Every command runs from
 * the CLI's bundle, `dist/cli/bundle/main.cjs`: `main.ts` and everything its commands use,
 * bundled by `scripts/bundle-cli.mjs` at build time, with one chunk per command, so a
 * process still loads only the command it runs, and loaded with the V8 code cache the
 * build made for it (`bundle-loader.ts`; docs/cli.md has why and the figures).
 *
 * @packageDocumentation
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from './bundle-loader.js';

type Entry = { main(argv: string[]): Promise<number> };

const main = fileURLToPath(new URL('./bundle/main.cjs', import.meta.url));
let entry: Entry;
try {
  entry = loadBundle(main) as Entry;
} catch (e) {
  const { code, path } = e as NodeJS.ErrnoException;
  if (code !== 'ENOENT' || !path?.startsWith(dirname(main))) throw e;
  process.stderr.write('koppel: INTERNAL: a file of dist/cli/bundle/ is missing: this build of koppel is incomplete; run "npm run build".\n');
  process.exit(1);
}
process.exitCode = await entry.main(process.argv.slice(2));
