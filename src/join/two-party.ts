/**
 * The two-party value layer (variant 6a, docs/protocols/join.md): B's values travel as
 * ElGamal ciphertexts under B's own column keys K_j = b_j G (A's key shares, with their
 * proofs of knowledge, stay in the KEYS exchange and enter nothing). A adds the
 * ciphertexts of every list's matches, re-randomises the sums and asks B, once, for one
 * partial decryption per list; B answers with one DLEQ proof per column, all on one set
 * of weights (since protocol version 3). The group is P-256 (since version 4,
 * {@link valueGroup}). Only A learns the sums.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import { isIdentityElement as isIdentity, type PrimeGroup } from '../group/prime.js';
import type { ScalarPair, SuiteName } from '../group/types.js';
import type { Session, SessionScope } from '../session/session.js';
import { concatBytes, wipe } from '../util/bytes.js';
import { pipelineDepth } from '../util/pipeline.js';
import type { TaskRunner } from '../util/pool.js';
import {
  DEFAULT_SEARCH_STEPS,
  DiscreteLog,
  dleqWeights,
  PROOF_BYTES,
  proveDleqComposite,
  proveKnowledge,
  verifyDleqComposite,
  verifyKnowledge,
} from './elgamal.js';
import { context, NO_MATCH, Step } from './messages.js';
import { recordBytes2p, valueGroup, type joinOps } from './ops.js';
import type { JoinProgress } from './types.js';
import type { GroupsValueLayer, ValuesValueLayer } from './values.js';

/** What a value layer of one party's run works with. */
export interface ValueLayerContext {
  readonly session: Session;
  readonly scope: SessionScope;
  readonly pool: TaskRunner<typeof joinOps>;
  /** The number of value columns, k. */
  readonly columns: number;
  readonly progress: ((p: JoinProgress) => void) | undefined;
  /** The linking agreement's hash, which the helper session's HELLO carries too. */
  readonly agreement?: string | undefined;
  /** Told the helper session once it is open. */
  readonly onHelperSession?: ((session: Session) => void) | undefined;
}

/**
 * A DLEQ composite sum d_i P_i (weights and elements packed), split over the pool: one
 * task per worker, the parts added here. `null` if an element is not a valid encoding.
 */
async function composite(pool: TaskRunner<typeof joinOps>, r: PrimeGroup, weights: Uint8Array, points: Uint8Array): Promise<Uint8Array | null> {
  const E = r.elementBytes;
  const n = points.length / E;
  const parts = Math.max(1, Math.min(pool.size, n));
  const tasks: Array<Promise<Uint8Array | null>> = [];
  for (let p = 0; p < parts; p++) {
    const from = Math.floor((n * p) / parts);
    const to = Math.floor((n * (p + 1)) / parts);
    tasks.push(pool.run('combine', { weights: weights.subarray(from * 32, to * 32), points: points.subarray(from * E, to * E) }));
  }
  let sum: Uint8Array | null = new Uint8Array(E);
  for (const part of await Promise.all(tasks)) sum = part && sum ? r.add(sum, part) : null;
  return sum;
}

/** A's half of the two-party value layer. */
export class TwoPartyGroups implements GroupsValueLayer {
  readonly entryBytes: number;
  readonly #c: ValueLayerContext;
  #r: PrimeGroup | undefined;
  /** A's key shares a_j (secret): proven, never used to encrypt (docs/protocols/join.md, 6a). */
  readonly #secrets: Uint8Array[] = [];
  /** B's keys K_j = b_j G, the encryption keys of the columns, packed. */
  #peerKeys = new Uint8Array(0);
  /** A's re-randomisers (t G, t K_1..k, u G per list), drawn while B's records arrive. */
  #rerandomisers: Promise<Uint8Array> | undefined;
  /**
   * Banks of running sums (C1, C2_1..k) of B's ciphertexts, one bank per chunk in flight:
   * in each, one accumulator per list and one more (the last) for every unmatched record,
   * the identity (all zeros) to begin with. The banks not at a worker right now.
   */
  readonly #banks: Uint8Array[] = [];
  #allocated = 0;
  #lists = 0;
  #matched = 0;
  /** Chunks still being added, oldest first. */
  readonly #pending: Array<Promise<void>> = [];
  /** Giant steps all the discrete logarithms of the run may take together. */
  readonly #searchSteps: number;

  /** @param searchSteps - the run's budget of giant steps for the discrete logarithms ({@link DEFAULT_SEARCH_STEPS}) */
  constructor(c: ValueLayerContext, searchSteps: number = DEFAULT_SEARCH_STEPS) {
    this.#c = c;
    this.#searchSteps = searchSteps;
    this.entryBytes = recordBytes2p(c.columns);
    c.scope.defer(() => wipe(...this.#secrets));
  }

  /** A's key shares a_j with proofs of knowledge, then B's keys K_j. */
  async setup(): Promise<void> {
    const r = (this.#r = await valueGroup());
    const E = r.elementBytes;
    const { session: s, columns: k } = this.#c;
    const session = s.id;
    const body = new Uint8Array(k * (E + PROOF_BYTES));
    for (let j = 0; j < k; j++) {
      const a = r.randomScalar();
      this.#secrets.push(a);
      const A = r.mulBase(a);
      body.set(A, j * (E + PROOF_BYTES));
      body.set(proveKnowledge(r, a, A, context(session, 'key-a', j)), j * (E + PROOF_BYTES) + E);
    }
    await s.send(Step.KEYS, k, body);
    const f = await s.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', E);
    if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
    for (let j = 0; j < k; j++) {
      const B = f.body.subarray(j * E, j * E + E);
      if (!r.isValid(B) || isIdentity(B))
        throw new KoppelError('INVALID_POINT', `A key share from the peer is not a valid ${r.name} element.`, { details: { column: j } });
    }
    this.#peerKeys = f.body.slice(0, k * E);
  }

  /**
   * Starts drawing the re-randomisers of every list (worker tasks at low priority, split
   * over the pool): they depend on no record, so the work after B's last record is only
   * additions (docs/protocols/join.md, "Timing").
   */
  start(_n: number, lists: number): Promise<void> {
    const { pool, scope, columns: k } = this.#c;
    this.#lists = lists;
    const parts = Math.max(1, Math.min(pool.size, lists));
    const tasks: Array<Promise<Uint8Array>> = [];
    for (let p = 0; p < parts; p++) {
      const count = Math.floor((lists * (p + 1)) / parts) - Math.floor((lists * p) / parts);
      tasks.push(pool.run('rerandomisers', { publicKeys: this.#peerKeys, columns: k, count }, { priority: 'low' }));
    }
    this.#rerandomisers = scope.guard(Promise.all(tasks).then((all) => concatBytes(...all)));
    this.#rerandomisers.catch(() => undefined); // handled: the run fails through the scope, and sums() awaits it
    return Promise.resolve();
  }

  /**
   * Adds one chunk of B's records to the accumulators as it arrives, matched or not: an
   * unmatched record goes to the dummy accumulator, so A's work per record of B, and
   * the work left once B's last record is in, do not depend on how many matched
   * (docs/protocols/join.md, "Timing").
   */
  async accept(body: Uint8Array, matched: Uint32Array): Promise<void> {
    const { pool, scope, columns: k } = this.#c;
    const dummy = this.#lists;
    const lists = new Uint32Array(matched.length);
    for (let i = 0; i < matched.length; i++) {
      const l = matched[i] as number;
      if (l === NO_MATCH) lists[i] = dummy;
      else {
        lists[i] = l;
        this.#matched++;
      }
    }
    // A bounded number of chunks in flight (one bank each): memory stays flat however long B's stream is.
    while (this.#pending.length >= pipelineDepth(pool)) await this.#pending.shift();
    const bank = this.#bank();
    const task = scope.guard(
      pool.run('addToBank', { body, columns: k, lists, bank }, { transfer: [bank.buffer as ArrayBuffer] }).then((b) => {
        this.#banks.push(b);
      }),
    );
    task.catch(() => undefined); // handled: the run fails through the scope, and sums() awaits it
    this.#pending.push(task);
  }

  /** A free bank of accumulators, or a new one (all identities). */
  #bank(): Uint8Array {
    const free = this.#banks.pop();
    if (free) return free;
    this.#allocated++;
    return new Uint8Array((this.#lists + 1) * (1 + this.#c.columns) * this.#group().accumulatorBytes);
  }

  /**
   * The banks added up: every list's sum of ciphertexts (and the dummy accumulator's), encoded.
   * Always pipelineDepth(pool) banks (unused ones are identities), split by lists over
   * the pool: the same work for every run with as many lists, whatever matched.
   */
  async #merged(): Promise<Uint8Array> {
    const { pool, scope, columns: k } = this.#c;
    const depth = pipelineDepth(pool);
    const w = (1 + k) * this.#group().accumulatorBytes;
    for (; this.#allocated < depth; this.#allocated++) this.#banks.push(new Uint8Array((this.#lists + 1) * w));
    const banks = this.#banks.splice(0);
    const slots = this.#lists + 1;
    const parts = Math.max(1, Math.min(pool.size, slots));
    const tasks: Array<Promise<Uint8Array>> = [];
    for (let p = 0; p < parts; p++) {
      const from = Math.floor((slots * p) / parts);
      const to = Math.floor((slots * (p + 1)) / parts);
      const ranges = banks.map((b) => b.slice(from * w, to * w));
      tasks.push(pool.run('addBanks', { banks: ranges }, { transfer: ranges.map((b) => b.buffer) }));
    }
    return concatBytes(...(await scope.guard(Promise.all(tasks))));
  }

  /**
   * Per-list ciphertext sums, re-randomised, jointly decrypted, discrete logs. For a list
   * not released (a dummy, or below B's `minCount`) A sends a fresh random C1 instead of
   * the re-randomised one: both are uniform points to B, and B's partial decryption of it
   * is useless for the list's sum. `verified` tells B the run is over before the discrete
   * logarithms (docs/protocols/join.md, "Timing").
   */
  async sums(counts: Float64Array, bound: (list: number) => number, release: (list: number) => boolean, verified: () => Promise<void>): Promise<number[][]> {
    const r = this.#group();
    const { session: s, columns: k, progress } = this.#c;
    const L = counts.length;
    const sums: number[][] = Array.from({ length: L }, () => new Array<number>(k).fill(0));
    const E = r.elementBytes;
    const width = (1 + k) * E;
    if (L !== this.#lists) throw new KoppelError('INTERNAL', 'The two-party value layer was started for another number of lists.');
    await Promise.all(this.#pending.splice(0));
    const sumsPacked = await this.#merged();
    progress?.({ phase: 'sums', done: this.#matched });
    if (!this.#rerandomisers) throw new KoppelError('INTERNAL', 'The two-party value layer was not started.');
    const extra = await this.#rerandomisers;
    const xw = (2 + k) * E;

    // Re-randomise every list's sum: (C1 + t G, C2_j + t K_j), so B sees uniformly random C1'.
    const shifts = new Uint8Array(L * width);
    for (let l = 0; l < L; l++) shifts.set(extra.subarray(l * xw, l * xw + width), l * width);
    const rerandomised = r.addPacked(sumsPacked.subarray(0, L * width), shifts);
    shifts.fill(0);
    const c1 = new Uint8Array(L * E);
    for (let l = 0; l < L; l++) {
      // Not to be decrypted (a dummy, or below B's policy): a fresh random point u G, unrelated
      // to the list's sum. Drawn for every list, so the work does not depend on which.
      c1.set(release(l) ? rerandomised.subarray(l * width, l * width + E) : extra.subarray(l * xw + width, l * xw + xw), l * E);
    }
    extra.fill(0);
    await s.send(Step.DECRYPT, L, c1);
    // The partial decryptions of every column, then their proofs: one set of weights for
    // all the columns (docs/protocols/join.md, "Joint decryption"), so the composite of the
    // C1' is computed once; it and each column's composite of the D are split over the pool.
    // M = (sum) G for every list, released or not (the same work whichever lists are released).
    const session = s.id;
    const frames: Uint8Array[] = [];
    for (let j = 0; j < k; j++) {
      const f = await s.receiveChunk([Step.PARTIALS], Step.PARTIALS, 'partial decryptions', E);
      if (f.count !== L + PROOF_BYTES / E)
        throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent partial decryptions for another number of groups.', {
          details: { expected: L, got: f.count - PROOF_BYTES / E },
        });
      frames.push(new Uint8Array(f.body));
    }
    const Ds = frames.map((f) => f.subarray(0, L * E));
    const weights = concatBytes(...dleqWeights(r, context(session, 'partials-seed'), this.#peerKeys, c1, Ds));
    const [M, ...Zs] = await this.#c.scope.guard(Promise.all([c1, ...Ds].map((P) => composite(this.#c.pool, r, weights, P))));
    for (let j = 0; j < k; j++) {
      const Z = Zs[j];
      const proof = (frames[j] as Uint8Array).subarray(L * E);
      if (!M || !Z || !verifyDleqComposite(r, this.#peerKeys.subarray(j * E, j * E + E), M, Z, proof, context(session, 'partials', j)))
        throw new KoppelError(
          'PROOF_INVALID',
          "The peer's proof of its partial decryptions does not verify; it did not decrypt with its key share. Nothing was released.",
          { details: { column: j } },
        );
      progress?.({ phase: 'decrypt', done: (j + 1) * L });
    }
    // M = C2_j' - D_j for every list and column, in one packed subtraction.
    const c2 = new Uint8Array(L * k * E);
    const ds = new Uint8Array(L * k * E);
    for (let l = 0; l < L; l++)
      for (let j = 0; j < k; j++) {
        const at = (l * k + j) * E;
        c2.set(rerandomised.subarray(l * width + E + j * E, l * width + E + j * E + E), at);
        ds.set((frames[j] as Uint8Array).subarray(l * E, l * E + E), at);
      }
    const decrypted = r.subPacked(c2, ds);
    const points = Array.from({ length: L * k }, (_, i) => decrypted.subarray(i * E, i * E + E));
    // B's part is done: tell it now. The discrete logarithms below take time that grows
    // with the counts and the sums; after this point B's clock sees none of it.
    await verified();
    const tableBound = Array.from({ length: L }, (_, l) => (release(l) ? bound(l) * k : 0)).reduce((x, y) => x + y, 0);
    // One budget of giant steps for every sum of the run: a garbage sum (values above the
    // declared maximum, a peer off the protocol) costs at most the budget, never hours.
    const dlog = new DiscreteLog(r, DiscreteLog.tableSizeFor(tableBound), this.#searchSteps);
    for (let l = 0; l < L; l++) {
      if (!release(l)) continue; // a dummy list, or below B's policy: not decrypted
      for (let j = 0; j < k; j++) (sums[l] as number[])[j] = dlog.solve(points[l * k + j] as Uint8Array, bound(l));
    }
    return sums;
  }

  #group(): PrimeGroup {
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
  #r: PrimeGroup | undefined;
  /** B's column keys b_j (secret, packed) and K_j = b_j G: the encryption keys. */
  readonly #secrets: Uint8Array;
  #ownKeys: Uint8Array;

  constructor(c: ValueLayerContext, suite: SuiteName, scalar: ScalarPair) {
    this.#c = c;
    this.#suite = suite;
    this.#scalar = scalar;
    this.entryBytes = this.preparedBytes = recordBytes2p(c.columns);
    this.#secrets = new Uint8Array(c.columns * 32);
    this.#ownKeys = new Uint8Array(0);
    c.scope.defer(() => wipe(this.#secrets));
  }

  /** Verifies A's key shares, answers with B's column keys K_j = b_j G. */
  async setup(): Promise<void> {
    const r = (this.#r = await valueGroup());
    const E = r.elementBytes;
    const { session: s, columns: k } = this.#c;
    const session = s.id;
    const f = await s.receiveChunk([Step.KEYS], Step.KEYS, 'key shares', E + PROOF_BYTES);
    if (f.count !== k) throw new KoppelError('MESSAGE_MALFORMED', 'The peer sent another number of key shares than value columns.');
    const body = new Uint8Array(k * E);
    this.#ownKeys = new Uint8Array(k * E);
    const w = E + PROOF_BYTES;
    for (let j = 0; j < k; j++) {
      const A = f.body.slice(j * w, j * w + E);
      if (!verifyKnowledge(r, A, f.body.subarray(j * w + E, j * w + w), context(session, 'key-a', j))) {
        throw new KoppelError('PROOF_INVALID', "The peer's proof of knowledge of its key share does not verify.", { details: { column: j } });
      }
      const b = r.randomScalar();
      this.#secrets.set(b, j * 32);
      b.fill(0);
      this.#ownKeys.set(r.mulBase(this.#secrets.subarray(j * 32, j * 32 + 32)), j * E);
    }
    body.set(this.#ownKeys);
    await s.send(Step.KEYS, k, body);
  }

  /** H(x)^b and the ElGamal encryption of the record's values under K_j (dummies encrypt zeros). */
  prepare(items: string[], values: Float64Array): Promise<Uint8Array> {
    const k = this.#c.columns;
    const padded = new Float64Array(items.length * k);
    padded.set(values);
    return this.#c.pool.run(
      'encryptRecordsOwn',
      { suite: this.#suite, items, scalar: this.#scalar.scalar, protocol: 'join', values: padded, columns: k, secretKeys: this.#secrets },
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
    const E = r.elementBytes;
    const f = await s.receiveChunk([Step.DECRYPT], Step.DECRYPT, 'decryption request', E);
    if (f.count !== L)
      throw new KoppelError('LIMIT_EXCEEDED', `The peer asked for ${f.count} decryptions; one per list (${L}) is all it may ask.`, {
        details: { asked: f.count, lists: L },
      });
    const c1 = new Uint8Array(f.body);
    const session = s.id;
    // One worker task per column, in parallel; then one set of weights for every column and
    // the composite of the C1' (split over the pool), and each column's proof on it.
    const secrets = Array.from({ length: k }, (_, j) => this.#secrets.slice(j * 32, j * 32 + 32));
    const decrypting = secrets.map((secret) => this.#c.pool.run('partialDecrypt', { secret, c1 }));
    for (const d of decrypting) d.catch(() => undefined); // awaited below
    try {
      const Ds = await this.#c.scope.guard(Promise.all(decrypting));
      const weights = concatBytes(...dleqWeights(r, context(session, 'partials-seed'), this.#ownKeys, c1, Ds));
      const M = await this.#c.scope.guard(composite(this.#c.pool, r, weights, c1));
      if (!M) throw new KoppelError('INVALID_POINT', `A decryption request from the peer holds an invalid ${r.name} element.`);
      for (let j = 0; j < k; j++) {
        const proof = proveDleqComposite(r, secrets[j] as Uint8Array, this.#ownKeys.subarray(j * E, j * E + E), M, context(session, 'partials', j));
        await s.send(Step.PARTIALS, L + PROOF_BYTES / E, concatBytes(Ds[j] as Uint8Array, proof));
        progress?.({ phase: 'decrypt', done: (j + 1) * L });
      }
    } finally {
      await Promise.allSettled(decrypting);
      wipe(...secrets);
    }
  }
}
