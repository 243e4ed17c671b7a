/**
 * The one options type of disclosure control, used by aggregation (`protectTable`,
 * `collect`) and by the private join's table.
 *
 * @packageDocumentation
 */
import { KoppelError } from '../errors/index.js';
import type { PTable } from './cell-key.js';

/** Options of disclosure control: the threshold rule, secondary suppression, its protection levels and the cell key method. */
export interface DisclosureOptions {
  /** Minimum contributors for a published cell (default 10; zero cells are safe). */
  readonly threshold?: number;
  /** Secondary suppression (default on). */
  readonly secondary?: boolean;
  /**
   * Protection level (default 1): with secondary suppression, every small cell's count
   * can take, as far as the public can tell, a value at least this far from the true
   * one (its feasible range is at least this wide).
   */
  readonly protection?: number;
  /**
   * Value protection in percent (default 0): with secondary suppression, every small
   * cell's value sums can take, as far as the public can tell, a value at least this
   * share of the true sum away from it, and at least one unit (as tau-ARGUS's protection
   * levels for magnitude tables; 10 to 20 is usual). 0 asks for one unit only.
   */
  readonly valueProtection?: number;
  /** Cell key perturbation of counts with this p-table (default off). */
  readonly cellKey?: PTable;
  /**
   * With the cell key method and value columns: publish the value sums exact beside the
   * perturbed counts (the method protects counts only; an exact sum can give a count back,
   * e.g. a column that is 1 for every record). Without it such a table is refused.
   */
  readonly cellKeyCountsOnly?: boolean;
}

/** The options with their defaults, checked (all but the p-table, which is checked on its own). */
export interface ResolvedOptions {
  /** The threshold k. */
  readonly k: number;
  /** Whether secondary suppression is on. */
  readonly secondary: boolean;
  /** The protection level of small cells' counts. */
  readonly protection: number;
  /** The value protection in percent. */
  readonly valueProtection: number;
}

/** Applies the defaults and checks the threshold, the protection level and the value protection, in that order. */
export function resolveOptions(options: DisclosureOptions): ResolvedOptions {
  const k = options.threshold ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new KoppelError('INVALID_ARGUMENT', 'The threshold must be a positive integer.');
  const protection = options.protection ?? 1;
  if (!Number.isSafeInteger(protection) || protection < 1) throw new KoppelError('INVALID_ARGUMENT', 'The protection level must be a positive integer.');
  const valueProtection = options.valueProtection ?? 0;
  if (!Number.isFinite(valueProtection) || valueProtection < 0 || valueProtection > 100)
    throw new KoppelError('INVALID_ARGUMENT', 'The value protection must be a percentage from 0 to 100.');
  return { k, secondary: options.secondary ?? true, protection, valueProtection };
}
