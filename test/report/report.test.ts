/**
 * The results report (src/report/): the released table read back from its CSV, the
 * chart (one rectangle per cell, suppressed cells hatched and never coloured as a
 * count), the page (self-contained, escaped, sortable) and what it reads from the
 * metadata.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeJoinTable } from '../../src/join/csv.js';
import { protectJoinTable, withholdTotals, type JoinGroup } from '../../src/join/table.js';
import { buildReportHtml, chartSpec, HATCH_ID, planChart, readReportMeta, renderChartSvg } from '../../src/report/index.js';
import { parseReleasedTable } from '../../src/report/table.js';
import { expectCodeSync } from '../helpers.js';

const HEADER = 'province,household,count,sum_logins,suppressed,rule';
const SMALL = [
  HEADER,
  'Utrecht,single,12,40,false,published',
  'Utrecht,couple,,,true,threshold',
  'Zeeland,single,,,true,secondary',
  'Zeeland,couple,30,99,false,published',
  'Utrecht,*,,,true,secondary',
  'Zeeland,*,,,true,secondary',
  '*,single,,,true,secondary',
  '*,couple,,,true,secondary',
  '*,*,50,,false,published',
].join('\n');

/** The report of a table's CSV text (as the CLI builds it: parsed, then rendered). */
const report = (text: string, meta?: unknown) => buildReportHtml({ table: parseReleasedTable(text), tableText: text, ...(meta === undefined ? {} : { meta }) });

/** The rectangles of one named layer of the chart's SVG. */
function marks(svg: string, layer: string): string[] {
  const open = svg.indexOf(`role-mark ${layer}_marks"`);
  if (open === -1) return [];
  const end = svg.indexOf('</g>', open);
  return svg.slice(open, end).match(/<path[^>]*>/g) ?? [];
}

/** A released join table as `join groups` writes it, from groups with known true counts. */
function joinCsv(groups: JoinGroup[], threshold: number): string {
  const table = withholdTotals(protectJoinTable(1, 1, groups, { threshold }), groups);
  const parts: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      parts.push(chunk.toString('utf8'));
      done();
    },
  });
  writeJoinTable({ columns: ['logins'], table }, ['region'], sink, { totals: true });
  return parts.join('');
}

describe('the released table read back from its CSV', () => {
  it('reads label columns, value columns, rules and totals; a BOM, CRLF and ";" are accepted', () => {
    const t = parseReleasedTable('\ufeff' + SMALL.replaceAll(',', ';').replaceAll('\n', '\r\n') + '\r\n');
    expect(t.labelColumns).toEqual(['province', 'household']);
    expect(t.valueColumns).toEqual(['logins']);
    expect(t.rows).toHaveLength(9);
    expect(t.rows[1]).toEqual({ labels: ['Utrecht', 'couple'], count: '', sums: [''], suppressed: true, rule: 'threshold', total: false });
    expect(t.rows[8]).toMatchObject({ labels: ['*', '*'], count: '50', sums: [''], total: true });
  });

  it('refuses a table koppel did not write, naming the record, never a field', () => {
    expectCodeSync(() => parseReleasedTable('a,b\n1,2\n'), 'CSV_MALFORMED');
    expectCodeSync(() => parseReleasedTable(`${HEADER}\nUtrecht,single,7,1,true,threshold\n`), 'CSV_MALFORMED');
    expectCodeSync(() => parseReleasedTable(`${HEADER}\nUtrecht,single,7,1,false,invented\n`), 'CSV_MALFORMED');
    try {
      parseReleasedTable(`${HEADER}\nSecretville,single,x9,1,false,published\n`);
      expect.unreachable();
    } catch (e) {
      expect(String((e as Error).message)).toContain('record 1');
      expect(String((e as Error).message)).not.toMatch(/Secretville|x9/);
    }
  });
});

describe('the chart', () => {
  it('draws one rectangle per cell: published ones coloured by count, suppressed ones hatched with no count', async () => {
    const plan = planChart(parseReleasedTable(SMALL));
    expect(plan.cells).toHaveLength(4); // the totals are not cells of a two-column grid
    const svg = await renderChartSvg(chartSpec(plan));
    const published = marks(svg, 'published');
    const suppressed = marks(svg, 'suppressed');
    expect(published).toHaveLength(2);
    expect(suppressed).toHaveLength(2);
    for (const p of suppressed) {
      expect(p).toContain(`fill="url(#${HATCH_ID})"`);
      expect(p).not.toMatch(/count:/); // no count, so not drawn as zero
    }
    for (const p of published) expect(p).not.toContain(HATCH_ID);
    expect(svg).toContain(`<pattern id="${HATCH_ID}"`);
    // Each suppressed cell is labelled too (not only by its hatching).
    expect(svg.match(/<text[^>]*>supp\.<\/text>/g)).toHaveLength(2);
  });

  it('charts the margin over the first two columns when a three-column table has its totals, else every cell', () => {
    const rows = ['a,b,c,count,suppressed,rule', 'x,p,1,10,false,published', 'x,p,2,,true,threshold', 'x,p,*,15,false,published', 'x,*,*,15,false,published'];
    expect(planChart(parseReleasedTable(rows.join('\n'))).cells).toEqual([{ y: 'x', x: 'p', count: 15, state: 'published', text: '15' }]);
    const noTotals = planChart(parseReleasedTable(rows.slice(0, 3).join('\n')));
    expect(noTotals.cells.map((c) => [c.y, c.x, c.state])).toEqual([
      ['x', 'p · 1', 'published'],
      ['x', 'p · 2', 'suppressed'],
    ]);
  });
});

describe('the report page', () => {
  it("shows no suppressed cell's true count: the page is built from the released table only", async () => {
    // True counts 613 (below the threshold) and 911; the total gives 613 away unless 911 or the total is suppressed too.
    const groups: JoinGroup[] = [
      { labels: ['north'], count: 911, sums: [911 * 7] },
      { labels: ['south'], count: 613, sums: [613 * 7] },
      { labels: ['west'], count: 1200, sums: [1200 * 7] },
    ];
    const csv = joinCsv(groups, 700);
    const html = await report(csv);
    expect(csv).toMatch(/^south,,,true,threshold/m);
    for (const secret of [613, 613 * 7]) expect(html).not.toMatch(new RegExp(`(?<![\\w.])${secret}(?![\\w.])`));
    expect(html).toMatch(/>1200</); // a published cell is there
  });

  it('is self-contained: no reference to anything outside the file, a CSP that forbids every load, the inline script allowed by its hash', async () => {
    const html = await report(SMALL);
    expect(html).not.toMatch(/<(script|img|link|iframe|object|embed)\b[^>]*\b(src|href)=/i);
    expect(html).not.toMatch(/url\(\s*['"]?(?!#)/i); // only url(#id) references inside the SVG
    expect(html).not.toMatch(/@import|@font-face/i);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1] ?? '';
    expect(csp).toContain("default-src 'none'");
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const { createHash } = await import('node:crypto');
    expect(csp).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  });

  it('escapes every text from the table and the metadata', async () => {
    const table = `${HEADER}\n"<script>alert(1)</script>",single,12,40,false,published\n`;
    const html = await report(table, { command: 'join groups', parameters: { variant: '<img src=x>' } });
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x>');
    expect(html).toContain('&#60;script&#62;alert(1)');
  });

  it('renders the agreement and receipt when the metadata has them, else says none; warns when the metadata is of another table', async () => {
    const none = await report(SMALL, { command: 'join groups', outputs: [{ path: 't.csv', sha256: 'ff', bytes: 1 }] });
    expect(none).toMatch(/<h3>Agreement<\/h3><p>None\.<\/p>/);
    expect(none).toMatch(/<h3>Receipt<\/h3><p>None\.<\/p>/);
    expect(none).toContain('is <b>not</b> the output this metadata records');
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(SMALL).digest('hex');
    const withDocs = await report(SMALL, {
      command: 'join groups',
      agreement: { id: 'DPA-2026-17', purpose: 'statistics' },
      receipt: 'signed by both',
      outputs: [{ path: 't.csv', sha256: sha, bytes: 1 }],
    });
    expect(withDocs).toContain('DPA-2026-17');
    expect(withDocs).toContain('signed by both');
    expect(withDocs).toContain('The table shown is the output the metadata records');
  });

  it("reads what each party learned from a join's metadata, the matched total before disclosure control left out", () => {
    const meta = readReportMeta({
      command: 'join groups',
      parameters: { variant: 'helper', valueColumns: ['logins'], valueHolderMinCount: 10, maxValue: 1000, padGroupsTo: 64 },
      counts: { records: 1000, matched: 613, groups: 9, valueRecords: 1200 },
      peer: { name: 'logius', fingerprint: 'ab'.repeat(32), authenticated: true },
      helperPeer: { authenticated: false, address: '127.0.0.1:7200' },
    });
    expect(meta.kind).toBe('join groups');
    expect(meta.counts.map(([k]) => k)).not.toContain('matched');
    expect(meta.parties.map((p) => p.role)).toEqual([
      'group holder (party A, wrote this report)',
      'value holder (party B)',
      'helper',
      'readers of the released table (and of this report)',
    ]);
    expect(meta.parties[0]?.learned.join(' ')).toContain('(1200 records)');
    expect(meta.parties[1]?.identity).toContain('"logius"');
    expect(meta.parties[1]?.learned[0]).toContain('64, the padding bound');
    expect(meta.parties[2]?.identity).toContain('unauthenticated');
  });

  it("reads an aggregation round's metadata: input parties, aggregators, collector, disclosure and noise", () => {
    const meta = readReportMeta({
      round: 'r1',
      inputs: 3,
      dropped: 0,
      partyIds: 'claimed',
      parties: ['gemeente-0', 'gemeente-1', 'gemeente-2'],
      aggregators: [{ authenticated: false }, { authenticated: false }],
      noise: { distribution: 'laplace', scale: 2 },
      disclosure: { threshold: 5, secondary: true, protection: 1, valueProtection: 0, cellKey: null, cellKeyCountsOnly: false },
    });
    expect(meta.kind).toBe('aggregate collect');
    expect(meta.parties.map((p) => p.role)).toEqual(['input parties (3)', 'aggregator 0', 'aggregator 1', 'collector (wrote this report)', expect.any(String)]);
    expect(Object.fromEntries(meta.disclosure)).toMatchObject({
      'cell key method (p-table)': 'none',
      'threshold rule (minimum contributors per published cell)': '5',
    });
    expect(meta.parties[3]?.learned[0]).toContain('noise: laplace');
  });
});
