/**
 * The private join's public types: the records each party holds, the options of each
 * role, and what each role learns.
 *
 * @packageDocumentation
 */
import type { IdType } from '../pseudonymise/normalise.js';
import type { SuiteName } from '../group/types.js';
import type { Session } from '../session/session.js';
import type { Channel } from '../transport/channel.js';
import type { JoinVariant } from './messages.js';
import type { JoinDisclosureOptions, JoinGroup, JoinTableRow } from './table.js';

/** The phases of a join, as progress reports name them. */
export type JoinPhase = 'read' | 'lists' | 'evaluate' | 'own-records' | 'records' | 'match' | 'sums' | 'decrypt' | 'helper';

/** Progress of a long join. */
export interface JoinProgress {
  /** What is happening: reading own records, A's lists, B's evaluation of them, B's own records, the records on the wire, A's matching, the sums, their decryption, the helper's work. */
  readonly phase: JoinPhase;
  /** Items done in this phase. */
  readonly done: number;
}

/** Options every party shares. */
export interface JoinCommonOptions {
  /** `two-party` (default: ElGamal, no third party) or `helper` (a non-colluding helper); both parties must agree. */
  readonly variant?: JoinVariant;
  /** Group suite of the blinding layer, `x25519` (default) or `ristretto255`; both parties must agree. */
  readonly suite?: SuiteName;
  /** Worker threads (default: the machine's cores; 0: inline). */
  readonly threads?: number;
  /** Items per chunk on the wire (default 4096). */
  readonly chunkSize?: number;
  /**
   * How identifiers are normalised before matching (default `raw`: as given). Both
   * parties must agree (`ID_TYPE_MISMATCH`, with the normalisation rules' version).
   */
  readonly idType?: IdType;
  /** The records' ids are already normalised as {@link JoinCommonOptions.idType} (e.g. by `openJoinGroupsCsv`): not again. */
  readonly prenormalised?: boolean;
  /** The SHA-256 (hex) of the linking agreement this run is under; both parties must hold the same one (`AGREEMENT_MISMATCH`). */
  readonly agreement?: string;
  /** Helper variant: an open channel to the helper. */
  readonly helper?: Channel;
  /** Called about once per chunk. */
  readonly onProgress?: (p: JoinProgress) => void;
  /** Cancels the run: the peer (and the helper) are told (`ABORTED`) and the promise rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * Called once the session with the other party is open (HELLO checked) with the
   * session: its id, the authenticated peer, and (once the run has finished) its
   * transcript hash.
   */
  readonly onSession?: (session: Session) => void;
  /**
   * Helper variant: called once the session with the helper is open, with that session
   * (its id is the join's; its transcript is its own). The helper session stays open
   * until the run ends, so `beforeClose` may still use it (e.g. the receipt exchange).
   */
  readonly onHelperSession?: (session: Session) => void;
}

/** A record of A: an identifier and its group labels (e.g. region, household type). */
export interface GroupRecord {
  readonly id: string;
  readonly group: readonly string[];
}

/** A record of B: an identifier and its values (non-negative integers, one per value column). */
export interface ValueRecord {
  readonly id: string;
  readonly values: readonly number[];
}

/** Options of {@link joinGroups} (party A). */
export interface JoinGroupsOptions extends JoinCommonOptions, JoinDisclosureOptions {
  /** With the result, before the session closes (outputs, receipts: docs/agreement.md). */
  readonly beforeClose?: (result: JoinGroupsResult) => Promise<void>;
  /** How many group labels every record has (default: taken from the first record). */
  readonly groupColumns?: number;
  /** Refuse to run unless B's value columns are exactly these names, in this order. */
  readonly expectColumns?: readonly string[];
  /** Pad every list with dummies to exactly this size, so B learns this bound and not the group sizes. */
  readonly padListsTo?: number;
  /** Add dummy lists up to this many, so B learns this bound and not the number of groups. */
  readonly padGroupsTo?: number;
  /**
   * The largest maximum value B may declare (default 1,000,000, B's own default; at most
   * 2^40). A larger declaration in B's HELLO is refused before any work
   * (`LIMIT_EXCEEDED`, `details.field` = `maxValue`, told to B too): B's declaration sets
   * how far A searches for the sums (docs/protocols/join.md, "Bounded discrete logarithm").
   */
  readonly maxValue?: number;
  /**
   * Two-party variant: the budget of giant steps for all the discrete logarithms of the
   * run together (default 2^18, about 8 s here; at most 2^32). Beyond it the run fails
   * with `SUM_OUT_OF_RANGE`. Raise it only for honest sums that add up to more than
   * about 2^34 over the whole table.
   */
  readonly maxSearchSteps?: number;
}

/** Options of {@link joinValues} (party B). */
export interface JoinValuesOptions extends JoinCommonOptions {
  /** With the result, before the session closes (outputs, receipts: docs/agreement.md). */
  readonly beforeClose?: (result: JoinValuesResult) => Promise<void>;
  /** Names of the value columns, in the order of every record's values. */
  readonly columns: readonly string[];
  /**
   * Declared maximum of any single value (default 1,000,000; at most 2^40). A learns it;
   * it bounds every sum (count x maxValue), and a larger value is refused here.
   */
  readonly maxValue?: number;
  /** Pad B's list with dummies to exactly this size, so A learns the bound, not the true size. */
  readonly padTo?: number;
  /**
   * B's policy (default 10, the usual threshold rule; 1: no policy): A must not learn the
   * sums of any group with fewer matches. B states it in its HELLO; A's threshold becomes
   * the larger of its own and this, and no result of A carries such a group's sums. The
   * helper variant enforces it against a modified A (the helper sends noise for such
   * lists); in the two-party variant an honest A asks no decryption for them, but a
   * modified A could (docs/protocols/join.md).
   */
  readonly minCount?: number;
  /**
   * B's policy on the shape of A's table: refuse more than this many lists (default: the
   * protocol's limit). With {@link JoinValuesOptions.minListSize} it lets B refuse a
   * table shaped to single people out, when A does not pad (docs/protocols/join.md).
   */
  readonly maxLists?: number;
  /**
   * B's policy: refuse any list of A with fewer elements than this (default 1: none). A
   * list is a group of A's records; a small one singles its members out. A's padding
   * (`padListsTo`) makes every list as large as the padding, so this checks the real
   * group sizes only where the agreement rules padding out.
   */
  readonly minListSize?: number;
}

/** Options of {@link joinHelper}. */
export interface JoinHelperOptions {
  /** Called as work progresses. */
  readonly onProgress?: (p: JoinProgress) => void;
  /**
   * The SHA-256 (hex) of the linking agreement this run is under. Both parties' HELLOs
   * must carry the same one (or, without it, none): a party under another agreement is
   * told `AGREEMENT_MISMATCH`, and the helper stops with it.
   */
  readonly agreement?: string;
  /**
   * With the result, after the sums went to the group holder and before both sessions
   * close: the place to exchange receipts on each (docs/agreement.md). A failure fails
   * the run (both parties are told).
   */
  readonly beforeClose?: (result: JoinHelperResult, sessions: { readonly groups: Session; readonly values: Session }) => Promise<void>;
  /** Cancels the helper: once it serves a pair, both parties are told (`ABORTED`) and the promise rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** What A learns. */
export interface JoinGroupsResult {
  readonly variant: JoinVariant;
  /** B's value column names. */
  readonly columns: readonly string[];
  /** B's declared maximum per value. */
  readonly maxValue: number;
  /**
   * The exact per-group counts and sums, in order of first appearance: A's own view,
   * before disclosure control. Publish {@link JoinGroupsResult.table}, not this. A
   * group with fewer matches than B's {@link JoinGroupsResult.minCount} has `sums: null`
   * (A never learned them).
   */
  readonly groups: readonly JoinGroup[];
  /** B's policy as its HELLO stated it (1: none, also from a value holder that states none). */
  readonly minCount: number;
  /** The threshold the table was protected with: the larger of A's `threshold` (default 10) and B's `minCount`. */
  readonly threshold: number;
  /** The released table: every group (first) and every total, with the rule that decided it. */
  readonly table: readonly JoinTableRow[];
  /** Size of B's (padded) list. */
  readonly valuesListSize: number;
  /** A's distinct records. */
  readonly records: number;
}

/** What B learns. */
export interface JoinValuesResult {
  readonly variant: JoinVariant;
  /** The (padded) sizes of A's lists, in the order A sent them (random). */
  readonly listSizes: readonly number[];
  /** B's distinct records, before padding. */
  readonly records: number;
  /** The policy B stated: A learns no sums of groups with fewer matches. */
  readonly minCount: number;
}

/** What the helper learns. */
export interface JoinHelperResult {
  /** Number of A's lists. */
  readonly groups: number;
  /** Size of B's list. */
  readonly positions: number;
  /** Matches per (relabelled) list, sorted descending: the anonymous histogram of group sizes. */
  readonly histogram: readonly number[];
  /** B's policy as B's HELLO stated it (1: none). */
  readonly minCount: number;
  /** Lists with fewer matches than `minCount`, for which the helper sent random values instead of sums. */
  readonly withheld: number;
}
