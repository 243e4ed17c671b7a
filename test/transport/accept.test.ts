/**
 * A channel taken by `accept()` belongs to its taker: closing the listener right after
 * (as a one-peer server does) must not close it, before or after its first message.
 * Found by running the README's networked example, which did exactly that and got
 * CONNECTION_CLOSED.
 */
import { describe, expect, it } from 'vitest';
import { connect, listen } from '../../src/transport/net.js';

describe('listener.close() after accept()', () => {
  it.each(['accept', 'acceptReady'] as const)('keeps the channel %s() returned open, in both directions', async (how) => {
    const security = { insecure: true } as const;
    const listener = await listen({ host: '127.0.0.1', port: 0, security });
    const client = await connect({ host: '127.0.0.1', port: listener.port, security });
    // acceptReady waits for a first message; accept does not.
    if (how === 'acceptReady') await client.send(new Uint8Array([1, 2, 3]));
    const server = await listener[how](5000);
    await listener.close();
    if (how === 'accept') await client.send(new Uint8Array([1, 2, 3]));
    expect(Array.from(await server.receive())).toEqual([1, 2, 3]);
    await server.send(new Uint8Array([4]));
    expect(Array.from(await client.receive())).toEqual([4]);
    await client.close();
    await server.close();
  });
});
