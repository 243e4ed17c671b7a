/**
 * Reading a CSV stream as batches of records, in constant memory: the header first,
 * then records in the order of the file, chunk by chunk.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { CsvChunker } from './chunker.js';
import { parseHeader, parseRecords, type CsvDelimiter } from './records.js';

/** A batch of records with the number of its first record (1-based, after the header). */
export interface RecordBatch {
  readonly firstRecord: number;
  readonly records: string[][];
}

/** A CSV stream being read. */
export interface CsvReader {
  /** The header's field names. */
  readonly header: string[];
  /** The records, in batches, in file order. Can be iterated once. */
  readonly batches: AsyncGenerator<RecordBatch, void, undefined>;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(bytes: Uint8Array, record: number): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new KoppelError('CSV_MALFORMED', 'The CSV input is not valid UTF-8; convert it (e.g. iconv -f latin1 -t utf-8) and try again.', {
      details: { record },
    });
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
  const header = parseHeader(decode(chunker.header, 0), delimiter);
  let next = 1;
  const parse = (bytes: Uint8Array): RecordBatch => {
    const records = parseRecords(decode(bytes, next), delimiter, next);
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
  return { header, batches: batches() };
}
