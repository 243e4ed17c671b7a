/**
 * The report as one self-contained HTML page: the chart's SVG, the styles and the small
 * sorting script are inline; the page loads nothing (no scripts, fonts, images or styles
 * from anywhere) and its Content-Security-Policy forbids every load, so it works offline
 * and from a file share. Every text from the table or the metadata is escaped.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import type { ChartPlan } from './chart.js';
import { valueText, type JsonObject, type ReportMeta } from './meta.js';
import type { ReleasedTable } from './table.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The sorting script: a click on a column heading sorts the table by it (numbers as numbers, empty cells last). */
const SORT_SCRIPT = `(function () {
  var table = document.getElementById('released');
  if (!table) return;
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = th.querySelector('button');
    button.addEventListener('click', function () {
      var up = th.getAttribute('aria-sort') !== 'ascending';
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (r) { return r.cells[col].getAttribute('data-v'); };
      var numeric = th.getAttribute('data-type') === 'number';
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === '' || y === '') return x === y ? 0 : x === '' ? 1 : -1;
        var d = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
        return up ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();`;

const STYLE = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.5rem; color: #1b1b1b; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.sub { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 0.9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; }
.chart { overflow-x: auto; } .chart svg { max-width: none; }
.key { display: inline-block; width: 1.1em; height: 1.1em; vertical-align: middle; border: 1px solid #7a1f1f; margin-right: 0.3em; }
.hatch { background: repeating-linear-gradient(45deg, #f6e7e7 0 2px, #7a1f1f 2px 4px); }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort=ascending] button::after { content: " \\25B2"; } th[aria-sort=descending] button::after { content: " \\25BC"; }
tr.suppressed td { background: #fbf1f1; } tr.total td { font-weight: 600; }
.supp { color: #7a1f1f; font-style: italic; }
.warn { border: 2px solid #b35c00; background: #fff4e5; padding: 0.6rem 0.9rem; border-radius: 6px; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
code { font-size: 0.9em; word-break: break-all; }
footer { margin-top: 2.5rem; color: #555; font-size: 0.85rem; }
`;

/** Everything the page shows. */
export interface ReportPage {
  /** The released table. */
  readonly table: ReleasedTable;
  /** SHA-256 (hex) of the table's CSV text, as written. */
  readonly tableSha256: string;
  /** The run's metadata, if given. */
  readonly meta?: ReportMeta;
  /** What the chart shows. */
  readonly plan: ChartPlan;
  /** The chart, as SVG. */
  readonly svg: string;
  /** When the report was written (ISO 8601). */
  readonly generatedAt: string;
  /** The koppel version that wrote the report. */
  readonly version: string;
}

const e = escapeHtml;

function pairs(rows: ReadonlyArray<readonly [string, string]>): string {
  if (rows.length === 0) return '<p>None recorded.</p>';
  return `<table><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td><code>${e(v)}</code></td></tr>`).join('')}</tbody></table>`;
}

function documentSection(name: string, doc: JsonObject | string | undefined): string {
  if (doc === undefined) return `<h3>${e(name)}</h3><p>None.</p>`;
  if (typeof doc === 'string') return `<h3>${e(name)}</h3><pre>${e(doc)}</pre>`;
  return `<h3>${e(name)}</h3>${pairs(Object.entries(doc).map(([k, v]) => [k, valueText(v)] as const))}`;
}

function countCell(text: string, suppressed: boolean, withheld: boolean): string {
  if (suppressed) return '<td class="n supp" data-v="">suppressed</td>';
  if (withheld) return '<td class="n supp" data-v="">withheld</td>';
  return `<td class="n" data-v="${e(text)}">${e(text)}</td>`;
}

function releasedTable(t: ReleasedTable): string {
  const head = [
    ...t.labelColumns.map((c) => `<th data-type="text"><button type="button">${e(c)}</button></th>`),
    '<th data-type="number"><button type="button">count</button></th>',
    ...t.valueColumns.map((c) => `<th data-type="number"><button type="button">sum of ${e(c)}</button></th>`),
    '<th data-type="text"><button type="button">rule</button></th>',
  ].join('');
  const body = t.rows
    .map((r) => {
      const cls = [r.suppressed ? 'suppressed' : '', r.total ? 'total' : ''].filter(Boolean).join(' ');
      return (
        `<tr${cls ? ` class="${cls}"` : ''}>` +
        r.labels.map((l) => `<td data-v="${e(l)}">${l === '*' ? '<i>all</i>' : e(l)}</td>`).join('') +
        countCell(r.count, r.suppressed, false) +
        r.sums.map((s) => countCell(s, r.suppressed, s === '')).join('') +
        `<td data-v="${e(r.rule)}">${e(r.rule)}</td></tr>`
      );
    })
    .join('\n');
  return `<table id="released"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function totals(t: ReleasedTable): string {
  const grand = t.rows.find((r) => r.labels.every((l) => l === '*'));
  const published = t.rows.filter((r) => !r.total && !r.suppressed);
  if (!grand) {
    const sum = published.reduce((s, r) => s + BigInt(r.count), 0n);
    return (
      '<p>The table was released without totals. The published cells add up to ' +
      `<b>${e(sum.toString())}</b> over ${published.length} published cells; suppressed cells are not in this sum, which is therefore not the total.</p>`
    );
  }
  const line = (r: (typeof t.rows)[number]) =>
    r.suppressed
      ? '<span class="supp">suppressed</span>'
      : `count <b>${e(r.count)}</b>${t.valueColumns.map((c, i) => `, sum of ${e(c)} <b>${r.sums[i] === '' ? '<span class="supp">withheld</span>' : e(r.sums[i] ?? '')}</b>`).join('')}`;
  const first = t.labelColumns[0] ?? '';
  const margins = t.rows.filter((r) => r.labels[0] !== '*' && r.labels.slice(1).every((l) => l === '*'));
  return (
    `<p>Grand total: ${line(grand)}.</p>` +
    (margins.length > 0 && t.labelColumns.length > 1
      ? `<p>Per ${e(first)}, over all other columns:</p><table><tbody>${margins.map((r) => `<tr><th scope="row">${e(r.labels[0] ?? '')}</th><td>${line(r)}</td></tr>`).join('')}</tbody></table>`
      : '')
  );
}

function disclosure(t: ReleasedTable, meta: ReportMeta | undefined): string {
  const by = (rule: string) => t.rows.filter((r) => r.rule === rule).length;
  const suppressed = t.rows.filter((r) => r.suppressed).length;
  const withheld = t.rows.filter((r) => !r.suppressed && r.sums.some((s) => s === '')).length;
  const rows: Array<readonly [string, string]> = [
    ['rows released (cells and totals)', String(t.rows.length)],
    ['published', String(by('published'))],
    ['suppressed, threshold rule (primary)', String(by('threshold'))],
    ['suppressed, secondary (protecting a primary cell against subtraction and bounds)', String(by('secondary'))],
    ['suppressed in all', String(suppressed)],
    ...(withheld > 0 ? [['published count, sums withheld (fewer matches than the value holder allows)', String(withheld)] as const] : []),
    ...(meta?.disclosure ?? []),
  ];
  return pairs(rows);
}

function parties(meta: ReportMeta): string {
  if (meta.parties.length === 0) return '<p>The metadata does not say which command wrote it; the parties are not known to this report.</p>';
  return meta.parties
    .map((p) => `<h3>${e(p.role)}</h3><p>Identity: ${e(p.identity)}</p><ul>${p.learned.map((l) => `<li>${e(l)}</li>`).join('')}</ul>`)
    .join('');
}

function filesSection(page: ReportPage): string {
  const meta = page.meta;
  const rows = (meta?.files ?? []).map(
    (f) => `<tr><td>${f.role}</td><td><code>${e(f.path)}</code></td><td><code>${e(f.sha256)}</code></td><td class="n">${e(f.bytes)}</td></tr>`,
  );
  const recorded = (meta?.files ?? []).filter((f) => f.role === 'output').map((f) => f.sha256);
  const check =
    meta === undefined
      ? ''
      : recorded.includes(page.tableSha256)
        ? '<p>The table shown is the output the metadata records (same SHA-256).</p>'
        : '<p class="warn">The table shown is <b>not</b> the output this metadata records (its SHA-256 differs): the metadata may belong to another run.</p>';
  return (
    `<p>SHA-256 of the table shown: <code>${e(page.tableSha256)}</code></p>${check}` +
    (rows.length > 0 ? `<table><thead><tr><th>file</th><th>path</th><th>SHA-256</th><th>bytes</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : '')
  );
}

/** The report page as HTML text. */
export function reportHtml(page: ReportPage): string {
  const { table: t, meta, plan } = page;
  const scriptHash = createHash('sha256').update(SORT_SCRIPT).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'; img-src data:; base-uri 'none'; form-action 'none'`;
  const kind = meta?.kind && meta.kind !== 'unknown' ? meta.kind : 'released table';
  const suppressed = t.rows.filter((r) => r.suppressed).length;
  const grand = t.rows.find((r) => r.labels.every((l) => l === '*'));
  const hatched = plan.cells.filter((c) => c.state === 'suppressed').length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="koppel ${e(page.version)}">
<title>koppel results report: ${e(kind)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Results report: ${e(kind)}</h1>
<p class="sub">Written by koppel ${e(page.version)} at ${e(page.generatedAt)}${meta?.times.finishedAt ? `; run from ${e(meta.times.startedAt ?? '?')} to ${e(meta.times.finishedAt)}` : ''}. Every figure below is from the released table: nothing before disclosure control, no identifier.</p>
</header>
<section class="cards" aria-label="summary">
<div class="card"><b>${t.rows.length}</b>rows released</div>
<div class="card"><b>${t.rows.length - suppressed}</b>published</div>
<div class="card"><b>${suppressed}</b>suppressed</div>
<div class="card"><b>${grand ? (grand.suppressed ? 'suppressed' : e(grand.count)) : 'n/a'}</b>total count</div>
</section>

<h2 id="chart">Chart</h2>
<p>${e(plan.caption)} Colour: the published count. <span class="key hatch" aria-hidden="true"></span>Hatched and labelled: suppressed (${hatched} of ${plan.cells.length} cells drawn); a suppressed cell has no count, it is not zero.</p>
<figure class="chart" id="chart-figure" data-cells="${plan.cells.length}" data-suppressed="${hatched}">${page.svg}</figure>

<h2 id="totals">Totals</h2>
${totals(t)}

<h2 id="disclosure">Disclosure control</h2>
${disclosure(t, meta)}

<h2 id="table">The released table</h2>
<p>Click a column heading to sort. ${t.rows.length} rows; <i>all</i> marks a total over that column.</p>
${releasedTable(t)}

<h2 id="parameters">Parameters</h2>
${meta ? pairs(meta.parameters) : '<p>No metadata was given (<code>--meta</code>): the parameters are not known to this report.</p>'}
${meta && meta.counts.length > 0 ? `<h3>Counts of the run</h3>${pairs(meta.counts)}` : ''}

<h2 id="parties">Parties: who they are and what each learned</h2>
${meta ? parties(meta) : '<p>No metadata was given (<code>--meta</code>): the parties are not known to this report.</p>'}

<h2 id="agreement">Agreement and receipt</h2>
${documentSection('Agreement', meta?.agreement)}
${documentSection('Receipt', meta?.receipt)}

<h2 id="files">Files</h2>
${filesSection(page)}

<footer>This page is self-contained: its chart, styles and sorting script are inside this file, and it loads nothing from any network or disk. It can be opened offline, from a file share, or mailed.</footer>
<script>${SORT_SCRIPT}</script>
</body>
</html>
`;
}
