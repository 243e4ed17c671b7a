/**
 * Compact per-element storage for a PSI run: the client's identifiers (deduplicated, by
 * position), and the 16-byte tags it matches against, without a JavaScript object per
 * element. Everything lives in typed arrays in pages of {@link PAGE_ITEMS} items, so a
 * set grows without copying what it holds and holds at most one page of slack.
 *
 * - {@link FixedStore}: records of one width, by position (tags, payload keys).
 * - {@link StringSet}: distinct strings in the order first added, by position, with
 *   an open-addressing hash table over their bytes (exact comparison on every probe).
 * - {@link TagIndex}: a {@link FixedStore} of tags with an open-addressing table from a
 *   tag to its position; tags are uniform, so their first bytes are the hash.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';

const PAGE_BITS = 16;
/** Items per page of every store here. */
export const PAGE_ITEMS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_ITEMS - 1;
/** A table is grown once it would be fuller than this (linear probing stays short). */
const MAX_LOAD = 2 / 3;
const MIN_TABLE = 1024;

/** Fixed-width records appended in order and read by position. */
export class FixedStore {
  private readonly pages: Uint8Array[] = [];
  private count = 0;

  /** @param width bytes of each record */
  constructor(readonly width: number) {}

  /** Records held. */
  get size(): number {
    return this.count;
  }

  /** Appends the record `src[offset .. offset + width)`; returns its position. */
  push(src: Uint8Array, offset: number): number {
    const p = this.count;
    if ((p & PAGE_MASK) === 0) this.pages.push(new Uint8Array(PAGE_ITEMS * this.width));
    (this.pages[p >>> PAGE_BITS] as Uint8Array).set(src.subarray(offset, offset + this.width), (p & PAGE_MASK) * this.width);
    return this.count++;
  }

  /** Appends every record of packed `src` (a whole number of records). */
  pushAll(src: Uint8Array): void {
    for (let o = 0; o < src.length; o += this.width) this.push(src, o);
  }

  /** The page holding position `p` (its record starts at {@link FixedStore.offset}). */
  page(p: number): Uint8Array {
    return this.pages[p >>> PAGE_BITS] as Uint8Array;
  }

  /** Where the record at position `p` starts in its {@link FixedStore.page}. */
  offset(p: number): number {
    return (p & PAGE_MASK) * this.width;
  }

  /** The record at position `p` (a view, valid while the store lives). */
  get(p: number): Uint8Array {
    const at = this.offset(p);
    return this.page(p).subarray(at, at + this.width);
  }

  /** Overwrites every record with zeros (secret records: payload keys). */
  wipe(): void {
    for (const page of this.pages) page.fill(0);
  }
}

/** A hash of the bytes `b[start .. end)`, as an unsigned or signed 32-bit integer. */
export type BytesHash = (b: Uint8Array, start: number, end: number) => number;

/**
 * FNV-1a over the bytes from a seed, finished with MurmurHash3's 32-bit mixer; a
 * fresh random seed per set, so no input is slow on purpose more than by chance.
 */
export function seededHash(seed: number = randomBytes(4).readUInt32LE(0)): BytesHash {
  return (b, start, end) => {
    let h = (seed ^ (end - start)) >>> 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
}

/** Marks the UTF-16 form of a string that is not all ASCII (ASCII bytes are below 0x80). */
const WIDE = 0xff;

interface StringPage {
  bytes: Uint8Array;
  /** ends[k]: where item k of the page ends in `bytes` (item k starts at ends[k - 1], or 0). */
  readonly ends: Uint32Array;
}

/**
 * Distinct strings by position, in the order first added. A string is held as its
 * bytes: ASCII as one byte per character; anything else as a marker byte and its UTF-16
 * code units (so every JavaScript string, lone surrogates included, keeps its identity).
 * The hash table holds positions only; a probe compares the bytes exactly, so a hash
 * collision costs time, never a wrong answer.
 */
export class StringSet {
  private readonly pages: StringPage[] = [];
  private table: Uint32Array = new Uint32Array(MIN_TABLE);
  private count = 0;
  private scratch = new Uint8Array(64);

  /** @param hash the hash of a string's bytes (default: {@link seededHash} with a random seed); injectable for tests */
  constructor(private readonly hash: BytesHash = seededHash()) {}

  /** Distinct strings held. */
  get size(): number {
    return this.count;
  }

  /** Bytes of typed arrays held (strings, their ends, the table): what the set costs in memory. */
  get heldBytes(): number {
    let n = this.table.byteLength;
    for (const page of this.pages) n += page.bytes.byteLength + page.ends.byteLength;
    return n;
  }

  /** Adds `s` unless it is held already; true if it was new (its position is then `size - 1`). */
  add(s: string): boolean {
    const p = this.count;
    const local = p & PAGE_MASK;
    if (local === 0 && this.pages.length === p >>> PAGE_BITS) this.newPage(); // not again after a duplicate at a page's start
    const page = this.pages[p >>> PAGE_BITS] as StringPage;
    const start = local === 0 ? 0 : (page.ends[local - 1] as number);
    if (page.bytes.length < start + 1 + 2 * s.length) {
      const grown = new Uint8Array(Math.max(page.bytes.length * 2, start + 1 + 2 * s.length));
      grown.set(page.bytes.subarray(0, start));
      page.bytes = grown;
    }
    const end = encodeInto(s, page.bytes, start);
    const h = this.hash(page.bytes, start, end);
    const mask = this.table.length - 1;
    let i = h & mask;
    for (let v = this.table[i] as number; v !== 0; v = this.table[i] as number) {
      if (this.equalsAt(v - 1, page.bytes, start, end)) return false;
      i = (i + 1) & mask;
    }
    this.table[i] = p + 1;
    page.ends[local] = end;
    this.count++;
    if (this.count > this.table.length * MAX_LOAD) this.grow();
    return true;
  }

  /** The position of `s`, or -1 if it is not held. */
  indexOf(s: string): number {
    if (this.scratch.length < 1 + 2 * s.length) this.scratch = new Uint8Array(2 + 4 * s.length);
    const end = encodeInto(s, this.scratch, 0);
    const mask = this.table.length - 1;
    let i = this.hash(this.scratch, 0, end) & mask;
    for (let v = this.table[i] as number; v !== 0; v = this.table[i] as number) {
      if (this.equalsAt(v - 1, this.scratch, 0, end)) return v - 1;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Whether `s` is held. */
  has(s: string): boolean {
    return this.indexOf(s) >= 0;
  }

  /** The string at position `p` (0 <= p < size). */
  get(p: number): string {
    const page = this.pages[p >>> PAGE_BITS] as StringPage;
    const k = p & PAGE_MASK;
    const start = k === 0 ? 0 : (page.ends[k - 1] as number);
    const end = page.ends[k] as number;
    const b = page.bytes;
    if (end > start && b[start] === WIDE) {
      let s = '';
      for (let i = start + 1; i < end; i += 2) s += String.fromCharCode((b[i] as number) | ((b[i + 1] as number) << 8));
      return s;
    }
    return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
  }

  /** Releases the hash table (the strings stay readable by position; `add`, `indexOf` and `has` may no longer be called). */
  freeze(): void {
    this.table = new Uint32Array(0);
  }

  /** Drops every string and the table: the set is empty again. */
  clear(): void {
    this.pages.length = 0;
    this.table = new Uint32Array(MIN_TABLE);
    this.count = 0;
  }

  private newPage(): void {
    const last = this.pages[this.pages.length - 1];
    if (last) last.bytes = last.bytes.slice(0, last.ends[PAGE_MASK]); // a full page keeps no slack
    this.pages.push({ bytes: new Uint8Array(PAGE_ITEMS * 12), ends: new Uint32Array(PAGE_ITEMS) });
  }

  /**
   * Doubles the table, placing the positions in order: the strings are read one page
   * after another rather than in the old table's (random) order.
   */
  private grow(): void {
    const next = new Uint32Array(this.table.length * 2);
    const mask = next.length - 1;
    for (let p = 0; p < this.count; p++) {
      let j = this.hashAt(p) & mask;
      while (next[j] !== 0) j = (j + 1) & mask;
      next[j] = p + 1;
    }
    this.table = next;
  }

  private hashAt(p: number): number {
    const page = this.pages[p >>> PAGE_BITS] as StringPage;
    const k = p & PAGE_MASK;
    return this.hash(page.bytes, k === 0 ? 0 : (page.ends[k - 1] as number), page.ends[k] as number);
  }

  private equalsAt(p: number, b: Uint8Array, start: number, end: number): boolean {
    const page = this.pages[p >>> PAGE_BITS] as StringPage;
    const k = p & PAGE_MASK;
    const cs = k === 0 ? 0 : (page.ends[k - 1] as number);
    if ((page.ends[k] as number) - cs !== end - start) return false;
    const c = page.bytes;
    for (let i = 0; i < end - start; i++) if (c[cs + i] !== b[start + i]) return false;
    return true;
  }
}

/** Writes the bytes of `s` (see {@link StringSet}) at `out[at ..]`, which has room for 1 + 2 * s.length; returns where they end. */
function encodeInto(s: string, out: Uint8Array, at: number): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    out[at + i] = c;
  }
  if (i === n) return at + n;
  out[at] = WIDE;
  for (let j = 0; j < n; j++) {
    const c = s.charCodeAt(j);
    out[at + 1 + 2 * j] = c & 0xff;
    out[at + 2 + 2 * j] = c >>> 8;
  }
  return at + 1 + 2 * n;
}

/** A hash of the 16-byte tag at `b[offset ..]`. */
export type TagHash = (b: Uint8Array, offset: number) => number;

/** The first four bytes of a tag, little-endian: tags are uniform (SHA-256 outputs), so this is a hash already. */
export const tagPrefixHash: TagHash = (b, o) =>
  ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16) | ((b[o + 3] as number) << 24)) >>> 0;

/**
 * Tags by position (the order added) and the position of a tag. Adding a tag that is
 * held already gives it the new position (as `Map.set` would): the older one is no
 * longer found.
 */
export class TagIndex {
  private readonly tags: FixedStore;
  private table: Uint32Array = new Uint32Array(MIN_TABLE);

  /**
   * @param width bytes of a tag
   * @param hash where a tag goes in the table (default {@link tagPrefixHash}); injectable for tests
   */
  constructor(
    readonly width: number,
    private readonly hash: TagHash = tagPrefixHash,
  ) {
    this.tags = new FixedStore(width);
  }

  /** Tags added. */
  get size(): number {
    return this.tags.size;
  }

  /** Adds every tag of packed `src`, at the next positions. */
  addAll(src: Uint8Array): void {
    for (let o = 0; o < src.length; o += this.width) this.add(src, o);
  }

  /** Adds the tag at `src[offset ..]` at the next position. */
  add(src: Uint8Array, offset: number): void {
    const p = this.tags.size;
    const mask = this.table.length - 1;
    let i = this.hash(src, offset) & mask;
    for (let v = this.table[i] as number; v !== 0; v = this.table[i] as number) {
      if (this.equalsAt(v - 1, src, offset)) break;
      i = (i + 1) & mask;
    }
    const fresh = this.table[i] === 0;
    this.tags.push(src, offset);
    this.table[i] = p + 1;
    if (fresh && this.tags.size > this.table.length * MAX_LOAD) this.grow();
  }

  /**
   * Doubles the table, placing the positions in order (tags read one page after
   * another); a tag held twice ends at its later position, as when it was added.
   */
  private grow(): void {
    const next = new Uint32Array(this.table.length * 2);
    const mask = next.length - 1;
    for (let p = 0; p < this.tags.size; p++) {
      const page = this.tags.page(p);
      const at = this.tags.offset(p);
      let j = this.hash(page, at) & mask;
      for (let v = next[j] as number; v !== 0; v = next[j] as number) {
        if (this.equalsAt(v - 1, page, at)) break;
        j = (j + 1) & mask;
      }
      next[j] = p + 1;
    }
    this.table = next;
  }

  /** The position of the tag at `src[offset ..]`, or -1 if it is not held. */
  lookup(src: Uint8Array, offset: number): number {
    const mask = this.table.length - 1;
    let i = this.hash(src, offset) & mask;
    for (let v = this.table[i] as number; v !== 0; v = this.table[i] as number) {
      if (this.equalsAt(v - 1, src, offset)) return v - 1;
      i = (i + 1) & mask;
    }
    return -1;
  }

  private equalsAt(p: number, b: Uint8Array, offset: number): boolean {
    const page = this.tags.page(p);
    const at = this.tags.offset(p);
    for (let i = 0; i < this.width; i++) if (page[at + i] !== b[offset + i]) return false;
    return true;
  }
}
