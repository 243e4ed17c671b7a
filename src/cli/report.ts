/**
 * `koppel report TABLE.csv [--meta FILE] --out FILE.html`: the results report (src/report/,
 * docs/report.md), one self-contained HTML file, for a table a run has written. The
 * `--report-html` of `join groups`, `aggregate collect` and `demo` and the report's lazy
 * loading are `buildReport` in `common.ts`.
 *
 * @packageDocumentation
 */
import type { Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { readTextFile, writeOutput } from './io.js';
import { buildReport } from './common.js';
import type { Console } from './program.js';

function readMeta(path: string): unknown {
  const text = readTextFile(path, 'metadata file');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new KoppelError('INVALID_ARGUMENT', `The metadata file "${path}" is not JSON.`, { details: { path }, cause: e });
  }
}

/** Registers `report`. */
export function reportCommand(program: Command, io: Console): void {
  program
    .command('report')
    .description('Write the results report (one self-contained HTML file) for a released table of join groups or aggregate collect.')
    .argument('<table>', 'the released table (CSV) that join groups --out or aggregate collect --out wrote')
    .option('--meta <file>', 'the metadata (JSON) that the same run wrote with --meta: parameters, parties, what each learned, hashes')
    .requiredOption('--out <file>', 'the report (HTML); "-": stdout')
    .addHelpText(
      'after',
      '\nThe report shows only the released table (what is published) and the metadata; it loads nothing\n' +
        'from any network, so it can be opened offline or from a file share. See docs/report.md.',
    )
    .action(async (tablePath: string, flags: { meta?: string; out: string }) => {
      const table = readTextFile(tablePath, 'released table');
      const meta = flags.meta === undefined ? undefined : readMeta(flags.meta);
      const html = await buildReport(table, meta);
      writeOutput(flags.out, html);
      if (flags.out !== '-') io.err(`koppel: report: wrote ${flags.out}`);
    });
}
