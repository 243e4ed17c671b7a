/**
 * The fast path of CSV pseudonymisation: a chunk of whole records, bytes in and bytes
 * out, without parsing every field into a string. A strict RFC 4180 scanner finds the
 * fields of each record on the bytes; the identifier field becomes a string (for
 * normalisation and the HMAC), every other field is copied byte for byte, or without
 * its quotes when it is quoted but does not need to be (as the general path writes it).
 *
 * Output is byte-identical to {@link processChunk} (the general path, papaparse and
 * re-quoting) for every input: anything the scanner does not recognise as the plain
 * case hands work to the general path.
 * - A record the scanner reads but that is not a plain hit (wrong field count, invalid
 *   identifier) goes alone through the general path, so its rejection is handled by
 *   exactly the same code.
 * - A record the scanner does not accept (a quote inside an unquoted field, text after
 *   a closing quote, a lone CR, a leading byte order mark, ...) and everything after it
 *   in the chunk go through the general path: the records before it end where
 *   papaparse would end them, so the rest starts on a record boundary.
 * - Any failure (policy `error`, a quote error) recomputes the whole chunk on the
 *   general path, so that the same failure wins as there (a quote error anywhere in
 *   the chunk comes before any invalid identifier).
 *
 * test/pseudonymise/csv-fast.test.ts compares both paths on random CSVs.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import type { InvalidRecord } from '../csv/policy.js';
import { processChunk, toFailure, type ChunkLayout, type ChunkResult } from './csv-chunk.js';
import { DIGEST_INTO, type Pseudonymiser } from './pseudonymiser.js';
import { checkerFor } from './normalise.js';
import { HMAC_BASE64URL_LENGTH } from '../util/fixed-hmac.js';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** The outcome of {@link processChunkBytes}: {@link ChunkResult} with the output as bytes. */
export interface ChunkBytesResult extends Omit<ChunkResult, 'text'> {
  /** The output records, UTF-8. */
  readonly bytes: Uint8Array;
}

/** A growable output buffer. */
class Out {
  /** The bytes (written through this plain view: faster than through the Buffer). */
  u: Uint8Array;
  /** The same memory as a Buffer, for string writes. */
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.u = new Uint8Array(Math.max(size, 1024));
    this.buf = Buffer.from(this.u.buffer);
  }
  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.pos + n <= this.u.length) return;
    const next = new Uint8Array(Math.max(this.u.length * 2, this.pos + n));
    next.set(this.u.subarray(0, this.pos));
    this.u = next;
    this.buf = Buffer.from(next.buffer);
  }
  /** Appends `src[from..to)`. */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.room(n);
    const b = this.u;
    let p = this.pos;
    if (n > 48) {
      b.set(src.subarray(from, to), p);
      p += n;
    } else {
      for (let i = from; i < to; i++) b[p++] = src[i] as number;
    }
    this.pos = p;
  }
  /** Appends any string as UTF-8. */
  text(s: string): void {
    this.room(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  /** The bytes written, in a buffer of their own (so it can be transferred whole). */
  result(): Uint8Array {
    return this.u.slice(0, this.pos);
  }
}

/**
 * Per field of the record being scanned: start, end (the raw bytes, quotes included)
 * and a flag word (1: quoted, 2: needs quotes when written).
 */
const QUOTED = 1;
const NEEDS = 2;

/** Result codes of the record scanner. */
const PLAIN = 0;
const UNUSUAL = 1;

/** Decodes an identifier field's bytes (ASCII by latin1, which is faster). */
function fieldText(b: Buffer, u: Uint8Array, from: number, to: number): string {
  for (let i = from; i < to; i++) if ((u[i] as number) >= 0x80) return b.toString('utf8', from, to);
  return b.toString('latin1', from, to);
}

/** The whole chunk on the general path. */
function general(b: Buffer, p: Pseudonymiser, layout: ChunkLayout, firstRecord: number): ChunkBytesResult {
  const { text, ...rest } = processChunk(new TextDecoder().decode(b), p, layout, firstRecord);
  return { ...rest, bytes: Buffer.from(text, 'utf8') };
}

/**
 * `b[from..to)`, whole records, on the general path: its output appended to `out`, its
 * rejections to `rejected`. Undefined on a failure (or a leading byte order mark, which
 * decoding it on its own would drop, unlike decoding the whole chunk).
 */
function part(
  b: Buffer,
  from: number,
  to: number,
  p: Pseudonymiser,
  layout: ChunkLayout,
  first: number,
  out: Out,
  rejected: InvalidRecord[],
): ChunkResult | undefined {
  if (b[from] === 0xef && b[from + 1] === 0xbb && b[from + 2] === 0xbf) return undefined;
  const r = processChunk(new TextDecoder().decode(b.subarray(from, to)), p, layout, first);
  if (r.failure) return undefined;
  for (const x of r.rejected) rejected.push(x);
  out.text(r.text);
  return r;
}

/**
 * Pseudonymises the identifier column of every record in `bytes` (whole records, valid
 * UTF-8: the caller checks), with output identical to {@link processChunk} on the
 * decoded text.
 *
 * @param firstRecord - 1-based number of the chunk's first record, for messages
 */
export function processChunkBytes(bytes: Uint8Array, p: Pseudonymiser, layout: ChunkLayout, firstRecord: number): ChunkBytesResult {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Byte reads on a plain Uint8Array view; the Buffer for copies and decoding.
  const u = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const check = checkerFor(p.idType);
  const prefix = new Uint8Array(Buffer.from(p.kid + '.', 'latin1'));
  const n = b.length;
  const { column, fields, delimiter, newline } = layout;
  const delim = delimiter.charCodeAt(0);
  const nl = newline === '\n' ? [LF] : [CR, LF];
  const out = new Out(n + (n >>> 1) * 3);
  const starts = new Int32Array(fields);
  const ends = new Int32Array(fields);
  const flags = new Uint8Array(fields);
  const rejected: InvalidRecord[] = [];
  let records = 0;
  let done = 0;
  let pos = 0;

  try {
    while (pos < n) {
      const start = pos;
      let c = u[pos] as number;
      // Blank lines (LF, CRLF) are skipped and not counted, as on the general path.
      if (c === LF) {
        pos++;
        continue;
      }
      if (c === CR && pos + 1 < n && u[pos + 1] === LF) {
        pos += 2;
        continue;
      }
      // A byte order mark at the start of a text is dropped by the decoder and by papaparse.
      if (c === 0xef && start === 0) return general(b, p, layout, firstRecord);
      // Scan one record.
      let count = 0;
      let status = PLAIN;
      let recordEnd = -1; // index after the record's LF (or n)
      for (;;) {
        const fs = pos;
        let fe: number;
        let fl = 0;
        if (pos < n && u[pos] === QUOTE) {
          fl = QUOTED;
          // To the closing quote; the content needs quotes if it holds a quote (doubled),
          // the delimiter, CR or LF.
          let i = pos + 1;
          for (;;) {
            if (i >= n) {
              status = UNUSUAL;
              break;
            }
            const x = u[i] as number;
            if (x === QUOTE) {
              if (i + 1 < n && u[i + 1] === QUOTE) {
                fl |= NEEDS;
                i += 2;
                continue;
              }
              break;
            }
            if (x === delim || x === LF || x === CR) fl |= NEEDS;
            i++;
          }
          if (status === UNUSUAL) break;
          fe = i + 1;
          pos = fe;
          c = pos < n ? (u[pos] as number) : LF;
          if (c === CR && pos + 1 < n && u[pos + 1] === LF) {
            // The general path drops a CR that ends the record's last field, inside quotes too.
            if (u[i - 1] === CR) {
              status = UNUSUAL;
              break;
            }
            pos++;
            c = LF;
          } else if (c === LF && u[i - 1] === CR) {
            status = UNUSUAL;
            break;
          }
          if (c !== delim && c !== LF) {
            status = UNUSUAL;
            break;
          }
        } else {
          let i = pos;
          for (; i < n; i++) {
            const x = u[i] as number;
            if (x === delim || x === LF) break;
            if (x === QUOTE) {
              status = UNUSUAL;
              break;
            }
            if (x === CR) {
              if (i + 1 < n && u[i + 1] === LF) break;
              status = UNUSUAL;
              break;
            }
          }
          if (status === UNUSUAL) break;
          fe = i;
          if (i < n && u[i] === CR) i++;
          pos = i;
          c = i < n ? (u[i] as number) : LF;
        }
        if (count < fields) {
          starts[count] = fs;
          ends[count] = fe;
          flags[count] = fl;
        }
        count++;
        if (c === LF) {
          recordEnd = pos < n ? pos + 1 : n;
          break;
        }
        pos++; // past the delimiter
      }
      if (status === UNUSUAL) {
        // This record and the rest of the chunk: on the general path.
        const r = part(b, start, n, p, layout, firstRecord + records, out, rejected);
        if (!r) return general(b, p, layout, firstRecord);
        records += r.records;
        done += r.pseudonymised;
        break;
      }
      pos = recordEnd;
      // A lone quoted empty field (`""`): the general path reads it as a blank line.
      if (count === 1 && ends[0] === (starts[0] as number) + 2 && flags[0] === QUOTED) {
        const r = part(b, start, recordEnd, p, layout, firstRecord + records, out, rejected);
        if (!r) return general(b, p, layout, firstRecord);
        records += r.records;
        done += r.pseudonymised;
        continue;
      }
      if (count !== fields) {
        const r = part(b, start, recordEnd, p, layout, firstRecord + records, out, rejected);
        if (!r) return general(b, p, layout, firstRecord);
        records += r.records;
        done += r.pseudonymised;
        continue;
      }
      const cs = starts[column] as number;
      const ce = ends[column] as number;
      const cf = flags[column] as number;
      let id: string;
      if (cf & QUOTED) {
        id = fieldText(b, u, cs + 1, ce - 1);
        if (cf & NEEDS) id = id.replaceAll('""', '"');
      } else id = fieldText(b, u, cs, ce);
      const normal = check(id);
      if (typeof normal !== 'string') {
        const r = part(b, start, recordEnd, p, layout, firstRecord + records, out, rejected);
        if (!r) return general(b, p, layout, firstRecord);
        records += r.records;
        done += r.pseudonymised;
        continue;
      }
      records++;
      done++;
      // Write the record: runs of input bytes copied as they are, the identifier replaced,
      // quoted fields that need no quotes unquoted.
      let run = -1; // start of a pending run of input bytes to copy
      for (let f = 0; f < fields; f++) {
        const s = starts[f] as number;
        const e = ends[f] as number;
        const fl = flags[f] as number;
        if (f === column || (fl & (QUOTED | NEEDS)) === QUOTED) {
          if (run !== -1) out.copy(u, run, s);
          else if (f > 0) out.copy(u, s - 1, s); // the delimiter
          if (f === column) {
            out.copy(prefix, 0, prefix.length);
            out.room(HMAC_BASE64URL_LENGTH);
            out.pos = p[DIGEST_INTO](normal, out.u, out.pos);
          } else out.copy(u, s + 1, e - 1);
          run = -1;
          if (f + 1 < fields) run = e; // from the delimiter after this field
        } else if (run === -1) {
          run = f > 0 ? s - 1 : s;
        }
      }
      if (run !== -1) out.copy(u, run, ends[fields - 1] as number);
      out.room(2);
      for (const x of nl) out.u[out.pos++] = x;
    }
  } catch (e) {
    return { records, pseudonymised: done, rejected, bytes: new Uint8Array(0), failure: toFailure(e) };
  }
  return { records, pseudonymised: done, rejected, bytes: out.result() };
}
