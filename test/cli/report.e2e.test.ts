/**
 * The results report from the command line: `--report-html` on `join groups`, `aggregate
 * collect` and `demo`, and `koppel report TABLE.csv --meta FILE --out FILE.html`; and the
 * report opened in a real headless Chromium (Debian's package; `.ci/run` installs it),
 * which draws one mark per cell, marks the suppressed ones, and makes no request.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { planChart } from '../../src/report/chart.js';
import { parseReleasedTable } from '../../src/report/table.js';
import { listeningPort, runKoppel as koppel, startKoppel } from '../helpers.js';
import { findChromium, openPage } from '../helpers/chromium.js';

let dir: string;
const f = (n: string) => join(dir, n);
/** `n` as a number on its own in the text (not part of a longer number, a hash or a decimal). */
const alone = (n: number) => new RegExp(`(?<![\\w.])${n}(?![\\w.])`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'koppel-report-e2e-'));
});

describe('join groups --report-html', () => {
  it("writes the report with the released table only: a suppressed group's true count and sums are nowhere in it; koppel report rebuilds it from the CSV and --meta", async () => {
    // True matched counts: north 911, south 613 (below --min-count 700), west 1200; the total
    // would give south away, so secondary suppression hides north as well.
    const rng = new SyntheticRandom('report-e2e');
    const regions: Array<[string, number]> = [
      ['north', 911],
      ['south', 613],
      ['west', 1200],
    ];
    const a: string[] = [];
    const b: string[] = [];
    for (const [region, n] of regions) {
      for (let i = 0; i < n + 40; i++) {
        const id = syntheticBsn(rng);
        a.push(`${id},${region}`);
        if (i < n) b.push(`${id},1,7`); // 40 unmatched records per region
      }
    }
    writeFileSync(f('cbs.csv'), 'bsn,region\n' + a.join('\n') + '\n');
    writeFileSync(f('logius.csv'), 'bsn,logins,messages\n' + b.join('\n') + '\n');
    const net = ['--insecure', '--id-column', 'bsn', '--id-type', 'bsn', '--timeout', '30', '--idle-timeout', '30', '--min-count', '700'];
    const groups = startKoppel([
      'join',
      'groups',
      '--listen',
      '127.0.0.1:0',
      '--in',
      f('cbs.csv'),
      '--group-columns',
      'region',
      '--totals',
      '--out',
      f('table.csv'),
      '--meta',
      f('meta.json'),
      '--report-html',
      f('report.html'),
      ...net,
    ]);
    const port = await listeningPort(groups);
    const values = await koppel([
      'join',
      'values',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      f('logius.csv'),
      '--value-columns',
      'logins,messages',
      '--max-value',
      '10',
      ...net,
    ]);
    const g = await groups.done;
    expect(g.code, g.stderr).toBe(0);
    expect(values.code, values.stderr).toBe(0);
    const table = readFileSync(f('table.csv'), 'utf8');
    expect(table).toMatch(/^south,,,,true,threshold$/m);
    expect(table).toMatch(/^west,1200,1200,8400,false,published$/m);
    // Secondary suppression chose north (the total, 2724, is published; its sums are withheld with south's).
    expect(table).toMatch(/^north,,,,true,secondary$/m);
    expect(table).toMatch(/^\*,2724,,,false,published$/m);
    const html = readFileSync(f('report.html'), 'utf8');
    for (const secret of [613, 613 * 7, 911, 911 * 7, (911 + 613 + 1200) * 7]) expect(html).not.toMatch(alone(secret));
    // The published cell is there, and so are the metadata's sections.
    expect(html).toMatch(/data-v="1200">1200</);
    expect(html).toContain('Results report: join groups');
    expect(html).toContain('value holder (party B)');
    expect(html).toContain('unauthenticated (plain TCP, --insecure)');
    expect(html).toContain('The table shown is the output the metadata records');
    expect(html).toMatch(/<h3>Agreement<\/h3><p>None\.<\/p>/);

    // koppel report: the same report from the files the run left.
    const r = await koppel(['report', f('table.csv'), '--meta', f('meta.json'), '--out', f('again.html')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`wrote ${f('again.html')}`);
    const again = readFileSync(f('again.html'), 'utf8');
    const body = (s: string) => s.slice(s.indexOf('<h2 id="chart">'));
    expect(body(again)).toBe(body(html));
  });

  it('koppel report refuses a file that is not a released table (exit 1), metadata that is not JSON and an unknown flag (exit 2), writing nothing', async () => {
    writeFileSync(f('people.csv'), 'bsn,region\n123456782,north\n');
    const bad = await koppel(['report', f('people.csv'), '--out', f('bad.html')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('CSV_MALFORMED');
    expect(bad.stderr).not.toContain('123456782');
    writeFileSync(f('t.csv'), 'region,count,suppressed,rule\nnorth,12,false,published\n');
    writeFileSync(f('not-json'), '{');
    const badMeta = await koppel(['report', f('t.csv'), '--meta', f('not-json'), '--out', f('bad.html')]);
    expect(badMeta.code).toBe(2);
    expect(badMeta.stderr).toContain('is not JSON');
    // And a usage error exits 2, as on every command (docs/cli.md).
    const usage = await koppel(['report', f('t.csv'), '--out', f('bad.html'), '--bogus-flag']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('koppel: INVALID_ARGUMENT');
    expect(existsSync(f('bad.html'))).toBe(false);
  });
});

describe('aggregate collect --report-html', () => {
  it("writes the round's report: the released table, the disclosure rules, the input parties and aggregators", async () => {
    const json = JSON.parse(readFileSync(new URL('../../examples/round.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    writeFileSync(f('round.json'), JSON.stringify({ ...json, deadline: new Date(Date.now() + 30_000).toISOString() }));
    const common = ['--round', f('round.json'), '--insecure', '--timeout', '20', '--idle-timeout', '20'];
    const collector = startKoppel([
      'aggregate',
      'collect',
      ...common,
      '--listen',
      '127.0.0.1:0',
      '--threshold',
      '2',
      '--out',
      f('agg.csv'),
      '--report-html',
      f('agg.html'),
    ]);
    const cport = await listeningPort(collector);
    const aggregators = [0, 1].map((j) =>
      startKoppel([
        'aggregate',
        'aggregator',
        ...common,
        '--index',
        String(j),
        '--listen',
        '127.0.0.1:0',
        '--collector',
        `127.0.0.1:${cport}`,
        '--expect',
        '3',
      ]),
    );
    const aports = await Promise.all(aggregators.map(listeningPort));
    const inputs = [0, 1, 2].map((p) => {
      // Groningen/family has one contributor (party 0): suppressed by the threshold of 2.
      const rows = ['Utrecht,single,5', 'Utrecht,family,4', 'Groningen,single,3', ...(p === 0 ? ['Groningen,family,977'] : [])];
      writeFileSync(f(`agg-${p}.csv`), 'region,household,logins\n' + rows.join('\n') + '\n');
      return koppel([
        'aggregate',
        'input',
        ...common,
        '--party',
        `gemeente-${p}`,
        '--in',
        f(`agg-${p}.csv`),
        '--aggregators',
        aports.map((a) => `127.0.0.1:${a}`).join(','),
      ]);
    });
    const results = await Promise.all([collector.done, ...aggregators.map((a) => a.done), ...inputs]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(f('agg.html'), 'utf8');
    expect(readFileSync(f('agg.csv'), 'utf8')).toMatch(/^Groningen,family,,,true,threshold$/m);
    expect(html).not.toMatch(alone(977));
    expect(html).toContain('Results report: aggregate collect');
    for (const party of ['gemeente-0', 'gemeente-1', 'gemeente-2', 'aggregator 0', 'aggregator 1', 'collector (wrote this report)'])
      expect(html).toContain(party);
    expect(html).toContain('threshold rule (minimum contributors per published cell)');
  });
});

const chromium = findChromium();
if (!chromium) console.warn('report browser test SKIPPED: no Chromium on this machine (apt-get install chromium; .ci/run installs it when it can)');

describe('the demo and its report in a headless browser', () => {
  it.skipIf(!chromium)(
    'the demo prints the report path; in Chromium the chart draws one mark per cell, the suppressed ones hatched and labelled, the table sorts, and the page makes no request',
    async () => {
      const r = await koppel(['demo', '--size', '3000', '--dir', f('demo')]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const path = /self-contained HTML\): (.+)$/m.exec(r.stdout)?.[1] ?? '';
      expect(path).toBe(f('demo/report.html'));
      const plan = planChart(parseReleasedTable(readFileSync(f('demo/result.csv'), 'utf8')));
      const suppressed = plan.cells.filter((c) => c.state === 'suppressed').length;
      expect(plan.cells.length).toBe(60); // 12 provinces x 5 household types
      expect(suppressed).toBeGreaterThan(0);

      const url = pathToFileURL(path).href;
      const page = await openPage(chromium as string, url);
      try {
        const drawn = await page.evaluate<{ published: number; suppressed: number; hatched: number; labels: number; width: number }>(`(() => {
          const q = (s) => document.querySelectorAll(s);
          const hatched = [...q('g.suppressed_marks > path')].filter((p) => p.getAttribute('fill') === 'url(#koppel-suppressed-hatch)'
            && getComputedStyle(p).fill.includes('koppel-suppressed-hatch'));
          const svg = document.querySelector('#chart-figure svg');
          return {
            published: q('g.published_marks > path').length,
            suppressed: q('g.suppressed_marks > path').length,
            hatched: hatched.length,
            labels: [...q('g.labels_marks > text')].filter((t) => t.textContent === 'supp.').length,
            width: svg ? svg.getBoundingClientRect().width : 0,
          };
        })()`);
        expect(drawn).toEqual({ published: 60 - suppressed, suppressed, hatched: suppressed, labels: suppressed, width: expect.any(Number) as number });
        expect(drawn.width).toBeGreaterThan(100); // the chart is laid out, not an empty box
        // The inline script runs (the CSP allows it by its hash): a click on "count" sorts the table by count.
        const sorted = await page.evaluate<string[]>(`(() => {
          const th = [...document.querySelectorAll('#released thead th')].find((h) => h.textContent === 'count');
          th.querySelector('button').click();
          th.querySelector('button').click();
          return [...document.querySelectorAll('#released tbody tr')].slice(0, 3).map((r) => r.cells[3].getAttribute('data-v'));
        })()`);
        const numbers = sorted.map(Number);
        expect(numbers.every((n) => Number.isFinite(n))).toBe(true);
        expect([...numbers].sort((x, y) => y - x)).toEqual(numbers);
        // No request but the page's own file.
        expect(page.requests).toEqual([url]);
        expect(page.log.filter((l) => /Content Security Policy|Refused/i.test(l))).toEqual([]);
      } finally {
        await page.close();
      }
    },
    // The demo (about 10 s), Chromium's start (up to 60 s cold, see openPage) and the checks.
    120_000,
  );
});
