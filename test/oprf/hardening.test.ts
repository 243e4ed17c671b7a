/**
 * The OPRF service's secrets and its plain-HTTP mode, tried as an attacker or a careless
 * operator would (issue 15, finding 7): a key object's secret printed or serialised, a
 * guessable bearer token, plain HTTP on a routable address, and a client sending its
 * token over http:// to another host.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { checkToken, startOprfService } from '../../src/oprf/service.js';
import { isLoopbackHost } from '../../src/transport/net.js';
import { randomBytes, toBase64Url } from '../../src/util/bytes.js';
import { expectCode, expectCodeSync } from '../helpers/expect-code.js';

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
