/**
 * `koppel aggregate` on its own: the entry the build bundles, with every module and
 * package it uses, into one file (`dist/cli/bundle/aggregate.js`, made by
 * `scripts/bundle-cli.mjs`), which `bin.ts` runs for `koppel aggregate ...`.
 *
 * Why: an aggregation round has one short process per input party, and each pays for
 * loading the CLI before it does any work. Loaded as separate files (about 30 ES modules
 * of koppel and 25 CommonJS files of commander, io-ts, fp-ts and papaparse) that costs
 * an input process about 20 ms of CPU more than one bundled file on this project's
 * 2-core machine (Node 20; docs/cli.md has the measurement). The code is the same: the
 * bundle is made from this build's `dist/` files, and the end-to-end tests run it.
 *
 * @packageDocumentation
 */
import { aggregateCommand } from './aggregate.js';
import { processConsole, programWith, runProgram, type Console } from './program.js';

/** Runs `koppel aggregate ...` (`argv` without node and script); returns the exit status. */
export function run(argv: string[], io: Console = processConsole): Promise<number> {
  return runProgram(programWith([aggregateCommand], io), argv, io);
}
