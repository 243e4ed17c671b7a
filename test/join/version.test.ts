/**
 * Join protocol version 4 (the value layer on P-256, docs/protocols/join.md): a peer of
 * version 3 (ristretto255, one set of DLEQ weights for every value column) or 2 (per-column
 * weights) would send 32-byte elements where 64 are expected, or check each column's
 * proof on other weights and refuse every honest answer after all the work, so a mixed
 * pair stops at the HELLO instead.
 */
import { describe, expect, it } from 'vitest';
import { KoppelError } from '../../src/errors/index.js';
import { joinValues } from '../../src/join/join.js';
import { JOIN_PROTOCOL, Step } from '../../src/join/messages.js';
import { Link } from '../../src/session/link.js';
import { createMemoryChannelPair } from '../../src/transport/channel.js';

describe.each([3, 2])('a group holder of join protocol version %i', (version) => {
  it('is refused at the HELLO with VERSION_MISMATCH, before any key or list', async () => {
    expect(JOIN_PROTOCOL.version).toBe(4);
    const [ca, cb] = createMemoryChannelPair({ idleTimeoutMs: 5000 });
    const b = joinValues(cb, [{ id: 'person-1', values: [1] }], { threads: 0, columns: ['v'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const link = new Link(ca, JOIN_PROTOCOL, new Uint8Array(16));
    const hello = await link.receive([Step.HELLO], 'HELLO');
    link.session = Uint8Array.from(hello.session);
    await link.sendJson(Step.HELLO, {
      protocol: 'koppel-join',
      version,
      role: 'groups',
      variant: 'two-party',
      suite: 'x25519',
      idType: 'raw',
      normalisation: 1,
    });
    const e = await b;
    expect(e).toBeInstanceOf(KoppelError);
    expect((e as KoppelError).code).toBe('VERSION_MISMATCH');
    await link.close();
  });
});
