/**
 * Continuing an interrupted CSV pseudonymisation (`resume`, `onCommit`; the CLI's
 * `--resume`): from any committed point, the rest of the run writes exactly the rest of
 * the uninterrupted output, pseudonymises only the records after that point, and numbers
 * rejections as the uninterrupted run did; whatever the read sizes of either run.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { generateKey } from '../../src/pseudonymise/key.js';
import { pseudonymiseCsv, type CsvCommit, type InvalidRecord } from '../../src/pseudonymise/csv.js';

const key = generateKey();
const rng = new SyntheticRandom('resume-lib');
const N = 3000;
// Invalid BSNs every 301 records, quoted fields with embedded newlines now and then.
const text =
  'bsn,note\r\n' +
  Array.from({ length: N }, (_, i) => `${i % 301 === 7 ? '12' : syntheticBsn(rng)},${i % 97 === 3 ? '"two\r\nlines"' : `n${i}`}`).join('\r\n') +
  '\r\n';
const bytes = new TextEncoder().encode(text);

async function* pieces(size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function run(size: number, extra: { resume?: { records: number; inputBytes: number } } = {}) {
  const out: Buffer[] = [];
  let length = 0;
  const commits: Array<CsvCommit & { outputBytes: number }> = [];
  const rejected: InvalidRecord[] = [];
  const sink = new Writable({
    write(c: Uint8Array, _e, cb) {
      out.push(Buffer.from(c));
      length += c.length;
      cb();
    },
  });
  const summary = await pseudonymiseCsv(pieces(size), sink, {
    key,
    domain: 'test/resume',
    column: 'bsn',
    idType: 'bsn',
    onInvalid: 'report',
    threads: 0,
    onRejected: (r) => rejected.push(r),
    onCommit: (c) => void commits.push({ ...c, outputBytes: length }),
    ...extra,
  });
  return { output: Buffer.concat(out), commits, rejected, summary };
}

describe('pseudonymiseCsv resume', () => {
  it('from every committed point: the rest equals the uninterrupted output after it, and only later records are pseudonymised', async () => {
    const whole = await run(4096);
    expect(whole.commits.length).toBeGreaterThan(5);
    for (const c of whole.commits.slice(0, -1)) {
      // Another read size: the resumed run's chunks need not fall where the first run's did.
      const rest = await run(1777, { resume: { records: c.records, inputBytes: c.inputBytes } });
      expect(Buffer.concat([whole.output.subarray(0, c.outputBytes), rest.output]).equals(whole.output)).toBe(true);
      const after = whole.rejected.filter((r) => r.record > c.records);
      expect(rest.rejected).toEqual(after);
      expect(rest.summary.records).toBe(N);
      // Nothing before the committed point was pseudonymised again.
      expect(rest.summary.pseudonymised + rest.summary.rejected).toBe(N - c.records);
    }
  });

  it('commits in order, ending at the whole input', async () => {
    const whole = await run(4096);
    const last = whole.commits.at(-1) as CsvCommit;
    expect(last.records).toBe(N);
    expect(last.inputBytes).toBe(bytes.length);
    for (let i = 1; i < whole.commits.length; i++)
      expect((whole.commits[i] as CsvCommit).inputBytes).toBeGreaterThan((whole.commits[i - 1] as CsvCommit).inputBytes);
  });
});
