/**
 * The cell key method's p-table lookup (its consistency in a released table is tested
 * in table.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PTABLE, perturbation } from '../../src/disclosure/cell-key.js';

describe('cell key method', () => {
  it('maps cell keys to perturbations by the cumulative p-table row', () => {
    // Row for counts >= 3: -2 (0.05), -1 (0.2), 0 (0.5), 1 (0.2), 2 (0.05).
    expect(perturbation(DEFAULT_PTABLE, 50, 0)).toBe(-2);
    expect(perturbation(DEFAULT_PTABLE, 50, 12)).toBe(-2); // (12.5 / 256 < 0.05)
    expect(perturbation(DEFAULT_PTABLE, 50, 13)).toBe(-1);
    expect(perturbation(DEFAULT_PTABLE, 50, 128)).toBe(0);
    expect(perturbation(DEFAULT_PTABLE, 50, 230)).toBe(1);
    expect(perturbation(DEFAULT_PTABLE, 50, 255)).toBe(2);
    expect(perturbation(DEFAULT_PTABLE, 1, 255)).toBe(1);
    expect(perturbation(DEFAULT_PTABLE, 0, 255)).toBe(0);
  });
});
