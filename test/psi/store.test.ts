/**
 * The PSI's compact stores against JavaScript's Set and Map: StringSet deduplicates
 * exactly as a Set<string> (order of first occurrence, every string including lone
 * surrogates and non-ASCII), TagIndex finds what a Map of tags finds (a re-added tag
 * takes the newer position), FixedStore returns what was pushed. Forced hash collisions
 * (a constant or two-valued hash) and more items than a page and a table hold exercise
 * the probing, growth and page paths.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FixedStore, PAGE_ITEMS, seededHash, StringSet, TagIndex, type BytesHash, type TagHash } from '../../src/psi/store.js';

const constant: BytesHash = () => 7;
const twoValued: BytesHash = (_b, s, e) => (e - s) & 1;
const tagConstant: TagHash = () => 3;

/** Strings of every kind: ASCII, Latin-1, astral, lone surrogates, the marker byte's code unit. */
const anyString = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: fc.constantFrom('a', '\u00ff', '\ud800', '\udc00', '\u0000', 'ÿa'), maxLength: 4 }),
);

function checkAgainstSet(items: string[], set: StringSet): void {
  const ref = new Set<string>();
  for (const s of items) {
    expect(set.add(s)).toBe(!ref.has(s));
    ref.add(s);
  }
  const order = [...ref];
  expect(set.size).toBe(order.length);
  order.forEach((s, i) => {
    expect(set.get(i)).toBe(s);
    expect(set.indexOf(s)).toBe(i);
  });
}

describe('StringSet', () => {
  it.each<[string, BytesHash | undefined]>([
    ['the default seeded hash', undefined],
    ['a constant hash (every probe collides)', constant],
    ['a two-valued hash', twoValued],
  ])('deduplicates as a Set<string> does, in first-occurrence order, with %s', (_, hash) => {
    fc.assert(
      fc.property(fc.array(anyString, { maxLength: 80 }), fc.array(anyString, { maxLength: 20 }), (items, probes) => {
        const set = new StringSet(hash);
        checkAgainstSet(items, set);
        const ref = new Set(items);
        for (const p of probes) expect(set.has(p)).toBe(ref.has(p));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps distinct strings whose UTF-8 forms are equal (lone surrogates) and the marker apart from text', () => {
    const set = new StringSet(constant);
    checkAgainstSet(['\ud800', '\udc00', '\ufffd', '\u00ff', 'ÿ', '', '\u0000', '\u00ff\u0000', '\u0100'], set);
    expect(set.size).toBe(8); // 'ÿ' is '\u00ff'
  });

  it('holds more strings than a page and a table, and stays readable by position after freeze()', () => {
    const n = PAGE_ITEMS * 2 + 123;
    const set = new StringSet();
    for (let i = 0; i < n; i++) expect(set.add(`id-${i}`)).toBe(true);
    for (let i = 0; i < n; i += 997) expect(set.add(`id-${i}`)).toBe(false);
    expect(set.size).toBe(n);
    for (let i = 0; i < n; i += 1009) expect(set.indexOf(`id-${i}`)).toBe(i);
    expect(set.indexOf('id-x')).toBe(-1);
    set.freeze();
    for (let i = 0; i < n; i += 1013) expect(set.get(i)).toBe(`id-${i}`);
    expect(set.get(n - 1)).toBe(`id-${n - 1}`);
  });

  it('a duplicate at the start of a page costs no page of its own', () => {
    const fill = (set: StringSet, dupAtBoundary: boolean) => {
      for (let i = 0; i < PAGE_ITEMS * 2 + 10; i++) {
        if (dupAtBoundary && (i === PAGE_ITEMS || i === 2 * PAGE_ITEMS)) expect(set.add('id-0')).toBe(false);
        expect(set.add(`id-${i}`)).toBe(true);
      }
      return set;
    };
    const plain = fill(new StringSet(), false);
    const withDup = fill(new StringSet(), true);
    expect(withDup.heldBytes).toBe(plain.heldBytes);
    expect(withDup.get(PAGE_ITEMS)).toBe(`id-${PAGE_ITEMS}`);
    expect(withDup.get(2 * PAGE_ITEMS + 9)).toBe(`id-${2 * PAGE_ITEMS + 9}`);
  });

  it('is empty again after clear()', () => {
    const set = new StringSet();
    set.add('a');
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has('a')).toBe(false);
    expect(set.add('a')).toBe(true);
  });

  it('seededHash depends on its seed and on every byte', () => {
    const b = new TextEncoder().encode('123456789');
    const c = new TextEncoder().encode('123456780');
    expect(seededHash(1)(b, 0, 9)).not.toBe(seededHash(2)(b, 0, 9));
    expect(seededHash(1)(b, 0, 9)).not.toBe(seededHash(1)(c, 0, 9));
    expect(seededHash(1)(b, 0, 9)).toBe(seededHash(1)(b, 0, 9));
  });
});

describe('TagIndex', () => {
  const W = 4; // narrow tags, so random ones repeat and equal prefixes are common
  it.each<[string, TagHash | undefined]>([
    ['the prefix hash', undefined],
    ['a constant hash (every probe collides)', tagConstant],
  ])('finds what a Map of tags finds (a re-added tag moves to its newer position) with %s', (_, hash) => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: W, maxLength: W, max: 3 }), { maxLength: 100 }),
        fc.array(fc.uint8Array({ minLength: W, maxLength: W, max: 3 }), { maxLength: 30 }),
        (tags, probes) => {
          const index = new TagIndex(W, hash);
          const ref = new Map<string, number>();
          const packed = new Uint8Array(tags.length * W);
          tags.forEach((t, i) => packed.set(t, i * W));
          index.addAll(packed);
          tags.forEach((t, i) => ref.set(t.join(','), i));
          expect(index.size).toBe(tags.length);
          for (const t of [...tags, ...probes]) expect(index.lookup(t, 0)).toBe(ref.get(t.join(',')) ?? -1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps the newer position of a repeated tag when the table grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const n = 5000; // the table starts at 1024 slots: grows three times
        const index = new TagIndex(W);
        const ref = new Map<number, number>();
        const packed = new Uint8Array(n * W);
        const view = new DataView(packed.buffer);
        let x = seed;
        for (let i = 0; i < n; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const tag = x % 3000; // about 40% repeats
          view.setUint32(i * W, tag, true);
          ref.set(tag, i);
        }
        index.addAll(packed);
        for (const [tag, at] of ref) {
          view.setUint32(0, tag, true);
          expect(index.lookup(packed, 0)).toBe(at);
        }
        view.setUint32(0, 3001, true);
        expect(index.lookup(packed, 0)).toBe(-1);
      }),
      { numRuns: 10 },
    );
  });

  it('finds a tag at an offset of a larger body, across pages and table growth', () => {
    const n = PAGE_ITEMS + 5000;
    const index = new TagIndex(16);
    const packed = new Uint8Array(n * 16);
    const view = new DataView(packed.buffer);
    for (let i = 0; i < n; i++) {
      view.setUint32(i * 16, Math.imul(i, 0x9e3779b1) >>> 0, true); // distinct, spread prefixes
      view.setUint32(i * 16 + 12, i, true);
    }
    index.addAll(packed);
    const body = new Uint8Array(3 + 16);
    for (const i of [0, 1, PAGE_ITEMS - 1, PAGE_ITEMS, n - 1]) {
      body.set(packed.subarray(i * 16, i * 16 + 16), 3);
      expect(index.lookup(body, 3)).toBe(i);
    }
    body[18] = (body[18] as number) ^ 1; // the same prefix, another tail
    expect(index.lookup(body, 3)).toBe(-1);
  });
});

describe('FixedStore', () => {
  it('returns every record pushed, by position, across pages, and wipe() zeroes them', () => {
    const store = new FixedStore(3);
    const n = PAGE_ITEMS + 10;
    const packed = new Uint8Array(n * 3);
    for (let i = 0; i < packed.length; i++) packed[i] = (i * 31 + 7) & 0xff;
    store.pushAll(packed.subarray(0, 30));
    for (let o = 30; o < packed.length; o += 3) store.push(packed, o);
    expect(store.size).toBe(n);
    for (const i of [0, 9, 10, PAGE_ITEMS - 1, PAGE_ITEMS, n - 1]) expect([...store.get(i)]).toEqual([...packed.subarray(i * 3, i * 3 + 3)]);
    store.wipe();
    expect(store.get(n - 1).every((b) => b === 0)).toBe(true);
  });
});
