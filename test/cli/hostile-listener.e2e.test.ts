/**
 * `koppel psi serve` with strays ahead of the honest client (issue 16): a silent
 * connection, an HTTP request, a complete frame that is not a HELLO and a plain-TCP
 * client against TLS. Each is dropped and logged (address and reason, never data), and
 * the session with the honest client completes. On 80b18a1 the first stray became the
 * session's peer and the run failed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKoppel as koppel } from '../helpers.js';
import { testPki } from '../tls.js';

let port = 18300 + Math.floor(Math.random() * 500);

/** Opens a raw connection to the server, retrying until it listens; runs `then` on it. */
function stray(then: (s: net.Socket) => void): Promise<net.Socket> {
  return new Promise((resolve) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => setTimeout(attempt, 50));
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => undefined);
        s.resume();
        then(s);
        resolve(s);
      });
    };
    attempt();
  });
}

describe('psi serve with strays ahead of the honest client', () => {
  it.each(['tls', 'insecure'] as const)('drops and logs each stray and serves the honest client (%s)', async (security) => {
    port++;
    const dir = mkdtempSync(join(tmpdir(), 'koppel-hostile-e2e-'));
    writeFileSync(join(dir, 'server.csv'), 'bsn\n111222333\n123456782\n');
    writeFileSync(join(dir, 'client.csv'), 'bsn\n123456782\n012345672\n');
    const pki = testPki();
    const serverTls =
      security === 'insecure' ? ['--insecure'] : ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca, '--peer', 'client'];
    const clientTls =
      security === 'insecure' ? ['--insecure'] : ['--tls-cert', pki.clientCert, '--tls-key', pki.clientKey, '--tls-ca', pki.ca, '--peer', 'server'];
    const common = ['--column', 'bsn', '--id-type', 'bsn', '--timeout', '30', '--idle-timeout', '30'];
    const server = koppel([
      'psi',
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--in',
      join(dir, 'server.csv'),
      ...common,
      ...serverTls,
      '--handshake-timeout',
      '2',
    ]);
    // The server first reads its file; strays connect as soon as it listens.
    const strays = await Promise.all([
      stray(() => undefined), // silent
      stray((s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
      stray((s) => s.write(Buffer.from([0, 0, 0, 3, 1, 2, 3]))), // a frame, but not a HELLO
    ]);
    await new Promise((r) => setTimeout(r, 300));
    const client = await koppel([
      'psi',
      'connect',
      '--connect',
      `127.0.0.1:${port}`,
      '--in',
      join(dir, 'client.csv'),
      '--out',
      join(dir, 'out.csv'),
      ...common,
      ...clientTls,
    ]);
    const s = await server;
    for (const x of strays) x.destroy();
    expect(client.code, client.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out.csv'), 'utf8')).toBe('bsn\n123456782\n');
    expect(s.code, s.stderr).toBe(0);
    const dropped = s.stderr.split('\n').filter((l) => l.includes('dropped a connection from 127.0.0.1:'));
    // The HTTP request and the frame at least (the silent one may outlive the session).
    expect(dropped.length).toBeGreaterThanOrEqual(2);
    expect(s.stderr).toMatch(security === 'tls' ? /plain TCP.*TLS_ERROR/ : /not a HELLO.*MESSAGE_MALFORMED/);
    expect(s.stderr).not.toMatch(/GET|HTTP\/1\.1/); // nothing the stray sent is echoed
  });
});
