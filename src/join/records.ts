/**
 * Reading each party's own records for the private join, checked: A's records grouped
 * by their labels, B's identifiers with their values. Nothing here crosses the wire.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { MAX_GROUPS } from './messages.js';
import type { GroupRecord, JoinProgress, ValueRecord } from './types.js';

/** A's records grouped: labels per group (first-appearance order) and the identifiers of each. */
export interface Groups {
  readonly labels: string[][];
  readonly ids: string[][];
  readonly records: number;
}

/**
 * A's records by group: one group per distinct label tuple, in order of first
 * appearance.
 *
 * @throws KoppelError `INVALID_ARGUMENT` for a malformed record, a wrong number of
 *   labels, a repeated identifier, or more than `MAX_GROUPS` groups
 */
export async function collectGroups(
  records: Iterable<GroupRecord> | AsyncIterable<GroupRecord>,
  width: number | undefined,
  onProgress?: (p: JoinProgress) => void,
  normalise: (id: string, index: number) => string = (id) => id,
): Promise<Groups> {
  const index = new Map<string, number>();
  const labels: string[][] = [];
  const ids: string[][] = [];
  const seen = new Set<string>();
  let n = 0;
  let w = width;
  for await (const r of records) {
    n++;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !Array.isArray(r.group) || r.group.some((x) => typeof x !== 'string')) {
      throw new KoppelError('INVALID_ARGUMENT', 'Group records must be { id: string, group: string[] }.', { details: { record: n } });
    }
    w ??= r.group.length;
    if (r.group.length !== w || w < 1) throw new KoppelError('INVALID_ARGUMENT', `Every group record needs ${w} group labels.`, { details: { record: n } });
    const id = normalise(r.id, n - 1);
    if (seen.has(id))
      throw new KoppelError(
        'INVALID_ARGUMENT',
        'An identifier occurs twice among the group records; each person may be in one group only. Remove duplicates first.',
        { details: { record: n } },
      );
    seen.add(id);
    const key = JSON.stringify(r.group);
    let g = index.get(key);
    if (g === undefined) {
      g = labels.length;
      if (g >= MAX_GROUPS) throw new KoppelError('INVALID_ARGUMENT', `More than ${MAX_GROUPS} groups; coarsen the group columns.`);
      index.set(key, g);
      // Array.isArray narrowed the labels to any[]; the check above found every one a string.
      labels.push([...(r.group as readonly string[])]);
      ids.push([]);
    }
    (ids[g] as string[]).push(id);
    if (n % 65536 === 0) onProgress?.({ phase: 'read', done: n });
  }
  return { labels, ids, records: n };
}

/** B's own records: identifiers in input order and their values. */
export interface ValueSet {
  readonly ids: string[];
  readonly values: Float64Array;
}

/**
 * B's records: identifiers in input order and their `k` values each.
 *
 * @throws KoppelError `INVALID_ARGUMENT` for a malformed record or a repeated
 *   identifier, `VALUE_OUT_OF_RANGE` for a value outside 0..maxValue
 */
export async function collectValues(
  records: Iterable<ValueRecord> | AsyncIterable<ValueRecord>,
  k: number,
  maxValue: number,
  onProgress?: (p: JoinProgress) => void,
  normalise: (id: string, index: number) => string = (id) => id,
): Promise<ValueSet> {
  const ids: string[] = [];
  let values = new Float64Array(1024 * k);
  const seen = new Set<string>();
  for await (const r of records) {
    const n = ids.length + 1;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || !Array.isArray(r.values))
      throw new KoppelError('INVALID_ARGUMENT', 'Value records must be { id: string, values: number[] }.', { details: { record: n } });
    if (r.values.length !== k)
      throw new KoppelError('INVALID_ARGUMENT', `Every value record needs ${k} values, one per value column.`, { details: { record: n } });
    const id = normalise(r.id, n - 1);
    if (seen.has(id))
      throw new KoppelError('INVALID_ARGUMENT', 'An identifier occurs twice among the value records; combine its values first.', { details: { record: n } });
    seen.add(id);
    if (ids.length * k + k > values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      values = grown;
    }
    for (let j = 0; j < k; j++) {
      const v: unknown = r.values[j];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > maxValue) {
        throw new KoppelError('VALUE_OUT_OF_RANGE', `A value is not an integer from 0 to the declared maximum ${maxValue}; fix it or raise --max-value.`, {
          details: { record: n, column: j },
        });
      }
      values[ids.length * k + j] = v;
    }
    ids.push(id);
    if (n % 65536 === 0) onProgress?.({ phase: 'read', done: n });
  }
  return { ids, values: values.subarray(0, ids.length * k) };
}
