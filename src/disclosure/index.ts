/**
 * `koppel/disclosure`: statistical disclosure control of a released table, used by secret-shared aggregation
 * and the private join: margins, the threshold rule, secondary suppression against
 * subtraction and the public bounds (the hypercube method), the cell key method, and an
 * independent audit of a pattern's exact linear disclosure.
 *
 * - `protectTable`: the released table of an aggregate vector (`table.ts`).
 * - `DisclosureOptions`: the one options type (`options.ts`).
 * - `PTable`, `DEFAULT_PTABLE`, `checkPTable`: the cell key method (`cell-key.ts`).
 * - `disclosedEntries`: the linear audit (`audit.ts`).
 *
 * @packageDocumentation
 */
export { protectTable, type TableEntry } from './table.js';
export { TOTAL, type Rule } from './extended-table.js';
export type { DisclosureOptions } from './options.js';
export { DEFAULT_PTABLE, checkPTable, type PTable } from './cell-key.js';
export { disclosedEntries } from './audit.js';
