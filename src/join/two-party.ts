/**
 * The two-party value layer (variant 6a, docs/protocols/join.md): B's values travel as
 * ElGamal ciphertexts under joint keys PK_j = A_j + B_j (one per value column, each key
 * share with a proof of knowledge). A adds the ciphertexts of every list's matches,
 * re-randomises the sums and asks B, once, for one partial decryption per list; B
 * answers with a DLEQ proof that it used its key share. Only A learns the sums.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { isIdentity, loadRistretto255, type Ristretto255 } from '../group/sodium.js';
import type { ScalarPair, SuiteName } from '../group/types.js';
import type { Session, SessionScope } from '../session/session.js';
import { concatBytes, wipe } from '../util/bytes.js';
import type { TaskPool } from '../util/pool.js';
import { DiscreteLog, PROOF_BYTES, proveDleq, proveKnowledge, verifyDleq, verifyKnowledge } from './elgamal.js';
import { context, NO_MATCH, Step } from './messages.js';
import { recordBytes2p, type joinOps } from './ops.js';
import type { JoinProgress } from './types.js';
import type { GroupsValueLayer, ValuesValueLayer } from './values.js';

/** What a value layer of one party's run works with. */
export interface ValueLayerContext {
  readonly session: Session;
  readonly scope: SessionScope;
  readonly pool: TaskPool<typeof joinOps>;
  /** The number of value columns, k. */
  readonly columns: number;
  readonly progress: ((p: JoinProgress) => void) | undefined;
}

/** A's half of the two-party value layer. */
export class TwoPartyGroups implements GroupsValueLayer {
  readonly entryBytes: number;
  readonly #c: ValueLayerContext;
  #r: Ristretto255 | undefined;
  /** A's key shares a_j (secret), and the public A_j, B_j and PK_j. */
  readonly #secrets: Uint8Array[] = [];
  readonly #publicKeys: Uint8Array[] = [];
  readonly #peerKeys: Uint8Array[] = [];
  /** Matched ciphertexts (C1, C2_1..k) and their lists, in arrival order. */
  readonly #matchedCipher: Uint8Array[] = [];
  readonly #matchedList: number[] = [];

  constructor(c: ValueLayerContext) {
    this.#c = c;
    this.entryBytes = recordBytes2p(c.columns);
    c.scope.defer(() => wipe(...this.#secrets));
  }

  /** A's key shares a_j with proofs of knowledge, then B's shares: PK_j = A_j + B_j. */
  async setup(): Promise<void> {
    const r = (this.#r = await loadRistretto255());
    const { session: s, columns: k } = this.#c;
    const session = s.id;
    const body = new Uint8Array(k * (32 + PROOF_BYTES));
    const mine: Uint8Array[] = [];
    for (let j = 0; j < k; j++) {
      const a = r.randomScalar();
      this.#secrets.push(a);
      const A = r.mulBase(a);
      mine.push(A);
      body.set(A, j * (32 + PROOF_BYTES));
      body.set(proveKnowledge(r, a, A, context(session, 'key-a', j)), j * (32 + PROOF_BYTES) + 32);
    }
    await s.send(Step.KEYS, k, body);
    const f = await s.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', 32);
    if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
    for (let j = 0; j < k; j++) {
      const B = f.body.slice(j * 32, j * 32 + 32);
      if (!r.isValid(B) || isIdentity(B))
        throw new KoppelError('INVALID_POINT', 'A key share from the peer is not a valid ristretto255 element.', { details: { column: j } });
      this.#peerKeys.push(B);
      this.#publicKeys.push(r.add(mine[j] as Uint8Array, B));
    }
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  accept(body: Uint8Array, matched: Uint32Array): void {
    const entry = this.entryBytes;
    for (let i = 0; i < matched.length; i++) {
      const list = matched[i] as number;
      if (list === NO_MATCH) continue;
      this.#matchedCipher.push(body.subarray(i * entry + 32, (i + 1) * entry));
      this.#matchedList.push(list);
    }
  }

  /**
   * Per-list ciphertext sums, re-randomised, jointly decrypted, discrete logs. For a list
   * not released (a dummy, or below B's `minCount`) A sends a fresh random C1 instead of
   * the re-randomised one: both are uniform points to B, and B's partial decryption of it
   * is useless for the list's sum.
   */
  async sums(counts: Float64Array, bound: (list: number) => number, release: (list: number) => boolean): Promise<number[][]> {
    const r = this.#ristretto();
    const { session: s, pool, columns: k, progress } = this.#c;
    const L = counts.length;
    const sums: number[][] = Array.from({ length: L }, () => new Array<number>(k).fill(0));
    const width = (1 + k) * 32;
    const matchedList = this.#matchedList;
    // Counting sort of the matched ciphertexts by list.
    const starts = new Uint32Array(L + 1);
    for (const l of matchedList) starts[l + 1] = (starts[l + 1] as number) + 1;
    for (let l = 0; l < L; l++) starts[l + 1] = (starts[l + 1] as number) + (starts[l] as number);
    const fill = starts.slice(0, L);
    const packed = new Uint8Array(matchedList.length * width);
    matchedList.forEach((l, i) => {
      const at = fill[l] as number;
      fill[l] = at + 1;
      packed.set(this.#matchedCipher[i] as Uint8Array, at * width);
    });
    this.#matchedCipher.length = 0;
    // Lists split into one slice per worker, by matched records.
    const slices = Math.max(1, pool.size);
    const parts: Array<Promise<Uint8Array>> = [];
    let from = 0;
    for (let p = 0; p < slices; p++) {
      const target = Math.round(((p + 1) * matchedList.length) / slices);
      let to = from;
      while (to < L && (p === slices - 1 || (starts[to + 1] as number) <= target)) to++;
      if (p === slices - 1) to = L;
      const lo = starts[from] as number;
      const hi = starts[to] as number;
      parts.push(
        pool.run('sumCiphertexts', { packed: packed.slice(lo * width, hi * width), columns: k, starts: starts.slice(from, to + 1).map((x) => x - lo) }),
      );
      from = to;
    }
    const sumsPacked = concatBytes(...(await Promise.all(parts)));
    progress?.({ phase: 'sums', done: matchedList.length });

    // Re-randomise every list's sum: (C1 + t G, C2_j + t PK_j), so B sees uniformly random C1'.
    const c1 = new Uint8Array(L * 32);
    const c2: Uint8Array[] = [];
    for (let l = 0; l < L; l++) {
      const t = r.randomScalar();
      const at = l * width;
      c1.set(r.add(sumsPacked.subarray(at, at + 32), r.mulBase(t)), l * 32);
      for (let j = 0; j < k; j++) c2.push(r.add(sumsPacked.subarray(at + 32 + j * 32, at + 64 + j * 32), r.mul(t, this.#publicKeys[j] as Uint8Array)));
      t.fill(0);
      if (!release(l)) {
        // Not to be decrypted: a fresh random point, unrelated to the list's sum.
        const u = r.randomScalar();
        c1.set(r.mulBase(u), l * 32);
        u.fill(0);
      }
    }
    await s.send(Step.DECRYPT, L, c1);
    const tableBound = Array.from({ length: L }, (_, l) => (release(l) ? bound(l) * k : 0)).reduce((a, b) => a + b, 0);
    const dlog = new DiscreteLog(r, DiscreteLog.tableSizeFor(tableBound));
    const session = s.id;
    for (let j = 0; j < k; j++) {
      const f = await s.receiveChunk([Step.PARTIALS], Step.PARTIALS, 'partial decryptions', 32);
      if (f.count !== L + 2)
        throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent partial decryptions for another number of groups.', {
          details: { expected: L, got: f.count - 2 },
        });
      const Ds = f.body.subarray(0, L * 32);
      const proof = f.body.subarray(L * 32);
      if (!verifyDleq(r, this.#peerKeys[j] as Uint8Array, c1, Ds, proof, context(session, 'partials', j))) {
        throw new KoppelError(
          'PROOF_INVALID',
          "The peer's proof of its partial decryptions does not verify; it did not decrypt with its key share. Nothing was released.",
          { details: { column: j } },
        );
      }
      const a = this.#secrets[j] as Uint8Array;
      for (let l = 0; l < L; l++) {
        if (!release(l)) continue; // a dummy list, or below B's policy: not decrypted
        const C1 = c1.subarray(l * 32, l * 32 + 32);
        const M = r.sub(r.sub(c2[l * k + j] as Uint8Array, r.mul(a, C1)), Ds.subarray(l * 32, l * 32 + 32));
        (sums[l] as number[])[j] = dlog.solve(M, bound(l));
      }
      progress?.({ phase: 'decrypt', done: (j + 1) * L });
    }
    return sums;
  }

  #ristretto(): Ristretto255 {
    if (!this.#r) throw new KoppelError('INTERNAL', 'The two-party value layer was used before its key exchange.');
    return this.#r;
  }
}

/** B's half of the two-party value layer. */
export class TwoPartyValues implements ValuesValueLayer {
  readonly entryBytes: number;
  readonly preparedBytes: number;
  readonly #c: ValueLayerContext;
  readonly #suite: SuiteName;
  readonly #scalar: ScalarPair;
  #r: Ristretto255 | undefined;
  /** B's key shares b_j (secret), and the public B_j and PK_j. */
  readonly #secrets: Uint8Array[] = [];
  readonly #ownKeys: Uint8Array[] = [];
  readonly #publicKeys: Uint8Array;

  constructor(c: ValueLayerContext, suite: SuiteName, scalar: ScalarPair) {
    this.#c = c;
    this.#suite = suite;
    this.#scalar = scalar;
    this.entryBytes = this.preparedBytes = recordBytes2p(c.columns);
    this.#publicKeys = new Uint8Array(c.columns * 32);
    c.scope.defer(() => wipe(...this.#secrets));
  }

  /** Verifies A's key shares, answers with B's: PK_j = A_j + B_j. */
  async setup(): Promise<void> {
    const r = (this.#r = await loadRistretto255());
    const { session: s, columns: k } = this.#c;
    const session = s.id;
    const f = await s.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', 32 + PROOF_BYTES);
    if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
    const body = new Uint8Array(k * 32);
    for (let j = 0; j < k; j++) {
      const A = f.body.slice(j * 96, j * 96 + 32);
      if (!verifyKnowledge(r, A, f.body.subarray(j * 96 + 32, j * 96 + 96), context(session, 'key-a', j))) {
        throw new KoppelError('PROOF_INVALID', "The peer's proof of knowledge of its key share does not verify.", { details: { column: j } });
      }
      const b = r.randomScalar();
      this.#secrets.push(b);
      const B = r.mulBase(b);
      this.#ownKeys.push(B);
      body.set(B, j * 32);
      this.#publicKeys.set(r.add(A, B), j * 32);
    }
    await s.send(Step.KEYS, k, body);
  }

  /** H(x)^b and the ElGamal encryption of the record's values (dummies encrypt zeros). */
  prepare(items: string[], values: Float64Array): Promise<Uint8Array> {
    const k = this.#c.columns;
    const padded = new Float64Array(items.length * k);
    padded.set(values);
    return this.#c.pool.run(
      'encryptRecords',
      { suite: this.#suite, items, scalar: this.#scalar.scalar, protocol: 'join', values: padded, columns: k, publicKeys: this.#publicKeys },
      { priority: 'low' },
    );
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  complete(): void {
    // The prepared records are the whole wire records.
  }

  /** One decryption request, of exactly one element per list: no more. */
  async finish(lists: number): Promise<void> {
    const r = this.#r;
    if (!r) throw new KoppelError('INTERNAL', 'The two-party value layer was used before its key exchange.');
    const { session: s, columns: k, progress } = this.#c;
    const L = lists;
    const f = await s.receiveChunk([Step.DECRYPT], Step.DECRYPT, 'decryption request', 32);
    if (f.count !== L)
      throw new KoppelError('LIMIT_EXCEEDED', `The peer asked for ${f.count} decryptions; one per list (${L}) is all it may ask.`, {
        details: { asked: f.count, lists: L },
      });
    const c1 = new Uint8Array(f.body);
    const session = s.id;
    for (let j = 0; j < k; j++) {
      const Ds = new Uint8Array(L * 32 + PROOF_BYTES);
      const b = this.#secrets[j] as Uint8Array;
      for (let l = 0; l < L; l++) Ds.set(r.mul(b, c1.subarray(l * 32, l * 32 + 32)), l * 32);
      Ds.set(proveDleq(r, b, this.#ownKeys[j] as Uint8Array, c1, Ds.subarray(0, L * 32), context(session, 'partials', j)), L * 32);
      await s.send(Step.PARTIALS, L + 2, Ds);
      progress?.({ phase: 'decrypt', done: (j + 1) * L });
    }
  }
}
