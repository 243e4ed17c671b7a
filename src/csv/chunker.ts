/**
 * Splits a CSV byte stream into chunks that end on record boundaries, so that chunks
 * can be parsed independently (on worker threads) and in constant memory.
 *
 * A newline ends a record exactly when it lies outside a quoted field. With RFC 4180
 * quoting (a quoted field opens and closes with `"`, and `""` stands for one quote
 * inside it) that is when an even number of `"` precede it. The chunker keeps that
 * parity across reads and cuts after the last such newline in each read. A stray `"`
 * inside an unquoted field (which lenient parsers read literally) only delays a cut;
 * it cannot produce a wrong one, because the parser of the combined chunk sees the
 * same bytes a whole-file parser would.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { KoppelError } from '../errors/index.js';

const QUOTE = 0x22;
const LF = 0x0a;

/** Default cap on one record's size: a record longer than this is refused. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Finds the last (or first) record-ending LF in `b[from..]`, given whether `from` lies
 * inside a quoted field. Returns the cut index (-1 for none) and the quote state at
 * the end of `b`.
 */
export function findCut(b: Uint8Array, from: number, inQuote: boolean, first: boolean): { cut: number; inQuote: boolean } {
  let pos = from;
  let q = inQuote;
  let cut = -1;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (;;) {
    const qi = buf.indexOf(QUOTE, pos);
    const segEnd = qi === -1 ? buf.length : qi;
    if (!q && segEnd > pos) {
      const nl = first ? buf.indexOf(LF, pos) : buf.lastIndexOf(LF, segEnd - 1);
      if (nl !== -1 && nl >= pos && nl < segEnd) {
        cut = nl;
        if (first) return { cut, inQuote: q };
      }
    }
    if (qi === -1) return { cut, inQuote: q };
    q = !q;
    pos = qi + 1;
  }
}

/**
 * Incremental splitter: feed it reads with {@link CsvChunker.push}, get back complete
 * chunks of whole records; {@link CsvChunker.end} returns the final partial record.
 * The first record (the header) can be taken separately with `header: true`.
 */
export class CsvChunker {
  #carry: Buffer = Buffer.alloc(0);
  #inQuote = false;
  #needHeader: boolean;
  #header: Buffer | undefined;
  readonly #maxRecordBytes: number;

  /**
   * @param options.header - split the first record off as the header
   * @param options.maxRecordBytes - refuse records longer than this (unbalanced quotes)
   */
  constructor(options: { header?: boolean; maxRecordBytes?: number } = {}) {
    this.#needHeader = options.header ?? true;
    this.#maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** The header record (with its newline), once it has been seen. */
  get header(): Buffer | undefined {
    return this.#header;
  }

  /** Adds bytes; returns zero or more chunks of complete records. */
  push(data: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let b: Buffer = this.#carry.length === 0 ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.concat([this.#carry, data]);
    // Scan only the new bytes: the carry's quote state is known.
    let scanFrom = this.#carry.length;
    if (this.#needHeader) {
      const h = findCut(b, scanFrom, this.#inQuote, true);
      if (h.cut === -1) {
        this.#inQuote = h.inQuote;
        this.#keep(b);
        return out;
      }
      this.#header = Buffer.from(b.subarray(0, h.cut + 1));
      this.#needHeader = false;
      b = b.subarray(h.cut + 1);
      scanFrom = 0;
      this.#inQuote = false;
    }
    const { cut, inQuote } = findCut(b, scanFrom, this.#inQuote, false);
    this.#inQuote = inQuote;
    if (cut === -1) {
      this.#keep(b);
      return out;
    }
    out.push(b.subarray(0, cut + 1));
    this.#keep(b.subarray(cut + 1));
    return out;
  }

  /** Ends the input; returns the last record if the file does not end in a newline. */
  end(): Buffer | undefined {
    const rest = this.#carry;
    this.#carry = Buffer.alloc(0);
    if (this.#needHeader) {
      this.#needHeader = false;
      if (rest.length > 0) this.#header = rest;
      return undefined;
    }
    return rest.length > 0 ? rest : undefined;
  }

  #keep(b: Buffer): void {
    if (b.length > this.#maxRecordBytes) {
      throw new KoppelError(
        'CSV_MALFORMED',
        `A CSV record is longer than ${this.#maxRecordBytes} bytes: most likely a quote (") is not closed, or the file uses a line ending other than LF or CRLF.`,
        { details: { maxRecordBytes: this.#maxRecordBytes } },
      );
    }
    // Copy so that the (possibly large) read buffer is not kept alive by a small tail.
    this.#carry = Buffer.from(b);
  }
}
