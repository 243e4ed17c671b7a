/**
 * The OPRF service's secrets and its plain-HTTP mode, tried as an attacker or a careless
 * operator would (issue 15, finding 7): a key object's secret printed or serialised, a
 * guessable bearer token, plain HTTP on a routable address, and a client sending its
 * token over http:// to another host.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { checkToken, startOprfService } from '../../src/oprf/service.js';
import { isLoopbackHost } from '../../src/transport/net.js';
import { randomBytes, toBase64Url } from '../../src/util/bytes.js';
import { expectCode, expectCodeSync } from '../helpers/expect-code.js';
import { certFingerprint, pem, testPki } from '../tls.js';

const keys = importOprfKeyFile(generateOprfKeyFile());

describe('an OPRF key object', () => {
  it('never shows its secret: util.inspect, JSON.stringify, Object.keys and spreading leave it out', () => {
    const secret = keys.oprf.secretKey;
    expect(secret).toHaveLength(32);
    const renderings = [
      inspect(keys),
      inspect(keys.oprf, { depth: 5 }),
      JSON.stringify(keys),
      JSON.stringify({ ...keys.oprf }),
      String(Object.keys(keys.voprf)),
    ];
    for (const r of renderings) {
      expect(r).not.toContain(Buffer.from(secret).toString('hex'));
      expect(r).not.toContain(Buffer.from(secret).toString('base64'));
      expect(r).not.toContain(toBase64Url(secret));
    }
    expect(inspect(keys.oprf)).toContain('[redacted]');
    expect(JSON.stringify(keys.oprf)).toContain(keys.oprf.kid);
    expect(Object.keys(keys.oprf)).not.toContain('secretKey');
    expect(JSON.stringify(keys)).not.toContain('secretKey":{');
  });
});

describe('bearer tokens', () => {
  it('a token of sixteen a, a short one, or one made of few characters is refused at start with WEAK_KEY; 128 random bits are accepted', async () => {
    for (const weak of ['a'.repeat(16), 'a'.repeat(40), 'abcdefghij', 'ababababababababababababababab', '0123012301230123012301230123012301230123']) {
      const e = expectCodeSync(() => checkToken(weak), 'WEAK_KEY');
      expect(e.message).not.toContain(weak);
      await expectCode(startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0, tokens: [{ client: 'cbs', token: weak }] }), 'WEAK_KEY');
    }
    for (let i = 0; i < 200; i++) {
      checkToken(toBase64Url(randomBytes(16))); // 22 characters, 128 bits
      checkToken(Buffer.from(randomBytes(16)).toString('hex'));
      checkToken(Buffer.from(randomBytes(32)).toString('base64'));
    }
  });
});

describe('plain HTTP', () => {
  it('the service refuses plain HTTP on an address other than loopback (before it listens)', async () => {
    await expectCode(startOprfService({ keys: [keys.oprf], host: '0.0.0.0', port: 0, threads: 0 }), 'INVALID_ARGUMENT');
    await expectCode(startOprfService({ keys: [keys.oprf], host: '::', port: 0, threads: 0 }), 'INVALID_ARGUMENT');
    const s = await startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0 });
    await s.close();
  });

  it('the client refuses http:// to any host but loopback, so a token never crosses a network in the clear', async () => {
    const e = await expectCode(
      OprfPseudonymiser.connect({ url: 'http://oprf.example:7400', token: 'secret-token-value-0123456789', threads: 0 }),
      'INVALID_ARGUMENT',
    );
    expect(e.message).not.toContain('secret-token');
  });

  it('loopback means localhost, 127.0.0.0/8 and ::1, nothing else', () => {
    for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', '128.0.0.1', 'oprf.example', 'localhost.example', '::2'])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});

describe('who uses the service', () => {
  const pki = testPki();
  const serverTls = { cert: pem(pki.serverCert), key: pem(pki.serverKey), ca: pem(pki.ca) };
  const clientTls = (cert: string, key: string) => ({ ca: pem(pki.ca), cert: pem(cert), key: pem(key) });
  const url = (port: number) => `https://localhost:${port}`;

  it("an allow-list of client certificates: another agency's valid certificate from the same CA gets 403 PEER_NOT_ALLOWED, the listed client is served", async () => {
    const s = await startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0, tls: serverTls, clients: { names: ['client'] } });
    try {
      await expectCode(
        OprfPseudonymiser.connect({ url: url(s.port), mode: 'oprf', threads: 0, retryForMs: 500, tls: clientTls(pki.otherAgencyCert, pki.otherAgencyKey) }),
        'PEER_NOT_ALLOWED',
      );
      const ok = await OprfPseudonymiser.connect({ url: url(s.port), mode: 'oprf', threads: 0, tls: clientTls(pki.clientCert, pki.clientKey) });
      await ok.close();
    } finally {
      await s.close();
    }
  });

  it('a client certificate without a CN is metered by its fingerprint, not by its source address', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const s = await startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0, tls: serverTls, log: (e) => logs.push(e) });
    try {
      const c = await OprfPseudonymiser.connect({ url: url(s.port), mode: 'oprf', threads: 0, tls: clientTls(pki.noCnCert, pki.noCnKey) });
      await c.close();
      const clients = new Set(logs.filter((e) => e['event'] === 'request').map((e) => e['client']));
      expect([...clients]).toEqual([`cert-sha256:${certFingerprint(pki.noCnCert)}`]);
    } finally {
      await s.close();
    }
  });

  it('guessing bearer tokens: a burst of wrong tokens from one address gets 429 after a few 401s, not 401 every time', async () => {
    const s = await startOprfService({
      keys: [keys.oprf],
      host: '127.0.0.1',
      port: 0,
      threads: 0,
      tokens: [{ client: 'cbs', token: toBase64Url(randomBytes(16)) }],
    });
    try {
      const statuses: number[] = [];
      const started = performance.now();
      for (let i = 0; i < 60; i++) {
        const r = await fetch(`http://127.0.0.1:${s.port}/v1/keys`, { headers: { authorization: `Bearer ${toBase64Url(randomBytes(16))}` } });
        statuses.push(r.status);
        await r.arrayBuffer();
      }
      // A burst of 10, then 5 a second: every other guess is slowed down with 429.
      const seconds = (performance.now() - started) / 1000;
      const unauthorized = statuses.filter((x) => x === 401).length;
      expect(unauthorized).toBeLessThanOrEqual(10 + Math.ceil(5 * seconds) + 1);
      expect(statuses.filter((x) => x === 429).length).toBe(60 - unauthorized);
      expect(unauthorized).toBeLessThan(40);
    } finally {
      await s.close();
    }
  });
});

describe('the budget ledger', () => {
  it('a restart resets no budget: with --state the evaluations used before the restart still count, and the file holds client names and counts only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-ledger-'));
    const stateFile = join(dir, 'ledger.json');
    const start = () => startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0, budget: 5, stateFile });
    try {
      const first = await start();
      const c1 = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${first.port}`, mode: 'oprf', threads: 0, retryForMs: 500 });
      const ids = ['111222333', '123456782', '000000012', '999999990'];
      await c1.pseudonymiseMany(ids);
      await c1.close();
      await first.close(); // the "crash": everything in memory is gone
      const ledger = readFileSync(stateFile, 'utf8');
      for (const id of ids) expect(ledger).not.toContain(id);
      expect(Object.keys((JSON.parse(ledger) as { clients: object }).clients)).toEqual(['addr:127.0.0.1']);
      expect(JSON.parse(ledger)).toMatchObject({ type: 'koppel-oprf-ledger', version: 1 });
      const second = await start();
      const c2 = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${second.port}`, mode: 'oprf', threads: 0, retryForMs: 500 });
      await c2.pseudonymiseMany(['444555666']); // the fifth of five
      await expectCode(c2.pseudonymiseMany(['777888999']), 'BUDGET_EXHAUSTED');
      await c2.close();
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a state file that is not a koppel ledger stops the service at start (no silent reset)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koppel-ledger-'));
    try {
      for (const text of ['not json', '{"type":"koppel-oprf-ledger","version":1,"clients":{"x":{"used":-1,"periodStart":0}}}', '{}']) {
        writeFileSync(join(dir, 'bad.json'), text);
        await expectCode(startOprfService({ keys: [keys.oprf], host: '127.0.0.1', port: 0, threads: 0, stateFile: join(dir, 'bad.json') }), 'INVALID_ARGUMENT');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
