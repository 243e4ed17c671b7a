#!/usr/bin/env node
/**
 * Executable entry of the `koppel` command (package.json `bin`). Every command runs from
 * the CLI's bundle, `dist/cli/bundle/main.js`: `main.ts` and everything its commands use,
 * bundled by `scripts/bundle-cli.mjs` at build time, with one chunk per command, so a
 * process still loads only the command it runs (docs/cli.md has why and the figures).
 *
 * @packageDocumentation
 */
type Entry = { main(argv: string[]): Promise<number> };

const bundle = new URL('./bundle/main.js', import.meta.url);
let entry: Entry;
try {
  entry = (await import(bundle.href)) as Entry;
} catch (e) {
  if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
  process.stderr.write('koppel: INTERNAL: dist/cli/bundle/main.js is missing: this build of koppel is incomplete; run "npm run build".\n');
  process.exit(1);
}
process.exitCode = await entry.main(process.argv.slice(2));
