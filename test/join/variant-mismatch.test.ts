/**
 * `join values` against a group holder of another `--variant` (issue 16: it hung
 * silently for 100+ s on 80b18a1): both sides fail at the HELLO, within a second, each
 * naming the field that differs.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryChannelPair } from '../../src/transport/channel.js';
import { joinGroups, joinValues } from '../../src/join/join.js';
import { KoppelError } from '../../src/errors/index.js';

const settle = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('a variant mismatch between the join parties', () => {
  it.each([
    ['two-party', 'helper'],
    ['helper', 'two-party'],
  ] as const)('groups %s, values %s: MODE_MISMATCH on both sides, naming the variant, within a second', async (groupsVariant, valuesVariant) => {
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 10_000 });
    const [ah] = createMemoryChannelPair({ idleTimeoutMs: 10_000 });
    const [bh] = createMemoryChannelPair({ idleTimeoutMs: 10_000 });
    const t0 = Date.now();
    const [ea, eb] = await Promise.all([
      settle(joinGroups(ca, [{ id: '1', group: ['g'] }], { threads: 0, variant: groupsVariant, ...(groupsVariant === 'helper' ? { helper: ah } : {}) })),
      settle(
        joinValues(cb, [{ id: '1', values: [1] }], {
          threads: 0,
          variant: valuesVariant,
          columns: ['v'],
          ...(valuesVariant === 'helper' ? { helper: bh } : {}),
        }),
      ),
    ]);
    expect(Date.now() - t0).toBeLessThan(1000);
    for (const e of [ea, eb]) {
      expect(e).toBeInstanceOf(KoppelError);
      expect((e as KoppelError).code).toBe('MODE_MISMATCH');
      expect((e as KoppelError).details['field']).toBe('variant');
      expect((e as KoppelError).message).toContain('variant');
    }
  });
});
