/** Shared data and runners for the private-join tests. */
import { joinGroups, joinHelper, joinValues, type GroupRecord, type JoinGroupsOptions, type JoinValuesOptions, type ValueRecord } from '../../src/join/join.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { recordingChannel, type TranscriptEntry } from '../../src/transport/transcript.js';
import { RandomInts } from '../../src/util/shuffle.js';

/** The plain (non-private) join: per group label key, count and sums. */
export function plainJoin(a: readonly GroupRecord[], b: readonly ValueRecord[], k: number): Map<string, { count: number; sums: number[] }> {
  const values = new Map(b.map((r) => [r.id, r.values]));
  const out = new Map<string, { count: number; sums: number[] }>();
  for (const r of a) {
    const key = r.group.join('|');
    const cell = out.get(key) ?? { count: 0, sums: new Array<number>(k).fill(0) };
    const v = values.get(r.id);
    if (v) {
      cell.count++;
      v.forEach((x, j) => (cell.sums[j] = (cell.sums[j] as number) + x));
    }
    out.set(key, cell);
  }
  return out;
}

/** Random data: A with `na` records in up to `groups` groups, B with `nb` records of which about `overlap` share A's ids. */
export function randomData(na: number, nb: number, overlap: number, groups: number, k: number, maxValue = 50): { a: GroupRecord[]; b: ValueRecord[] } {
  const rnd = new RandomInts();
  const a: GroupRecord[] = Array.from({ length: na }, (_, i) => ({ id: `id-${i}`, group: [`g${rnd.below(groups)}`, i % 2 === 0 ? 'even' : 'odd'] }));
  const b: ValueRecord[] = [];
  for (let i = 0; i < nb; i++) {
    const shared = i < na && rnd.below(1000) < overlap * 1000;
    b.push({ id: shared ? `id-${i}` : `other-${i}`, values: Array.from({ length: k }, () => rnd.below(maxValue + 1)) });
  }
  return { a, b };
}

/** What one run produced, with both parties' transcripts. */
export interface Run {
  readonly a: Awaited<ReturnType<typeof joinGroups>>;
  readonly b: Awaited<ReturnType<typeof joinValues>>;
  readonly h?: Awaited<ReturnType<typeof joinHelper>>;
  /** Messages as A saw them (sent and received). */
  readonly aView: TranscriptEntry[];
  /** Messages as B saw them. */
  readonly bView: TranscriptEntry[];
  /** Messages the helper received from A. */
  readonly hView: TranscriptEntry[];
}

/** Runs A, B (and the helper) over memory channels; B states no policy (`minCount` 1) unless `bOptions` does. */
export async function runJoin(
  a: readonly GroupRecord[],
  b: readonly ValueRecord[],
  opts: { variant?: 'two-party' | 'helper'; columns?: string[]; aOptions?: JoinGroupsOptions; bOptions?: Partial<JoinValuesOptions> } = {},
): Promise<Run> {
  const variant = opts.variant ?? 'two-party';
  const columns = opts.columns ?? (b[0] ? b[0].values.map((_, j) => `v${j}`) : ['v0']);
  const [ca, cb] = createMemoryChannelPair();
  const aView: TranscriptEntry[] = [];
  const bView: TranscriptEntry[] = [];
  const hView: TranscriptEntry[] = [];
  let helperA: Channel | undefined;
  let helperB: Channel | undefined;
  let helper: Promise<Awaited<ReturnType<typeof joinHelper>>> | undefined;
  if (variant === 'helper') {
    const [ah, ha] = createMemoryChannelPair();
    const [bh, hb] = createMemoryChannelPair();
    helperA = ah;
    helperB = bh;
    const queue: Channel[] = [recordingChannel(ha, hView), hb];
    helper = joinHelper(() => {
      const next = queue.shift();
      return next ? Promise.resolve(next) : new Promise<Channel>(() => undefined);
    });
  }
  const [ra, rb, rh] = await Promise.all([
    joinGroups(recordingChannel(ca, aView), a, { threads: 0, variant, ...(helperA ? { helper: helperA } : {}), ...opts.aOptions }),
    joinValues(recordingChannel(cb, bView), b, {
      threads: 0,
      variant,
      columns,
      maxValue: 1000,
      minCount: 1,
      ...(helperB ? { helper: helperB } : {}),
      ...opts.bOptions,
    }),
    helper,
  ]);
  return { a: ra, b: rb, ...(rh ? { h: rh } : {}), aView, bView, hView };
}
