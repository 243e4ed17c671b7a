#!/usr/bin/env node
/**
 * Executable entry of the `koppel` command (package.json `bin`). `koppel aggregate ...`
 * runs from its one-file bundle (see `aggregate-entry.ts`); every other command through
 * `main.ts`, which loads the command named.
 *
 * @packageDocumentation
 */
type Entry = { run(argv: string[]): Promise<number> };

const argv = process.argv.slice(2);
let entry: Entry;
if (argv[0] === 'aggregate') {
  const bundle = new URL('./bundle/aggregate.js', import.meta.url);
  try {
    entry = (await import(bundle.href)) as Entry;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    process.stderr.write('koppel: INTERNAL: dist/cli/bundle/aggregate.js is missing: this build of koppel is incomplete; run "npm run build".\n');
    process.exit(1);
  }
} else {
  entry = await import('./main.js');
}
process.exitCode = await entry.run(argv);
