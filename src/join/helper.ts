/**
 * The helper of the join's variant 6b (`koppel join helper`): a third party that pairs
 * the two parties' sessions, expands B's seed into the other halves of B's shares, sums
 * them per (relabelled) list as A directs, and returns the sums to A. It learns the
 * anonymous histogram of matches per list, and nothing else unless it colludes.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { checkAgreementHash } from '../session/hello.js';
import { openSession, type Session } from '../session/session.js';
import type { Channel } from '../transport/channel.js';
import { randomBytes, readU32s, readU64s, u64Bytes, wipe } from '../util/bytes.js';
import { prgStream } from '../util/prg.js';
import { context, HELPER_PROTOCOL, HelperHello, NO_MATCH, Step } from './messages.js';
import type { JoinHelperOptions, JoinHelperResult } from './types.js';

/** A party connected to the helper: its session and what its HELLO declared. */
interface Party {
  readonly session: Session<HelperHello>;
  readonly hello: HelperHello;
}

/**
 * The helper (`join helper`, variant 6b): pairs the two parties' connections of one
 * session, expands B's seed into the other halves of B's shares, adds them per
 * (relabelled) list as A directs, and returns the sums to A. It learns the anonymous
 * histogram of matches per list, and nothing else unless it colludes. It enforces B's
 * policy: for a list with fewer matches than B's `minCount` it returns fresh random
 * values, so not even a modified A can compute that list's sums.
 *
 * @param accept - yields the next incoming connection (e.g. `listener.accept`)
 */
export async function joinHelper(accept: () => Promise<Channel>, options: JoinHelperOptions = {}): Promise<JoinHelperResult> {
  const signal = options.signal;
  const cancelled = () => new KoppelError('ABORTED', 'The helper was cancelled; nothing was released.');
  if (signal?.aborted) throw cancelled();
  // Pair connections by session; strays (no valid HELLO) are closed and skipped.
  const agreement = checkAgreementHash(options.agreement);
  const waiting = new Map<string, { groups?: Party; values?: Party }>();
  let fatal: KoppelError | undefined;
  let pair: { groups: Party; values: Party } | undefined;
  const pending: Array<Promise<void>> = [];
  let resolvePair: () => void = () => undefined;
  const paired = new Promise<void>((res) => (resolvePair = res));
  let greeting = 0;
  const greet = async (channel: Channel) => {
    greeting++;
    let session: Session<HelperHello> | undefined;
    try {
      // A stray (no valid HELLO) is told why and closed by openSession.
      session = await openSession({
        channel,
        protocol: HELPER_PROTOCOL,
        side: 'responder',
        hello: { role: 'helper' },
        codec: HelperHello,
        suite: 'none',
        answer: false,
        peerRole: ['groups', 'values'],
        ...(agreement === undefined ? {} : { agreement }),
      });
      const hello = session.peerHello;
      const slot = waiting.get(session.idHex) ?? {};
      if (slot[hello.role]) throw new KoppelError('PROTOCOL_VIOLATION', 'A second party with the same role joined the session.');
      slot[hello.role] = { session, hello };
      waiting.set(session.idHex, slot);
      if (slot.groups && slot.values && !pair) {
        pair = { groups: slot.groups, values: slot.values };
        resolvePair();
      }
    } catch (e) {
      await session?.abort(e);
      // A party under another agreement (told so by openSession) ends the wait: the run
      // it came for cannot happen here.
      if (e instanceof KoppelError && e.code === 'AGREEMENT_MISMATCH') {
        fatal ??= e;
        resolvePair();
      }
    } finally {
      greeting--;
    }
  };
  const closeWaiting = async (keep: ReadonlyArray<unknown> = []) => {
    for (const slot of waiting.values()) {
      for (const other of [slot.groups, slot.values]) if (other && !keep.includes(other)) await other.session.close();
    }
  };
  try {
    while (!pair) {
      const next = accept();
      let got: { c: Channel } | undefined;
      try {
        got = await Promise.race([next.then((c) => ({ c })), paired.then(() => undefined)]);
      } catch (e) {
        // The accept timeout is for parties to connect. Parties that did connect may take
        // long to say HELLO (they hash their own records first): wait for them.
        if (e instanceof KoppelError && e.code === 'TIMEOUT' && greeting > 0) {
          await Promise.race([paired, Promise.allSettled(pending)]);
          continue;
        }
        throw e;
      }
      if (!got) {
        next.then(
          (c) => c.close(),
          () => undefined,
        );
        break;
      }
      pending.push(greet(got.c));
    }
    if (fatal) throw fatal;
  } catch (e) {
    await closeWaiting();
    throw e;
  }
  const { groups: A, values: B } = pair as NonNullable<typeof pair>;
  await closeWaiting([A, B]);
  // Cancelled once paired: both parties are told (ABORT with ABORTED).
  const onAbort = () => {
    const e = cancelled();
    void A.session.abort(e);
    void B.session.abort(e);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    const { columns: k, positions: n, groups: L } = A.hello;
    if (B.hello.columns !== k || B.hello.positions !== n || B.hello.groups !== L) {
      throw new KoppelError('MESSAGE_MALFORMED', 'The two parties declared different sizes to the helper (columns, positions or groups).', {
        details: { columns: `${k}/${B.hello.columns}`, positions: `${n}/${B.hello.positions}`, groups: `${L}/${B.hello.groups}` },
      });
    }
    // B's policy: no usable sum for a list with fewer matches. A repeats what B sent it.
    const minCount = B.hello.minCount ?? 1;
    if (A.hello.minCount !== undefined && A.hello.minCount !== minCount) {
      throw new KoppelError('MESSAGE_MALFORMED', "The group holder declared another minimum count to the helper than the value holder's.", {
        details: { minCount: `${A.hello.minCount}/${minCount}` },
      });
    }
    const s = await B.session.receiveChunk([Step.SEED], Step.SEED, 'seed', 32);
    if (s.count !== 1) throw new KoppelError('MESSAGE_MALFORMED', 'The seed message must carry one seed.');
    const seed = new Uint8Array(s.body);
    const next = prgStream(seed, context(A.session.id, 'helper-prg'));
    wipe(seed);
    const sums = new BigUint64Array(L * k);
    const hist = new Float64Array(L);
    let got = 0;
    for await (const f of A.session.stream({ chunk: Step.INDICES, done: Step.INDICES_DONE, what: 'indices', itemBytes: 4, expected: n })) {
      const idx = readU32s(f.body);
      const t = next(f.count * k);
      for (let i = 0; i < idx.length; i++) {
        const g = idx[i] as number;
        if (g === NO_MATCH) continue;
        if (g >= L) throw new KoppelError('MESSAGE_MALFORMED', 'An index from the group holder names no list.');
        hist[g] = (hist[g] as number) + 1;
        for (let c = 0; c < k; c++) sums[g * k + c] = (sums[g * k + c] as bigint) + (t[i * k + c] as bigint);
      }
      got += f.count;
      options.onProgress?.({ phase: 'helper', done: got });
    }
    // Lists below B's minimum get fresh random values instead: A's half alone says nothing.
    const withheld = [...hist].map((h) => h < minCount);
    for (let c = 0; c < k; c++) {
      const col = new BigUint64Array(L);
      const noise = readU64s(randomBytes(8 * L));
      for (let g = 0; g < L; g++) col[g] = withheld[g] ? (noise[g] as bigint) : (sums[g * k + c] as bigint);
      await A.session.send(Step.SUMS, L, u64Bytes(col));
    }
    const result: JoinHelperResult = {
      groups: L,
      positions: n,
      histogram: [...hist].sort((x, y) => y - x),
      withheld: withheld.filter(Boolean).length,
      minCount,
    };
    await options.beforeClose?.(result, { groups: A.session, values: B.session });
    return result;
  } catch (e) {
    const error = signal?.aborted ? cancelled() : e;
    await A.session.abort(error);
    await B.session.abort(error);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.allSettled(pending);
    await A.session.close();
    await B.session.close();
  }
}
