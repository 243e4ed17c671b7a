/**
 * Streaming CSV pseudonymisation through the OPRF service: the identifier column of
 * every record is replaced by its blind pseudonym, in file order, with the same
 * invalid-record policies as keyed pseudonymisation. Memory stays bounded: a few
 * record batches are in flight at a time.
 *
 * @packageDocumentation
 */
import type { Writable } from 'node:stream';
import { openCsv } from '../csv/reader.js';
import { columnIndex, formatRecord, type CsvDelimiter } from '../csv/records.js';
import { KoppelError } from '../errors/index.js';
import { FailFast, OrderedPipeline } from '../util/pipeline.js';
import type { InvalidPolicy } from '../pseudonymise/csv-chunk.js';
import type { InvalidRecord } from '../pseudonymise/csv.js';
import type { OprfPseudonymiser, OprfResult } from './client.js';

/** Options of {@link oprfPseudonymiseCsv}. */
export interface OprfCsvOptions {
  readonly column: string;
  readonly onInvalid: InvalidPolicy;
  readonly delimiter?: CsvDelimiter;
  readonly onRejected?: (r: InvalidRecord) => void;
  readonly onProgress?: (p: { records: number; elapsedMs: number }) => void;
}

/** What a run did. */
export interface OprfCsvSummary {
  readonly records: number;
  readonly pseudonymised: number;
  readonly rejected: number;
  readonly elapsedMs: number;
  readonly kid: string;
}

/** Pseudonymises one column of a CSV stream through `client`, writing to `output`. */
export async function oprfPseudonymiseCsv(input: AsyncIterable<Uint8Array>, output: Writable, client: OprfPseudonymiser, o: OprfCsvOptions): Promise<OprfCsvSummary> {
  const started = performance.now();
  const delimiter = o.delimiter ?? ',';
  const csv = await openCsv(input, delimiter);
  const col = columnIndex(csv.header, o.column);
  const fields = csv.header.length;
  const write = (text: string) => (output.write(text) ? Promise.resolve() : new Promise<void>((r) => output.once('drain', () => r())));
  await write(formatRecord(csv.header, delimiter, '\n'));
  let records = 0;
  let done = 0;
  let rejected = 0;
  const ff = new FailFast();
  const reject = (record: number, code: InvalidRecord['code'], reason: string) => {
    if (o.onInvalid === 'error') throw new KoppelError(code, `An identifier or record is invalid (${reason}); fix it or use --on-invalid skip or report.`, { details: { record, reason } });
    rejected++;
    o.onRejected?.({ record, code, reason });
  };
  const pipe = new OrderedPipeline<{ rows: string[][]; first: number; results: OprfResult[]; bad: Set<number> }>(3, ff, async ({ rows, first, results, bad }) => {
    let text = '';
    let k = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as string[];
      if (bad.has(i)) {
        reject(first + i, 'CSV_MALFORMED', 'field-count');
        continue; // never echo a malformed record: it may hold the identifier anywhere
      }
      const res = results[k++] as OprfResult;
      if (res.ok) {
        r[col] = res.pseudonym;
        done++;
      } else {
        reject(first + i, res.code, res.reason);
        if (o.onInvalid === 'skip') continue;
        r[col] = '';
      }
      text += formatRecord(r, delimiter, '\n');
    }
    records += rows.length;
    await write(text);
    o.onProgress?.({ records, elapsedMs: performance.now() - started });
  });
  for await (const batch of csv.batches) {
    const bad = new Set<number>();
    const ids: string[] = [];
    batch.records.forEach((r, i) => {
      if (r.length !== fields) bad.add(i);
      else ids.push(r[col] as string);
    });
    await pipe.push(client.tryPseudonymiseMany(ids).then((results) => ({ rows: batch.records, first: batch.firstRecord, results, bad })));
  }
  await pipe.flush();
  return { records, pseudonymised: done, rejected, elapsedMs: performance.now() - started, kid: client.kid };
}
