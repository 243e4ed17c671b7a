/**
 * The results report: one self-contained HTML file from a released table (the CSV of
 * `koppel join groups` or `koppel aggregate collect`) and, optionally, its run's
 * metadata. It shows the table as a chart (suppressed cells hatched), the table itself
 * (sortable), the totals, the disclosure summary, the parameters, the parties with what
 * each learned, and the agreement and receipt where the metadata has them.
 *
 * Built from the published artefacts only, the report cannot show what the table does not
 * publish. Used by the CLI (`--report-html`, `koppel report`); docs/report.md.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { chartSpec, planChart, renderChartSvg } from './chart.js';
import { reportHtml } from './html.js';
import { readReportMeta } from './meta.js';
import type { ReleasedTable } from './table.js';
import { VERSION } from '../version.js';

export type { ReleasedRow, ReleasedTable, ReleasedRule } from './table.js';
export { planChart, chartSpec, renderChartSvg, HATCH_ID, MAX_CHART_CELLS, type ChartCell, type ChartPlan } from './chart.js';
export { readReportMeta, type ReportMeta, type PartyLearned, type RunKind } from './meta.js';

/** What a report is made from. */
export interface ReportInput {
  /** The released table, as {@link parseReleasedTable} (`./table.js`) read it from `tableText`. */
  readonly table: ReleasedTable;
  /** The released table's CSV text, exactly as written (its SHA-256 is checked against the metadata's). */
  readonly tableText: string;
  /** The run's metadata (the parsed `--meta` JSON), if there is one. */
  readonly meta?: unknown;
  /** When the report is written (default: now). */
  readonly generatedAt?: Date;
}

/**
 * Builds the report's HTML text.
 *
 * The table comes parsed: `./table.js` (with the CSV parser) is not imported here, so the
 * CLI, which has the parser loaded already, loads with this module only the report's own
 * code and the charting library (see scripts/bundle-cli.mjs).
 *
 * @throws KoppelError `INTERNAL` when the charting library fails
 */
export async function buildReportHtml(input: ReportInput): Promise<string> {
  const table = input.table;
  const plan = planChart(table);
  const svg = await renderChartSvg(chartSpec(plan));
  return reportHtml({
    table,
    tableSha256: createHash('sha256').update(input.tableText).digest('hex'),
    ...(input.meta === undefined ? {} : { meta: readReportMeta(input.meta) }),
    plan,
    svg,
    generatedAt: (input.generatedAt ?? new Date()).toISOString(),
    version: VERSION,
  });
}
