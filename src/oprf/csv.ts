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
import { columnIndex, formatHeader, formatRecord, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import { POLICY_WORDING, RecordPolicy, SkipReport, type InvalidPolicy, type InvalidRecord } from '../csv/policy.js';
import { KoppelError } from '../errors/index.js';
import { FailFast, OrderedPipeline } from '../util/pipeline.js';
import type { OprfPseudonymiser, OprfResult } from './client.js';

/** Options of {@link oprfPseudonymiseCsv}. */
export interface OprfCsvOptions {
  /** Header name of the identifier column. */
  readonly column: string;
  /** What to do with invalid records (see {@link RecordPolicy}). */
  readonly onInvalid: InvalidPolicy;
  /** Field delimiter; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Called in record order for every rejected record. */
  readonly onRejected?: (r: InvalidRecord) => void;
  /** Called after every batch written. */
  readonly onProgress?: (p: { records: number; elapsedMs: number }) => void;
  /** Called once the header is read, with the input's style (which the output keeps), before any rejection. */
  readonly onStyle?: (style: CsvStyle) => void;
  /**
   * With `onInvalid: 'error'`: a second reading of the same input, checked in full
   * before anything is sent, so an invalid record stops the run having spent no budget
   * (a file can be read twice; stdin cannot, and then each batch is checked before it is
   * sent, so nothing at or after the invalid record is evaluated).
   */
  readonly precheck?: () => AsyncIterable<Uint8Array>;
  /**
   * Continues an interrupted run over the same input (the CLI's `--resume` checks that it
   * is): the output already holds the header and the first `records` records' output.
   * Those records are read but not sent to the service (no evaluation is spent on them
   * again) nor written; record numbers continue from `records`.
   */
  readonly resume?: { readonly records: number };
  /**
   * Called in order after every batch's output is written (awaited before the next):
   * the point an interrupted run can continue from.
   */
  readonly onCommit?: (c: OprfCsvCommit) => void | Promise<void>;
  /**
   * With `onCommit`: records per commit (the client's batch size, so a crash loses at
   * most the batches in flight); default: the reader's batches (64 KiB of input).
   */
  readonly commitRecords?: number;
  /** With `commitRecords`: batches in flight (default 3; the client's concurrency + 1 keeps every connection busy). */
  readonly inFlight?: number;
}

/** What the output holds once a batch is written ({@link OprfCsvOptions.resume}). */
export interface OprfCsvCommit {
  /** Data records read up to here (those of the run continued included). */
  readonly records: number;
  /** Records written with a pseudonym, by this run. */
  readonly pseudonymised: number;
  /** Records rejected, by this run. */
  readonly rejected: number;
}

/**
 * With the `error` policy, the records of a batch checked before any is evaluated: the
 * field count and the identifier, so a batch that would stop the run costs no budget.
 */
function checkBatch(policy: RecordPolicy, client: OprfPseudonymiser, records: readonly string[][], first: number, col: number): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as string[];
    policy.hasFields(r, first + i);
    const n = client.checkIdentifier(r[col] as string);
    if (typeof n !== 'string') policy.reject(first + i, n.code, n.reason);
  }
}

/** What a run did. */
export interface OprfCsvSummary {
  /** Data records read; in a resumed run, those of the run continued too. */
  readonly records: number;
  /** Records written with a pseudonym. */
  readonly pseudonymised: number;
  /** Records rejected. */
  readonly rejected: number;
  /** Wall time in milliseconds. */
  readonly elapsedMs: number;
  /** The service key id the pseudonyms carry. */
  readonly kid: string;
}

/** Pseudonymises one column of a CSV stream through `client`, writing to `output` (in the input's style: BOM and line ending). */
export async function oprfPseudonymiseCsv(
  input: AsyncIterable<Uint8Array>,
  output: Writable,
  client: OprfPseudonymiser,
  o: OprfCsvOptions,
): Promise<OprfCsvSummary> {
  const started = performance.now();
  const delimiter = o.delimiter ?? ',';
  if (o.onInvalid === 'error' && o.precheck) {
    const pre = await openCsv(o.precheck(), delimiter);
    const preCol = columnIndex(pre.header, o.column);
    const prePolicy = new RecordPolicy({ fields: pre.header.length, column: preCol, policy: 'error', wording: POLICY_WORDING.oprf, report: new SkipReport() });
    for await (const batch of pre.batches) checkBatch(prePolicy, client, batch.records, batch.firstRecord, preCol);
  }
  const csv = await openCsv(input, delimiter);
  const col = columnIndex(csv.header, o.column);
  const fields = csv.header.length;
  const write = (text: string) => (output.write(text) ? Promise.resolve() : new Promise<void>((r) => output.once('drain', () => r())));
  // The output keeps the input's byte order mark and line ending (Excel round trips).
  const newline = csv.style.newline;
  o.onStyle?.(csv.style);
  const resumeAt = o.resume?.records ?? 0;
  if (!Number.isSafeInteger(resumeAt) || resumeAt < 0) throw new KoppelError('INVALID_ARGUMENT', 'resume.records must be a whole, non-negative number.');
  // A resumed run's output already holds the header.
  if (!o.resume) await write(formatHeader(csv.header, delimiter, csv.style));
  let records = resumeAt;
  let done = 0;
  const policy = new RecordPolicy({ fields, column: col, policy: o.onInvalid, wording: POLICY_WORDING.oprf, report: new SkipReport(o.onRejected) });
  const ff = new FailFast();
  const per = o.commitRecords;
  if (per !== undefined && (!Number.isSafeInteger(per) || per < 1)) throw new KoppelError('INVALID_ARGUMENT', 'commitRecords must be a whole number above 0.');
  const depth = per === undefined ? 3 : Math.max(3, o.inFlight ?? 3);
  const pipe = new OrderedPipeline<{ rows: string[][]; first: number; results: OprfResult[] }>(depth, ff, async ({ rows, first, results }) => {
    let text = '';
    let k = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as string[];
      if (!policy.hasFields(r, first + i)) continue;
      const res = results[k++] as OprfResult;
      if (res.ok) {
        r[col] = res.pseudonym;
        done++;
      } else if (policy.reject(first + i, res.code, res.reason)) {
        r[col] = '';
      } else {
        continue;
      }
      text += formatRecord(r, delimiter, newline);
    }
    records += rows.length;
    await write(text);
    await o.onCommit?.({ records, pseudonymised: done, rejected: policy.report.count });
    o.onProgress?.({ records, elapsedMs: performance.now() - started });
  });
  for await (const batch of csv.batches) {
    let rows = batch.records;
    let first = batch.firstRecord;
    // Resumed: records up to `resumeAt` were evaluated and written by an earlier run.
    if (first + rows.length - 1 <= resumeAt) continue;
    if (first <= resumeAt) {
      rows = rows.slice(resumeAt - first + 1);
      first = resumeAt + 1;
    }
    if (o.onInvalid === 'error') checkBatch(policy, client, rows, first, col);
    // Committing per batch: one piece per commit.
    const step = per ?? rows.length;
    for (let at = 0; at < rows.length; at += step) {
      const piece = { rows: step === rows.length ? rows : rows.slice(at, at + step), first: first + at };
      const ids: string[] = [];
      for (const r of piece.rows) if (r.length === fields) ids.push(r[col] as string);
      await pipe.push(client.tryPseudonymiseMany(ids).then((results) => ({ ...piece, results })));
    }
  }
  await pipe.flush();
  return { records, pseudonymised: done, rejected: policy.report.count, elapsedMs: performance.now() - started, kid: client.kid };
}
