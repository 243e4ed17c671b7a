/**
 * The public codebook of an aggregation round: the table's dimensions (cells are the
 * combinations of their labels, e.g. region x household type), its value columns with
 * scale and bounds, and the limits that rule out overflow. Every party validates the
 * same codebook and refers to it by its SHA-256 hash.
 *
 * Layout of a vector: per cell, in row-major order of the dimensions, the words
 * `[contributors, cellKeySum, value_1, ..., value_k]`.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { t } from '../util/cjs.js';
import { KoppelError } from '../errors/index.js';
import { decodeOrThrow, intRange, pattern } from '../wire/codec.js';
import { MAX_SIGNED, parseFixed } from './ring.js';

const Name = pattern(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'name (letters, digits, _ . -; at most 64)');
// eslint-disable-next-line no-control-regex -- refuses control characters
const Label = pattern(/^[^\u0000-\u001f\u007f]{1,128}$/u, 'label (1 to 128 characters, no control characters)', 128);
const Decimal = pattern(/^[+-]?\d{1,19}(\.\d{1,9})?$/, 'decimal number', 32);

/** The io-ts codec of a codebook file. */
export const CodebookCodec = t.exact(
  t.type({
    id: Name,
    dimensions: t.array(t.exact(t.type({ name: Name, labels: t.array(Label) }))),
    values: t.array(t.exact(t.type({ name: Name, scale: intRange(0, 9), min: Decimal, max: Decimal }))),
    maxInputs: intRange(1, 1_000_000),
    maxRecordsPerInput: intRange(1, 1_000_000_000),
  }),
  'Codebook',
);

/** A codebook as written in JSON. */
export type CodebookSpec = t.TypeOf<typeof CodebookCodec>;

/** A validated codebook with derived layout. */
export interface Codebook {
  readonly spec: CodebookSpec;
  /** SHA-256 of the canonical JSON, hex: how parties name the codebook on the wire. */
  readonly hash: string;
  /** Number of cells (product of the dimensions' label counts). */
  readonly cells: number;
  /** Words per cell: 2 + number of value columns. */
  readonly width: number;
  /** Words per vector. */
  readonly length: number;
  /** Value column bounds in units of 10^-scale. */
  readonly bounds: ReadonlyArray<{ readonly min: bigint; readonly max: bigint }>;
  /** The index of a cell from its labels, one per dimension; -1 if a label is unknown. */
  cellIndex(labels: readonly string[]): number;
  /** The labels of a cell index. */
  cellLabels(index: number): string[];
}

/** Largest number of words in a vector: 50 million (400 MB per share). */
export const MAX_WORDS = 50_000_000;

function canonical(spec: CodebookSpec): string {
  return JSON.stringify({
    id: spec.id,
    dimensions: spec.dimensions.map((d) => ({ name: d.name, labels: d.labels })),
    values: spec.values.map((v) => ({ name: v.name, scale: v.scale, min: v.min, max: v.max })),
    maxInputs: spec.maxInputs,
    maxRecordsPerInput: spec.maxRecordsPerInput,
  });
}

/**
 * Validates a codebook: unique names and labels, a sane size, and bounds under which
 * no sum can leave [-2^63, 2^63): maxInputs x maxRecordsPerInput x max(|min|, |max|, 255).
 *
 * @throws KoppelError `INVALID_ARGUMENT` naming the problem
 */
export function makeCodebook(input: unknown): Codebook {
  const spec = decodeOrThrow(CodebookCodec, input, 'codebook', 'INVALID_ARGUMENT');
  const bad = (msg: string) => new KoppelError('INVALID_ARGUMENT', `Codebook: ${msg}`);
  if (spec.dimensions.length === 0) throw bad('at least one dimension is needed.');
  const names = [...spec.dimensions.map((d) => d.name), ...spec.values.map((v) => v.name)];
  if (new Set(names).size !== names.length) throw bad('dimension and value names must be unique.');
  for (const d of spec.dimensions) {
    if (d.labels.length === 0) throw bad(`dimension ${d.name} has no labels.`);
    if (new Set(d.labels).size !== d.labels.length) throw bad(`dimension ${d.name} has a repeated label.`);
    if (d.labels.includes('*')) throw bad(`dimension ${d.name} uses the label "*", which stands for totals.`);
  }
  const cells = spec.dimensions.reduce((n, d) => n * d.labels.length, 1);
  const width = 2 + spec.values.length;
  if (cells * width > MAX_WORDS) throw bad(`the table has ${cells} cells of ${width} words; at most ${MAX_WORDS} words are supported.`);
  const bounds = spec.values.map((v) => {
    const min = parseFixed(v.min, v.scale);
    const max = parseFixed(v.max, v.scale);
    if (min > max) throw bad(`value ${v.name} has min above max.`);
    return { min, max };
  });
  const perRecord = bounds.reduce((m, b) => [b.min, b.max].reduce((x, y) => (y < 0n ? (-y > x ? -y : x) : y > x ? y : x), m), 255n);
  if (BigInt(spec.maxInputs) * BigInt(spec.maxRecordsPerInput) * perRecord > MAX_SIGNED) {
    throw bad('maxInputs x maxRecordsPerInput x the largest bound could overflow 64 bits; lower one of them.');
  }
  const strides: number[] = [];
  let stride = 1;
  for (let i = spec.dimensions.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= (spec.dimensions[i] as { labels: string[] }).labels.length;
  }
  const lookup = spec.dimensions.map((d) => new Map(d.labels.map((l, i) => [l, i])));
  return Object.freeze({
    spec,
    hash: createHash('sha256').update(canonical(spec)).digest('hex'),
    cells,
    width,
    length: cells * width,
    bounds,
    cellIndex(labels: readonly string[]): number {
      if (labels.length !== spec.dimensions.length) return -1;
      let idx = 0;
      for (let i = 0; i < labels.length; i++) {
        const j = (lookup[i] as Map<string, number>).get(labels[i] as string);
        if (j === undefined) return -1;
        idx += j * (strides[i] as number);
      }
      return idx;
    },
    cellLabels(index: number): string[] {
      return spec.dimensions.map((d, i) => d.labels[Math.floor(index / (strides[i] as number)) % d.labels.length] as string);
    },
  });
}
