/**
 * Secondary suppression. Along every line of the table (all entries that differ in one
 * dimension only, with that line's total) the total is the sum of the others, so a lone
 * suppressed entry would be given away by subtraction, and combinations of lines, with
 * the public bounds (counts are non-negative, a threshold entry has 1 to k - 1
 * contributors), can give away more. Every threshold entry is therefore put in a box of
 * suppressed entries (the hypercube method, as in tau-ARGUS; see `box-search.ts`) along
 * which it can change within those bounds without any published entry changing. No
 * small cell then follows from the published ones, exactly or by the bounds, and no
 * suppressed entry at all by sums and differences. The pattern is not optimal (least
 * information lost); `disclosedEntries` (`audit.ts`) audits a pattern's exact linear
 * disclosure independently.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { Move } from './bounds.js';
import { BoxSearch } from './box-search.js';
import type { ExtendedTable, Rule } from './extended-table.js';
import type { ResolvedOptions } from './options.js';

/** The suppression pattern being built: which moves protect which threshold entry. */
class SecondaryPattern {
  private readonly search: BoxSearch;
  /** Threshold entry -> the entries of the moves that protect it. */
  private readonly moves = new Map<number, Move>();
  /** Entry -> threshold entries whose move has it. */
  private readonly usedBy = new Map<number, Set<number>>();

  constructor(
    private readonly table: ExtendedTable,
    private readonly rule: Rule[],
    private readonly options: ResolvedOptions,
  ) {
    this.search = new BoxSearch({
      table,
      rule,
      threshold: options.k,
      protection: options.protection,
      valueBasisPoints: Math.round(options.valueProtection * 100),
    });
  }

  /** Records `move` as what protects x, in place of its earlier one. */
  private adopt(x: number, move: Move): void {
    const { moves, usedBy } = this;
    for (const { e } of moves.get(x) ?? []) usedBy.get(e)?.delete(x);
    moves.set(x, move);
    for (const { e } of move) {
      let users = usedBy.get(e);
      if (users === undefined) usedBy.set(e, (users = new Set()));
      users.add(x);
    }
  }

  /** Every threshold entry, in order, protected by its moves; their published entries become secondary. Refuses the table (DISCLOSURE_RISK) if some entry finds none. */
  protectEach(): void {
    const rule = this.rule;
    for (let x = 0; x < this.table.size; x++) {
      if (rule[x] !== 'threshold') continue;
      const move = this.search.movesFor(x, false)?.flat();
      if (!move) throw this.refusal();
      for (const { e } of move) if (rule[e] === 'published') rule[e] = 'secondary';
      this.adopt(x, move);
    }
  }

  /**
   * Boxes chosen one at a time overlap badly: publishes again every secondary entry
   * (largest first, totals before cells) whose threshold entries all find another move
   * through entries still suppressed; then every secondary entry that no move uses any
   * more (it protects nothing). Every entry left suppressed is then in a move, so none
   * is recovered by sums and differences.
   */
  publishAgain(): void {
    const { table, rule, usedBy } = this;
    const secondaries = Array.from({ length: table.size }, (_, e) => e).filter((e) => rule[e] === 'secondary');
    const count = (e: number) => table.count(e);
    secondaries.sort((a, b) => Number(table.isTotal(b)) - Number(table.isTotal(a)) || (count(b) > count(a) ? 1 : count(b) < count(a) ? -1 : a - b));
    for (const s of secondaries) {
      rule[s] = 'published';
      const instead = new Map<number, Move>();
      for (const x of usedBy.get(s) ?? []) {
        const move = this.search.movesFor(x, true)?.flat();
        if (!move) break;
        instead.set(x, move);
      }
      if (instead.size < (usedBy.get(s)?.size ?? 0)) {
        rule[s] = 'secondary';
        continue;
      }
      for (const [x, move] of instead) this.adopt(x, move);
    }
    for (const s of secondaries) if (rule[s] === 'secondary' && (usedBy.get(s)?.size ?? 0) === 0) rule[s] = 'published';
  }

  /** The refusal when a small cell finds no protecting move. */
  private refusal(): KoppelError {
    const { k, protection, valueProtection } = this.options;
    const levels = [protection > 1 ? `protection level ${protection}` : '', valueProtection > 0 ? `value protection ${valueProtection}%` : '']
      .filter(Boolean)
      .join(' and ');
    return new KoppelError(
      'DISCLOSURE_RISK',
      `No suppression pattern was found that keeps a small cell (fewer than ${k} contributors) from being given away by the table's public bounds${levels ? ` with ${levels}` : ''}; typically a small total made of cells of 1, which the threshold rule itself pins (2 = 1 + 1 with threshold 3). Merge categories, change the threshold${levels ? ' or ask for less protection' : ''}.`,
    );
  }
}

/**
 * Secondary suppression of an extended table whose rule column has the threshold rule
 * applied: marks as `secondary` the entries that keep every threshold entry from being
 * given away, in place.
 */
export function suppressSecondary(table: ExtendedTable, rule: Rule[], options: ResolvedOptions): void {
  const pattern = new SecondaryPattern(table, rule, options);
  pattern.protectEach();
  pattern.publishAgain();
}
