/**
 * Reading a CSV stream as batches of records, in constant memory: the header first,
 * then records in the order of the file, chunk by chunk.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { CsvChunker } from './chunker.js';
import { invalidUtf8Record, NOT_UTF8, parseHeader, parseRecords, styleOf, type CsvDelimiter, type CsvStyle } from './records.js';

/** A batch of records with the number of its first record (1-based, after the header). */
export interface RecordBatch {
  readonly firstRecord: number;
  readonly records: string[][];
}

/** A CSV stream being read. */
export interface CsvReader {
  /** The header's field names. */
  readonly header: string[];
  /** The file's byte order mark and line ending, for outputs that follow it. */
  readonly style: CsvStyle;
  /** The records, in batches, in file order. Can be iterated once. */
  readonly batches: AsyncGenerator<RecordBatch, void, undefined>;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a chunk of whole records whose first record is number `first`; the error
 * names the record that holds the first invalid byte (0: the header).
 */
function decode(bytes: Uint8Array, first: number, delimiter: CsvDelimiter): string {
  try {
    return decoder.decode(bytes);
  } catch {
    const record = first === 0 ? 0 : first + invalidUtf8Record(bytes, delimiter) - 1;
    throw new KoppelError('CSV_MALFORMED', NOT_UTF8, { details: { record } });
  }
}

/**
 * Opens a CSV stream: reads up to the end of the header and returns it with a
 * generator of the remaining records.
 *
 * @throws KoppelError `CSV_MALFORMED` for an empty input, bad quoting or bad encoding
 */
export async function openCsv(input: AsyncIterable<Uint8Array>, delimiter: CsvDelimiter = ','): Promise<CsvReader> {
  const chunker = new CsvChunker({ header: true });
  const it = input[Symbol.asyncIterator]();
  const pending: Uint8Array[] = [];
  let done = false;
  while (!chunker.header) {
    const r = await it.next();
    if (r.done) {
      done = true;
      const tail = chunker.end();
      if (tail) pending.push(tail);
      break;
    }
    pending.push(...chunker.push(r.value));
  }
  if (!chunker.header) throw new KoppelError('CSV_MALFORMED', 'The CSV input is empty; it needs at least a header row.');
  const header = parseHeader(decode(chunker.header, 0, delimiter), delimiter);
  const style = styleOf(chunker.header);
  let next = 1;
  const parse = (bytes: Uint8Array): RecordBatch => {
    const records = parseRecords(decode(bytes, next, delimiter), delimiter, next);
    const b = { firstRecord: next, records };
    next += records.length;
    return b;
  };
  async function* batches(): AsyncGenerator<RecordBatch, void, undefined> {
    for (const p of pending.splice(0)) yield parse(p);
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      for (const c of chunker.push(r.value)) yield parse(c);
    }
    const tail = chunker.end();
    if (tail) yield parse(tail);
  }
  return { header, style, batches: batches() };
}
