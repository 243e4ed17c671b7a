/**
 * The report's chart: the released table as a heat map (one rectangle per cell), drawn
 * with Vega-Lite compiled to Vega and rendered to SVG by vega's headless View. Suppressed
 * cells are hatched and labelled "supp.", never coloured as a count (so never drawn
 * as zero).
 *
 * Vega and Vega-Lite are loaded here with a dynamic `import()` only when a chart is
 * rendered: no other command pays their start-up time (the CLI bundle keeps them in
 * their own chunk).
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { ReleasedRow, ReleasedTable } from './table.js';

/** The SVG pattern id that hatches suppressed cells (defined inside the chart's SVG). */
export const HATCH_ID = 'koppel-suppressed-hatch';

/** At most this many cells are drawn; a larger table is charted in part (the table below it has every row). */
export const MAX_CHART_CELLS = 2000;

/** What a suppressed cell says in the chart (it has no count). */
export const SUPPRESSED_TEXT = 'supp.';

/** Cell labels are written inside the rectangles up to this many cells. */
const MAX_LABELLED_CELLS = 400;

/** One drawn cell: its place in the grid and what the table publishes for it. */
export interface ChartCell {
  /** The row of the grid (the first label column). */
  readonly y: string;
  /** The column of the grid (the other label columns, joined with " · "). */
  readonly x: string;
  /** The published count, or null when suppressed. */
  readonly count: number | null;
  /** `published` or `suppressed`. */
  readonly state: 'published' | 'suppressed';
  /** The text written in the cell: the count or {@link SUPPRESSED_TEXT}. */
  readonly text: string;
}

/** What the chart shows: its cells, axes and title, before rendering. */
export interface ChartPlan {
  /** The cells drawn (at most {@link MAX_CHART_CELLS}). */
  readonly cells: readonly ChartCell[];
  /** The cells that qualified for the chart before the cap. */
  readonly available: number;
  /** The title of the grid's rows. */
  readonly yTitle: string;
  /** The title of the grid's columns. */
  readonly xTitle: string;
  /** One sentence on which rows of the table the chart shows. */
  readonly caption: string;
  /** The grid's rows in the table's order. */
  readonly yOrder: readonly string[];
  /** The grid's columns in the table's order. */
  readonly xOrder: readonly string[];
}

/**
 * Chooses the rows to chart. With two or more label columns and the totals published,
 * the margin over the first two columns (e.g. per region and household type, summed over
 * age bands); otherwise every cell that is not a total, its other labels joined into the
 * grid's columns. With one label column, one column of cells.
 */
export function planChart(table: ReleasedTable): ChartPlan {
  const L = table.labelColumns;
  const isStar = (s: string | undefined) => s === '*';
  let chosen: ReleasedRow[];
  let caption: string;
  let xOf: (r: ReleasedRow) => string;
  let xTitle: string;
  if (L.length === 1) {
    chosen = table.rows.filter((r) => !r.total);
    xOf = () => 'count';
    xTitle = '';
    caption = `Count per ${L[0] ?? ''}.`;
  } else {
    const margin = table.rows.filter((r) => !isStar(r.labels[0]) && !isStar(r.labels[1]) && r.labels.slice(2).every(isStar));
    if (L.length > 2 && margin.length > 0) {
      chosen = margin;
      caption = `Count per ${L[0] ?? ''} and ${L[1] ?? ''}, summed over ${L.slice(2).join(', ')} (the table's totals).`;
      xOf = (r) => r.labels[1] ?? '';
      xTitle = L[1] ?? '';
    } else {
      chosen = table.rows.filter((r) => !r.total);
      caption = `Count per ${L.join(', ')}.`;
      xOf = (r) => r.labels.slice(1).join(' · ');
      xTitle = L.slice(1).join(' · ');
    }
  }
  const cells = chosen.slice(0, MAX_CHART_CELLS).map((r): ChartCell => ({
    y: r.labels[0] ?? '',
    x: xOf(r),
    count: r.suppressed ? null : Number(r.count),
    state: r.suppressed ? 'suppressed' : 'published',
    text: r.suppressed ? SUPPRESSED_TEXT : r.count,
  }));
  if (chosen.length > MAX_CHART_CELLS) caption += ` The chart shows the first ${MAX_CHART_CELLS} of ${chosen.length} cells; the table below has every row.`;
  const order = (values: string[]) => [...new Set(values)];
  return {
    cells,
    available: chosen.length,
    yTitle: L[0] ?? '',
    xTitle,
    caption,
    yOrder: order(cells.map((c) => c.y)),
    xOrder: order(cells.map((c) => c.x)),
  };
}

/**
 * The Vega-Lite specification of the heat map: three layers over one grid, named so a
 * reader of the SVG (or a test) can tell them apart: `published` rectangles coloured by
 * count, `suppressed` rectangles hatched, and `labels` (the count or "supp.") when
 * the grid is small enough to read them.
 */
export function chartSpec(plan: ChartPlan): Record<string, unknown> {
  const xs = new Set(plan.cells.map((c) => c.x)).size;
  const ys = new Set(plan.cells.map((c) => c.y)).size;
  const step = Math.max(14, Math.min(64, Math.floor(900 / Math.max(xs, 1))));
  const encoding = {
    x: { field: 'x', type: 'nominal', title: plan.xTitle, sort: plan.xOrder, axis: { labelAngle: -40, labelLimit: 160 } },
    y: { field: 'y', type: 'nominal', title: plan.yTitle, sort: plan.yOrder, axis: { labelLimit: 200 } },
  };
  const layers: Array<Record<string, unknown>> = [
    {
      name: 'published',
      transform: [{ filter: "datum.state === 'published'" }],
      mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
      encoding: { color: { field: 'count', type: 'quantitative', title: 'count', scale: { scheme: 'blues' }, legend: { format: ',d' } } },
    },
    {
      name: 'suppressed',
      transform: [{ filter: "datum.state === 'suppressed'" }],
      mark: { type: 'rect', fill: `url(#${HATCH_ID})`, stroke: '#7a1f1f', strokeWidth: 1 },
    },
  ];
  const counts = plan.cells.map((c) => c.count ?? 0);
  const dark = Math.max(0, ...counts) * 0.6;
  if (plan.cells.length <= MAX_LABELLED_CELLS) {
    layers.push({
      name: 'labels',
      mark: { type: 'text', fontSize: 10, limit: step - 2 },
      encoding: {
        text: { field: 'text', type: 'nominal' },
        // Dark text on light cells, white on the darkest; suppressed cells in the hatch's red.
        color: {
          condition: [
            { test: "datum.state === 'suppressed'", value: '#7a1f1f' },
            { test: `datum.count > ${dark}`, value: 'white' },
          ],
          value: '#111',
        },
      },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: plan.caption,
    data: { values: plan.cells.map((c) => ({ ...c })) },
    width: { step },
    height: { step: Math.max(14, Math.min(28, Math.floor(600 / Math.max(ys, 1)))) },
    encoding,
    layer: layers,
    config: { font: 'sans-serif', view: { stroke: null } },
  };
}

/** The `<defs>` with the hatch pattern, put inside the rendered SVG (so the SVG is complete on its own too). */
const HATCH_DEFS =
  `<defs><pattern id="${HATCH_ID}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
  '<rect width="6" height="6" fill="#f6e7e7"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b36b6b" stroke-width="1.5"/></pattern></defs>';

/**
 * Renders the chart to SVG text with vega's headless View (no DOM, no canvas). The View's
 * loader refuses every load: the data is inline, and a chart can fetch nothing.
 *
 * @throws KoppelError `INTERNAL` when the charting library fails
 */
export async function renderChartSvg(spec: Record<string, unknown>): Promise<string> {
  // Loaded only here: see the file comment.
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const refuse = (): Promise<never> => Promise.reject(new KoppelError('INTERNAL', 'The report chart tried to load a resource; it must be self-contained.'));
  const loader = vega.loader();
  loader.load = refuse;
  loader.sanitize = refuse;
  let view;
  try {
    const compiled = vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec;
    view = new vega.View(vega.parse(compiled), { renderer: 'none', loader, logLevel: vega.Error });
    const svg = await view.toSVG();
    // The pattern goes right after the opening tag of the root <svg>.
    const open = svg.indexOf('>') + 1;
    return svg.slice(0, open) + HATCH_DEFS + svg.slice(open);
  } catch (e) {
    if (e instanceof KoppelError) throw e;
    throw new KoppelError('INTERNAL', 'The charting library could not draw the report chart.', { cause: e });
  } finally {
    view?.finalize();
  }
}
