/**
 * Streaming CSV pseudonymisation: one column replaced by pseudonyms, everything else
 * kept, in constant memory on any file size, on all cores.
 *
 * The input is cut into chunks of whole records ({@link CsvChunker}); chunks are
 * processed on a pool of worker threads (or inline, with `threads: 0`) and written in
 * input order. At most `4 x threads` chunks are in flight, so memory stays bounded by
 * a few megabytes whatever the file size, and a slow output slows the reading.
 *
 * @packageDocumentation
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { KoppelError } from '../errors/index.js';
import { CsvChunker } from '../csv/chunker.js';
import { INVALID_POLICIES, SkipReport, type InvalidPolicy, type InvalidRecord } from '../csv/policy.js';
import { columnIndex, formatHeader, parseHeader, styleOf, type CsvDelimiter, type CsvStyle } from '../csv/records.js';
import { wipe } from '../util/bytes.js';
import { FailFast, OrderedPipeline } from '../util/pipeline.js';
import { TaskPool } from '../util/pool.js';
import { deriveDomainKey, type PseudonymKey } from './key.js';
import { Pseudonymiser } from './pseudonymiser.js';
import { csvChunkOps, fromFailure, type ChunkLayout, type ChunkOutput } from './csv-chunk.js';
import type { IdType } from './normalise.js';

export type { InvalidRecord } from '../csv/policy.js';

/** Progress of a long run, reported about once a second. */
export interface CsvProgress {
  /** Bytes of input read so far. */
  readonly bytesRead: number;
  /** Records written or rejected so far. */
  readonly records: number;
  /** Milliseconds since the start. */
  readonly elapsedMs: number;
}

/** Options for {@link pseudonymiseCsv}. */
export interface PseudonymiseCsvOptions {
  /** The master key. */
  readonly key: PseudonymKey;
  /** The pseudonymisation domain. */
  readonly domain: string;
  /** Name of the identifier column (exact header text). */
  readonly column: string;
  /** Identifier type; default `raw`. */
  readonly idType?: IdType;
  /** What to do with invalid records; default `error`. */
  readonly onInvalid?: InvalidPolicy;
  /** Field delimiter; default `,`. */
  readonly delimiter?: CsvDelimiter;
  /** Worker threads; default the machine's available parallelism; 0 runs inline. */
  readonly threads?: number;
  /** Called in record order for every rejected record (policies `skip` and `report`). */
  readonly onRejected?: (r: InvalidRecord) => void;
  /** Called about every `progressIntervalMs` milliseconds. */
  readonly onProgress?: (p: CsvProgress) => void;
  /** Called once the header is read, with the input's style (which the output keeps), before any rejection. */
  readonly onStyle?: (style: CsvStyle) => void;
  /** Progress interval; default 1000 ms. */
  readonly progressIntervalMs?: number;
  /** Cancels the run. */
  readonly signal?: AbortSignal;
  /**
   * Continues an interrupted run over the same input (the CLI's `--resume` checks that it
   * is): the output already holds the header and every record before input byte
   * `inputBytes`, the end of a chunk an earlier run committed ({@link CsvCommit}), and
   * `records` records. Nothing before it is pseudonymised again or written; record
   * numbers continue from `records`.
   */
  readonly resume?: { readonly records: number; readonly inputBytes: number };
  /**
   * Called in order after every chunk's output is written (awaited before the next):
   * the point an interrupted run can continue from.
   */
  readonly onCommit?: (c: CsvCommit) => void | Promise<void>;
}

/** What the output holds once a chunk is written: where an interrupted run can continue ({@link PseudonymiseCsvOptions.resume}). */
export interface CsvCommit {
  /** Data records read up to here (those of the run continued included). */
  readonly records: number;
  /** Input bytes up to here, from the start of the input (header included). */
  readonly inputBytes: number;
  /** Records written with a pseudonym, by this run. */
  readonly pseudonymised: number;
  /** Records rejected, by this run. */
  readonly rejected: number;
}

/** What a run did. */
export interface PseudonymiseCsvSummary {
  /** Data records read (blank lines excluded); in a resumed run, those of the run continued too. */
  readonly records: number;
  /** Records written with a pseudonym. */
  readonly pseudonymised: number;
  /** Records rejected (invalid identifier or wrong field count). */
  readonly rejected: number;
  /** Rejections by `code/reason`, e.g. `{ "INVALID_BSN/checksum": 3 }`. */
  readonly rejectedByReason: Readonly<Record<string, number>>;
  /** Bytes of input read. */
  readonly bytesRead: number;
  /** Wall time in milliseconds. */
  readonly elapsedMs: number;
  /** Worker threads used (0: inline). */
  readonly threads: number;
}

const WORKER_URL = new URL('./csv-worker.js', import.meta.url);

/** True when the compiled worker script is present (it is not when running from sources). */
export function workersAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
}

/**
 * Pseudonymises one column of a CSV stream into another stream. The header is kept;
 * only the named column changes. The output keeps the input's byte order mark and line
 * ending. Output is written in input order with back-pressure.
 *
 * On failure (policy `error` and an invalid record, malformed CSV, an I/O error) the
 * returned promise rejects with a {@link KoppelError} that names the record number but
 * never its content; output already written is incomplete and should be discarded
 * (the CLI writes to a temporary file and renames it only on success).
 *
 * @param input - CSV bytes, e.g. `fs.createReadStream(path)` or `process.stdin`
 * @param output - where the CSV output goes
 */
export async function pseudonymiseCsv(input: AsyncIterable<Uint8Array>, output: Writable, options: PseudonymiseCsvOptions): Promise<PseudonymiseCsvSummary> {
  const start = performance.now();
  const policy = options.onInvalid ?? 'error';
  if (!INVALID_POLICIES.includes(policy)) throw new KoppelError('INVALID_ARGUMENT', `onInvalid must be one of ${INVALID_POLICIES.join(', ')}.`);
  const delimiter = options.delimiter ?? ',';
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw new KoppelError('INVALID_ARGUMENT', 'threads must be an integer from 0 to 256.');
  if (threads > 0 && !workersAvailable()) {
    throw new KoppelError('WORKER_FAILED', 'Worker threads need the compiled package (dist/); run `npm run build`, or pass threads: 0.');
  }
  const idType = options.idType ?? 'raw';
  // Construct first: validates key, domain and idType before any input is read.
  const inline = new Pseudonymiser({ key: options.key, domain: options.domain, idType });
  const progressEvery = options.progressIntervalMs ?? 1000;

  const chunker = new CsvChunker({ header: true });
  const report = new SkipReport(options.onRejected);
  const ff = new FailFast();
  let pool: TaskPool<typeof csvChunkOps> | undefined;
  let pipe: OrderedPipeline<ChunkOutput> | undefined;
  const resume = options.resume;
  if (resume && !(Number.isSafeInteger(resume.records) && resume.records >= 0 && Number.isSafeInteger(resume.inputBytes) && resume.inputBytes >= 0))
    throw new KoppelError('INVALID_ARGUMENT', 'resume needs whole, non-negative records and inputBytes.');
  let records = resume?.records ?? 0;
  // Input offsets: of the next chunk's first byte, and the ends of the chunks in flight, in order.
  let offset = 0;
  const ends: number[] = [];
  let pseudonymised = 0;
  let bytesRead = 0;
  let lastProgress = start;

  // One listener for output errors for the whole run, raced against each 'drain'.
  let onOutputError: (e: unknown) => void = () => {};
  const outputFailed = new Promise<never>((_, reject) => {
    onOutputError = reject;
  });
  outputFailed.catch(() => {});
  output.once('error', onOutputError);
  const writeOut = async (bytes: Uint8Array | string): Promise<void> => {
    if (bytes.length === 0) return;
    if (!output.write(bytes)) await Promise.race([once(output, 'drain'), outputFailed]);
  };

  // Record numbers: a chunk's first record number is only known once earlier chunks
  // are counted. Rather than serialise on that, chunks are numbered from 1 and their
  // results renumbered here, in order (so the earliest failure in the file wins).
  const settle = async (r: ChunkOutput): Promise<void> => {
    const base = records;
    if (r.failure) {
      const details = { ...r.failure.details };
      if (typeof details['record'] === 'number') details['record'] = base + details['record'];
      throw fromFailure({ ...r.failure, details });
    }
    for (const x of r.rejected) report.add({ record: base + x.record, code: x.code, reason: x.reason });
    records += r.records;
    pseudonymised += r.pseudonymised;
    await writeOut(r.bytes);
    const end = ends.shift() as number;
    await options.onCommit?.({ records, inputBytes: end, pseudonymised, rejected: report.count });
    const now = performance.now();
    if (options.onProgress && now - lastProgress >= progressEvery) {
      lastProgress = now;
      options.onProgress({ bytesRead, records, elapsedMs: now - start });
    }
  };

  const startPool = async (header: Uint8Array): Promise<void> => {
    const headerText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(header);
    const names = parseHeader(headerText, delimiter);
    // The output keeps the input's byte order mark and line ending (Excel round trips).
    const style = styleOf(header);
    const layout: ChunkLayout = { column: columnIndex(names, options.column), fields: names.length, delimiter, newline: style.newline, policy };
    options.onStyle?.(style);
    offset = header.length;
    if (resume && resume.inputBytes < offset) throw new KoppelError('INVALID_ARGUMENT', 'resume.inputBytes lies inside the header.');
    // A resumed run's output already holds the header.
    if (!resume) await writeOut(formatHeader(names, delimiter, style));
    const domainKey = deriveDomainKey(options.key, options.domain);
    try {
      // Two chunks per worker: the next is waiting when one is done, whatever the main thread is doing.
      pool = new TaskPool(csvChunkOps, WORKER_URL, threads, {
        init: { op: 'init', arg: { kid: inline.kid, domain: options.domain, domainKey, idType, layout } },
        dispose: 'dispose',
        perWorker: 2,
      });
    } finally {
      wipe(domainKey); // structured clone gave each worker its own copy
    }
    // Four chunks in flight per worker (two handed to it, two waiting for whichever is free
    // first): with only two, a worker that finishes early waits for a slower one's chunk
    // to be written.
    pipe = new OrderedPipeline(Math.max(2, threads * 4), ff, settle);
  };

  const dispatch = async (chunk: Uint8Array): Promise<void> => {
    if (!pool || !pipe) throw new KoppelError('INTERNAL', 'CSV chunk before header.');
    const start = offset;
    offset += chunk.length;
    // Resumed: what lies before the committed point was pseudonymised and written by an
    // earlier run (a commit point is a chunk end, so a record boundary of this same input).
    const skip = resume ? resume.inputBytes - start : 0;
    if (skip >= chunk.length) return;
    ends.push(offset);
    // Copy into a fresh buffer: it is transferred to a worker, and the read buffer is reused.
    const bytes = new Uint8Array(skip > 0 ? chunk.subarray(skip) : chunk);
    await pipe.push(pool.run('chunk', bytes, { transfer: [bytes.buffer] }));
  };

  try {
    for await (const data of input) {
      options.signal?.throwIfAborted();
      bytesRead += data.byteLength;
      for (const chunk of chunker.push(data)) {
        if (!pool) await startPool(chunker.header as Uint8Array);
        await dispatch(chunk);
      }
      if (!pool && chunker.header) await startPool(chunker.header);
    }
    const tail = chunker.end();
    if (!pool) {
      if (!chunker.header) throw new KoppelError('CSV_MALFORMED', 'The CSV input is empty; it needs at least a header row.');
      await startPool(chunker.header);
    }
    if (tail) await dispatch(tail);
    await pipe?.flush();
  } catch (e) {
    if (e instanceof KoppelError) throw e;
    if (e instanceof Error && e.name === 'AbortError') throw new KoppelError('ABORTED', 'Pseudonymisation was cancelled.', { cause: e });
    throw new KoppelError('IO_ERROR', 'Reading the CSV input or writing the output failed; check the paths, permissions and free disk space.', { cause: e });
  } finally {
    output.removeListener('error', onOutputError);
    inline.destroy();
    await pool?.close();
  }
  return {
    records,
    pseudonymised,
    rejected: report.count,
    rejectedByReason: report.byReason,
    bytesRead,
    elapsedMs: performance.now() - start,
    threads,
  };
}
