/**
 * A library script that runs psiServer and psiClient over listen() and connect() and
 * never calls close() exits by itself once both resolve (issue 16: on 80b18a1 it got
 * its result and never exited). Run as a child process against the built package.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** Runs `script` as an ES module file in a fresh node (worker threads need a file, not -e); killed after 20 s. */
function run(script: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'koppel-exit-')), 'script.mjs');
  writeFileSync(file, script);
  return execFileSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8' });
}

describe('nothing keeps the process alive after a networked PSI', () => {
  it('a script without close() on its listener or channels exits within seconds of the result', () => {
    const script = `
      import { listen, connect, psiServer, psiClient } from ${JSON.stringify(dist)};
      const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true } });
      const [server, client] = await Promise.all([
        l.acceptReady(10000).then((ch) => psiServer(ch, ['a', 'b', 'c'], { threads: 1 })),
        connect({ host: '127.0.0.1', port: l.port, security: { insecure: true } }).then((ch) => psiClient(ch, ['b', 'c', 'd'], { threads: 1 })),
      ]);
      console.log(JSON.stringify({ clientSetSize: server.clientSetSize, intersection: client.intersection }));
      globalThis.resolvedAt = Date.now();
    `;
    const t0 = Date.now();
    // The timeout kills a script that stays alive: the test then fails.
    const out = run(script);
    expect(JSON.parse(out.trim())).toEqual({ clientSetSize: 3, intersection: ['b', 'c'] });
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
  it('the same with accept() (as on 80b18a1), the listener left open', () => {
    const script = `
      import { listen, connect, psiServer, psiClient } from ${JSON.stringify(dist)};
      const l = await listen({ host: '127.0.0.1', port: 0, security: { insecure: true } });
      const [, client] = await Promise.all([
        l.accept(10000).then((ch) => psiServer(ch, ['x', 'y'], { threads: 1 })),
        connect({ host: '127.0.0.1', port: l.port, security: { insecure: true } }).then((ch) => psiClient(ch, ['y'], { threads: 1 })),
      ]);
      console.log(client.intersection.join(','));
    `;
    const out = run(script);
    expect(out.trim()).toBe('y');
  });
});
