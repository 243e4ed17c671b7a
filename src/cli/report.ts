/**
 * `koppel report TABLE.csv [--meta FILE] --out FILE.html`, and the `--report-html FILE`
 * of `join groups`, `aggregate collect` and `demo`: the results report (src/report/,
 * docs/report.md), one self-contained HTML file.
 *
 * The report module, with the charting library, is loaded with a dynamic `import()` only
 * when a report is written: no other command's start-up pays for it.
 *
 * @packageDocumentation
 */
import type { Command } from './commander.js';
import { KoppelError } from '../errors/index.js';
import { readTextFile, writeOutput } from './io.js';
import type { Console } from './program.js';

/** The `--report-html` option's help text, the same on every command that has it. */
export const REPORT_HTML_HELP = 'also write the results report: one self-contained HTML file (chart, sortable table, disclosure summary, parameters, parties)';

/**
 * Builds the report's HTML from a released table's CSV text and its run's metadata (the
 * same object `--meta` writes). Nothing is written: callers build it before they commit
 * their outputs, so a failure leaves no half-set of files.
 *
 * @throws KoppelError `CSV_MALFORMED` for a table koppel did not write; `INTERNAL` if the chart fails
 */
export async function buildReport(table: string, meta: unknown): Promise<string> {
  const { buildReportHtml } = await import('../report/index.js');
  return buildReportHtml({ table, ...(meta === undefined ? {} : { meta }) });
}

/** Writes a built report atomically (`-` for stdout). */
export function writeReport(path: string, html: string): void {
  writeOutput(path, html);
}

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
      writeReport(flags.out, html);
      if (flags.out !== '-') io.err(`koppel: report: wrote ${flags.out}`);
    });
}
