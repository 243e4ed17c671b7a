/**
 * The OPRF service and its client under hostile load (issue 16): an endless `/v1/keys`
 * answer made `pseudonymise --oprf` buffer 1.6 GB and hang on 80b18a1; the service on a
 * port in use said "Cannot listen" and then kept the process alive; a silent connection
 * held a service slot until the keep-alive timeout.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { startOprfService } from '../../src/oprf/service.js';
import { KoppelError } from '../../src/errors/index.js';

const key = importOprfKeyFile(generateOprfKeyFile());

async function serve(handler: Parameters<typeof createServer>[1]): Promise<[Server, number]> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return [server, (server.address() as net.AddressInfo).port];
}

describe('the OPRF client reads bounded answers', () => {
  it('an endless /v1/keys answer is MESSAGE_TOO_LARGE at 16 MiB, not a growing buffer and a hang', async () => {
    const [server, port] = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const pump = () => {
        while (res.write(chunk)) {
          /* keep the socket full */
        }
      };
      res.on('drain', pump);
      res.on('close', () => res.off('drain', pump));
      pump();
    });
    try {
      const rss0 = process.memoryUsage().rss;
      const t0 = Date.now();
      const e = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${port}`, threads: 0, retryForMs: 1000 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(KoppelError);
      expect((e as KoppelError).code).toBe('MESSAGE_TOO_LARGE');
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 1024 * 1024);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('the OPRF service under hostile load', () => {
  it('closes a connection that sends no request headers within headersTimeoutMs', async () => {
    const s = await startOprfService({ keys: [key.voprf], host: '127.0.0.1', port: 0, threads: 0, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const sock = net.connect(s.port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.resume();
      sock.write('GET /health HTTP/1.1\r\nHost: x\r\n'); // and never the end of the headers
      const t0 = Date.now();
      await new Promise((r) => sock.once('close', r));
      // Node checks the deadline once a second or so: closed within a few seconds, not minutes.
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await s.close();
    }
  });

  it('holds at most maxConnections connections', async () => {
    const s = await startOprfService({ keys: [key.voprf], host: '127.0.0.1', port: 0, threads: 0, maxConnections: 2 });
    const socks: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const sock = net.connect(s.port, '127.0.0.1');
        sock.on('error', () => undefined);
        sock.resume();
        await new Promise((r) => sock.once('connect', r));
        socks.push(sock);
      }
      await new Promise((r) => (socks[2] as net.Socket).once('close', r));
      expect((socks[0] as net.Socket).destroyed).toBe(false);
    } finally {
      for (const x of socks) x.destroy();
      await s.close();
    }
  });

  it('on a port in use, fails naming the address, and nothing keeps the process alive', () => {
    const service = fileURLToPath(new URL('../../dist/oprf/service.js', import.meta.url));
    const keys = fileURLToPath(new URL('../../dist/oprf/key.js', import.meta.url));
    const script = `
      import { createServer } from 'node:net';
      import { startOprfService } from ${JSON.stringify(service)};
      import { generateOprfKeyFile, importOprfKeyFile } from ${JSON.stringify(keys)};
      const blocker = createServer();
      await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
      const port = blocker.address().port;
      const k = importOprfKeyFile(generateOprfKeyFile());
      try {
        await startOprfService({ keys: [k.voprf], host: '127.0.0.1', port, threads: 1 });
        console.log('started?');
      } catch (e) {
        console.log(e.code + ' ' + e.message.includes('127.0.0.1:' + port) + ' ' + e.message.includes('in use'));
      }
      blocker.close();
    `;
    // execFileSync's timeout kills a process that hangs (the finding): the test then fails.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000, encoding: 'utf8' });
    expect(out.trim()).toBe('NETWORK_ERROR true true');
  });
});

describe('koppel oprf serve on a port in use', () => {
  it('exits with status 1 and an error naming the address, within seconds (it hung on 80b18a1)', () => {
    const cli = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));
    const script = `
      import { createServer } from 'node:net';
      import { execFileSync } from 'node:child_process';
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const dir = mkdtempSync(join(tmpdir(), 'koppel-oprf-'));
      execFileSync(process.execPath, [${JSON.stringify(cli)}, 'oprf', 'keygen', '--out', join(dir, 'k.json')], { stdio: 'pipe' });
      const blocker = createServer();
      await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
      const port = blocker.address().port;
      try {
        execFileSync(process.execPath, [${JSON.stringify(cli)}, 'oprf', 'serve', '--key', join(dir, 'k.json'), '--listen', '127.0.0.1:' + port, '--insecure', '--threads', '1'], { stdio: 'pipe', timeout: 10000 });
        console.log('no error');
      } catch (e) {
        const err = String(e.stderr);
        console.log(String(e.status) + ' ' + err.includes('127.0.0.1:' + port) + ' ' + err.includes('in use'));
      }
      blocker.close();
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(out.trim()).toBe('1 true true');
  });
});
